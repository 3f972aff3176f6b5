# Demo on CPU in a few minutes: a small PredFormer TSST (2 layers, dim 64, patch 8) on a bundled generated Moving
# MNIST: 32x32 frames, one 14-pixel glyph digit, 5 -> 5 frames; 2000 reproducible training sequences and a
# fixed 128-sequence test set written to data/moving_mnist_tiny on first use (mnist_test_seq.npy format).
# The log shows pred/copy_last_mse, the copy-last-frame baseline the model must beat.
_base_ = ['./predformer_tsst_mmnist.py']

data_root = 'data/moving_mnist_tiny'
recipe = dict(num_frames_in=5, num_frames_out=5, image_size=32, digit_size=14, num_digits=1)
model = dict(model_kwargs=dict(img_size=32, patch_size=8, num_frames=5, dim=64, num_heads=4, head_dim=16,
                               mlp_ratio=2.0, num_layers=2))
train_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, length=2000, digits='glyphs', seed=0, **recipe))
val_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, generate_test=dict(num=128, seed=1), **recipe))
test_dataloader = val_dataloader

max_iters = 800
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-2))
param_scheduler = [dict(type='OneCycleLR', eta_max=2e-3, total_steps=max_iters, by_epoch=False)]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1, save_best=None))
log_processor = dict(by_epoch=False)
