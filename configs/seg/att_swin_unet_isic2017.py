# Att-SwinU-Net (Swin-T encoder from the ImageNet-1K Swin release) on ISIC 2017 Part 1, binary lesion masks.
# Data: the challenge training release under data/isic2017 (ISIC-2017_Training_Data/ISIC_*.jpg and
# ISIC-2017_Training_Part1_GroundTruth/*_segmentation.png), split as the official code does (sorted list:
# 1399 train / 200 val / 400 test). Images are resized to 224x224.
# Model, loss, metric, augmentation and schedule: configs/seg/att_swin_unet_isic2018.py (the official training).
_base_ = ['./att_swin_unet_isic2018.py']

data_root = 'data/isic2017'
layout = 'isic2017'
train_dataloader = dict(dataset=dict(data_root=data_root, layout=layout))
val_dataloader = dict(dataset=dict(data_root=data_root, layout=layout))
test_dataloader = dict(dataset=dict(data_root=data_root, layout=layout))
