# Semantic FPN 80k on ADE20K with BiFormer-B (official sfpn.biformer_base.py): drop path 0.3. Paper: 49.9 mIoU.
_base_ = ['./fpn_biformer-s_80k_ade20k-512x512.py']
model = dict(backbone=dict(model_name='biformer_b', drop_path_rate=0.3), neck=dict(in_channels=[96, 192, 384, 768]))
