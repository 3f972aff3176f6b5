"""LITv2 / HiLo: parity with the official code, the original checkpoint format, paper numbers, any input size."""
import math
import os
import sys
import types
from collections import OrderedDict

import pytest
import timm
import torch
from torch.utils.flop_counter import FlopCounterMode
import torch.nn.functional as F
from safetensors.torch import save_file

from tests.synthetic import fixed_input, synthetic_tensor
from vizattn.models import _checkpoint
from vizattn.models._checkpoint import CheckpointError
from vizattn.models.litv2 import HiLoAttention
from vizattn.utils import count_macs
from vizattn.ops._backend import available_backends
from vizattn.ops.hilo import hilo, window_mean_pool
from vizattn.utils import count_macs, count_params

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'litv2')

# Params (M): the issue/official-code counts (27.8/48.8/86.5) and the paper/README (28/49/87); GFLOPs (MACs)
# at 224 (B-384 at 384) from the paper/README.
PARAMS = {'litv2_s': (27.8, 28), 'litv2_m': (48.8, 49), 'litv2_b': (86.5, 87), 'litv2_b_384': (86.5, 87)}
GFLOPS = {'litv2_s': (3.7, 224), 'litv2_m': (7.5, 224), 'litv2_b': (13.2, 224), 'litv2_b_384': (39.7, 384)}


def _fixture(name):
    return torch.load(os.path.join(FIXTURES, f'{name}.pt'), weights_only=True)


def _official_sd(fixture):
    return {name: synthetic_tensor(name, shape, getattr(torch, dtype)) for name, shape, dtype in fixture['keys']}


def _save_official(sd, path, **extra):
    """As the official main.py/utils.save_checkpoint writes it (the real file also holds the optimizer)."""
    torch.save({'model': sd, 'lr_scheduler': {'last_epoch': 300}, 'max_accuracy': 82.0, 'epoch': 299, **extra},
               path)
    return str(path)


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    # the CI machine has 2 cores shared by several runs: more intra-op threads only oversubscribe them
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope='module')
def fixture_s():
    return _fixture('litv2_s')


@pytest.fixture(scope='module')
def official_file(fixture_s, tmp_path_factory):
    return _save_official(_official_sd(fixture_s), tmp_path_factory.mktemp('ckpt') / 'litv2_s.pth')


def _load(path, name='litv2_s', **kwargs):
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path), **kwargs)


def _check_parity(model, fixture):
    x = fixed_input(fixture['input_shape'], fixture['input_seed'])
    with torch.no_grad():
        final, feats = model.eval().forward_intermediates(x)
        out = model.forward_head(final)
    ref = fixture['output']
    err = ((out - ref).abs().max() / ref.abs().max()).item()
    assert err <= 1e-5, err
    for got, want in zip(feats, fixture['stage_means']):
        assert (got.mean((2, 3)) - want).abs().max() / want.abs().max() <= 1e-5


# ---------------------------------------------------------------------------------------------------------
# Parity and checkpoints

def test_parity_with_official(fixture_s, official_file):
    model = _load(official_file)
    _check_parity(model, fixture_s)
    model.set_attn_backend('math')  # the official order of operations
    _check_parity(model, fixture_s)


@pytest.mark.heavy
def test_parity_with_official_b(tmp_path):
    fixture = _fixture('litv2_b')
    path = _save_official(_official_sd(fixture), tmp_path / 'litv2_b.pth')
    _check_parity(_load(path, 'litv2_b'), fixture)


def test_fixture_exercises_deformable_offsets(fixture_s, official_file):
    # the synthetic conv_offset weights give sizeable offsets: the fixture checks deformable sampling, not a conv
    assert sum('conv_offset' in k for k, _, _ in fixture_s['keys']) == 6
    model = _load(official_file).eval()
    offsets = []
    hooks = [stage.downsample.conv.offset.register_forward_hook(lambda m, i, o: offsets.append(o))
             for stage in model.stages[1:]]
    with torch.no_grad():
        model(fixed_input((1, 3, 64, 64), 0))
    for h in hooks:
        h.remove()
    assert len(offsets) == 3 and all(o.abs().mean() > 0.2 for o in offsets), [o.abs().mean() for o in offsets]


