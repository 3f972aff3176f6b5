"""A minimal image-classification task on mmengine (mmpretrain is not a dependency).

- ``TimmClassifier``: any timm/vizattn classifier as an mmengine ``BaseModel`` (loss / predict / tensor modes);
  ``init_cfg=dict(type='Pretrained', checkpoint=...)`` loads like :class:`~vizattn.mm.VizAttnBackbone` does
  (timm's loader and the family's ``checkpoint_filter_fn``: original releases and vizattn files, strictly).
- ``ClsDataPreprocessor``: stacking, normalisation, optional timm ``Mixup``/CutMix and label smoothing.
- ``ImageFolderDataset``: ImageNet-style ``root/<split>/<class>/*.jpg`` folders (or an ``ann_file`` of
  ``relative/path label`` lines, as ImageNet's ``meta/train.txt``).
- Transforms: ``TimmImageTransform`` (timm's ``create_transform``: RandAugment, random erasing, resized crops,
  the papers' ImageNet pipeline), ``PackClsInputs``.
- ``ClsAccuracy``: top-1 / top-5 in percent (``accuracy/top1``).
"""
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dataset import BaseDataset
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.model import BaseModel, ImgDataPreprocessor
from mmengine.registry import DATASETS, METRICS, MODELS, TRANSFORMS
from mmengine.structures import BaseDataElement

from ..models._checkpoint import unwrap_state_dict
from .checkpoint import safe_torch_load

__all__ = ['TimmClassifier', 'ClsDataPreprocessor', 'ImageFolderDataset', 'TimmImageTransform',
           'PackClsInputs', 'ClsAccuracy']

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


def _overlay_for(checkpoint: str, prefix: Optional[str] = None) -> Optional[dict]:
    if checkpoint in ('released', 'default'):
        return None
    if checkpoint.startswith(('http://', 'https://')):
        return dict(url=checkpoint)
    if prefix:
        sd = unwrap_state_dict(safe_torch_load(checkpoint))
        return dict(state_dict={k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)})
    return dict(file=checkpoint)


@MODELS.register_module()
class TimmClassifier(BaseModel):
    """An image classifier: ``timm.create_model(model_name, num_classes=..., **model_kwargs)``.

    Args:
        model_name: timm model name.
        num_classes: classes of the head.
        label_smoothing: for hard labels (soft Mixup targets already carry their smoothing).
        channels_last: run in channels_last memory format (faster depth-wise convs on CPU).
        data_preprocessor: e.g. ``dict(type='ClsDataPreprocessor', mean=..., std=..., mixup=...)``.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH | URL | 'released', prefix=None)``.
    """

    def __init__(self, model_name: str, num_classes: int = 1000, label_smoothing: float = 0.0,
                 channels_last: bool = False, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None, **model_kwargs):
        import timm

        import vizattn  # noqa: F401
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.model_name = model_name
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.model_kwargs = dict(model_kwargs)
        self.channels_last = channels_last
        self.model = timm.create_model(model_name, num_classes=num_classes, **model_kwargs)
        if channels_last:
            self.model.to(memory_format=torch.channels_last)

    def init_weights(self):
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            import timm
            src = cfg['checkpoint']
            kwargs = dict(self.model_kwargs)
            overlay = _overlay_for(src, cfg.get('prefix'))
            if overlay:
                kwargs['pretrained_cfg_overlay'] = overlay
            loaded = timm.create_model(self.model_name, pretrained=True, num_classes=self.num_classes, **kwargs)
            self.model.load_state_dict(loaded.state_dict(), strict=True)
            print_log(f'{self.model_name}: loaded {len(loaded.state_dict())} tensors from {src} '
                      f'(num_classes={self.num_classes})', logger='current', level=logging.INFO)
            self._is_init = True
        elif cfg:
            super().init_weights()

    def forward(self, inputs: torch.Tensor, data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor'):
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        logits = self.model(inputs)
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            return dict(loss=self.loss(logits, data_samples))
        if mode == 'predict':
            return self.predict(logits, data_samples)
        raise RuntimeError(f'invalid mode {mode!r}: use loss, predict or tensor')

    def loss(self, logits: torch.Tensor, data_samples: List[BaseDataElement]) -> torch.Tensor:
        if 'gt_score' in data_samples[0]:
            target = torch.stack([s.gt_score for s in data_samples]).to(logits)
            return torch.sum(-target * F.log_softmax(logits, dim=-1), dim=-1).mean()
        target = torch.stack([torch.as_tensor(s.gt_label) for s in data_samples]).to(logits.device).view(-1)
        return F.cross_entropy(logits, target.long(), label_smoothing=self.label_smoothing)

    def predict(self, logits: torch.Tensor, data_samples: Optional[List[BaseDataElement]] = None):
        scores = logits.float().softmax(dim=-1)
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(len(scores))]
        for s, score in zip(data_samples, scores):
            s.pred_score = score.detach()
            s.pred_label = score.argmax().detach()
        return data_samples


