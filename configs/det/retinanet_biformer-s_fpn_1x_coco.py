# RetinaNet 1x on COCO with BiFormer-S (official object_detection/configs/coco/retinanet.1x.biformer_small.py,
# translated to mmengine keys): n_win=16 regions, LayerNorm2d on every output level, BatchNorms in eval mode
# (BiFormer_mm's norm_eval=True), drop path 0.2; AdamW lr 1e-4 wd 1e-4 (the WaveViT recipe), fp16 with loss
# scale 512, 12 epochs, 8 GPUs x 2 images. Paper: 45.9 box AP (README re-run 47.3).
_base_ = ['../_base_/models/retinanet_fpn.py', '../_base_/datasets/coco_detection.py',
          '../_base_/schedules/det_1x.py', '../_base_/runtime/mmdet.py']
model = dict(
    backbone=dict(model_name='biformer_s', out_indices=(1, 2, 3), n_win=16, drop_path_rate=0.2, out_norms='all',
                  out_norm_eps=1e-6, norm_eval=True, init_cfg=dict(type='Pretrained', checkpoint='released')),
    neck=dict(in_channels=[128, 256, 512]))
optim_wrapper = dict(_delete_=True, type='AmpOptimWrapper', loss_scale=512.0,
                     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4))