def test_original_checkpoint_adapts_head_chans_and_features(official_file):
    ref = _load(official_file).eval()
    m = _load(official_file, num_classes=5, in_chans=1).eval()
    torch.testing.assert_close(m.stages.state_dict(), ref.stages.state_dict())
    assert m(torch.randn(1, 1, 64, 64)).shape == (1, 5)
    feats = _load(official_file, features_only=True).eval()
    x = torch.randn(1, 3, 96, 128)
    outs = feats(x)
    assert feats.feature_info.reduction() == [4, 8, 16, 32]
    assert feats.feature_info.channels() == [96, 192, 384, 768]
    assert [tuple(o.shape[2:]) for o in outs] == [(24, 32), (12, 16), (6, 8), (3, 4)]
    with torch.no_grad():
        want = ref.forward_intermediates(x, intermediates_only=True)
    for got, w in zip(outs, want):
        torch.testing.assert_close(got, w)


def test_own_safetensors_roundtrip(tmp_path):
    model = timm.create_model('litv2_s').eval()
    path = tmp_path / 'litv2_s.safetensors'
    save_file(model.state_dict(), str(path))
    loaded = _load(str(path)).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_wrong_variant_raises_naming_keys(official_file):
    with pytest.raises(CheckpointError, match=r'unexpected 4\d keys: .*stages\.2\.blocks\.[45]'):
        _load(official_file, depths=(2, 2, 4, 2))  # an S checkpoint into a shallower model
    with pytest.raises(CheckpointError, match=r'missing \d+ keys: .*stages\.2\.blocks\.6\.'):
        _load(official_file, depths=(2, 2, 8, 2))
    # another alpha (the v1.1 ablation checkpoints) splits the heads differently: shape mismatches are named
    with pytest.raises(CheckpointError, match=r'shape mismatches: .*attn\.(h|l)_'):
        _load(official_file, alpha=0.5)