@MODELS.register_module()
class ClsDataPreprocessor(ImgDataPreprocessor):
    """``ImgDataPreprocessor`` plus timm's Mixup/CutMix in training.

    Args:
        mixup: ``dict(mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1, num_classes=1000, ...)`` for
            ``timm.data.Mixup``; None disables it. Inputs already normalised by ``TimmImageTransform`` need
            ``mean=None, std=None`` here.
    """

    def __init__(self, mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                 bgr_to_rgb: bool = False, mixup: Optional[dict] = None, **kwargs):
        super().__init__(mean=mean, std=std, bgr_to_rgb=bgr_to_rgb, **kwargs)
        self.mixup = None
        if mixup:
            from timm.data import Mixup
            self.mixup = Mixup(**mixup)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        if training and self.mixup is not None:
            samples = data['data_samples']
            labels = torch.stack([torch.as_tensor(s.gt_label) for s in samples]).view(-1).to(data['inputs'].device)
            inputs, soft = self.mixup(data['inputs'], labels)
            data['inputs'] = inputs
            for s, t in zip(samples, soft):
                s.gt_score = t
        return data


@DATASETS.register_module()
class ImageFolderDataset(BaseDataset):
    """``data_root/data_prefix['img_path']/<class>/<image>``; classes are the sorted folder names unless given.

    With ``ann_file`` (lines ``relative/path.jpg label``) the images are read relative to the image folder.
    """

    def __init__(self, data_root: str = '', data_prefix: Optional[dict] = None, ann_file: str = '',
                 metainfo: Optional[dict] = None, extensions: Sequence[str] = IMG_EXTENSIONS, **kwargs):
        self.extensions = tuple(e.lower() for e in extensions)
        super().__init__(data_root=data_root, data_prefix=data_prefix or dict(img_path=''), ann_file=ann_file,
                         metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        root = self.data_prefix['img_path']
        if not osp.isdir(root):
            raise FileNotFoundError(f'image folder {root} does not exist (for the bundled data run '
                                    f'`python tools/make_data.py`)')
        classes = self._metainfo.get('classes')
        if self.ann_file:
            data = []
            with open(self.ann_file) as f:
                for line in f:
                    if line.strip():
                        path, label = line.rsplit(maxsplit=1)
                        data.append(dict(img_path=osp.join(root, path), gt_label=int(label)))
            if classes is None:
                self._metainfo['classes'] = tuple(str(i) for i in range(max(d['gt_label'] for d in data) + 1))
            return data
        if classes is None:
            classes = tuple(sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d))))
            self._metainfo['classes'] = classes
        data = []
        for label, name in enumerate(classes):
            folder = osp.join(root, name)
            for file in sorted(os.listdir(folder)):
                if file.lower().endswith(self.extensions):
                    data.append(dict(img_path=osp.join(folder, file), gt_label=label))
        if not data:
            raise FileNotFoundError(f'no images under {root}/<class>/')
        return data


@TRANSFORMS.register_module()
class TimmImageTransform:
    """timm's ``create_transform`` on the loaded image (BGR numpy -> RGB PIL -> normalised CHW tensor).

    Keyword arguments are ``timm.data.create_transform``'s (``input_size``, ``is_training``, ``auto_augment``,
    ``re_prob``, ``interpolation``, ``crop_pct``, ``mean``, ``std``, ...).
    """

    def __init__(self, **kwargs):
        from timm.data import create_transform
        self.kwargs = kwargs
        self.transform = create_transform(**kwargs)

    def __call__(self, results: dict) -> dict:
        from PIL import Image
        img = results['img']
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        results['img'] = self.transform(Image.fromarray(np.ascontiguousarray(img[..., ::-1])))
        results['img_shape'] = tuple(results['img'].shape[-2:])
        return results

    def __repr__(self):
        return f'{type(self).__name__}({self.kwargs})'


@TRANSFORMS.register_module()
class PackClsInputs:
    """Pack ``img`` (HWC numpy or CHW tensor) and ``gt_label`` into ``inputs`` / ``data_samples``."""

    meta_keys = ('img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip')

    def __call__(self, results: dict) -> dict:
        img = results['img']
        if isinstance(img, np.ndarray):
            if img.ndim == 2:
                img = img[..., None]
            img = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = BaseDataElement(metainfo={k: results[k] for k in self.meta_keys if k in results})
        if 'gt_label' in results:
            sample.gt_label = torch.as_tensor(results['gt_label'], dtype=torch.long)
        return dict(inputs=img, data_samples=sample)


@METRICS.register_module()
class ClsAccuracy(BaseMetric):
    """Top-k accuracy in percent; keys ``accuracy/top1``, ``accuracy/top5``."""

    default_prefix = 'accuracy'

    def __init__(self, topk: Union[int, Sequence[int]] = (1, 5), collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = (topk,) if isinstance(topk, int) else tuple(topk)

    def process(self, data_batch, data_samples: Sequence[dict]):
        for s in data_samples:
            get = s.get if isinstance(s, dict) else lambda k: getattr(s, k)
            self.results.append((get('pred_score').cpu(), int(get('gt_label'))))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        scores = torch.stack([r[0] for r in results])
        labels = torch.tensor([r[1] for r in results])
        out = {}
        for k in self.topk:
            k_eff = min(k, scores.shape[1])
            hit = (scores.topk(k_eff, dim=1).indices == labels[:, None]).any(1).float().mean().item()
            out[f'top{k}'] = 100.0 * hit
        return out

