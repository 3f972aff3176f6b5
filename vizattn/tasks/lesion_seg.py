"""Binary (skin-)lesion segmentation for Att-SwinU-Net: data, augmentation, loss, metrics, mmengine model.

Registered with mmengine's root registries when imported (``custom_imports=dict(imports=['vizattn',
'vizattn.tasks.lesion_seg'])``): ``LesionSegDataset``, ``LesionAlbumentations``, ``LesionSegPreprocessor``,
``LesionSegmentor``, ``DiceBCELoss`` (MODELS) and ``LesionSegMetric``.

Datasets are image folders with one binary mask per image, addressed by a glob pattern for the images and a
``{stem}`` template for the masks (both relative to ``data_root``); the presets in ``LAYOUTS`` are the public
releases, with the official Att-SwinU-Net splits (consecutive index ranges of the sorted file list):

- ISIC 2018 Task 1: ``ISIC2018_Task1-2_Training_Input/ISIC_*.jpg`` + ``ISIC2018_Task1_Training_GroundTruth/
  ISIC_*_segmentation.png``; 2594 images split 1815 / 259 / 520;
- ISIC 2017 Part 1: ``ISIC-2017_Training_Data/ISIC_*.jpg`` + ``ISIC-2017_Training_Part1_GroundTruth/
  ISIC_*_segmentation.png``; 2000 images split 1399 / 200 / 400 (the official script drops the last one);
- PH2: ``PH2 Dataset images/IMD*/IMD*_Dermoscopic_Image/IMD*.bmp`` + ``.../IMD*_lesion/IMD*_lesion.bmp``;
  200 images split 80 / 20 / 100.

``make_synthetic_lesions`` writes a small ISIC-2018-format set of generated dermoscopy-like images (a skin
texture with one irregular pigmented lesion, hairs, vignetting) so that the configs train and evaluate on CPU
without downloads.
"""
import glob
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseDataPreprocessor, BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS, TRANSFORMS

__all__ = ['LAYOUTS', 'LesionSegDataset', 'LesionAlbumentations', 'LesionSegPreprocessor', 'LesionSegmentor',
           'DiceBCELoss', 'LesionSegMetric', 'make_synthetic_lesions', 'binary_seg_counts', 'seg_scores']

# layout presets: image glob, mask template, official split ranges of the sorted list
LAYOUTS = {
    'isic2018': dict(img_pattern='ISIC2018_Task1-2_Training_Input/ISIC_*.jpg',
                     mask_template='ISIC2018_Task1_Training_GroundTruth/{stem}_segmentation.png',
                     splits=dict(train=(0, 1815), val=(1815, 2074), test=(2074, 2594))),
    'isic2017': dict(img_pattern='ISIC-2017_Training_Data/ISIC_*.jpg',
                     mask_template='ISIC-2017_Training_Part1_GroundTruth/{stem}_segmentation.png',
                     splits=dict(train=(0, 1399), val=(1399, 1599), test=(1599, 1999))),
    'ph2': dict(img_pattern='PH2 Dataset images/IMD*/IMD*_Dermoscopic_Image/IMD*.bmp',
                mask_template='PH2 Dataset images/{stem}/{stem}_lesion/{stem}_lesion.bmp',
                splits=dict(train=(0, 80), val=(80, 100), test=(100, 200))),
}


def _read_image(path: str) -> np.ndarray:
    import cv2
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f'cannot read image {path}')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _read_mask(path: str) -> np.ndarray:
    import cv2
    m = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise FileNotFoundError(f'cannot read mask {path}')
    return (m > 127).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------
# Synthetic data

