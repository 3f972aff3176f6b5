# UPerNet 160k on ADE20K with BiFormer-S (official upernet.biformer_small.py, UniFormer/CSWin recipe): n_win=8,
# LayerNorm2d on every level, BatchNorms in eval mode, drop path 0.3; AdamW lr 6e-5 wd 0.01 without decay on
# norms, linear warm-up 1500 then poly, fp16, 8 GPUs x 2 images. Paper: 49.8 mIoU (50.8 multi-scale + flip).
_base_ = ['../_base_/models/upernet.py', '../_base_/datasets/ade20k_512.py',
          '../_base_/schedules/seg_160k_poly.py', '../_base_/runtime/mmseg.py']
model = dict(
    backbone=dict(model_name='biformer_s', n_win=8, drop_path_rate=0.3, out_norms='all', out_norm_eps=1e-6,
                  norm_eval=True, init_cfg=dict(type='Pretrained', checkpoint='released')),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256))
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale=512.0)
