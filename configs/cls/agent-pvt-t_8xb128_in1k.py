# Agent-PVT-T on ImageNet-1k (official agent_transformer/cfgs/agent_pvt_t.yaml): batch 128 x 8, lr 5e-4 x 1024 /
# 512 = 1e-3, 5 warm-up epochs from 2e-6, cosine to 2e-5 (the yaml's 1e-6 / 1e-5, scaled like the lr), wd 0.05,
# no clipping, drop path 0.1, RandAugment m9, Mixup 0.8 / CutMix 1.0, label smoothing 0.1, random erasing 0.25,
# 300 epochs. Paper: 78.4 top-1.
_base_ = ['../_base_/models/timm_classifier.py', '../_base_/datasets/imagenet_timm.py',
          '../_base_/schedules/cls_300e.py', '../_base_/runtime/cls.py']
model = dict(model_name='agent_pvt_t', drop_path_rate=0.1)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=2e-3, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=2e-5, by_epoch=True, begin=5, end=300, convert_to_iter_based=True),
]
