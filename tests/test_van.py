"""VAN (Large Kernel Attention): parity with the official code and mmpretrain, checkpoints, timm contract."""
import os

import pytest
import timm
import torch

import vizattn  # noqa: F401  (registers the models)
from tests.synthetic import fixed_input, synthetic_state_dict
from vizattn.models._checkpoint import CheckpointError
from vizattn.models.van import MMPRETRAIN_URLS, VAN, checkpoint_filter_fn
from vizattn.utils.flops import count_macs, count_params

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'van')
BAR = 1e-5  # max abs error / max abs output, fp32

# README / paper: params (M) of b0..b6; GFLOPs at 224 of b0..b3 (README); mmpretrain's metafile GFLOPs.
PAPER_PARAMS = dict(van_b0=4.1, van_b1=13.9, van_b2=26.6, van_b3=44.8, van_b4=60.3, van_b5=90.0, van_b6=199.8)
PAPER_GFLOPS = dict(van_b0=0.9, van_b1=2.5, van_b2=5.0, van_b3=9.0)
MMPRETRAIN_GFLOPS = dict(van_b0=0.88, van_b1=2.52, van_b2=5.03, van_b3=8.99)


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _fixture(name):
    return torch.load(os.path.join(FIXTURES, f'{name}.pt'), weights_only=False)


def _official_sd(data):
    return synthetic_state_dict([(k, s, getattr(torch, t)) for k, s, t in data['keys']])


def _save_original(tmp_path, sd, name='van_original.pth.tar'):
    """Wrap as the release does: timm 0.4.12 CheckpointSaver ({'state_dict', 'epoch', 'arch', 'args', ...})."""
    import argparse
    path = str(tmp_path / name)
    torch.save({'epoch': 299, 'arch': 'van_tiny', 'state_dict': sd, 'version': 2,
                'args': argparse.Namespace(model='van_tiny', drop_path=0.1), 'metric': 75.4}, path)
    return path


def _rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def _load(variant, path, **kwargs):
    return timm.create_model(variant, pretrained=True, pretrained_cfg_overlay=dict(file=path), **kwargs).eval()


@pytest.fixture(scope='module')
def b0_file(tmp_path_factory):
    return _save_original(tmp_path_factory.mktemp('van'), _official_sd(_fixture('van_b0')))


# ---------------------------------------------------------------------------------------------- parity

@pytest.mark.parametrize('variant', ['van_b0', 'van_b1'])
def test_parity_official(variant, tmp_path):
    data = _fixture(variant)
    model = _load(variant, _save_original(tmp_path, _official_sd(data)))
    with torch.no_grad():
        x = fixed_input(data['input_shape'], data['input_seed'])
        assert _rel_err(model(x), data['output']) <= BAR
        feats = model.forward_intermediates(x, intermediates_only=True)
        for f, ref in zip(feats, data['features']):
            assert tuple(f.shape) == ref['shape']
            assert _rel_err(f.mean(dim=(2, 3)), ref['mean']) <= BAR
            assert _rel_err(f[:, :8, :3, :3], ref['corner']) <= BAR
        # a non-square size that is no multiple of 32, batch 1: the official convs handle it the same way
        x = fixed_input(data['odd_input_shape'], data['odd_input_seed'])
        assert _rel_err(model(x), data['odd_output']) <= BAR
        for f, ref in zip(model.forward_intermediates(x, intermediates_only=True), data['odd_features']):
            assert tuple(f.shape) == ref['shape']
            assert _rel_err(f[:, :8, :3, :3], ref['corner']) <= BAR


def test_parity_mmpretrain(tmp_path):
    """mmpretrain's VAN (backbone. / head.fc keys, DW_conv/DW_D_conv, blocks{i}) loads strictly and matches it."""
    data = _fixture('van_b0_mmpretrain')
    sd = _official_sd(data)
    assert any(k.startswith('backbone.blocks1.0.attn.spatial_gating_unit.DW_D_conv') for k in sd)
    path = str(tmp_path / 'van-tiny_8xb128_in1k_20220501-385941af.pth')
    torch.save({'meta': {'mmcls_version': '0.23.0', 'CLASSES': None}, 'state_dict': sd}, path)
    # mmpretrain's stage LayerNorms use eps 1e-5 (official 1e-6): with norm_eps=1e-5 the outputs are the same
    model = _load('van_b0', path, norm_eps=data['norm_eps'])
    x = fixed_input(data['input_shape'], data['input_seed'])
    with torch.no_grad():
        assert _rel_err(model(x), data['output']) <= BAR
        for f, ref in zip(model.forward_intermediates(x, intermediates_only=True), data['features']):
            assert _rel_err(f[:, :8, :3, :3], ref['corner']) <= BAR
        # with the default (official) eps 1e-6 the mmpretrain weights give nearly the same output
        assert _rel_err(_load('van_b0', path)(x), data['output']) < 1e-4  # measured 3.1e-6
    # a backbone-only file (what mmseg/mmdet configs load) fits a headless model and fails a classifier loudly
    backbone = {k: v for k, v in sd.items() if k.startswith('backbone.')}
    torch.save({'state_dict': backbone}, path)
    assert _load('van_b0', path, num_classes=0).num_classes == 0
    with pytest.raises(CheckpointError, match='head.fc.weight'):
        _load('van_b0', path)
    assert set(MMPRETRAIN_URLS) == {'van_b0', 'van_b1', 'van_b2', 'van_b3'}


