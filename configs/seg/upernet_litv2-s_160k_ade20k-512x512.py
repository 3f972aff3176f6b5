# UPerNet 160k on ADE20K with LITv2-S. NOT an official recipe (LITv2 released Semantic FPN only): the backbone of
# the official segmentation config and the Swin UPerNet recipe (AdamW 6e-5, wd 0.01, warm-up 1500 + poly,
# 8 GPUs x 2 images).
_base_ = ['../_base_/models/upernet.py', '../_base_/datasets/ade20k_512.py',
          '../_base_/schedules/seg_160k_poly.py', '../_base_/runtime/mmseg.py']
model = dict(
    backbone=dict(model_name='litv2_s', drop_path_rate=0.2, window_size=(0, 0, 2, 1), alpha=0.9, out_norms='all',
                  out_norm_eps=1e-5,
                  init_cfg=dict(type='Pretrained',
                                checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_s.pth')),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
