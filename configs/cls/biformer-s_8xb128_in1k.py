# BiFormer-S on ImageNet-1k: the README command (drop path 0.15, lr 5e-4 x 1024 / 512). Paper: 83.8 top-1.
_base_ = ['./biformer-t_8xb128_in1k.py']
model = dict(model_name='biformer_s', drop_path_rate=0.15)
