"""VizAttnBackbone: registration, multi-scale outputs, freezing, norm_eval, checkpointing, agent grids, and loading
the ORIGINAL classification checkpoints (and our own) through init_cfg=Pretrained."""
import argparse
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn

pytest.importorskip('mmdet')
pytest.importorskip('mmseg')

import timm  # noqa: E402

import vizattn.mm  # noqa: E402,F401
from tests.synthetic import synthetic_tensor  # noqa: E402
from vizattn.mm import VizAttnBackbone  # noqa: E402
from vizattn.models._checkpoint import CheckpointError  # noqa: E402

FIX = osp.join(osp.dirname(__file__), 'fixtures')
torch.set_num_threads(1)


def _official(tmp_path, family, variant, wrap):
    """An original-format checkpoint of ``variant`` rebuilt from the family's parity fixture key list."""
    fixture = torch.load(osp.join(FIX, family, f'{variant}.pt'), weights_only=True)
    sd = {n: synthetic_tensor(n, tuple(s), getattr(torch, d)) for n, s, d in fixture['keys']}
    path = tmp_path / f'{variant}_official.pth'
    torch.save({wrap: sd, 'epoch': 299, 'args': argparse.Namespace(model=variant)}, path)
    return str(path)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmengine'])
def test_registered(scope):
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    assert registry.get('VizAttnBackbone') is VizAttnBackbone
    from vizattn.mm import TimmClassifier
    from mmengine.registry import MODELS
    assert MODELS.get('TimmClassifier') is TimmClassifier


@pytest.mark.parametrize('name,kwargs,chans', [
    ('biformer_t', dict(n_win=4, out_norms='all'), [64, 128, 256, 512]),
    ('van_b0', {}, [32, 64, 160, 256]),
    ('litv2_s', dict(out_norms=(1, 2, 3), out_norm_eps=1e-5), [96, 192, 384, 768]),
    ('agent_swin_t', dict(out_norms='all', agent_shapes=[(9, 9), (12, 12), (14, 14), (7, 7)]), [96, 192, 384, 768]),
    ('agent_pvt_t', dict(agent_shapes=[(12, 12), (16, 16), (28, 28), (28, 28)]), [64, 128, 320, 512]),
])
def test_multiscale_outputs(name, kwargs, chans):
    from mmdet.registry import MODELS
    b = MODELS.build(dict(type='VizAttnBackbone', model_name=name, **kwargs)).eval()
    assert b.out_channels == chans and b.out_strides == [4, 8, 16, 32]
    with torch.no_grad():
        outs = b(torch.randn(1, 3, 70, 90))  # not divisible by 32: every family pads
    assert [o.shape[1] for o in outs] == chans
    assert [tuple(o.shape[2:]) for o in outs] == [(18, 23), (9, 12), (5, 6), (3, 3)]
    assert not any(k.startswith(('model.head', 'model.norm.')) for k in b.state_dict())  # pruned
    n_norms = sum(isinstance(m, nn.Module) and type(m).__name__ == 'LayerNorm2d' for m in b.out_norms)
    assert n_norms == len(kwargs.get('out_norms') or ()) if kwargs.get('out_norms') != 'all' else n_norms == 4


def test_out_indices_subset_and_errors():
    b = VizAttnBackbone('biformer_t', out_indices=(1, 2, 3), n_win=4, out_norms='all')
    outs = b(torch.randn(1, 3, 64, 64))
    assert len(outs) == 3 and b.out_channels == [128, 256, 512]
    with pytest.raises(ValueError, match='not in out_indices'):
        VizAttnBackbone('biformer_t', out_indices=(1, 2), out_norms=(0,))
    with pytest.raises(ValueError, match='no agent attention'):
        VizAttnBackbone('van_b0', agent_shapes=[(3, 3)] * 4)


