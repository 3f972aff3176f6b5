# UPerNet 160k on ADE20K with Agent-Swin-T (official downstream/segmentation/configs/agent_swin/
# upernet_agent_swin_t_9-12-14-7.py): agent grids 9x9 / 12x12 / 14x14 / 7x7, LayerNorm on every level,
# drop path 0.3; AdamW lr 6e-5 wd 0.01 without decay on norms, position tables and agent biases, warm-up 1500
# + poly, 8 GPUs x 2 images. Paper: 46.68 mIoU.
_base_ = ['../_base_/models/upernet.py', '../_base_/datasets/ade20k_512.py',
          '../_base_/schedules/seg_160k_poly.py', '../_base_/runtime/mmseg.py']
model = dict(
    backbone=dict(model_name='agent_swin_t', drop_path_rate=0.3, out_norms='all', out_norm_eps=1e-5,
                  agent_shapes=[(9, 9), (12, 12), (14, 14), (7, 7)],
                  init_cfg=dict(type='Pretrained', checkpoint='released')),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
_no_decay = ('absolute_pos_embed', 'relative_position_bias_table', 'norm', 'an_bias', 'na_bias', 'ah_bias',
             'aw_bias', 'ha_bias', 'wa_bias')
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={k: dict(decay_mult=0.) for k in _no_decay}))
