# VAN-B0 on ImageNet-1k (official VAN-Classification train.sh: timm 0.4.12 train.py, -b 128 x 8 GPUs, lr 1e-3,
# drop path 0.1 for b0-b2 / 0.2 for b3): AdamW wd 0.05, 5 warm-up epochs from 1e-6, cosine to 1e-6 over 300
# epochs + 10 cool-down epochs at 1e-6, RandAugment m9, Mixup 0.8 / CutMix 1.0, label smoothing 0.1, random
# erasing 0.25, random interpolation, mean/std 0.5 (timm's ViT default cfg). No EMA. Paper: 75.4 top-1.
_base_ = ['../_base_/models/timm_classifier.py', '../_base_/datasets/imagenet_timm.py',
          '../_base_/schedules/cls_300e.py', '../_base_/runtime/cls.py']
model = dict(model_name='van_b0', drop_path_rate=0.1)
_mean, _std = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='TimmImageTransform', input_size=224, is_training=True, color_jitter=0.4,
         auto_augment='rand-m9-mstd0.5-inc1', interpolation='random', re_prob=0.25, re_mode='pixel', re_count=1,
         mean=_mean, std=_std),
    dict(type='PackClsInputs')]))
val_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='TimmImageTransform', input_size=224, is_training=False, interpolation='bicubic', crop_pct=0.9,
         mean=_mean, std=_std),
    dict(type='PackClsInputs')]))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=5, end=300, convert_to_iter_based=True),
    dict(type='ConstantLR', factor=1e-3, by_epoch=True, begin=300, end=310),
]
train_cfg = dict(max_epochs=310)
