"""Task code of the dense-prediction families (datasets, transforms, losses, metrics, mmengine models).

- :mod:`vizattn.tasks.lesion_seg`: binary skin-lesion segmentation (ISIC 2017 / ISIC 2018 / PH2 layouts,
  albumentations augmentation, Dice + BCE, Dice / IoU / accuracy / sensitivity / specificity) for Att-SwinU-Net;
- :mod:`vizattn.tasks.video_pred`: spatio-temporal prediction (Moving MNIST, TaxiBJ, WeatherBench; OpenSTL's
  MSE / MAE / SSIM / PSNR) for PredFormer.

Nothing is imported here: each module registers its classes with mmengine's registries when it is imported
(``custom_imports=dict(imports=['vizattn', 'vizattn.tasks.lesion_seg'])`` in a config).
"""
