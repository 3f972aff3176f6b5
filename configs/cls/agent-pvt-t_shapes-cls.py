# Demo: Agent-PVT-T from scratch on the bundled 64x64 shapes (4 classes), on CPU (channels_last).
_base_ = ['../_base_/datasets/shapes_cls.py', '../_base_/runtime/cls.py']
model = dict(
    type='TimmClassifier', model_name='agent_pvt_t', num_classes=4, img_size=64, drop_path_rate=0.0,
    channels_last=True,
    data_preprocessor=dict(type='ClsDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
                     clip_grad=dict(max_norm=5.0))
max_epochs = 6
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=25),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min=1e-5, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=3)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=3))
