# Mask R-CNN 1x on COCO with BiFormer-S (official object_detection/configs/coco/maskrcnn.1x.biformer_small.py):
# n_win=16, LayerNorm2d on every level, BatchNorms in eval mode, drop path 0.2; AdamW lr 1e-4 wd 0.05 without
# decay on norms / position tables (the UniFormer recipe), fp16, steps at 8 and 11, 8 GPUs x 2 images.
# Paper: 47.8 box / 43.2 mask AP (README re-run 48.1 / 43.6).
_base_ = ['../_base_/models/mask_rcnn_fpn.py', '../_base_/datasets/coco_instance.py',
          '../_base_/schedules/det_1x.py', '../_base_/runtime/mmdet.py']
model = dict(
    backbone=dict(model_name='biformer_s', n_win=16, drop_path_rate=0.2, out_norms='all', out_norm_eps=1e-6,
                  norm_eval=True, init_cfg=dict(type='Pretrained', checkpoint='released')),
    neck=dict(in_channels=[64, 128, 256, 512]))
optim_wrapper = dict(
    _delete_=True, type='AmpOptimWrapper', loss_scale=512.0,
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'absolute_pos_embed': dict(decay_mult=0.),
                                    'relative_position_bias_table': dict(decay_mult=0.),
                                    'norm': dict(decay_mult=0.)}))
