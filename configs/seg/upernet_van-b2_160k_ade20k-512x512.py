# UPerNet 160k on ADE20K with VAN-B2 (official VAN-Segmentation configs/upernet/1k_pretrained/
# upernet_van_b2_512x512_160k_ade20k.py): drop path 0.1 (the base config's), SyncBN; AdamW lr 6e-5 wd 0.01
# without decay on norms, warm-up 1500 + poly, 8 GPUs x 2 images. Paper: 50.1 mIoU (multi-scale).
_base_ = ['../_base_/models/upernet.py', '../_base_/datasets/ade20k_512.py',
          '../_base_/schedules/seg_160k_poly.py', '../_base_/runtime/mmseg.py']
model = dict(
    backbone=dict(model_name='van_b2', drop_path_rate=0.1, init_cfg=dict(type='Pretrained', checkpoint='released')),
    decode_head=dict(in_channels=[64, 128, 320, 512]),
    auxiliary_head=dict(in_channels=320))
sync_bn = 'torch'