def test_frozen_stages_and_norm_eval():
    b = VizAttnBackbone('biformer_t', n_win=4, frozen_stages=1, norm_eval=True)
    b.train()
    frozen = {n for n, p in b.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith(('model.stem.', 'model.stages.0.')) for n in frozen)
    assert all(not p.requires_grad for n, p in b.named_parameters() if n.startswith('model.stem.'))
    assert all(p.requires_grad for n, p in b.named_parameters() if n.startswith('model.stages.1.'))
    assert not b.model.stages[0].training and b.model.stages[1].training
    bns = [m for m in b.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    b0 = VizAttnBackbone('litv2_s', frozen_stages=0)
    assert all(not p.requires_grad for n, p in b0.named_parameters() if n.startswith('model.patch_embed.'))
    assert all(p.requires_grad for n, p in b0.named_parameters() if n.startswith('model.stages.'))


def test_with_cp_and_channels_last_same_gradients():
    torch.manual_seed(0)
    ref = VizAttnBackbone('van_b0')
    x = torch.randn(2, 3, 64, 64)
    for kwargs in (dict(with_cp=True), dict(channels_last=True)):
        other = VizAttnBackbone('van_b0', **kwargs)
        other.load_state_dict(ref.state_dict())
        ref.zero_grad()
        sum(o.square().mean() for o in ref(x)).backward()
        sum(o.square().mean() for o in other(x)).backward()
        for (n, p), q in zip(ref.named_parameters(), other.parameters()):
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5, msg=f'{kwargs} {n}')


def test_agent_shapes_keep_parameters():
    base = VizAttnBackbone('agent_pvt_t').eval()
    same = VizAttnBackbone('agent_pvt_t', agent_shapes=[(3, 3), (4, 4), (7, 7), (7, 7)]).eval()
    ds = VizAttnBackbone('agent_pvt_t', agent_shapes=[(12, 12), (16, 16), (28, 28), (28, 28)]).eval()
    assert list(ds.state_dict()) == list(base.state_dict())
    same.load_state_dict(base.state_dict())
    ds.load_state_dict(base.state_dict())
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        for a, b in zip(base(x), same(x)):  # the classification grid itself: identical
            torch.testing.assert_close(a, b)
        assert any((a - b).abs().max() > 1e-4 for a, b in zip(base(x), ds(x)))
    attn = next(m for m in ds.modules() if hasattr(m, 'agent_shape'))
    assert attn.an_bias.shape[1] == 144 and attn._parameters['an_bias'].shape[1] == 9


@pytest.mark.parametrize('family,variant,wrap,kwargs', [
    ('biformer', 'biformer_t', 'model', dict(n_win=4, out_norms='all')),
    ('van', 'van_b0', 'state_dict', {}),
    ('litv2', 'litv2_s', 'model', dict(out_norms=(1, 2, 3))),
    ('agent', 'agent_pvt_t', 'model', dict(agent_shapes=[(12, 12), (16, 16), (28, 28), (28, 28)])),
])
def test_pretrained_original_checkpoint(tmp_path, family, variant, wrap, kwargs):
    """init_cfg=Pretrained reads the papers' release format through timm + the family's checkpoint_filter_fn."""
    path = _official(tmp_path, family, variant, wrap)
    b = VizAttnBackbone(variant, init_cfg=dict(type='Pretrained', checkpoint=path), **kwargs)
    before = {k: v.clone() for k, v in b.state_dict().items()}
    b.init_weights()
    model_kwargs = {k: v for k, v in kwargs.items() if k not in ('out_norms', 'out_norm_eps', 'agent_shapes')}
    ref = timm.create_model(variant, pretrained=True, pretrained_cfg_overlay=dict(file=path), **model_kwargs)
    if 'agent_shapes' in kwargs:
        vizattn.mm.set_agent_shapes(ref, kwargs['agent_shapes'])
    ref_sd = ref.state_dict()
    changed = 0
    for k, v in b.model.state_dict().items():
        torch.testing.assert_close(v, ref_sd[k], msg=k)
        changed += not torch.equal(v, before['model.' + k])
    assert changed > 0.9 * len(b.model.state_dict())
    b.eval()
    ref.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats = ref.forward_intermediates(x, intermediates_only=True)
        for f, o, norm in zip(feats, b(x), b.out_norms):
            torch.testing.assert_close(o, norm(f))


