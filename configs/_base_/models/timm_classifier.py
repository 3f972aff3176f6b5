# An ImageNet classifier on mmengine (vizattn.mm.cls.TimmClassifier); configs set model_name and drop_path_rate.
model = dict(
    type='TimmClassifier',
    model_name=None,
    num_classes=1000,
    data_preprocessor=dict(
        type='ClsDataPreprocessor', mean=None, std=None,  # normalised by TimmImageTransform
        mixup=dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, mode='batch',
                   label_smoothing=0.1, num_classes=1000)))
