# RetinaNet 1x on COCO with VAN-B2. NOT an official recipe: VAN's detection code and configs were never released
# (VAN-Detection issues #3, #24, #29). PVT-style settings, as the paper compares with PVT: AdamW lr 1e-4
# wd 1e-4, drop path 0.2 (VAN-B2's segmentation value), SyncBN across GPUs (VAN's segmentation backbone),
# 8 GPUs x 2 images. VAN's stages end with their own LayerNorm, so no extra output norms.
_base_ = ['../_base_/models/retinanet_fpn.py', '../_base_/datasets/coco_detection.py',
          '../_base_/schedules/det_1x.py', '../_base_/runtime/mmdet.py']
model = dict(
    backbone=dict(model_name='van_b2', out_indices=(1, 2, 3), drop_path_rate=0.2,
                  init_cfg=dict(type='Pretrained', checkpoint='released')),
    neck=dict(in_channels=[128, 320, 512]))
optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4))
sync_bn = 'torch'
