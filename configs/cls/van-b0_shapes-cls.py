# Demo: VAN-B0 from scratch on the bundled shapes (ImageNet-style folders, 4 classes, 800 train / 200 val),
# trained at 32x32 (the 64x64 images resized), 16 epochs = 400 iterations on CPU.
_base_ = ['../_base_/datasets/shapes_cls.py', '../_base_/runtime/cls.py']
model = dict(
    type='TimmClassifier', model_name='van_b0', num_classes=4, drop_path_rate=0.0,
    data_preprocessor=dict(type='ClsDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True))
size = 32
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(size, size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackClsInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(size, size)), dict(type='PackClsInputs')]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=3e-3, weight_decay=0.05),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
                     clip_grad=dict(max_norm=5.0))
max_epochs = 16
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min=1e-5, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=8))
