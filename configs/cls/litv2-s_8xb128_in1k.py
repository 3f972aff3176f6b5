# LITv2-S on ImageNet-1k (official classification/configs/litv2-small.yaml on the Swin trainer): batch 128 x 8,
# lr 5e-4 x 1024 / 512 = 1e-3, 20 warm-up epochs from 1e-6, cosine to 1e-5, wd 0.05, gradient clipping 5.0,
# drop path 0.2, offset lr x 0.01 for the deformable token merging (OFFSET_LR_MULTI), RandAugment m9,
# Mixup 0.8 / CutMix 1.0, label smoothing 0.1, random erasing 0.25, 300 epochs. Paper: 82.0 top-1.
_base_ = ['../_base_/models/timm_classifier.py', '../_base_/datasets/imagenet_timm.py',
          '../_base_/schedules/cls_300e.py', '../_base_/runtime/cls.py']
model = dict(model_name='litv2_s', drop_path_rate=0.2)
optim_wrapper = dict(optimizer=dict(lr=1e-3), clip_grad=dict(max_norm=5.0),
                     paramwise_cfg=dict(custom_keys={'downsample.conv.offset': dict(lr_mult=0.01)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=20, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=20, end=300, convert_to_iter_based=True),
]
