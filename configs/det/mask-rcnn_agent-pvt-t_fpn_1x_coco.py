# Mask R-CNN 1x on COCO with Agent-PVT-T (official agent_pvt_t_mrcnn_1x_12-16-28-28.py): agent grids
# 12x12 / 16x16 / 28x28 / 28x28, drop path 0.1; AdamW lr 2e-4 wd 1e-4, 8 GPUs x 2 images.
# Paper: 41.4 box / 38.7 mask AP.
_base_ = ['../_base_/models/mask_rcnn_fpn.py', '../_base_/datasets/coco_instance.py',
          '../_base_/schedules/det_1x.py', '../_base_/runtime/mmdet.py']
model = dict(
    backbone=dict(model_name='agent_pvt_t', drop_path_rate=0.1, agent_shapes=[(12, 12), (16, 16), (28, 28), (28, 28)],
                  init_cfg=dict(type='Pretrained', checkpoint='released')),
    neck=dict(in_channels=[64, 128, 320, 512]))
optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4))
