# Mask R-CNN 1x on COCO with LITv2-S (official detection/configs/litv2/mask_rcnn_litv2_s_fpn_1x_coco.py):
# LayerNorm on the stage 2-4 outputs (not stage 1), drop path 0.2; AdamW lr 2e-4 wd 1e-4, no decay on norms,
# fp16, 8 GPUs x 2 images. Paper: 44.9 box / 40.8 mask AP (ws 2).
_base_ = ['../_base_/models/mask_rcnn_fpn.py', '../_base_/datasets/coco_instance.py',
          '../_base_/schedules/det_1x.py', '../_base_/runtime/mmdet.py']
model = dict(
    backbone=dict(model_name='litv2_s', drop_path_rate=0.2, window_size=(0, 0, 2, 1), alpha=0.9,
                  out_norms=(1, 2, 3), out_norm_eps=1e-5,
                  init_cfg=dict(type='Pretrained',
                                checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_s.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))
optim_wrapper = dict(_delete_=True, type='AmpOptimWrapper', loss_scale='dynamic',
                     optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
                     paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))
