# RetinaNet 1x on COCO with LITv2-S (official detection/configs/litv2/retinanet_litv2_s_fpn_1x_coco.py):
# HiLo window 2 (local_ws 0,0,2,1), alpha 0.9, drop path 0.2, LayerNorm on the stage 2-4 outputs (eps 1e-5;
# the stage-1 map is not returned here); AdamW lr 1e-4 wd 1e-4, no decay on norms, fp16, 8 GPUs x 2 images.
# The official file writes `paramwise_cfg=dict({'norm': ...})` without `custom_keys` (so its norms were
# decayed) and mmdet-2 runner/optimizer keys; this is the intended recipe in mmengine keys.
# Paper: 44.0 box AP (ws 2).
_base_ = ['../_base_/models/retinanet_fpn.py', '../_base_/datasets/coco_detection.py',
          '../_base_/schedules/det_1x.py', '../_base_/runtime/mmdet.py']
model = dict(
    backbone=dict(model_name='litv2_s', out_indices=(1, 2, 3), drop_path_rate=0.2, window_size=(0, 0, 2, 1),
                  alpha=0.9, out_norms='all', out_norm_eps=1e-5,
                  init_cfg=dict(type='Pretrained',
                                checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_s.pth')),
    neck=dict(in_channels=[192, 384, 768]))
optim_wrapper = dict(_delete_=True, type='AmpOptimWrapper', loss_scale='dynamic',
                     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
                     paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))
