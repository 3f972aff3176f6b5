# VAN-B3 on ImageNet-1k (official train.sh, drop path 0.2). Paper: 83.9 top-1.
_base_ = ['./van-b0_8xb128_in1k.py']
model = dict(model_name='van_b3', drop_path_rate=0.2)
