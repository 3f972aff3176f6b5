# Demo: RetinaNet on VAN-B0 on the bundled shapes scenes (COCO json, 4 classes, 800 train / 100 val), trained at
# 96x96 (the 128x128 scenes resized) for 6 epochs = 600 iterations on CPU, with a narrow FPN/head (64 channels,
# 2 stacked convs). tools/demo.sh starts the backbone from the classification demo's weights
# (init_cfg=Pretrained, prefix='model.'); without it, from scratch. COCO box mAP on the val split.
_base_ = ['../_base_/models/retinanet_fpn.py', '../_base_/datasets/shapes_coco.py', '../_base_/runtime/mmdet.py']
model = dict(
    backbone=dict(model_name='van_b0', out_indices=(1, 2, 3), drop_path_rate=0.0),
    neck=dict(in_channels=[64, 160, 256], out_channels=64),
    bbox_head=dict(num_classes=4, in_channels=64, feat_channels=64, stacked_convs=2,
                   anchor_generator=dict(octave_base_scale=3)),
    test_cfg=dict(score_thr=0.05, max_per_img=20))
size = (96, 96)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0), clip_grad=dict(max_norm=10.0))
max_epochs = 6
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min=1e-5, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=2, max_keep_ckpts=2),
                     visualization=dict(draw=False))
log_processor = dict(window_size=10)