def test_truncated_file_raises(official_file, tmp_path):
    data = open(official_file, 'rb').read()
    bad = tmp_path / 'truncated.pth'
    bad.write_bytes(data[:len(data) // 3])
    with pytest.raises(CheckpointError, match='truncated'):
        _load(str(bad))


def _fake_yacs(monkeypatch):
    """A stand-in for the yacs package, pickled like yacs.config.CfgNode (a dict subclass with __dict__ state)."""
    mod = types.ModuleType('yacs.config')

    class CfgNode(dict):
        def __init__(self, init_dict=None, new_allowed=False):
            super().__init__(init_dict or {})
            self.__dict__['__immutable__'] = False
            self.__dict__['__deprecated_keys__'] = set()
            self.__dict__['__renamed_keys__'] = {}
            self.__dict__['__new_allowed__'] = new_allowed

    CfgNode.__module__, CfgNode.__qualname__ = 'yacs.config', 'CfgNode'
    mod.CfgNode = CfgNode
    pkg = types.ModuleType('yacs')
    pkg.config = mod
    monkeypatch.setitem(sys.modules, 'yacs', pkg)
    monkeypatch.setitem(sys.modules, 'yacs.config', mod)
    return CfgNode


def _save_with_config(fixture, path, monkeypatch):
    CfgNode = _fake_yacs(monkeypatch)
    config = CfgNode({'MODEL': CfgNode({'TYPE': 'litv2', 'NAME': 'litv2_small',
                                        'LIT': CfgNode({'DEPTHS': [2, 2, 6, 2], 'ALPHA': 0.9})}),
                      'AMP_OPT_LEVEL': 'O1'})
    path = _save_official(_official_sd(fixture), path, config=config)
    monkeypatch.delitem(sys.modules, 'yacs')  # the loader must not need yacs
    monkeypatch.delitem(sys.modules, 'yacs.config')
    return path


def test_checkpoint_with_yacs_config_loads(fixture_s, tmp_path, monkeypatch):
    path = _save_with_config(fixture_s, tmp_path / 'litv2_s_cfg.pth', monkeypatch)
    _check_parity(_load(path), fixture_s)


def test_official_key_mapping_covers_dtm(fixture_s):
    from vizattn.models.litv2 import _official_to_ours
    ours = set(timm.create_model('litv2_s').state_dict())
    mapped = {_official_to_ours(k) for k, _, _ in fixture_s['keys']}
    assert mapped == ours
    assert _official_to_ours('layers.0.downsample.dconv.conv_offset.weight') == 'stages.1.downsample.conv.offset.weight'
    assert _official_to_ours('layers.2.downsample.norm_layer.running_var') == 'stages.3.downsample.norm.running_var'


# ---------------------------------------------------------------------------------------------------------
# Paper numbers

@pytest.mark.parametrize('name', sorted(PARAMS))
def test_params_match_paper(name):
    with torch.device('meta'):
        model = timm.create_model(name)
    n = count_params(model) / 1e6
    official, paper = PARAMS[name]
    assert abs(n - official) <= 0.05, n
    assert round(n) == paper


def _check_flops(name):
    paper, size = GFLOPS[name]
    model = timm.create_model(name)
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:  # torch's own counter: no deform_conv2d, no CPU SDPA
            model.eval()(torch.randn(1, 3, size, size))
    macs = count_macs(model, (3, size, size))
    # the DTM convolutions counted by hand as dense convs, which count_macs must include
    side, dtm, dim = size // 4, 0, model.feature_info[0]['num_chs']
    for _ in range(3):
        side //= 2
        dtm += dim * (2 * dim) * 2 * 2 * side * side
        dim *= 2
    sdpa = sum(v for op, v in counter.get_flop_counts()['Global'].items() if 'scaled_dot' in str(op)) / 2
    assert sdpa == 0
    assert macs - counter.get_total_flops() / 2 >= dtm
    # within 1%: the paper's flops() also counts biases, norms and 12 (not 8) offset channels
    assert macs / 1e9 == pytest.approx(paper, rel=0.01)


@pytest.mark.parametrize('name', ['litv2_s', 'litv2_m'])
def test_flops_match_paper(name):
    _check_flops(name)


@pytest.mark.heavy
@pytest.mark.parametrize('name', ['litv2_b', 'litv2_b_384'])
def test_flops_match_paper_big(name):
    _check_flops(name)


# ---------------------------------------------------------------------------------------------------------
# The HiLo op: padding and masking

def _naive_window_attention(q, k, v, heads, ws, scale):
    """Per window, attention over its valid tokens only (no padding at all)."""
    B, H, W, C = q.shape
    d = C // heads
    out = torch.zeros_like(q)
    for i in range(0, H, ws):
        for j in range(0, W, ws):
            sl = (slice(None), slice(i, i + ws), slice(j, j + ws))
            qw, kw, vw = (t[sl].reshape(B, -1, heads, d).transpose(1, 2) for t in (q, k, v))
            a = ((qw @ kw.transpose(-2, -1)) * scale).softmax(-1) @ vw
            out[sl] = a.transpose(1, 2).reshape(B, *q[sl].shape[1:3], C)
    return out


@pytest.mark.parametrize('size', [(7, 9), (8, 8), (5, 4)])
def test_hifi_masks_padding(size):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, *size, 16, generator=g) for _ in range(3))
    hi, lo = hilo(q, k, v, None, None, None, hi_heads=2, lo_heads=0, window_size=2)
    assert lo is None
    torch.testing.assert_close(hi, _naive_window_attention(q, k, v, 2, 2, 8 ** -0.5))


@pytest.mark.parametrize('size', [(7, 9), (8, 8), (3, 5)])
def test_window_mean_pool_averages_valid_tokens(size):
    x = torch.randn(2, *size, 6)
    ws = 2
    got = window_mean_pool(x, ws)
    H, W = size
    assert got.shape == (2, math.ceil(H / ws), math.ceil(W / ws), 6)
    for i in range(got.shape[1]):
        for j in range(got.shape[2]):
            torch.testing.assert_close(got[:, i, j], x[:, i * ws:(i + 1) * ws, j * ws:(j + 1) * ws].mean((1, 2)))
    if H % ws == 0 and W % ws == 0:  # the official nn.AvgPool2d exactly
        assert torch.equal(got, F.avg_pool2d(x.permute(0, 3, 1, 2), ws, ws).permute(0, 2, 3, 1))


