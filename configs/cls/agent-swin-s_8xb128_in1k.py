# Agent-Swin-S on ImageNet-1k (official agent_swin_s.yaml): drop path 0.3. Paper: 83.7 top-1.
_base_ = ['./agent-swin-t_8xb128_in1k.py']
model = dict(model_name='agent_swin_s', drop_path_rate=0.3)
