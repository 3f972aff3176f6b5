# Agent-PVT-L on ImageNet-1k (official agent_pvt_b.yaml, the "L" model): drop path 0.3, clipping 1.0. Paper: 83.7.
_base_ = ['./agent-pvt-t_8xb128_in1k.py']
model = dict(model_name='agent_pvt_l', drop_path_rate=0.3)
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
