"""Generated default datasets in the real on-disk formats (no download): coloured shapes on textured backgrounds.

:func:`prepare_default_data` writes, under ``root`` (default ``data/shapes``), once:

- ``cls/{train,val}/<class>/*.png``: ImageNet-style class folders (:func:`make_shapes_classification`, 64x64);
- ``coco/{train,val}/*.jpg`` + ``coco/annotations/instances_{train,val}.json``: COCO detection/instance
  annotations (boxes, areas, masks as compressed RLE) of 1-3 shapes per 128x128 scene;
- ``ade/images/{training,validation}/*.jpg`` + ``ade/annotations/{training,validation}/*.png``: ADE20K-style
  masks (uint8; 0 = unlabelled, 1 = background, 2.. = shapes; read with ``reduce_zero_label=True`` as ADE20K is).

Every split has its own seed, so the files are the same on every machine.
"""
import json
import math
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .shapes import SHAPE_CLASSES, make_shapes_classification

__all__ = ['SEG_CLASSES', 'make_scene', 'write_classification', 'write_coco', 'write_ade', 'prepare_default_data',
           'DEFAULT_ROOT']

DEFAULT_ROOT = 'data/shapes'
SEG_CLASSES = ('background',) + SHAPE_CLASSES
_VERSION = 2
_DEFAULT_SIZES = dict(cls=(800, 200), det=(800, 100), seg=(400, 100))


def _shape(kind: int, size: Tuple[int, int], cy: float, cx: float, r: float, angle: float) -> np.ndarray:
    """(H, W) bool mask of one shape (same shapes as vizattn.data.shapes), rotated by ``angle``."""
    yy, xx = np.mgrid[0:size[0], 0:size[1]].astype(np.float32)
    dy0, dx0 = yy - cy, xx - cx
    c, s = math.cos(angle), math.sin(angle)
    dy, dx = c * dy0 - s * dx0, s * dy0 + c * dx0
    if kind == 0:
        return dy ** 2 + dx ** 2 < r ** 2
    if kind == 1:
        return (np.abs(dy) < r * 0.8) & (np.abs(dx) < r * 0.8)
    if kind == 2:
        return (dy < r * 0.7) & (dy > -r) & (np.abs(dx) < (dy + r) * 0.6)
    return ((np.abs(dy) < r * 0.25) & (np.abs(dx) < r)) | ((np.abs(dx) < r * 0.25) & (np.abs(dy) < r))


def _background(rng: np.random.Generator, size: Tuple[int, int]) -> np.ndarray:
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(0.0, 0.55, 3)
    theta = rng.uniform(0, math.pi)
    freq = rng.uniform(0.05, 0.35)
    stripes = np.sin(freq * (math.cos(theta) * xx + math.sin(theta) * yy) + rng.uniform(0, 2 * math.pi))
    img = base[None, None, :] + 0.12 * stripes[..., None] * rng.uniform(0.3, 1.0, 3)[None, None, :]
    return img


def make_scene(rng: np.random.Generator, size: Tuple[int, int] = (128, 128), num_objects: Tuple[int, int] = (1, 3),
               radius: Tuple[float, float] = (0.09, 0.22)) -> Tuple[np.ndarray, List[int], List[np.ndarray]]:
    """One scene: uint8 RGB image (H, W, 3), shape labels and their visible (H, W) bool masks.

    Later shapes occlude earlier ones; a shape left with too few visible pixels is dropped.
    """
    h, w = size
    img = _background(rng, size)
    labels, masks = [], []
    for _ in range(int(rng.integers(num_objects[0], num_objects[1] + 1))):
        kind = int(rng.integers(len(SHAPE_CLASSES)))
        r = rng.uniform(*radius) * min(h, w)
        cy, cx = rng.uniform(r, h - r), rng.uniform(r, w - r)
        m = _shape(kind, size, cy, cx, r, rng.uniform(-0.4, 0.4))
        colour = rng.uniform(0.55, 1.0, 3)
        colour[rng.integers(3)] *= rng.uniform(0.2, 0.7)  # saturated colours, never the background's
        img[m] = colour
        masks = [old & ~m for old in masks]
        labels.append(kind)
        masks.append(m)
    keep = [i for i, m in enumerate(masks) if m.sum() >= 30]
    img = np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1)
    return (img * 255).round().astype(np.uint8), [labels[i] for i in keep], [masks[i] for i in keep]


