# Demo: Semantic FPN on Agent-PVT-T on the bundled 128x128 shapes (ADE20K-style masks, 5 classes),
# on CPU; mIoU on the val split.
_base_ = ['../_base_/models/semantic_fpn.py', '../_base_/datasets/shapes_ade.py', '../_base_/runtime/mmseg.py',
          '../_base_/schedules/seg_80k_poly.py']
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=(128, 128)),
    backbone=dict(model_name='agent_pvt_t', img_size=128, drop_path_rate=0.0, channels_last=True),
    neck=dict(in_channels=[64, 128, 320, 512], out_channels=64),
    decode_head=dict(in_channels=[64, 64, 64, 64], channels=64, num_classes=5, norm_cfg=norm_cfg))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
max_iters = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='PolyLR', power=0.9, eta_min=1e-5, by_epoch=False, begin=30, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=150, save_best=None),
                     visualization=dict(draw=False))