def test_pretrained_wrong_variant_and_broken_file(tmp_path):
    path = _official(tmp_path, 'biformer', 'biformer_t', 'model')
    b = VizAttnBackbone('biformer_s', init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(CheckpointError, match='missing|unexpected'):
        b.init_weights()
    broken = tmp_path / 'broken.pth'
    broken.write_bytes(open(path, 'rb').read()[:1000])
    with pytest.raises(CheckpointError):
        VizAttnBackbone('biformer_t', init_cfg=dict(type='Pretrained', checkpoint=str(broken))).init_weights()
    with pytest.raises(CheckpointError, match='not found'):
        VizAttnBackbone('biformer_t', init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'x.pth'))
                        ).init_weights()


def test_own_checkpoints_load(tmp_path):
    """vizattn safetensors (classification) and a detector checkpoint's backbone.* keys."""
    from safetensors.torch import save_file
    src = timm.create_model('van_b0')
    st = tmp_path / 'van_b0.safetensors'
    save_file(src.state_dict(), str(st))
    b = VizAttnBackbone('van_b0', init_cfg=dict(type='Pretrained', checkpoint=str(st)))
    b.init_weights()
    torch.testing.assert_close(b.model.stem.conv.weight if hasattr(b.model.stem, 'conv') else
                               next(b.model.parameters()), next(src.parameters()))
    trained = VizAttnBackbone('van_b0', out_norms='all')
    for p in trained.out_norms.parameters():
        nn.init.normal_(p)
    det = tmp_path / 'det.pth'
    torch.save({'meta': {}, 'state_dict': {f'backbone.{k}': v for k, v in trained.state_dict().items()} |
                {'neck.conv.weight': torch.zeros(1)}}, det)
    c = VizAttnBackbone('van_b0', out_norms='all', init_cfg=dict(type='Pretrained', checkpoint=str(det)))
    c.init_weights()
    for k, v in trained.state_dict().items():
        torch.testing.assert_close(c.state_dict()[k], v)


def test_detector_init_weights_loads_original(tmp_path):
    """A whole mmdet model: runner-style init_weights() fills the backbone from the original release file."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    path = _official(tmp_path, 'biformer', 'biformer_t', 'model')
    cfg = Config.fromfile(osp.join(osp.dirname(FIX), '..', 'configs', 'det', 'retinanet_biformer-s_fpn_1x_coco.py'))
    cfg.model.backbone.update(model_name='biformer_t', init_cfg=dict(type='Pretrained', checkpoint=path))
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    ref = timm.create_model('biformer_t', pretrained=True, pretrained_cfg_overlay=dict(file=path)).state_dict()
    for k, v in model.backbone.model.state_dict().items():
        torch.testing.assert_close(v, ref[k], msg=k)


def test_mmengine_checkpoints_load_safely(tmp_path):
    """What mmengine saves (HistoryBuffer, numpy, Counter) loads with weights_only; code is refused; saving is
    atomic."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint

    hb = HistoryBuffer()
    hb.update(1.5)
    ckpt = {'meta': {'epoch': 1, 'seed': np.int64(3), 'arr': np.arange(3)},
            'message_hub': {'log_scalars': {'loss': hb}},
            'param_schedulers': [{'milestones': __import__('collections').Counter({8: 1})}],
            'state_dict': {'w': torch.ones(2)}}
    path = str(tmp_path / 'ok.pth')
    save_checkpoint(ckpt, path)
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]
    out = _load_checkpoint(path, map_location='cpu')
    assert out['message_hub']['log_scalars']['loss'].mean() == 1.5
    assert out['param_schedulers'][0]['milestones'][8] == 1

    class Evil:
        def __reduce__(self):
            return os.system, ('echo pwned > ' + str(tmp_path / 'pwned'),)

    torch.save({'state_dict': {}, 'x': Evil()}, tmp_path / 'evil.pth')
    with pytest.raises(CheckpointError, match='refusing'):
        _load_checkpoint(str(tmp_path / 'evil.pth'))
    assert not (tmp_path / 'pwned').exists()

    orig = torch.save

    def failing(obj, f, *a, **k):
        f.write(b'partial')
        raise OSError('disk full')

    torch.save = failing
    try:
        with pytest.raises(OSError):
            save_checkpoint({'state_dict': {}}, path)
    finally:
        torch.save = orig
    assert _load_checkpoint(path)['state_dict']['w'].sum() == 2  # the previous file is intact
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]
