# Semantic FPN 80k on ADE20K with Agent-Swin-T. NOT an official recipe (Agent-Swin released UPerNet only):
# the official backbone settings (agent grids 9/12/14/7, output LayerNorms, drop path 0.3) with the Semantic FPN
# recipe of its Agent-PVT configs (AdamW lr 2e-4, wd 1e-4, poly 0.9), 80k iterations, 8 GPUs x 2 images.
_base_ = ['../_base_/models/semantic_fpn.py', '../_base_/datasets/ade20k_512.py',
          '../_base_/schedules/seg_80k_poly.py', '../_base_/runtime/mmseg.py']
model = dict(
    backbone=dict(model_name='agent_swin_t', drop_path_rate=0.3, out_norms='all', out_norm_eps=1e-5,
                  agent_shapes=[(9, 9), (12, 12), (14, 14), (7, 7)],
                  init_cfg=dict(type='Pretrained', checkpoint='released')),
    neck=dict(in_channels=[96, 192, 384, 768]))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=80000)]