def _smooth_noise(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    import cv2
    small = rng.standard_normal((max(size // scale, 2), max(size // scale, 2))).astype(np.float32)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def synthetic_lesion(rng: np.random.Generator, size: int = 128) -> Tuple[np.ndarray, np.ndarray]:
    """One RGB uint8 image and its {0, 1} mask: an irregular pigmented blob on skin, with hairs."""
    import cv2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    skin = np.array([225, 180, 160], np.float32) * rng.uniform(0.8, 1.05, 3)
    img = np.ones((size, size, 3), np.float32) * skin
    img += 8 * _smooth_noise(rng, size, 8)[..., None]
    # lesion: a star-shaped radius function (a few harmonics) around a random centre
    cy, cx = rng.uniform(0.3, 0.7, 2)
    r0 = rng.uniform(0.12, 0.3)
    ang = np.arctan2(yy - cy, xx - cx)
    rad = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    r = r0 * (1 + sum(rng.uniform(0, 0.18) * np.cos(k * ang + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5)))
    mask = (rad < r).astype(np.uint8)
    inside = np.clip((r - rad) / (0.3 * r0), 0, 1)[..., None]
    lesion = np.array([110, 65, 45], np.float32) * rng.uniform(0.6, 1.2, 3)
    lesion = lesion + 25 * _smooth_noise(rng, size, 6)[..., None]  # mottled pigment
    img = img * (1 - inside) + lesion * inside
    for _ in range(rng.integers(0, 6)):  # hairs
        p0 = rng.uniform(0, size, 2).astype(int)
        p1 = rng.uniform(0, size, 2).astype(int)
        cv2.line(img, tuple(map(int, p0)), tuple(map(int, p1)), (40, 30, 25), int(rng.integers(1, 3)))
    img *= (1 - 0.35 * ((yy - 0.5) ** 2 + (xx - 0.5) ** 2))[..., None]  # vignetting
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), mask


def make_synthetic_lesions(root: str, num_images: int = 96, size: int = 128, seed: int = 0) -> str:
    """Write ``num_images`` synthetic images in the ISIC 2018 Task 1 layout under ``root`` (once)."""
    import cv2
    img_dir = osp.join(root, 'ISIC2018_Task1-2_Training_Input')
    mask_dir = osp.join(root, 'ISIC2018_Task1_Training_GroundTruth')
    done = osp.join(root, '.complete')
    if osp.exists(done):
        with open(done) as f:
            if f.read().strip() == f'{num_images} {size} {seed}':
                return root
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(mask_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(num_images):
        img, mask = synthetic_lesion(rng, size)
        stem = f'ISIC_{i:07d}'
        cv2.imwrite(osp.join(img_dir, stem + '.jpg'), cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(osp.join(mask_dir, stem + '_segmentation.png'), mask * 255)
    with open(done, 'w') as f:
        f.write(f'{num_images} {size} {seed}')
    return root


# ---------------------------------------------------------------------------------------------------------
# Dataset and augmentation

@TRANSFORMS.register_module()
class LesionAlbumentations:
    """An albumentations ``Compose`` built from dicts, applied to ``results['img']`` and ``results['mask']``.

    ``transforms=[dict(type='HorizontalFlip', p=0.5), dict(type='Rotate', limit=90), ...]``: each ``type`` is an
    albumentations transform name. Requires ``pip install albumentations``.
    """

    def __init__(self, transforms: Sequence[dict], seed: Optional[int] = None):
        try:
            import albumentations as A
        except ImportError as e:  # pragma: no cover
            raise ImportError('LesionAlbumentations needs albumentations (pip install albumentations)') from e
        ops = []
        for t in transforms:
            t = dict(t)
            name = t.pop('type')
            if not hasattr(A, name):
                raise ValueError(f'albumentations has no transform {name!r}')
            ops.append(getattr(A, name)(**t))
        self.compose = A.Compose(ops, seed=seed) if seed is not None else A.Compose(ops)

    def __call__(self, results: dict) -> dict:
        out = self.compose(image=results['img'], mask=results['mask'])
        results['img'], results['mask'] = out['image'], out['mask']
        return results

    def __repr__(self):
        return f'{type(self).__name__}({self.compose})'


def paper_augmentation(size: int = 224) -> List[dict]:
    """The training augmentation of the configs: flips, rotations and colour jitter, then a resize."""
    return [
        dict(type='HorizontalFlip', p=0.5),
        dict(type='VerticalFlip', p=0.5),
        dict(type='RandomRotate90', p=0.5),
        dict(type='Rotate', limit=30, border_mode=0, p=0.5),
        dict(type='ColorJitter', brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02, p=0.5),
        dict(type='Resize', height=size, width=size),
    ]


@DATASETS.register_module()
class LesionSegDataset(torch.utils.data.Dataset):
    """Images and binary masks; items are ``dict(inputs=uint8 CHW tensor, data_samples=dict(gt, name))``.

    Args:
        data_root: dataset folder.
        layout: a ``LAYOUTS`` key, or None to give ``img_pattern`` / ``mask_template`` / ``splits`` yourself.
        split: 'train' / 'val' / 'test' (a range of the sorted list) or 'all'.
        pipeline: transforms applied to ``dict(img=HxWx3 uint8, mask=HxW uint8)`` (e.g. LesionAlbumentations).
        synthetic: ``dict(num_images=.., size=.., seed=..)``: write the synthetic set into data_root first.
    """

    def __init__(self, data_root: str, layout: Optional[str] = 'isic2018', split: str = 'train',
                 pipeline: Sequence = (), img_pattern: Optional[str] = None, mask_template: Optional[str] = None,
                 splits: Optional[Dict[str, Sequence[int]]] = None, synthetic: Optional[dict] = None,
                 max_items: Optional[int] = None):
        super().__init__()
        if synthetic is not None:
            make_synthetic_lesions(data_root, **synthetic)
        preset = dict(LAYOUTS[layout]) if layout else {}
        self.img_pattern = img_pattern or preset.get('img_pattern')
        self.mask_template = mask_template or preset.get('mask_template')
        splits = splits or preset.get('splits') or {}
        if not self.img_pattern or not self.mask_template:
            raise ValueError('give a layout or both img_pattern and mask_template')
        self.data_root = data_root
        files = sorted(glob.glob(osp.join(data_root, self.img_pattern)))
        if not files:
            raise FileNotFoundError(f'no images match {osp.join(data_root, self.img_pattern)}')
        if split != 'all':
            if split not in splits:
                raise ValueError(f'unknown split {split!r}; have {sorted(splits)} or "all"')
            start, end = splits[split]
            if start >= len(files):
                raise ValueError(f'split {split!r} starts at image {start} but only {len(files)} images were found')
            files = files[start:end]
        if max_items:
            files = files[:max_items]
        self.items = []
        for f in files:
            stem = osp.splitext(osp.basename(f))[0]
            mask = osp.join(data_root, self.mask_template.format(stem=stem))
            if not osp.exists(mask):
                raise FileNotFoundError(f'no mask for {f}: expected {mask}')
            self.items.append((f, mask, stem))
        self.split = split
        self.pipeline = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> dict:
        img_path, mask_path, stem = self.items[idx]
        results = dict(img=_read_image(img_path), mask=_read_mask(mask_path))
        for t in self.pipeline:
            results = t(results)
        img = torch.from_numpy(np.ascontiguousarray(results['img'])).permute(2, 0, 1).contiguous()
        mask = torch.from_numpy(np.ascontiguousarray(results['mask'])).unsqueeze(0).float()
        return dict(inputs=img, data_samples=dict(gt=mask, name=stem))


# ---------------------------------------------------------------------------------------------------------
# Model, loss, metric

@MODELS.register_module()
class LesionSegPreprocessor(BaseDataPreprocessor):
    """Stack (if needed), move to the device, scale to [0, 1] and normalise with mean/std (0-255 units)."""

    def __init__(self, mean: Sequence[float] = (123.675, 116.28, 103.53), std: Sequence[float] = (58.395, 57.12, 57.375)):
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), False)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(list(inputs))
        inputs = (inputs.float() - self.mean) / self.std
        samples = data.get('data_samples')
        if isinstance(samples, (list, tuple)):  # pseudo_collate: a list of per-sample dicts
            samples = dict(gt=torch.stack([s['gt'] for s in samples]), name=[s['name'] for s in samples])
        return dict(inputs=inputs, data_samples=samples)


@MODELS.register_module()
class DiceBCELoss(nn.Module):
    """``bce_weight * BCE-with-logits + dice_weight * (1 - soft Dice)`` for one-channel logits.

    The soft Dice is over each image's pixels, ``(2 * sum(p * g) + smooth) / (sum(p) + sum(g) + smooth)``,
    averaged over the batch.
    """

    def __init__(self, bce_weight: float = 1.0, dice_weight: float = 1.0, smooth: float = 1.0):
        super().__init__()
        self.bce_weight, self.dice_weight, self.smooth = bce_weight, dice_weight, smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> Dict[str, torch.Tensor]:
        logits = logits.float()
        target = target.float()
        bce = F.binary_cross_entropy_with_logits(logits, target)
        p = logits.sigmoid().flatten(1)
        g = target.flatten(1)
        dice = (2 * (p * g).sum(1) + self.smooth) / (p.sum(1) + g.sum(1) + self.smooth)
        return dict(loss_bce=self.bce_weight * bce, loss_dice=self.dice_weight * (1 - dice.mean()))


@MODELS.register_module()
class LesionSegmentor(BaseModel):
    """An mmengine model around a timm-created segmentation net (``att_swin_unet_t``): loss in train mode,
    lesion probabilities in val/test.

    Args:
        model_name: the timm model name; ``model_kwargs`` go to ``timm.create_model``.
        pretrained: a checkpoint file for ``pretrained_cfg_overlay=dict(file=...)`` (an official Att-SwinU-Net
            file, a Swin-T ImageNet classifier for the encoder, or vizattn's own), or True for the default
            source (the Swin-T ImageNet release), or None.
        threshold: probability threshold of the predicted masks.
    """

    def __init__(self, model_name: str = 'att_swin_unet_t', model_kwargs: Optional[dict] = None,
                 pretrained=None, loss: Optional[dict] = None, threshold: float = 0.5,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None):
        import timm
        import vizattn  # noqa: F401  (registers the models)
        super().__init__(data_preprocessor=data_preprocessor or dict(type='LesionSegPreprocessor'),
                         init_cfg=init_cfg)
        kwargs = dict(model_kwargs or {})
        kwargs.setdefault('num_classes', 1)
        if kwargs['num_classes'] != 1:
            raise ValueError('LesionSegmentor is binary: num_classes must be 1')
        if isinstance(pretrained, str):
            self.net = timm.create_model(model_name, pretrained=True, pretrained_cfg_overlay=dict(file=pretrained),
                                         **kwargs)
        else:
            self.net = timm.create_model(model_name, pretrained=bool(pretrained), **kwargs)
        if pretrained:
            self._is_init = True  # keep the loaded weights through mmengine's init_weights
        self.loss_fn = MODELS.build(loss or dict(type='DiceBCELoss'))
        self.threshold = threshold

    def forward(self, inputs: torch.Tensor, data_samples: Optional[dict] = None, mode: str = 'tensor'):
        logits = self.net(inputs)
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            return self.loss_fn(logits, data_samples['gt'])
        if mode == 'predict':
            probs = logits.float().sigmoid()
            out = []
            for i in range(probs.shape[0]):
                item = dict(prob=probs[i, 0], pred=probs[i, 0] > self.threshold)
                if data_samples is not None:
                    item['gt'] = data_samples['gt'][i, 0] > 0.5
                    item['name'] = data_samples['name'][i]
                out.append(item)
            return out
        raise ValueError(f'unknown mode {mode!r}')


def binary_seg_counts(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(TP, FP, TN, FN) pixel counts of boolean maps, as int64."""
    pred, gt = pred.bool(), gt.bool()
    tp = (pred & gt).sum()
    fp = (pred & ~gt).sum()
    tn = (~pred & ~gt).sum()
    fn = (~pred & gt).sum()
    return torch.stack([tp, fp, tn, fn]).long().cpu()


def seg_scores(counts) -> Dict[str, float]:
    """Dice (F1), IoU (Jaccard), accuracy, sensitivity (recall), specificity from (TP, FP, TN, FN)."""
    tp, fp, tn, fn = [float(c) for c in counts]

    def div(a, b):
        return a / b if b > 0 else 1.0  # both empty: perfect

    return dict(dice=div(2 * tp, 2 * tp + fp + fn), iou=div(tp, tp + fp + fn),
                accuracy=div(tp + tn, tp + tn + fp + fn), sensitivity=div(tp, tp + fn),
                specificity=div(tn, tn + fp))


@METRICS.register_module()
class LesionSegMetric(BaseMetric):
    """Dice, IoU, accuracy, sensitivity and specificity of the thresholded masks.

    ``average='pixels'`` (default) pools the pixel counts of the whole set, as the official evaluation
    (scikit-learn's F1 on the flattened test set) and the ISIC papers' tables do; ``'images'`` averages the
    per-image scores (the ISIC challenge's way).
    """

    default_prefix = 'lesion'

    def __init__(self, average: str = 'pixels', collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if average not in ('pixels', 'images'):
            raise ValueError("average must be 'pixels' or 'images'")
        self.average = average

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for s in data_samples:
            self.results.append(binary_seg_counts(s['pred'], s['gt']))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        if self.average == 'pixels':
            scores = seg_scores(torch.stack(results).sum(0))
        else:
            per = [seg_scores(c) for c in results]
            scores = {k: float(np.mean([p[k] for p in per])) for k in per[0]}
        return {k: round(v * 100, 4) for k, v in scores.items()}
