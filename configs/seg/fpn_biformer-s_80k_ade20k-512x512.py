# Semantic FPN 80k on ADE20K with BiFormer-S (official semantic_segmentation/configs/ade20k/sfpn.biformer_small.py,
# UniFormer recipe): n_win=8 ("training resolution is 512"), LayerNorm2d on every level, BatchNorms in eval mode,
# drop path 0.15; AdamW lr 2e-4 wd 1e-4, cosine to 1e-8 x lr after a 1000-iteration linear warm-up from 0.1 x lr,
# 80k iterations (official: 160k // 2 on 8 GPUs x 4 images), fp16. Paper: 48.9 mIoU.
_base_ = ['../_base_/models/semantic_fpn.py', '../_base_/datasets/ade20k_512.py',
          '../_base_/schedules/seg_80k_poly.py', '../_base_/runtime/mmseg.py']
model = dict(
    backbone=dict(model_name='biformer_s', n_win=8, drop_path_rate=0.15, out_norms='all', out_norm_eps=1e-6,
                  norm_eval=True, init_cfg=dict(type='Pretrained', checkpoint='released')),
    neck=dict(in_channels=[64, 128, 256, 512]))
train_dataloader = dict(batch_size=4)
optim_wrapper = dict(_delete_=True, type='AmpOptimWrapper', loss_scale=512.0,
                     optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-8, by_epoch=False, begin=1000, end=80000),
]
auto_scale_lr = dict(base_batch_size=32)
