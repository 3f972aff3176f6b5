# Bundled generated data (vizattn.data.scenes, written by tools/make_data.py on first use): 64x64 coloured
# shapes in ImageNet-style class folders, 4 classes, 800 train / 200 val images.
generated_data = dict(root='data/shapes', tasks=['cls'])
dataset_type = 'ImageFolderDataset'
data_root = 'data/shapes/cls'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackClsInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackClsInputs')]
train_dataloader = dict(
    batch_size=32, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=dict(img_path='train'), pipeline=train_pipeline),
    drop_last=True)
val_dataloader = dict(
    batch_size=64, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=dict(img_path='val'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ClsAccuracy', topk=(1,))
test_evaluator = val_evaluator
