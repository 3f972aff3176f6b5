# LITv2-M on ImageNet-1k (official litv2-medium.yaml): drop path 0.3. Paper: 83.3 top-1.
_base_ = ['./litv2-s_8xb128_in1k.py']
model = dict(model_name='litv2_m', drop_path_rate=0.3)
