"""Draw a config's dataset as the model sees it (after the pipeline): boxes and masks, segmentation maps, labels.

    python tools/browse_dataset.py configs/det/retinanet_van-b0_fpn_shapes.py [--split train] [--num 12]
                                   [--out work_dirs/browse/det_train.png] [--cols 4]

Detection: boxes with class names and instance masks (if the pipeline loads them); segmentation: the label map
blended over the image (ignore index 255 left clear); classification: the class name. One grid PNG.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402

_COLOURS = np.array([(220, 20, 60), (0, 128, 255), (255, 200, 0), (0, 200, 100), (160, 32, 240), (255, 128, 0),
                     (0, 255, 255), (128, 128, 0), (255, 0, 255), (0, 0, 142)], np.uint8)


def _colour(i: int, palette=None):
    if palette is not None and i < len(palette):
        return tuple(int(c) for c in palette[i])
    return tuple(int(c) for c in _COLOURS[i % len(_COLOURS)])


def _image(inputs) -> np.ndarray:
    """CHW tensor (BGR, as LoadImageFromFile) or HWC array -> HWC RGB uint8."""
    img = inputs.numpy() if hasattr(inputs, 'numpy') else np.asarray(inputs)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = img.transpose(1, 2, 0)
    if img.dtype != np.uint8:  # normalised by a timm transform: stretch for display
        img = img.astype(np.float32)
        img = (255 * (img - img.min()) / max(float(img.max() - img.min()), 1e-6)).astype(np.uint8)
        return np.ascontiguousarray(img)
    return np.ascontiguousarray(img[..., ::-1])


def draw(item: dict, classes, palette=None) -> np.ndarray:
    import cv2
    img = _image(item['inputs']).copy()
    s = item['data_samples']
    scale = max(1, 256 // max(img.shape[:2]))
    if 'gt_instances' in s:
        inst = s.gt_instances
        if 'masks' in inst and len(inst) > 0:
            masks = inst.masks.to_ndarray() if hasattr(inst.masks, 'to_ndarray') else np.asarray(inst.masks)
            for m, label in zip(masks, inst.labels.tolist()):
                c = np.array(_colour(label, palette), np.float32)
                img[m.astype(bool)] = (0.5 * img[m.astype(bool)] + 0.5 * c).astype(np.uint8)
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        for box, label in zip(inst.bboxes.tensor.tolist() if hasattr(inst.bboxes, 'tensor') else
                              inst.bboxes.tolist(), inst.labels.tolist()):
            x0, y0, x1, y1 = [int(round(v * scale)) for v in box]
            c = _colour(label, palette)
            cv2.rectangle(img, (x0, y0), (x1, y1), c, 1)
            cv2.putText(img, classes[label] if classes else str(label), (x0 + 2, max(y0 + 10, 10)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    elif 'gt_sem_seg' in s:
        seg = s.gt_sem_seg.data.squeeze(0).numpy()
        overlay = img.copy()
        for label in np.unique(seg):
            if label == 255:
                continue
            overlay[seg == label] = _colour(int(label), palette)
        img = (0.45 * img + 0.55 * overlay).astype(np.uint8)
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    else:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        if 'gt_label' in s:
            label = int(s.gt_label)
            cv2.putText(img, classes[label] if classes else str(label), (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (255, 255, 255), 1, cv2.LINE_AA)
    return img


def grid(images, cols: int) -> np.ndarray:
    h = max(i.shape[0] for i in images)
    w = max(i.shape[1] for i in images)
    rows = (len(images) + cols - 1) // cols
    out = np.full((rows * (h + 4), cols * (w + 4), 3), 255, np.uint8)
    for n, im in enumerate(images):
        r, c = divmod(n, cols)
        out[r * (h + 4):r * (h + 4) + im.shape[0], c * (w + 4):c * (w + 4) + im.shape[1]] = im
    return out


def main(argv=None):
    from mmengine.config import Config, DictAction
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('--split', choices=['train', 'val', 'test'], default='train')
    p.add_argument('--num', type=int, default=12)
    p.add_argument('--cols', type=int, default=4)
    p.add_argument('--out', default=None)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    import cv2

    import vizattn.mm  # noqa: F401
    from mmengine.registry import DATASETS, DefaultScope, init_default_scope
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    gen = cfg.get('generated_data')
    if gen:
        from vizattn.data import prepare_default_data
        prepare_default_data(gen.get('root', 'data/shapes'), gen.get('tasks', ('cls', 'det', 'seg')))
    if cfg.get('default_scope'):
        init_default_scope(cfg.default_scope)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        dataset = DATASETS.build(cfg[f'{args.split}_dataloader'].dataset)
    classes = dataset.metainfo.get('classes')
    palette = dataset.metainfo.get('palette')
    images = [draw(dataset[i], classes, palette) for i in range(min(args.num, len(dataset)))]
    out = args.out or osp.join('work_dirs', 'browse', f'{osp.splitext(osp.basename(args.config))[0]}_{args.split}.png')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    cv2.imwrite(out, grid(images, args.cols)[..., ::-1])
    print(f'{len(images)} samples of {len(dataset)} ({args.split}) -> {out}')
    return out


if __name__ == '__main__':
    main()