# ---------------------------------------------------------------------------------------------- checkpoints

def test_original_checkpoint_adaptations(b0_file):
    ref = _load('van_b0', b0_file)
    x = fixed_input((1, 3, 96, 128))
    with torch.no_grad():
        m = _load('van_b0', b0_file, num_classes=5, in_chans=1)
        assert m(x[:, :1]).shape == (1, 5)
        assert torch.equal(m.stages[3].blocks[1].mlp.fc2.weight, ref.stages[3].blocks[1].mlp.fc2.weight)
        # in_chans=1: timm sums the RGB filters of the first conv
        assert torch.allclose(m.stem.conv.weight, ref.stem.conv.weight.sum(1, keepdim=True))
        feats = timm.create_model('van_b0', pretrained=True, pretrained_cfg_overlay=dict(file=b0_file),
                                  features_only=True).eval()(x)
        ref_feats = ref.forward_intermediates(x, intermediates_only=True)
        assert all(torch.equal(a, b) for a, b in zip(feats, ref_feats))


def test_own_state_dict_round_trip(tmp_path, b0_file):
    from safetensors.torch import save_file
    ref = _load('van_b0', b0_file)
    path = str(tmp_path / 'model.safetensors')
    save_file(ref.state_dict(), path)
    m = _load('van_b0', path)
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), ref.state_dict().values()))


