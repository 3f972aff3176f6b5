# Mask R-CNN 1x on COCO with Agent-Swin-T (official downstream/detection/configs/agent_swin/
# agent_swin_t_mrcnn_1x_9-12-14-7.py): downstream agent grids 9x9 / 12x12 / 14x14 / 7x7, LayerNorm on every
# output level, drop path 0.1; the DETR-style multi-scale + crop augmentation; AdamW lr 1e-4 wd 0.05 without decay
# on norms, position tables and agent biases; fp32; 8 GPUs x 2 images. Paper: 44.6 box / 40.7 mask AP.
_base_ = ['../_base_/models/mask_rcnn_fpn.py', '../_base_/datasets/coco_instance.py',
          '../_base_/schedules/det_1x.py', '../_base_/runtime/mmdet.py']
model = dict(
    backbone=dict(model_name='agent_swin_t', drop_path_rate=0.1, out_norms='all', out_norm_eps=1e-5,
                  agent_shapes=[(9, 9), (12, 12), (14, 14), (7, 7)],
                  init_cfg=dict(type='Pretrained', checkpoint='released')),
    neck=dict(in_channels=[96, 192, 384, 768]))
_scales = [(480, 1333), (512, 1333), (544, 1333), (576, 1333), (608, 1333), (640, 1333), (672, 1333),
           (704, 1333), (736, 1333), (768, 1333), (800, 1333)]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoice', transforms=[
        [dict(type='RandomChoiceResize', scales=_scales, keep_ratio=True)],
        [dict(type='RandomChoiceResize', scales=[(400, 1333), (500, 1333), (600, 1333)], keep_ratio=True),
         dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600), allow_negative_crop=True),
         dict(type='RandomChoiceResize', scales=_scales, keep_ratio=True)]]),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
_no_decay = ('absolute_pos_embed', 'relative_position_bias_table', 'norm', 'an_bias', 'na_bias', 'ah_bias',
             'aw_bias', 'ha_bias', 'wa_bias')
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={k: dict(decay_mult=0.) for k in _no_decay}))
