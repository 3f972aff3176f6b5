# UPerNet 160k on ADE20K with Agent-PVT-T. NOT an official recipe (Agent-PVT released Semantic FPN only): the
# official backbone settings (agent grids 12/16/28/28, drop path 0.1) and the Agent-Swin UPerNet recipe.
_base_ = ['../_base_/models/upernet.py', '../_base_/datasets/ade20k_512.py',
          '../_base_/schedules/seg_160k_poly.py', '../_base_/runtime/mmseg.py']
model = dict(
    backbone=dict(model_name='agent_pvt_t', drop_path_rate=0.1, agent_shapes=[(12, 12), (16, 16), (28, 28), (28, 28)],
                  init_cfg=dict(type='Pretrained', checkpoint='released')),
    decode_head=dict(in_channels=[64, 128, 320, 512]),
    auxiliary_head=dict(in_channels=320))
_no_decay = ('norm', 'an_bias', 'na_bias', 'ah_bias', 'aw_bias', 'ha_bias', 'wa_bias')
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={k: dict(decay_mult=0.) for k in _no_decay}))
