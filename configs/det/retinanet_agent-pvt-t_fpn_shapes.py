# Demo: RetinaNet on Agent-PVT-T on the bundled 128x128 shapes scenes (COCO json, 4 classes), on CPU.
# A narrow FPN/head (64 channels) so that it trains in minutes; COCO bbox mAP on the val split.
_base_ = ['../_base_/models/retinanet_fpn.py', '../_base_/datasets/shapes_coco.py', '../_base_/runtime/mmdet.py']
model = dict(
    backbone=dict(model_name='agent_pvt_t', out_indices=(1, 2, 3), img_size=128, drop_path_rate=0.0,
                  channels_last=True),
    neck=dict(in_channels=[128, 320, 512], out_channels=64),
    bbox_head=dict(num_classes=4, in_channels=64, feat_channels=64, stacked_convs=2,
                   anchor_generator=dict(octave_base_scale=3)),
    test_cfg=dict(score_thr=0.05, max_per_img=20))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0), clip_grad=dict(max_norm=10.0))
max_epochs = 4
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min=1e-5, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=2), visualization=dict(draw=False))
log_processor = dict(window_size=10)
