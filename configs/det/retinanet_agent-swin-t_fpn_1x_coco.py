# RetinaNet 1x on COCO with Agent-Swin-T. NOT an official recipe (the paper has no Agent-Swin RetinaNet): the
# backbone settings of the official Mask R-CNN config and mmdet's Swin-T RetinaNet recipe (AdamW lr 1e-4,
# wd 0.05, no decay on norms / position tables / agent biases, 1333x800, 8 GPUs x 2 images).
_base_ = ['../_base_/models/retinanet_fpn.py', '../_base_/datasets/coco_detection.py',
          '../_base_/schedules/det_1x.py', '../_base_/runtime/mmdet.py']
model = dict(
    backbone=dict(model_name='agent_swin_t', out_indices=(1, 2, 3), drop_path_rate=0.1, out_norms='all',
                  out_norm_eps=1e-5, agent_shapes=[(9, 9), (12, 12), (14, 14), (7, 7)],
                  init_cfg=dict(type='Pretrained', checkpoint='released')),
    neck=dict(in_channels=[192, 384, 768]))
_no_decay = ('absolute_pos_embed', 'relative_position_bias_table', 'norm', 'an_bias', 'na_bias', 'ah_bias',
             'aw_bias', 'ha_bias', 'wa_bias')
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={k: dict(decay_mult=0.) for k in _no_decay}))