def test_wrong_variant_raises(tmp_path):
    b1 = _official_sd(_fixture('van_b1'))
    path = _save_original(tmp_path, b1)
    with pytest.raises(CheckpointError, match=r'shape mismatches: stem\.conv\.weight|missing .*stages\.0\.blocks\.2'):
        _load('van_b0', path)
    # same widths, other depths (b1 -> b2): the missing blocks are named
    with pytest.raises(CheckpointError, match=r'missing \d+ keys: stages\.0\.blocks\.2\.'):
        _load('van_b2', path)
    # not a VAN checkpoint at all
    torch.save({'model': {'conv.weight': torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match='unexpected 1 keys: conv.weight'):
        _load('van_b0', path)


def test_truncated_file_raises(tmp_path, b0_file):
    path = str(tmp_path / 'truncated.pth.tar')
    with open(b0_file, 'rb') as f, open(path, 'wb') as g:
        g.write(f.read()[:4096])
    with pytest.raises(CheckpointError, match='truncated'):
        _load('van_b0', path)


def test_default_cfgs_point_to_the_release():
    for variant, (size, file) in dict(van_b0=('Tiny', 'van_tiny_754'), van_b1=('Small', 'van_small_811'),
                                      van_b2=('Base', 'van_base_828'), van_b3=('Large', 'van_large_839')).items():
        cfg = timm.models.get_pretrained_cfg(variant)
        assert cfg.hf_hub_id == f'Visual-Attention-Network/VAN-{size}-original'
        assert cfg.hf_hub_filename == f'{file}.pth.tar' and cfg.url.endswith(cfg.hf_hub_filename)
        assert cfg.mean == (0.5, 0.5, 0.5) and cfg.crop_pct == 0.9
    assert not timm.models.get_pretrained_cfg('van_b6').has_weights


# ---------------------------------------------------------------------------------------------- sizes

@pytest.mark.parametrize('variant', list(PAPER_PARAMS))
def test_params_match_paper(variant):
    with torch.device('meta'):
        model = VAN(**_arch(variant))
    assert abs(count_params(model) / 1e6 - PAPER_PARAMS[variant]) <= 0.05


def _arch(variant):
    archs = dict(
        van_b0=((3, 3, 5, 2), (32, 64, 160, 256)), van_b1=((2, 2, 4, 2), (64, 128, 320, 512)),
        van_b2=((3, 3, 12, 3), (64, 128, 320, 512)), van_b3=((3, 5, 27, 3), (64, 128, 320, 512)),
        van_b4=((3, 6, 40, 3), (64, 128, 320, 512)), van_b5=((3, 3, 24, 3), (96, 192, 480, 768)),
        van_b6=((6, 6, 90, 6), (96, 192, 384, 768)))
    return dict(depths=archs[variant][0], embed_dims=archs[variant][1], mlp_ratios=(8, 8, 4, 4))


def test_entry_points_match_archs():
    # every registered VAN builds the documented arch (checked cheaply on the meta device)
    with torch.device('meta'):
        for variant in PAPER_PARAMS:
            m = timm.create_model(variant)
            a = _arch(variant)
            assert [len(s.blocks) for s in m.stages] == list(a['depths'])
            assert [s.norm.weight.shape[0] for s in m.stages] == list(a['embed_dims'])
            hidden = [s.blocks[0].mlp.fc1.out_channels // d for s, d in zip(m.stages, a['embed_dims'])]
            assert hidden == [8, 8, 4, 4]


def _gflops(variant):
    return count_macs(timm.create_model(variant)) / 1e9


def _mmcv_style_gflops(variant):
    """MACs + conv bias adds + 2 per BatchNorm element: how mmcv's counter (mmpretrain's metafile) counts."""
    model = timm.create_model(variant).eval()
    extra = []

    def hook(mod, inp, out):
        extra.append(out.numel() * (2 if isinstance(mod, torch.nn.BatchNorm2d) else int(mod.bias is not None)))

    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d)):
            m.register_forward_hook(hook)
    return (count_macs(model) + sum(extra)) / 1e9


@pytest.mark.parametrize('variant', list(PAPER_GFLOPS))
def test_flops_match_paper(variant):
    # conv/linear MACs only: 0.864 / 2.495 / 4.993 / 8.925 G; the README rounds to one decimal
    assert abs(_gflops(variant) - PAPER_GFLOPS[variant]) <= 0.04 * PAPER_GFLOPS[variant]
    # counted as mmcv counts (bias adds, BN) they are mmpretrain's two-decimal numbers
    assert abs(_mmcv_style_gflops(variant) - MMPRETRAIN_GFLOPS[variant]) <= 0.006


# ---------------------------------------------------------------------------------------------- timm contract

@pytest.fixture(scope='module')
def b0(b0_file):
    return _load('van_b0', b0_file)


@pytest.mark.parametrize('size', [(1, 3, 97, 130), (2, 3, 64, 64), (1, 3, 33, 250), (1, 3, 7, 5)])
def test_any_input_size(b0, size):
    x = fixed_input(size)
    with torch.no_grad():
        out = b0(x)
        feats = b0.forward_intermediates(x, intermediates_only=True)
    assert out.shape == (size[0], 1000) and torch.isfinite(out).all()
    h, w = size[2:]
    for f, r in zip(feats, (4, 8, 16, 32)):
        h, w = (h + 1) // 2 if r > 4 else (h - 1) // 4 + 1, (w + 1) // 2 if r > 4 else (w - 1) // 4 + 1
        assert f.shape[2:] == (h, w)


def test_batch_one_matches_batch(b0):
    x = fixed_input((3, 3, 96, 112))
    with torch.no_grad():
        assert torch.allclose(b0(x)[1:2], b0(x[1:2]), atol=1e-5, rtol=1e-4)


def test_channels_last(b0):
    x = fixed_input((2, 3, 96, 96))
    with torch.no_grad():
        ref = b0(x)
        m = timm.create_model('van_b0').eval()
        m.load_state_dict(b0.state_dict())
        m = m.to(memory_format=torch.channels_last)
        out = m(x.to(memory_format=torch.channels_last))
    assert _rel_err(out, ref) <= 1e-5


def test_bf16_autocast(b0):
    x = fixed_input((2, 3, 96, 96))
    with torch.no_grad():
        ref = b0(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = b0(x)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert _rel_err(out.float(), ref) < 0.05


@pytest.mark.heavy
def test_torch_compile(b0):
    x = fixed_input((1, 3, 64, 64))
    compiled = torch.compile(b0)
    with torch.no_grad():
        assert _rel_err(compiled(x), b0(x)) <= 1e-5


def test_torchscript(b0):
    scripted = torch.jit.script(b0)
    x = fixed_input((1, 3, 64, 80))
    with torch.no_grad():
        assert _rel_err(scripted(x), b0(x)) <= 1e-6


def test_bad_input_raises(b0):
    with pytest.raises(ValueError, match='expected 3 input channels, got 1'):
        b0(torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match='4-D'):
        b0(torch.zeros(3, 64, 64))
    with pytest.raises(ValueError, match='expected 3 input channels'):
        b0.forward_intermediates(torch.zeros(1, 4, 64, 64))


def test_features_only():
    m = timm.create_model('van_b0', features_only=True).eval()
    assert m.feature_info.reduction() == [4, 8, 16, 32]
    assert m.feature_info.channels() == [32, 64, 160, 256]
    with torch.no_grad():
        feats = m(fixed_input((1, 3, 128, 96)))
    assert [tuple(f.shape) for f in feats] == [(1, 32, 32, 24), (1, 64, 16, 12), (1, 160, 8, 6), (1, 256, 4, 3)]
    m = timm.create_model('van_b0', features_only=True, out_indices=(1, 3), feature_cls='getter')
    assert m.feature_info.reduction() == [8, 32]


def test_forward_intermediates(b0):
    x = fixed_input((1, 3, 96, 96))
    with torch.no_grad():
        final, inter = b0.forward_intermediates(x)
        assert torch.equal(final, b0.forward_features(x))
        assert torch.equal(inter[-1], final) and len(inter) == 4
        early = b0.forward_intermediates(x, indices=[0, 1], stop_early=True, intermediates_only=True)
        assert len(early) == 2 and torch.equal(early[1], inter[1])
        assert b0.forward_head(final, pre_logits=True).shape == (1, 256)


def test_head_grad_checkpointing_and_backward():
    m = timm.create_model('van_b0', num_classes=7, drop_path_rate=0.1)
    m.reset_classifier(0)
    assert m(fixed_input((2, 3, 64, 64))).shape == (2, 256)
    m.reset_classifier(0, '')
    assert m(fixed_input((2, 3, 64, 64))).shape == (2, 256, 2, 2)
    m.reset_classifier(3, 'avg')
    assert m.get_classifier().out_features == 3
    m.eval()
    x = fixed_input((2, 3, 64, 64))
    ref = m(x)
    m.set_grad_checkpointing(True)
    out = m(x)
    assert torch.allclose(out, ref, atol=1e-6)
    m.train()
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    groups = m.group_matcher()
    assert groups['stem'] == r'^stem' and m.no_weight_decay() == set()


def test_prune_intermediate_layers():
    m = timm.create_model('van_b0').eval()
    assert m.prune_intermediate_layers([1]) == [1]
    assert len(m.stages) == 2 and m.num_classes == 0
    out = m.forward_intermediates(fixed_input((1, 3, 64, 64)), indices=[1], intermediates_only=True)
    assert out[0].shape == (1, 64, 8, 8)


def test_filter_accepts_unwrapped_official_dict():
    data = _fixture('van_b0')
    m = timm.create_model('van_b0')
    sd = checkpoint_filter_fn(_official_sd(data), m)
    assert set(sd) == set(m.state_dict())


def test_factory_device_dtype():
    m = timm.create_model('van_b0', device='meta', dtype=torch.bfloat16)
    assert all(t.device.type == 'meta' and t.dtype == torch.bfloat16 for t in m.parameters())
    m.reset_classifier(10)
    assert m.get_classifier().weight.device.type == 'meta' and m.get_classifier().weight.dtype == torch.bfloat16
    with pytest.raises(TypeError):
        timm.create_model('van_b0', device='meta', not_a_model_arg=1)


def _official_to_mmpretrain(key):
    """How mmpretrain names the official keys (read off mmpretrain/models/backbones/van.py, written here anew)."""
    if key.startswith('head.'):
        return 'head.fc.' + key[len('head.'):]
    key = key.replace('.proj.', '.projection.') if key.startswith('patch_embed') else key
    key = key.replace('block', 'blocks', 1) if key.startswith('block') else key
    key = key.replace('spatial_gating_unit.conv0.', 'spatial_gating_unit.DW_conv.')
    key = key.replace('spatial_gating_unit.conv_spatial.', 'spatial_gating_unit.DW_D_conv.')
    key = key.replace('mlp.dwconv.dwconv.', 'mlp.dwconv.')
    return 'backbone.' + key


def test_mmpretrain_layout_of_b1(tmp_path):
    """The official b1 weights renamed the mmpretrain way give the official b1 output (eps 1e-6 kept)."""
    data = _fixture('van_b1')
    sd = {_official_to_mmpretrain(k): v for k, v in _official_sd(data).items()}
    mm_keys = {k for k, _, _ in _fixture('van_b0_mmpretrain')['keys']}
    assert {_official_to_mmpretrain(k) for k, _, _ in _fixture('van_b0')['keys']} == mm_keys
    path = str(tmp_path / 'van-small_8xb128_in1k_20220501-17bc91aa.pth')
    torch.save({'meta': {}, 'state_dict': sd}, path)
    with torch.no_grad():
        out = _load('van_b1', path)(fixed_input(data['input_shape'], data['input_seed']))
    assert _rel_err(out, data['output']) <= BAR
