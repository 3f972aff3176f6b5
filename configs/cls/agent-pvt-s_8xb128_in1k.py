# Agent-PVT-S on ImageNet-1k (official agent_pvt_s.yaml): drop path 0.1. Paper: 82.2 top-1.
_base_ = ['./agent-pvt-t_8xb128_in1k.py']
model = dict(model_name='agent_pvt_s', drop_path_rate=0.1)
