# PredFormer Quadruplet-TSST on Moving MNIST (10 -> 10 frames, 64x64x1): the paper's best Moving MNIST model
# (25.3M params; MSE 12.4 / MAE 44.6 / SSIM 0.973 after 2000 epochs).
# Data under data/moving_mnist as OpenSTL expects it: mnist_test_seq.npy (the fixed test set) and
# train-images-idx3-ubyte.gz (digits of the on-the-fly training sequences). Without the MNIST file the
# training digits are drawn glyphs (digits='auto'); without the test file pass generate_test=dict(num=10000).
# Official training (scripts/mmnist/mm_PredFormer_TSST_train.sh): AdamW lr 1e-3, wd 1e-2, batch 16, OneCycle,
# 2000 epochs of 10k sequences.
custom_imports = dict(imports=['vizattn', 'vizattn.tasks.video_pred'], allow_failed_imports=False)

data_root = 'data'
model = dict(type='VideoPredictor', model_name='predformer_tsst_mmnist', model_kwargs=dict(), pretrained=None)

train_dataloader = dict(
    batch_size=16, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='MovingMNISTDataset', data_root=data_root, split='train', num_frames_in=10, num_frames_out=10,
                 length=10000, digits='auto'))
val_dataloader = dict(
    batch_size=16, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='MovingMNISTDataset', data_root=data_root, split='test', num_frames_in=10, num_frames_out=10))
test_dataloader = val_dataloader
val_evaluator = dict(type='VideoPredMetric', metric_list=['mse', 'mae', 'ssim', 'psnr'])
test_evaluator = val_evaluator

max_epochs = 2000
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-2))
param_scheduler = [dict(type='OneCycleLR', eta_max=1e-3, total_steps=None, by_epoch=True, begin=0,
                        end=max_epochs, convert_to_iter_based=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=50)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_scope = None
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2, save_best='pred/mse', rule='less'),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
