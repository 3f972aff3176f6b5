# ImageNet-1k folders (train/<wnid>/*.JPEG, val/<wnid>/*.JPEG) with the papers' timm pipeline: RandAugment
# rand-m9-mstd0.5-inc1, bicubic RandomResizedCrop 224, colour jitter 0.4, random erasing 0.25 (pixel mode);
# test: resize 256 (crop_pct 0.875) + centre crop 224. Mixup/CutMix are in the model's data preprocessor.
dataset_type = 'ImageFolderDataset'
data_root = 'data/imagenet'
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TimmImageTransform', input_size=224, is_training=True, color_jitter=0.4,
         auto_augment='rand-m9-mstd0.5-inc1', interpolation='bicubic', re_prob=0.25, re_mode='pixel',
         re_count=1, mean=IMAGENET_MEAN, std=IMAGENET_STD),
    dict(type='PackClsInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TimmImageTransform', input_size=224, is_training=False, interpolation='bicubic', crop_pct=0.875,
         mean=IMAGENET_MEAN, std=IMAGENET_STD),
    dict(type='PackClsInputs'),
]
train_dataloader = dict(
    batch_size=128, num_workers=10, persistent_workers=True, pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=dict(img_path='train'), pipeline=train_pipeline),
    drop_last=True)
val_dataloader = dict(
    batch_size=128, num_workers=10, persistent_workers=True, pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=dict(img_path='val'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ClsAccuracy', topk=(1, 5))
test_evaluator = val_evaluator
