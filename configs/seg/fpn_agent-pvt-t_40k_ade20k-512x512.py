# Semantic FPN on ADE20K with Agent-PVT-T (official downstream/segmentation/configs/agent_pvt/
# fpn_agent_pvt_t_12-16-28-28.py): agent grids 12x12 / 16x16 / 28x28 / 28x28, drop path 0.1; AdamW lr 2e-4
# wd 1e-4, poly 0.9 to 0, 40k iterations (the paper's schedule), 8 GPUs x 2 images. Paper: 40.18 mIoU.
_base_ = ['../_base_/models/semantic_fpn.py', '../_base_/datasets/ade20k_512.py',
          '../_base_/schedules/seg_80k_poly.py', '../_base_/runtime/mmseg.py']
model = dict(
    backbone=dict(model_name='agent_pvt_t', drop_path_rate=0.1, agent_shapes=[(12, 12), (16, 16), (28, 28), (28, 28)],
                  init_cfg=dict(type='Pretrained', checkpoint='released')),
    neck=dict(in_channels=[64, 128, 320, 512]))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=40000)]
train_cfg = dict(max_iters=40000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
