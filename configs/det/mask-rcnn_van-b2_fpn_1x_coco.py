# Mask R-CNN 1x on COCO with VAN-B2. NOT an official recipe (no VAN detection release): PVT-style AdamW lr 2e-4
# wd 1e-4, drop path 0.2, SyncBN, 8 GPUs x 2 images. The VAN paper reports COCO results
# without releasing the detection code.
_base_ = ['../_base_/models/mask_rcnn_fpn.py', '../_base_/datasets/coco_instance.py',
          '../_base_/schedules/det_1x.py', '../_base_/runtime/mmdet.py']
model = dict(
    backbone=dict(model_name='van_b2', drop_path_rate=0.2, init_cfg=dict(type='Pretrained', checkpoint='released')),
    neck=dict(in_channels=[64, 128, 320, 512]))
optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4))
sync_bn = 'torch'
