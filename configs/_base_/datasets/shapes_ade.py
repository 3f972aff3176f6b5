# Bundled generated data (vizattn.data.scenes, written by tools/make_data.py on first use): 128x128 scenes,
# ADE20K-style masks (0 unlabelled, 1 background, 2-5 shapes; reduce_zero_label as ADE20K), 400 / 100 images.
generated_data = dict(root='data/shapes', tasks=['seg'])
dataset_type = 'BaseSegDataset'
data_root = 'data/shapes/ade'
metainfo = dict(classes=('background', 'disc', 'square', 'triangle', 'cross'),
                palette=[[40, 40, 40], [220, 20, 60], [0, 128, 255], [255, 200, 0], [0, 200, 100]])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
_dataset = dict(type=dataset_type, data_root=data_root, metainfo=metainfo, reduce_zero_label=True,
                img_suffix='.jpg', seg_map_suffix='.png')
train_dataloader = dict(
    batch_size=8, num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**_dataset, data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**_dataset, data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
