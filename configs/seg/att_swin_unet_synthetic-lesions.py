# Demo: Att-SwinU-Net (the att_swin_unet_t architecture) from scratch on the bundled synthetic lesions, on CPU
# in a few minutes: 96 generated 64x64 images in the ISIC 2018 layout (written to data/synthetic_lesions on
# first use), 72 train / 24 val; windows of 4 so that 64x64 inputs need no window padding.
# Same model, loss, metric and augmentation as configs/seg/att_swin_unet_isic2018.py.
_base_ = ['./att_swin_unet_isic2018.py']

data_root = 'data/synthetic_lesions'
img_size = 64
synthetic = dict(num_images=96, size=64, seed=0)
splits = dict(train=(0, 72), val=(72, 96), test=(72, 96))
augment = [
    dict(type='HorizontalFlip', p=0.5),
    dict(type='VerticalFlip', p=0.5),
    dict(type='RandomRotate90', p=0.5),
    dict(type='ColorJitter', brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02, p=0.5),
]

model = dict(
    model_kwargs=dict(img_size=img_size, window_size=4, drop_path_rate=0.0),
    pretrained=None)

train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, synthetic=synthetic, splits=splits,
                 pipeline=[dict(type='LesionAlbumentations', transforms=augment, seed=0)]))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, synthetic=synthetic, splits=splits, pipeline=[]))
test_dataloader = val_dataloader

max_iters = 120
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=5e-4, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10),
    dict(type='CosineAnnealingLR', T_max=max_iters - 10, eta_min=1e-5, by_epoch=False, begin=10, end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1, save_best=None))
log_processor = dict(by_epoch=False)
