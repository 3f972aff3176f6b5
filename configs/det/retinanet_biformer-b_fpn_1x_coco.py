# RetinaNet 1x on COCO with BiFormer-B (official retinanet.1x.biformer_base.py): as BiFormer-S with drop path
# 0.3. Paper: 47.1 box AP.
_base_ = ['./retinanet_biformer-s_fpn_1x_coco.py']
model = dict(backbone=dict(model_name='biformer_b', drop_path_rate=0.3), neck=dict(in_channels=[192, 384, 768]))
