# Semantic FPN 80k on ADE20K with LITv2-S (official segmentation/configs/litv2/litv2_s_fpn_r50_512x512_80k_ade20k.py):
# HiLo window 2, alpha 0.9, drop path 0.2, LayerNorm on every output level (eps 1e-5; the segmentation
# backbone norms stage 1 too); AdamW lr 1e-4 wd 1e-4, poly 0.9 to 1e-6, 80k iterations, 8 GPUs x 2 images.
# Paper: 44.3 mIoU.
_base_ = ['../_base_/models/semantic_fpn.py', '../_base_/datasets/ade20k_512.py',
          '../_base_/schedules/seg_80k_poly.py', '../_base_/runtime/mmseg.py']
model = dict(
    backbone=dict(model_name='litv2_s', drop_path_rate=0.2, window_size=(0, 0, 2, 1), alpha=0.9, out_norms='all',
                  out_norm_eps=1e-5,
                  init_cfg=dict(type='Pretrained',
                                checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_s.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4))
