# Att-SwinU-Net (Swin-T encoder from the ImageNet-1K Swin release) on PH2, binary lesion masks.
# Data: the PH2 release under data/ph2 ("PH2 Dataset images/IMDxxx/IMDxxx_Dermoscopic_Image/IMDxxx.bmp" and
# ".../IMDxxx_lesion/IMDxxx_lesion.bmp"), split as the official code does (sorted list: 80 train / 20 val /
# 100 test). Images are resized to 224x224.
# Model, loss, metric, augmentation and schedule: configs/seg/att_swin_unet_isic2018.py (the official training).
_base_ = ['./att_swin_unet_isic2018.py']

data_root = 'data/ph2'
layout = 'ph2'
train_dataloader = dict(batch_size=16, dataset=dict(data_root=data_root, layout=layout))
val_dataloader = dict(dataset=dict(data_root=data_root, layout=layout))
test_dataloader = dict(dataset=dict(data_root=data_root, layout=layout))
