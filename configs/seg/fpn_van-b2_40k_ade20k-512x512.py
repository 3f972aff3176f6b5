# Semantic FPN on ADE20K with VAN-B2 (official VAN-Segmentation configs/sem_fpn/fpn_van_b2_ade20k_40k.py):
# drop path 0.2, SyncBN; AdamW lr 2e-4 wd 1e-4, poly 0.9 to 0, 40k iterations on 8 GPUs x 4 images (the
# official 80k // 2). VAN's stages end with their own LayerNorm: no extra output norms. Paper: 46.7 mIoU.
_base_ = ['../_base_/models/semantic_fpn.py', '../_base_/datasets/ade20k_512.py',
          '../_base_/schedules/seg_80k_poly.py', '../_base_/runtime/mmseg.py']
model = dict(
    backbone=dict(model_name='van_b2', drop_path_rate=0.2, init_cfg=dict(type='Pretrained', checkpoint='released')),
    neck=dict(in_channels=[64, 128, 320, 512]))
train_dataloader = dict(batch_size=4)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=40000)]
train_cfg = dict(max_iters=40000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
sync_bn = 'torch'
auto_scale_lr = dict(base_batch_size=32)
