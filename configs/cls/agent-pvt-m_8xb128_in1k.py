# Agent-PVT-M on ImageNet-1k (official agent_pvt_m.yaml): drop path 0.3, gradient clipping 1.0. Paper: 83.4.
_base_ = ['./agent-pvt-t_8xb128_in1k.py']
model = dict(model_name='agent_pvt_m', drop_path_rate=0.3)
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
