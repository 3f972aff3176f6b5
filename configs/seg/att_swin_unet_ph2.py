# Att-SwinU-Net (Swin-T encoder from the ImageNet-1K Swin release) on PH2, binary lesion masks.
# Data: the PH2 release under data/ph2 ("PH2 Dataset images/IMDxxx/IMDxxx_Dermoscopic_Image/IMDxxx.bmp" and
# ".../IMDxxx_lesion/IMDxxx_lesion.bmp"), split as the official code does (sorted list: 80 train / 20 val /
# 100 test). Images are resized to 224x224.
# Official training: Adam, lr 1e-4, batch 24 (configs/config_skin.yml; the README's CLI says 150 epochs).
custom_imports = dict(imports=['vizattn', 'vizattn.tasks.lesion_seg'], allow_failed_imports=False)

data_root = 'data/ph2'
layout = 'ph2'
img_size = 224
augment = [
    dict(type='HorizontalFlip', p=0.5),
    dict(type='VerticalFlip', p=0.5),
    dict(type='RandomRotate90', p=0.5),
    dict(type='Rotate', limit=30, border_mode=0, p=0.5),
    dict(type='ColorJitter', brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02, p=0.5),
    dict(type='Resize', height=img_size, width=img_size),
]
resize = [dict(type='Resize', height=img_size, width=img_size)]

model = dict(
    type='LesionSegmentor',
    model_name='att_swin_unet_t',
    # cross-contextual attention on every skip + spatial attention ('add'), as in the paper
    model_kwargs=dict(num_classes=1, cross_skips=3, spatial_attention='add', drop_path_rate=0.1),
    # True: the Swin-T ImageNet-1K release (downloaded) for the encoder and, Swin-UNet style, the decoder
    # blocks; or a local file: swin_tiny_patch4_window7_224.pth, an official Att-SwinU-Net file, or ours
    pretrained=True,
    loss=dict(type='DiceBCELoss', bce_weight=1.0, dice_weight=1.0),
    data_preprocessor=dict(type='LesionSegPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]))

train_dataloader = dict(
    batch_size=16, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='LesionSegDataset', data_root=data_root, layout=layout, split='train',
                 pipeline=[dict(type='LesionAlbumentations', transforms=augment)]))
val_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='LesionSegDataset', data_root=data_root, layout=layout, split='val',
                 pipeline=[dict(type='LesionAlbumentations', transforms=resize)]))
test_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='LesionSegDataset', data_root=data_root, layout=layout, split='test',
                 pipeline=[dict(type='LesionAlbumentations', transforms=resize)]))
val_evaluator = dict(type='LesionSegMetric')
test_evaluator = val_evaluator

max_epochs = 100
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
                     clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=2, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 2, eta_min=1e-6, by_epoch=True, begin=2, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_scope = None
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2, save_best='lesion/dice', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
