# Demo: Semantic FPN on VAN-B0 on the bundled shapes (ADE20K-style masks, 5 classes, 400 train / 100 val),
# trained at 96x96 (the 128x128 scenes resized), 600 iterations on CPU; a narrow FPN/head (64 channels).
# tools/demo.sh starts the backbone from the classification demo's weights. mIoU on the val split.
_base_ = ['../_base_/models/semantic_fpn.py', '../_base_/datasets/shapes_ade.py', '../_base_/runtime/mmseg.py',
          '../_base_/schedules/seg_80k_poly.py']
norm_cfg = dict(type='BN', requires_grad=True)
size = (96, 96)
model = dict(
    data_preprocessor=dict(size=size),
    backbone=dict(model_name='van_b0', drop_path_rate=0.0),
    neck=dict(in_channels=[32, 64, 160, 256], out_channels=64),
    decode_head=dict(in_channels=[64, 64, 64, 64], channels=64, num_classes=5, norm_cfg=norm_cfg))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='Resize', scale=size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=size, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
max_iters = 600
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='PolyLR', power=0.9, eta_min=1e-5, by_epoch=False, begin=20, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=200)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=200, save_best=None, max_keep_ckpts=2),
                     visualization=dict(draw=False))
