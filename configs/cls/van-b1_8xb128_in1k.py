# VAN-B1 on ImageNet-1k (official train.sh, drop path 0.1). Paper: 81.1 top-1.
_base_ = ['./van-b0_8xb128_in1k.py']
model = dict(model_name='van_b1', drop_path_rate=0.1)
