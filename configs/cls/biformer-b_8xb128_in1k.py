# BiFormer-B on ImageNet-1k. The repository gives no drop path for B; 0.4 is an assumption (larger models,
# larger rate, as Swin-B's 0.5). Paper: 84.3 top-1.
_base_ = ['./biformer-t_8xb128_in1k.py']
model = dict(model_name='biformer_b', drop_path_rate=0.4)
