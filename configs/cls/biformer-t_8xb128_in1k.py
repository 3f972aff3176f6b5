# BiFormer-T on ImageNet-1k (official main.py, DeiT recipe; README command for S: batch 128 x 8 GPUs,
# lr 5e-4 scaled by batch / 512 = 1e-3, drop path 0.15): AdamW wd 0.05, 5 warm-up epochs from 1e-6, cosine
# to 1e-5, 300 epochs, RandAugment m9, Mixup 0.8 / CutMix 1.0, label smoothing 0.1, random erasing 0.25,
# EMA (DeiT's default decay 0.99996). Not reproduced: DeiT's repeated augmentation sampler.
# Drop path: 0.1 here (main.py's default; the repository gives 0.15 for S only). Paper: 81.4 top-1.
_base_ = ['../_base_/models/timm_classifier.py', '../_base_/datasets/imagenet_timm.py',
          '../_base_/schedules/cls_300e.py', '../_base_/runtime/cls.py']
model = dict(model_name='biformer_t', drop_path_rate=0.1)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300, convert_to_iter_based=True),
]
custom_hooks = [dict(type='EMAHook', momentum=4e-5, update_buffers=True, priority='ABOVE_NORMAL')]
