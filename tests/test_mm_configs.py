"""Every OpenMMLab config under configs/{cls,det,seg} builds and runs one training iteration on tiny inputs.

Backbones are swapped for the smallest variant of the same family (the channels of the neck/heads follow) and
pretrained loading is switched off; everything else (heads, losses, optimizer wrapper with its paramwise rules,
schedulers, pipelines) is the config's own. One config per task / model type runs in CI (CI_CONFIGS), the others
are heavy. Another test rejects mmdet-2 keys that mmengine would silently ignore.
"""
import copy
import glob
import os
import os.path as osp

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')
pytest.importorskip('mmseg')

import vizattn.mm  # noqa: E402,F401
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
OWN = [p for task in ('cls', 'det', 'seg') for p in sorted(glob.glob(osp.join(ROOT, 'configs', task, '*.py')))
       if not osp.basename(p).startswith('att_swin_unet')]

SMALLEST = {'biformer': 'biformer_t', 'van': 'van_b0', 'litv2': 'litv2_s', 'agent_swin': 'agent_swin_t',
            'agent_pvt': 'agent_pvt_t', 'agent_deit': 'agent_deit_t'}
# keys of mmdet 2 / mmseg 0.x / mmcv 1 configs that mmengine ignores without a word
LEGACY_KEYS = ('optimizer', 'optimizer_config', 'lr_config', 'runner', 'checkpoint_config', 'evaluation', 'fp16',
               'data', 'log_config', 'workflow', 'momentum_config', 'resume_from', 'dist_params')


def _family_smallest(name: str) -> str:
    for prefix, small in SMALLEST.items():
        if name.startswith(prefix):
            return small
    return name


def _rel(path):
    return osp.relpath(path, ROOT)


# Stepped in CI (one per task / detector type, on the fastest family); the rest are heavy.
CI_CONFIGS = ('configs/cls/agent-pvt-t_8xb128_in1k.py', 'configs/det/retinanet_agent-pvt-t_fpn_1x_coco.py',
              'configs/det/mask-rcnn_agent-pvt-t_fpn_1x_coco.py', 'configs/seg/fpn_agent-pvt-t_40k_ade20k-512x512.py')


def _in_ci(paths):
    return [pytest.param(p, id=_rel(p), marks=[] if _rel(p) in CI_CONFIGS else [pytest.mark.heavy]) for p in paths]


def test_configs_found():
    names = {osp.basename(p) for p in OWN}
    for backbone in ('biformer-s', 'biformer-b', 'litv2-s', 'agent-swin-t', 'agent-pvt-t', 'van-b2'):
        assert f'retinanet_{backbone}_fpn_1x_coco.py' in names
        assert f'mask-rcnn_{backbone}_fpn_1x_coco.py' in names
        assert any(n.startswith(f'fpn_{backbone}_') and n.endswith('ade20k-512x512.py') for n in names), backbone
        assert f'upernet_{backbone}_160k_ade20k-512x512.py' in names


@pytest.mark.parametrize('path', OWN, ids=_rel)
def test_no_legacy_keys(path):
    cfg = Config.fromfile(path)
    legacy = [k for k in LEGACY_KEYS if k in cfg]
    assert not legacy, f'{_rel(path)} uses mmdet-2 keys that mmengine ignores: {legacy}'
    assert 'vizattn.mm' in cfg.custom_imports['imports']
    for key in ('optim_wrapper', 'train_cfg', 'param_scheduler', 'train_dataloader', 'val_evaluator'):
        assert key in cfg, f'{_rel(path)} lacks {key}'


def _shrink(cfg):
    """Smallest variant of the backbone, no pretrained loading, heads sized to its channels."""
    from vizattn.mm.backbone import VizAttnBackbone
    m = cfg.model
    if m.type == 'TimmClassifier':
        m.model_name = _family_smallest(m.model_name)
        m.pop('init_cfg', None)
        return None
    bb = m.backbone
    bb.model_name = _family_smallest(bb.model_name)
    bb.pop('init_cfg', None)
    kwargs = {k: v for k, v in bb.items() if k != 'type'}
    chans = VizAttnBackbone(**kwargs).out_channels
    if 'neck' in m and m.neck.type == 'FPN':
        m.neck.in_channels = chans
    elif m.get('decode_head', {}).get('type') == 'UPerHead':
        m.decode_head.in_channels = chans
    if 'auxiliary_head' in m:
        m.auxiliary_head.in_channels = chans[m.auxiliary_head.in_index]
    return chans


