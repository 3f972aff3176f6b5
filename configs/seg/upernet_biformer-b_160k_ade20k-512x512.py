# UPerNet 160k on ADE20K with BiFormer-B (official upernet.biformer_base.py): drop path 0.4.
# Paper: 51.0 mIoU (51.7 multi-scale + flip).
_base_ = ['./upernet_biformer-s_160k_ade20k-512x512.py']
model = dict(backbone=dict(model_name='biformer_b', drop_path_rate=0.4),
             decode_head=dict(in_channels=[96, 192, 384, 768]), auxiliary_head=dict(in_channels=384))