def test_lofi_is_global_attention_to_pooled_keys():
    g = torch.Generator().manual_seed(1)
    q = torch.randn(1, 5, 7, 12, generator=g)
    k, v = (torch.randn(1, 3, 4, 12, generator=g) for _ in range(2))
    _, lo = hilo(None, None, None, q, k, v, hi_heads=0, lo_heads=3, window_size=2)
    qh, kh, vh = (t.reshape(1, -1, 3, 4).transpose(1, 2) for t in (q, k, v))
    want = ((qh @ kh.transpose(-2, -1)) * 0.5).softmax(-1) @ vh
    torch.testing.assert_close(lo, want.transpose(1, 2).reshape(1, 5, 7, 12))


def test_hilo_attention_module_at_odd_size_matches_naive():
    torch.manual_seed(0)
    attn = HiLoAttention(48, num_heads=6, window_size=2, alpha=0.5).eval()
    assert (attn.lo_heads, attn.hi_heads) == (3, 3)
    x = torch.randn(2, 7, 5, 48)
    with torch.no_grad():
        out = attn(x)
        q, k, v = attn.h_qkv(x).chunk(3, -1)
        hi = attn.h_proj(_naive_window_attention(q, k, v, 3, 2, 8 ** -0.5))
        pooled = window_mean_pool(x, 2)
        lk, lv = attn.l_kv(pooled).chunk(2, -1)
        _, lo = hilo(None, None, None, attn.l_q(x), lk, lv, 0, 3, 2)
    torch.testing.assert_close(out, torch.cat([hi, attn.l_proj(lo)], -1))


HI, LO = {'h_qkv', 'h_proj'}, {'l_q', 'l_kv', 'l_proj'}


@pytest.mark.parametrize('alpha,expected', [(0.0, HI), (1.0, LO), (0.9, HI | LO)])
def test_alpha_extremes(alpha, expected):
    # the v1.1 ablation models: alpha 0 has no Lo-Fi parameters in stage 3, alpha 1 no Hi-Fi ones
    model = timm.create_model('litv2_s', alpha=alpha).eval()
    keys = {k.split('.')[-2] for k in model.state_dict() if k.startswith('stages.2.') and '.attn.' in k}
    assert keys == expected
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(1, 3, 72, 88))).all()


@pytest.mark.parametrize('size', [(7, 9), (14, 14)])
def test_backends_agree(size, monkeypatch):
    g = torch.Generator().manual_seed(2)
    hq, hk, hv = (torch.randn(2, *size, 16, generator=g) for _ in range(3))
    lq = torch.randn(2, *size, 32, generator=g)
    lk, lv = (torch.randn(2, 4, 5, 32, generator=g) for _ in range(2))
    ref = hilo(hq, hk, hv, lq, lk, lv, 2, 4, 2, backend='reference')
    monkeypatch.setenv('VIZATTN_BACKEND', 'bra=flex,hilo=math')
    out = hilo(hq, hk, hv, lq, lk, lv, 2, 4, 2)
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b)


def test_backend_selection():
    assert {'reference', 'math'} <= set(available_backends('hilo'))
    q = torch.randn(1, 4, 4, 8)
    with pytest.raises(ValueError, match='unknown hilo backend'):
        hilo(q, q, q, None, None, None, 2, 0, 2, backend='nope')
    with pytest.raises(ValueError, match='must divide'):
        hilo(q, q, q, None, None, None, 3, 0, 2)


# ---------------------------------------------------------------------------------------------------------
# Model behaviour

@pytest.fixture(scope='module')
def model_s():
    torch.manual_seed(0)
    return timm.create_model('litv2_s').eval()


@pytest.mark.parametrize('size', [(97, 131), (64, 40), (225, 223), (32, 32)])
def test_any_input_size(model_s, size):
    with torch.no_grad():
        feats = model_s.forward_intermediates(torch.randn(1, 3, *size), intermediates_only=True)
    side = [math.ceil(s / 4) for s in size]
    for i, f in enumerate(feats):
        assert tuple(f.shape[2:]) == tuple(side), (i, f.shape)
        assert torch.isfinite(f).all()
        side = [math.ceil(s / 2) for s in side]


def test_divisible_size_unaffected_by_padding_code(model_s):
    # at a size divisible by 32 the padded code path is never taken: the batch layout does not matter either
    x = torch.randn(3, 3, 96, 64)
    with torch.no_grad():
        full = model_s(x)
        one = model_s(x[1:2])
    torch.testing.assert_close(one, full[1:2], rtol=1e-5, atol=1e-5)