def _build_transforms(cfg):
    from mmengine.registry import TRANSFORMS
    for loader in ('train_dataloader', 'val_dataloader'):
        ds = cfg[loader].dataset
        while 'pipeline' not in ds and 'dataset' in ds:
            ds = ds.dataset
        for t in ds.pipeline:
            TRANSFORMS.build(copy.deepcopy(t))


def _batch(cfg, size=64, n=2):
    task = cfg.model.type
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8) for _ in range(n)]
    if task == 'TimmClassifier':
        from mmengine.structures import BaseDataElement
        samples = [BaseDataElement(gt_label=torch.tensor(i % 4)) for i in range(n)]
    elif task == 'EncoderDecoder':
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        samples = []
        for _ in range(n):
            s = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size)))
            s.gt_sem_seg = PixelData(data=torch.randint(0, 4, (1, size, size), generator=g))
            samples.append(s)
    else:
        from mmdet.structures import DetDataSample
        from mmdet.structures.mask import BitmapMasks
        from mmengine.structures import InstanceData
        samples = []
        for _ in range(n):
            s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size),
                                            scale_factor=(1.0, 1.0), img_id=0))
            inst = InstanceData()
            inst.bboxes = torch.tensor([[4., 6., 40., 50.], [20., 10., 60., 34.]])
            inst.labels = torch.tensor([0, 1])
            masks = np.zeros((2, size, size), np.uint8)
            masks[0, 6:50, 4:40] = 1
            masks[1, 10:34, 20:60] = 1
            inst.masks = BitmapMasks(masks, size, size)
            s.gt_instances = inst
            samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def _schedulers(cfg, optim_wrapper):
    from mmengine.registry import PARAM_SCHEDULERS
    out = []
    for s in cfg.param_scheduler if isinstance(cfg.param_scheduler, list) else [cfg.param_scheduler]:
        s = dict(copy.deepcopy(s))
        cls = PARAM_SCHEDULERS.get(s.pop('type'))
        if s.pop('convert_to_iter_based', False):
            out.append(cls.build_iter_from_epoch(optim_wrapper, **s, epoch_length=10))
        else:
            out.append(cls(optim_wrapper, **s))
    return out


@pytest.mark.parametrize('path', _in_ci(OWN))
def test_config_trains_one_iteration(path):
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS
    torch.manual_seed(0)
    cfg = Config.fromfile(path)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        _shrink(cfg)
        if cfg.model.type == 'EncoderDecoder':
            cfg.model.data_preprocessor.size = (64, 64)
        _build_transforms(cfg)
        model = MODELS.build(cfg.model)
        model.init_weights()
        ow_cfg = copy.deepcopy(cfg.optim_wrapper)
        if ow_cfg.get('type') == 'AmpOptimWrapper' and not torch.cuda.is_available():
            ow_cfg.type = 'OptimWrapper'
            ow_cfg.pop('loss_scale', None)
        optim_wrapper = build_optim_wrapper(model, ow_cfg)
        _schedulers(cfg, optim_wrapper)
        model.train()
        before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        losses = model.train_step(_batch(cfg), optim_wrapper)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total), losses
    changed = [n for n, p in model.named_parameters() if n in before and not torch.equal(p, before[n])]
    assert len(changed) > 0.5 * len(before), f'only {len(changed)} of {len(before)} parameters were updated'


def test_sizes_of_all_configs_parse():
    """Every config (not only those stepped in CI) parses and names a known backbone."""
    import timm
    for p in OWN:
        cfg = Config.fromfile(p)
        name = cfg.model.get('model_name') or cfg.model.backbone.model_name
        assert name in timm.list_models(), (p, name)
        if os.environ.get('VIZATTN_TEST_VERBOSE'):
            print(_rel(p), name)