def _imwrite(path: str, rgb: np.ndarray):
    import cv2
    ok = cv2.imwrite(path, np.ascontiguousarray(rgb[..., ::-1]), [int(cv2.IMWRITE_JPEG_QUALITY), 95])
    if not ok:
        raise OSError(f'cannot write {path}')


def write_classification(root: str, n_train: int, n_val: int, size: int = 64):
    """ImageNet-style folders ``root/{train,val}/<class>/<n>.png``."""
    import cv2
    for split, n, seed in (('train', n_train, 0), ('val', n_val, 1)):
        images, labels = make_shapes_classification(n, size, seed=seed)
        for c in SHAPE_CLASSES:
            os.makedirs(osp.join(root, split, c), exist_ok=True)
        arr = (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
        for i, (im, y) in enumerate(zip(arr, labels.tolist())):
            cv2.imwrite(osp.join(root, split, SHAPE_CLASSES[y], f'{i:05d}.png'), np.ascontiguousarray(im[..., ::-1]))


def _rle(mask: np.ndarray) -> dict:
    """COCO compressed RLE of a (H, W) mask (exact, unlike polygons of thin or occluded parts)."""
    from pycocotools import mask as mask_utils
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=[int(v) for v in rle['size']], counts=rle['counts'].decode('ascii'))


def write_coco(root: str, n_train: int, n_val: int, size: Tuple[int, int] = (128, 128)):
    """COCO instance annotations: ``root/{train,val}/*.jpg``, ``root/annotations/instances_{split}.json``.

    Masks are compressed RLE (``iscrowd=0``; pycocotools and mmdet's ``LoadAnnotations`` read it): polygons of
    partly occluded shapes with one-pixel necks would rasterise differently from the drawn shape."""
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    categories = [dict(id=i + 1, name=c, supercategory='shape') for i, c in enumerate(SHAPE_CLASSES)]
    for split, n, seed in (('train', n_train, 10), ('val', n_val, 11)):
        rng = np.random.default_rng(seed)
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for i in range(n):
            img, labels, masks = make_scene(rng, size)
            file_name = f'{i:06d}.jpg'
            _imwrite(osp.join(root, split, file_name), img)
            images.append(dict(id=i + 1, file_name=file_name, height=size[0], width=size[1]))
            for y, m in zip(labels, masks):
                ys, xs = np.nonzero(m)
                x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
                annotations.append(dict(
                    id=len(annotations) + 1, image_id=i + 1, category_id=y + 1, iscrowd=0, area=float(m.sum()),
                    bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)], segmentation=_rle(m)))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories,
                           info=dict(description='vizattn generated shapes', version=_VERSION)), f)


def write_ade(root: str, n_train: int, n_val: int, size: Tuple[int, int] = (128, 128)):
    """ADE20K-style ``root/images/{training,validation}/*.jpg`` and ``root/annotations/.../*.png`` masks."""
    import cv2
    for split, n, seed in (('training', n_train, 20), ('validation', n_val, 21)):
        rng = np.random.default_rng(seed)
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations', split), exist_ok=True)
        for i in range(n):
            img, labels, masks = make_scene(rng, size, num_objects=(1, 4))
            seg = np.ones(size, np.uint8)  # 1 = background (0 stays "unlabelled", as in ADE20K)
            for y, m in zip(labels, masks):
                seg[m] = y + 2
            _imwrite(osp.join(root, 'images', split, f'{i:06d}.jpg'), img)
            cv2.imwrite(osp.join(root, 'annotations', split, f'{i:06d}.png'), seg)


def prepare_default_data(root: str = DEFAULT_ROOT, tasks: Sequence[str] = ('cls', 'det', 'seg'),
                         sizes: Dict[str, Tuple[int, int]] = None, force: bool = False) -> Dict[str, str]:
    """Write the bundled datasets under ``root`` unless they are there already; returns task -> folder."""
    sizes = dict(_DEFAULT_SIZES, **(sizes or {}))
    writers = dict(cls=('cls', write_classification), det=('coco', write_coco), seg=('ade', write_ade))
    out = {}
    for task in tasks:
        folder, writer = writers[task]
        path = osp.join(root, folder)
        marker = osp.join(path, '.complete')
        stamp = json.dumps(dict(version=_VERSION, sizes=list(sizes[task])))
        if force or not osp.exists(marker) or open(marker).read() != stamp:
            writer(path, *sizes[task])
            with open(marker, 'w') as f:
                f.write(stamp)
        out[task] = path
    return out
