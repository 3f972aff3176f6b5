# LITv2-B on ImageNet-1k (official litv2-base.yaml): drop path 0.5. Paper: 83.6 top-1.
_base_ = ['./litv2-s_8xb128_in1k.py']
model = dict(model_name='litv2_b', drop_path_rate=0.5)
