# Agent-Swin-B on ImageNet-1k (official agent_swin_b.yaml): drop path 0.5. Paper: 84.0 top-1.
_base_ = ['./agent-swin-t_8xb128_in1k.py']
model = dict(model_name='agent_swin_b', drop_path_rate=0.5)
