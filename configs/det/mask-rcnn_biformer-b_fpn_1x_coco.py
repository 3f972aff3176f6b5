# Mask R-CNN 1x on COCO with BiFormer-B (official maskrcnn.1x.biformer_base.py): drop path 0.3.
# Paper: 48.6 box / 43.7 mask AP.
_base_ = ['./mask-rcnn_biformer-s_fpn_1x_coco.py']
model = dict(backbone=dict(model_name='biformer_b', drop_path_rate=0.3), neck=dict(in_channels=[96, 192, 384, 768]))
