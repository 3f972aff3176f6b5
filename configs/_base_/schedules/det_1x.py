# COCO 1x: 12 epochs, lr x0.1 at epochs 8 and 11, 500-iteration linear warm-up (mmdet's schedule_1x.py).
# The optimizer is each paper's (AdamW) and set by the config.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=0.0001, betas=(0.9, 0.999),
                                                         weight_decay=0.05))
# The papers train on 8 GPUs x 2 images; with another total batch size, `tools/train.py --auto-scale-lr`.
auto_scale_lr = dict(enable=False, base_batch_size=16)