def test_channels_last(model_s):
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        ref = model_s(x)
        m = timm.create_model('litv2_s').eval()
        m.load_state_dict(model_s.state_dict())
        m = m.to(memory_format=torch.channels_last)
        out = m(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_bf16_autocast(model_s):
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        ref = model_s(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = model_s(x)
    assert out.dtype == torch.bfloat16
    assert ((out.float() - ref).abs().max() / ref.abs().max()) < 0.05


def test_backward_reaches_offsets():
    model = timm.create_model('litv2_s', num_classes=3)
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing
    # zero-initialised offsets still get a gradient (the DTM learns to deform)
    assert model.stages[1].downsample.conv.offset.weight.grad.abs().sum() > 0


@pytest.mark.heavy
def test_torch_compile(model_s):
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        ref = model_s(x)
        out = torch.compile(model_s)(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_torchscript(model_s):
    scripted = torch.jit.script(model_s)
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model_s(x))


def test_clear_errors(model_s):
    with pytest.raises(ValueError, match='expected 3 input channels, got 1'):
        model_s(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match='too small'):
        model_s(torch.randn(1, 3, 16, 64))
    with pytest.raises(ValueError, match='alpha'):
        timm.create_model('litv2_s', alpha=1.5)
    with pytest.raises(ValueError, match='divisible by num_heads'):
        timm.create_model('litv2_s', num_heads=(3, 6, 7, 24))
    with pytest.raises(ValueError, match='one entry per stage'):
        timm.create_model('litv2_s', window_size=(0, 2, 1))


def test_window_size_argument():
    m = timm.create_model('litv2_s', window_size=4)
    assert m.window_size == (0, 0, 4, 1)
    attn = m.stages[2].blocks[0].attn
    assert (attn.window_size, attn.lo_heads, attn.hi_heads) == (4, 10, 2)
    assert m.stages[3].blocks[0].attn.hi_heads == 0  # stage 4: plain global attention
    with torch.no_grad():
        assert m.eval()(torch.randn(1, 3, 96, 96)).shape == (1, 1000)  # 6x6 stage-3 map, not divisible by 4


def test_features_only_and_intermediates(model_s):
    feats = timm.create_model('litv2_s', features_only=True, out_indices=(1, 3))
    assert feats.feature_info.reduction() == [8, 32]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        final, inter = model_s.forward_intermediates(x)
        torch.testing.assert_close(final, model_s.forward_features(x))
        assert [f.shape[1] for f in inter] == [96, 192, 384, 768]
        assert model_s.forward_head(final, pre_logits=True).shape == (1, 768)


def test_grad_checkpointing_same_output():
    torch.manual_seed(0)
    m = timm.create_model('litv2_s').eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = m(x)
    m.set_grad_checkpointing(True)
    torch.testing.assert_close(m(x), ref)


def test_feature_getter_matches_intermediates(model_s):
    getter = timm.create_model('litv2_s', features_only=True, feature_cls='getter', out_indices=(0, 2)).eval()
    getter.model.load_state_dict(model_s.state_dict(), strict=False)  # pruned: stages 0-2, no head
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        got = getter(x)
        want = model_s.forward_intermediates(x, indices=[0, 2], intermediates_only=True)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def _timm_tests_dir():
    ver = timm.__version__
    root = os.environ.get('VIZATTN_CACHE') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'vizattn')
    return os.path.join(root, f'timm-src-{ver}', 'timm_tests')


@pytest.mark.heavy
@pytest.mark.parametrize('name', ['litv2_s'])
def test_timm_forward_intermediates_suite(name):
    # timm parametrizes these two by a fixed list of its own module names: call them directly on ours
    path = _timm_tests_dir()
    if not os.path.isfile(os.path.join(path, 'test_models.py')):
        pytest.skip('timm tests not fetched (tools/get_timm_tests.sh)')
    sys.path.insert(0, path)
    try:
        import test_models as timm_tests
    finally:
        sys.path.remove(path)
    timm_tests.test_model_forward_intermediates(name, 1)
    timm_tests.test_model_forward_intermediates_features(name, 1)
