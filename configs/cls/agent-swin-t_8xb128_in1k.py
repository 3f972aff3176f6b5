# Agent-Swin-T on ImageNet-1k (official agent_transformer/cfgs/agent_swin_t.yaml, Swin trainer): batch 128 x 8,
# lr 5e-4 x 1024 / 512 = 1e-3, 20 warm-up epochs from 1e-6, cosine to 1e-5, wd 0.05 (not on 1-D parameters and
# relative position tables), gradient clipping 5.0, drop path 0.2, RandAugment m9, Mixup 0.8 / CutMix 1.0,
# label smoothing 0.1, random erasing 0.25, 300 epochs. Paper: 82.6 top-1.
_base_ = ['../_base_/models/timm_classifier.py', '../_base_/datasets/imagenet_timm.py',
          '../_base_/schedules/cls_300e.py', '../_base_/runtime/cls.py']
model = dict(model_name='agent_swin_t', drop_path_rate=0.2)
optim_wrapper = dict(optimizer=dict(lr=1e-3), clip_grad=dict(max_norm=5.0),
                     paramwise_cfg=dict(custom_keys={'relative_position_bias_table': dict(decay_mult=0.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=20, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=20, end=300, convert_to_iter_based=True),
]
