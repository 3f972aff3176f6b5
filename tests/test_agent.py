"""Agent Attention (Agent-Swin / Agent-PVT / Agent-DeiT): parity with the official code, the original checkpoint
format, paper numbers, any input size, resolution changes, the agent_attention op."""
import os
import sys
import types

import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from tests.synthetic import fixed_input, synthetic_tensor
from vizattn.models._checkpoint import CheckpointError
from vizattn.models.agent import CSWinLePEBranch, WindowAttention, agent_position_biases
from vizattn.ops._backend import available_backends
from vizattn.ops.agent import agent_attention
from vizattn.utils import count_macs, count_params

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'agent')
PARITY = ['agent_swin_t', 'agent_swin_t_aamb2_288', 'agent_pvt_t', 'agent_deit_t', 'agent_deit_t_l4a81',
          'agent_cswin_t']

# agent_transformer/README.md: params (M), GFLOPs at the tag's resolution. Swin params are given to the integer.
# Our counts equal the official code's (instantiated): e.g. Agent-DeiT-S is 22.647M there too (README: 22.7M).
PAPER = {
    'agent_swin_t': (29, 4.5), 'agent_swin_s': (50, 8.7), 'agent_swin_b': (88, 15.4),
    'agent_swin_s.in1k_288': (50, 14.6), 'agent_swin_b.in1k_384': (88, 46.3),
    'agent_pvt_t': (11.6, 2.0), 'agent_pvt_s': (20.6, 4.0), 'agent_pvt_m': (35.9, 7.0),
    'agent_pvt_m.in1k_256': (36.1, 9.2), 'agent_pvt_l': (48.7, 10.4),
    'agent_deit_t': (6.0, 1.2), 'agent_deit_s': (22.7, 4.4), 'agent_deit_s.in1k_448': (23.1, 17.7),
    'agent_deit_b': (87.2, 17.6),
    'agent_cswin_t': (21, 4.3), 'agent_cswin_s': (33, 6.8), 'agent_cswin_b': (73, 14.9),
    'agent_cswin_b.in1k_384': (73, 46.3),
}
OURS = {  # exact counts (M params, GMACs), checked below against the paper's rounding
    'agent_swin_t': (28.903, 4.499), 'agent_swin_s': (49.667, 8.701), 'agent_swin_b': (88.095, 15.400),
    'agent_swin_s.in1k_288': (49.708, 14.535), 'agent_swin_b.in1k_384': (88.305, 46.207),
    'agent_pvt_t': (11.570, 1.986), 'agent_pvt_s': (20.635, 3.955), 'agent_pvt_m': (35.922, 6.999),
    'agent_pvt_m.in1k_256': (36.084, 9.142), 'agent_pvt_l': (48.738, 10.339),
    'agent_deit_t': (6.016, 1.168), 'agent_deit_s': (22.647, 4.427), 'agent_deit_s.in1k_448': (23.070, 17.642),
    'agent_deit_b': (87.205, 17.527),
    'agent_cswin_t': (20.459, 4.292), 'agent_cswin_s': (32.814, 6.744), 'agent_cswin_b': (73.250, 14.870),
    'agent_cswin_b.in1k_384': (73.328, 46.177),
}
TINY = ['agent_swin_t', 'agent_pvt_t', 'agent_deit_t', 'agent_cswin_t']


def _fixture(name):
    return torch.load(os.path.join(FIXTURES, f'{name}.pt'), weights_only=True)


def _official_sd(fixture):
    return {name: synthetic_tensor(name, shape, getattr(torch, dtype)) for name, shape, dtype in fixture['keys']}


def _yacs_config():
    """A stand-in for yacs.config.CfgNode, pickled like it (a dict subclass with __dict__ state); yacs is not
    installed and the loader must not need it."""
    mod = types.ModuleType('yacs.config')

    class CfgNode(dict):
        def __init__(self, init_dict=None, new_allowed=False):
            super().__init__(init_dict or {})
            self.__dict__.update({'__immutable__': False, '__deprecated_keys__': set(), '__renamed_keys__': {},
                                  '__new_allowed__': new_allowed})

    CfgNode.__module__, CfgNode.__qualname__ = 'yacs.config', 'CfgNode'
    mod.CfgNode = CfgNode
    return mod, CfgNode({'MODEL': CfgNode({'TYPE': 'agent_swin', 'NAME': 'agent_swin_tiny'}),
                         'DATA': CfgNode({'IMG_SIZE': 224})})


def _save_official(sd, path, with_config=True, **extra):
    """The wrapping of the official main.py save_checkpoint: {'model', 'optimizer', 'lr_scheduler', 'max_accuracy',
    'epoch', 'config'} with the yacs config (a CfgNode) pickled in."""
    obj = dict({'model': sd, 'optimizer': {}, 'lr_scheduler': {}, 'max_accuracy': 82.6, 'epoch': 299}, **extra)
    if not with_config:
        torch.save(obj, path)
        return str(path)
    mod, cfg = _yacs_config()
    sys.modules.update({'yacs': types.ModuleType('yacs'), 'yacs.config': mod})
    try:
        torch.save(dict(obj, config=cfg), path)
    finally:
        sys.modules.pop('yacs.config', None)
        sys.modules.pop('yacs', None)
    return str(path)


@pytest.fixture(scope='module')
def official_files(tmp_path_factory):
    root = tmp_path_factory.mktemp('agent_ckpt')
    return {name: _save_official(_official_sd(_fixture(name)), root / f'{name}.pth') for name in PARITY}


def _load(path, name, **kwargs):
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path), **kwargs)


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


# ---------------------------------------------------------------------------------------------------------------
# Parity and checkpoints

@pytest.mark.parametrize('name', PARITY)
def test_parity_with_official(name, official_files):
    fixture = _fixture(name)
    kwargs = dict(fixture['create_model'])
    model = _load(official_files[name], kwargs.pop('name'), **kwargs).eval()
    x = fixed_input(fixture['input_shape'], fixture['input_seed'])
    with torch.no_grad():
        final, feats = model.forward_intermediates(x, indices=None if 'deit' not in name else 1)
        out = model.forward_head(final)
    assert _rel(out, fixture['output']) <= 1e-5
    for got, want in zip(feats, fixture['stage_means']):
        assert _rel(got.mean((2, 3)), want) <= 1e-5


@pytest.mark.parametrize('name', ['agent_swin_t', 'agent_pvt_t', 'agent_deit_t', 'agent_cswin_t'])
def test_original_checkpoint_adapts_head_chans_and_features(name, official_files):
    m = _load(official_files[name], name, num_classes=5, in_chans=1)
    assert m(torch.randn(1, 1, 64, 80)).shape == (1, 5)
    feats = _load(official_files[name], name, features_only=True)
    outs = feats(torch.randn(1, 3, 96, 128))
    if 'deit' in name:
        assert feats.feature_info.reduction() == [16, 16, 16]
        assert [tuple(o.shape[1:]) for o in outs] == [(192, 6, 8)] * 3
    else:
        assert feats.feature_info.reduction() == [4, 8, 16, 32]
        chs = {'agent_swin_t': [96, 192, 384, 768], 'agent_pvt_t': [64, 128, 320, 512],
               'agent_cswin_t': [64, 128, 256, 512]}[name]
        assert [o.shape[1] for o in outs] == chs
        assert [tuple(o.shape[2:]) for o in outs] == [(24, 32), (12, 16), (6, 8), (3, 4)]


def test_ema_weights_preferred(tmp_path):
    fixture = _fixture('agent_pvt_t')
    sd = _official_sd(fixture)
    other = {k: torch.zeros_like(v) for k, v in sd.items()}
    path = _save_official(other, tmp_path / 'ema.pth', state_dict_ema=sd)
    model = _load(path, 'agent_pvt_t').eval()
    with torch.no_grad():
        out = model(fixed_input(fixture['input_shape'], fixture['input_seed']))
    assert _rel(out, fixture['output']) <= 1e-5


def test_own_safetensors_roundtrip(tmp_path):
    for name in TINY:
        model = timm.create_model(name).eval()
        path = tmp_path / f'{name}.safetensors'
        save_file(model.state_dict(), str(path))
        loaded = _load(str(path), name).eval()
        x = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), model(x))


def test_recomputed_buffers_optional(official_files):
    fixture = _fixture('agent_swin_t_aamb2_288')
    keys = [k for k, _, _ in fixture['keys']]
    assert any(k.endswith('attn_mask') for k in keys) and any(k.endswith('relative_position_index') for k in keys)
    sd = {k: v for k, v in _official_sd(fixture).items() if not k.endswith(('attn_mask', 'relative_position_index'))}
    path = _save_official(sd, official_files['agent_swin_t'] + '.nobuf.pth')
    _load(path, 'agent_swin_t', attn_type='AAMB2', img_size=288)


def test_wrong_variant_names_keys(official_files):
    with pytest.raises(CheckpointError, match=r'missing \d+ keys: .*layers\.2\.blocks\.10.*unexpected .*an_bias'):
        _load(official_files['agent_swin_t'], 'agent_swin_s')  # AAAB file into AABB
    with pytest.raises(CheckpointError, match='shape mismatches'):
        _load(official_files['agent_swin_t'], 'agent_swin_b')
    with pytest.raises(CheckpointError, match=r'unexpected \d+ keys: .*relative_position_bias_table'):
        _load(official_files['agent_swin_t'], 'agent_swin_t', attn_type='AAAA')
    with pytest.raises(CheckpointError, match=r'missing \d+ keys: .*stages\.0\.blocks\.2'):
        _load(official_files['agent_pvt_t'], 'agent_pvt_s')
    with pytest.raises(CheckpointError, match=r'missing \d+ keys: .*blocks\.\d+\.attn\.an_bias'):
        _load(official_files['agent_deit_t_l4a81'], 'agent_deit_t')
    with pytest.raises(CheckpointError):  # a Swin file into PVT
        _load(official_files['agent_swin_t'], 'agent_pvt_t')


def test_truncated_checkpoint(official_files, tmp_path):
    data = open(official_files['agent_pvt_t'], 'rb').read()
    bad = tmp_path / 'truncated.pth'
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated.pth'):
        _load(str(bad), 'agent_pvt_t')


def test_224_checkpoint_into_higher_resolution(official_files):
    """A 224 file loads into a model built at 288 (biases, rel-pos tables resized) = set_input_size(288)."""
    hi = _load(official_files['agent_swin_t'], 'agent_swin_t', img_size=288).eval()
    lo = _load(official_files['agent_swin_t'], 'agent_swin_t').eval()
    lo.set_input_size(288)
    assert hi.window_size == lo.window_size == 9
    assert hi.layers[0].blocks[0].attn.ah_bias.shape == (3, 9, 72)
    x = torch.randn(1, 3, 288, 288)
    with torch.no_grad():
        torch.testing.assert_close(hi(x), lo(x))
    deit = _load(official_files['agent_deit_t'], 'agent_deit_t', img_size=320)
    assert deit.pos_embed.shape == (1, 1 + 20 * 20, 192)


# ---------------------------------------------------------------------------------------------------------------
# Paper numbers

@pytest.mark.parametrize('name', list(PAPER))
def test_params_match_paper(name):
    params = count_params(timm.create_model(name, device='meta')) / 1e6  # meta: no init cost
    assert abs(params - OURS[name][0]) < 5e-4
    # README rounding: integers for (C)Swin, one decimal otherwise. Two README values are off by more than that,
    # and the official code instantiates at our counts there too: DeiT-S 22.647M (README 22.7M), CSwin-T
    # 20.459M (README 21M).
    tol = {'agent_deit_s': 0.06, 'agent_cswin_t': 0.55}.get(name, 0.5 if 'swin' in name else 0.05)
    assert abs(params - PAPER[name][0]) <= tol


SMALL = {'agent_swin_t', 'agent_pvt_t', 'agent_pvt_s', 'agent_deit_t', 'agent_deit_s', 'agent_cswin_t'}


@pytest.mark.parametrize('name', [n if n in SMALL else pytest.param(n, marks=pytest.mark.heavy) for n in PAPER])
def test_flops_match_paper(name):
    model = timm.create_model(name)
    macs = count_macs(model, model.pretrained_cfg['input_size']) / 1e9
    assert abs(macs - OURS[name][1]) < 5e-3
    # the README rounds to 0.1G; a few README values are up to 0.8% above ours (see docs/models/agent.md)
    assert abs(macs - PAPER[name][1]) <= max(0.05, 0.01 * PAPER[name][1])


# ---------------------------------------------------------------------------------------------------------------
# Input sizes, resolution changes

@pytest.mark.parametrize('name', TINY)
@pytest.mark.parametrize('size', [(200, 150), (97, 131), (32, 32), (256, 320)])
def test_any_input_size(name, size):
    model = timm.create_model(name, num_classes=10).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    assert out.shape == (1, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize('name', TINY)
def test_set_input_size_equals_interpolation(name):
    """Stored-at-256 biases/position embeddings give what forward interpolates on the fly (same resize)."""
    model = timm.create_model(name).eval()
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        ref = model(x)
        if name == 'agent_swin_t':
            model.set_input_size(256, window_size=model.window_size)  # keep the 'B' windows
        elif name == 'agent_cswin_t':
            model.set_input_size(256, split_size=model.split_size)  # keep the stripe widths
        else:
            model.set_input_size(256)
        out = model(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    assert model.pretrained_cfg['input_size'] == (3, 224, 224)  # the checkpoint metadata is left alone


def test_swin_set_input_size_follows_official_window_rule():
    model = timm.create_model('agent_swin_b')
    assert model.window_size == 7
    model.set_input_size((384, 384))
    assert model.window_size == 12  # the official agent_swin_b_384 layout: WINDOW_SIZE 96 -> 'B' window 12
    blk = model.layers[2].blocks[3]
    assert blk.attn.relative_position_bias_table.shape == (23 * 23, 16)
    assert model.layers[0].blocks[0].attn.ha_bias.shape == (4, 96, 9)
    built = timm.create_model('agent_swin_b.in1k_384')
    assert {k: v.shape for k, v in built.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_agent_biases_resize_like_official_downstream():
    """Separable row/column resize == bilinear resize of their 2-D sum (official detection backbone)."""
    g = torch.Generator().manual_seed(0)
    heads, n, H0, W0, H, W = 2, 9, 14, 14, 9, 23
    an, na = torch.randn(heads, n, 7, 7, generator=g), torch.randn(heads, n, 7, 7, generator=g)
    # official layouts (1, heads, n, H0, 1), (1, heads, n, 1, W0), (1, heads, H0, 1, n), (1, heads, 1, W0, n)
    ah, aw = torch.randn(1, heads, n, H0, 1, generator=g), torch.randn(1, heads, n, 1, W0, generator=g)
    ha, wa = torch.randn(1, heads, H0, 1, n, generator=g), torch.randn(1, heads, 1, W0, n, generator=g)
    ours = (ah[0, :, :, :, 0], aw[0, :, :, 0], ha[0, :, :, 0], wa[0, :, 0])
    pb, qb = agent_position_biases(an, na, *ours, H, W)
    interp = lambda t, size=(H, W): F.interpolate(t, size=size, mode='bilinear')  # noqa: E731
    ref_pb = interp(an) + interp((ah + aw).squeeze(0))
    ref_qb = interp(na).permute(0, 2, 3, 1) + interp((ha + wa).squeeze(0).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    torch.testing.assert_close(pb, ref_pb.reshape(1, heads, n, H * W))
    torch.testing.assert_close(qb, ref_qb.reshape(1, heads, H * W, n))
    pb0, qb0 = agent_position_biases(an, na, *ours, H0, W0)  # at the training size: exactly the official sums
    torch.testing.assert_close(pb0, (interp(an, (H0, W0)) + (ah + aw)[0]).reshape(1, heads, n, -1), rtol=0, atol=0)
    ref_qb0 = interp(na, (H0, W0)).reshape(1, heads, n, -1).transpose(-1, -2) + (ha + wa).reshape(1, heads, -1, n)
    torch.testing.assert_close(qb0, ref_qb0, rtol=0, atol=0)


def _brute_window_attention(attn: WindowAttention, x: torch.Tensor) -> torch.Tensor:
    """Shifted windows without roll/pad: windows offset by the shift, tokens wrapped from the top-left border in a
    group of their own, real tokens only, bias by relative offset."""
    _, H, W, C = x.shape
    ws, heads = attn.window_size, attn.num_heads
    wh, ww = min(H, ws), min(W, ws)
    sh = ws // 2 if attn.shift and H > ws else 0
    sw = ws // 2 if attn.shift and W > ws else 0
    q, k, v = attn.qkv(x.reshape(H * W, C)).reshape(H * W, 3, heads, -1).permute(1, 2, 0, 3)
    r, c = torch.arange(H).repeat_interleave(W), torch.arange(W).repeat(H)
    same = (((r - sh) // wh)[:, None] == ((r - sh) // wh)[None]) & (((c - sw) // ww)[:, None] == ((c - sw) // ww)[None])
    dr, dc = (r[:, None] - r[None] + ws - 1).clamp(0, 2 * ws - 2), (c[:, None] - c[None] + ws - 1).clamp(0, 2 * ws - 2)
    bias = attn.relative_position_bias_table[dr * (2 * ws - 1) + dc].permute(2, 0, 1)
    logits = (q @ k.transpose(-1, -2)) * attn.scale + bias
    out = logits.masked_fill(~same, float('-inf')).softmax(-1) @ v
    return attn.proj(out.transpose(0, 1).reshape(H * W, C)).reshape(1, H, W, C)


@pytest.mark.parametrize('shift', [False, True])
@pytest.mark.parametrize('size', [(14, 14), (10, 13), (5, 9), (16, 7), (7, 7)])
def test_window_attention_pads_and_masks(shift, size):
    torch.manual_seed(0)
    attn = WindowAttention(32, 2, window_size=7, shift=shift).eval()
    torch.nn.init.normal_(attn.relative_position_bias_table, std=1.0)
    x = torch.randn(1, *size, 32)
    with torch.no_grad():
        torch.testing.assert_close(attn(x), _brute_window_attention(attn, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('idx', [0, 1, -1])
def test_cswin_stripes_pad_and_mask(idx):
    """A partial last stripe (map not divisible by the stripe width) = that stripe run on its own."""
    torch.manual_seed(0)
    branch = CSWinLePEBranch(16, 2, split=4, idx=idx).eval()
    q, k, v = (torch.randn(2, 10, 11, 16) for _ in range(3))
    with torch.no_grad():
        out = branch(q, k, v)
        if idx == 0:  # stripes of 4 columns: 0-3, 4-7, 8-10
            part = branch(q[:, :, 8:], k[:, :, 8:], v[:, :, 8:])
            torch.testing.assert_close(out[:, :, 8:], part)
        elif idx == 1:  # stripes of 4 rows: 0-3, 4-7, 8-9
            part = branch(q[:, 8:], k[:, 8:], v[:, 8:])
            torch.testing.assert_close(out[:, 8:], part)
        else:  # the whole map: plain attention + LePE
            heads = lambda t: t.reshape(2, 110, 2, 8).transpose(1, 2)  # noqa: E731
            att = F.scaled_dot_product_attention(heads(q), heads(k), heads(v)).transpose(1, 2).reshape(2, 10, 11, 16)
            ref = att + branch.get_v(v.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
            torch.testing.assert_close(out, ref)


# ---------------------------------------------------------------------------------------------------------------
# The op

def _naive_agent(q, k, v, a, heads, scale, ab, qb):
    split = lambda t: t.reshape(t.shape[0], t.shape[1], heads, -1).transpose(1, 2)  # noqa: E731
    q, k, v, a = map(split, (q, k, v, a))
    agent_v = ((a * scale) @ k.transpose(-1, -2) + ab).softmax(-1) @ v
    out = ((q * scale) @ a.transpose(-1, -2) + qb).softmax(-1) @ agent_v
    return out.transpose(1, 2).flatten(2)


def test_agent_attention_backends_match_formula():
    assert {'reference', 'math'} <= set(available_backends('agent'))
    g = torch.Generator().manual_seed(0)
    B, Nq, Nk, n, C, heads = 2, 37, 41, 9, 24, 3
    q, k, v = (torch.randn(B, N, C, generator=g) for N in (Nq, Nk, Nk))
    a = torch.randn(B, n, C, generator=g)
    ab, qb = torch.randn(1, heads, n, Nk, generator=g), torch.randn(1, heads, Nq, n, generator=g)
    ref = _naive_agent(q, k, v, a, heads, 0.3, ab, qb)
    for backend in ('reference', 'math'):
        torch.testing.assert_close(agent_attention(q, k, v, a, heads, 0.3, ab, qb, backend=backend), ref)
    scripted = torch.jit.script(agent_attention)  # scripted: always the reference backend
    torch.testing.assert_close(scripted(q, k, v, a, heads, 0.3, ab, qb, 'math'), ref)
    # default scale is head_dim ** -0.5, biases optional
    zero = (torch.zeros(1, heads, n, Nk), torch.zeros(1, heads, Nq, n))
    torch.testing.assert_close(agent_attention(q, k, v, a, heads), _naive_agent(q, k, v, a, heads, 8 ** -0.5, *zero))


def test_agent_attention_bad_input():
    q = torch.randn(1, 10, 8)
    with pytest.raises(ValueError, match='num_heads'):
        agent_attention(q, q, q, q[:, :4], 3)
    with pytest.raises(ValueError, match='expects'):
        agent_attention(q[0], q, q, q, 2)
    with pytest.raises(ValueError, match='same channels'):
        agent_attention(q, torch.randn(1, 10, 4), q, q, 2)
    with pytest.raises(ValueError, match='unknown agent backend'):
        agent_attention(q, q, q, q, 2, backend='nope')


def test_math_backend_on_model():
    model = timm.create_model('agent_swin_t').eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        ref = model(x)
        model.set_attn_backend('math')
        out = model(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


# ---------------------------------------------------------------------------------------------------------------
# Contract

def test_bad_input_and_arguments():
    model = timm.create_model('agent_pvt_t')
    with pytest.raises(ValueError, match='input channels'):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match='too small'):
        model(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match='4-D'):
        timm.create_model('agent_deit_t')(torch.randn(3, 64, 64))
    with pytest.raises(ValueError, match='attn_type'):
        timm.create_model('agent_swin_t', attn_type='AXAB')
    with pytest.raises(ValueError, match='square'):
        timm.create_model('agent_pvt_t', agent_num=(9, 16, 50, 49))


@pytest.mark.parametrize('name', TINY)
def test_intermediates_match_features(name):
    model = timm.create_model(name).eval()
    x = torch.randn(1, 3, 96, 112)
    with torch.no_grad():
        final, feats = model.forward_intermediates(x)
        torch.testing.assert_close(final, model.forward_features(x))
        last = model.forward_intermediates(x, indices=[-1], stop_early=True, intermediates_only=True)
    torch.testing.assert_close(last[0], feats[-1])


@pytest.mark.parametrize('name', TINY)
def test_channels_last_batch_one_and_bf16(name):
    model = timm.create_model(name).eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        ref = model(x)
        out = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            low = model(x)
    assert low.dtype == torch.bfloat16 and torch.isfinite(low).all()
    assert F.cosine_similarity(low.float().flatten(), ref.flatten(), dim=0) > 0.99


def test_gradient_checkpointing_same_grads():
    for name in ('agent_swin_t', 'agent_deit_t'):
        torch.manual_seed(0)
        model = timm.create_model(name, num_classes=4)
        x = torch.randn(2, 3, 64, 64)
        model(x).sum().backward()
        ref = {n: p.grad.clone() for n, p in model.named_parameters()}
        model.zero_grad()
        model.set_grad_checkpointing(True)
        model(x).sum().backward()
        for n, p in model.named_parameters():
            torch.testing.assert_close(p.grad, ref[n], rtol=1e-4, atol=1e-6)


@pytest.mark.heavy
def test_torch_compile():
    model = timm.create_model('agent_swin_t').eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        ref = model(x)
        out = torch.compile(model)(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_torch_compile_smallest():
    model = timm.create_model('agent_deit_t', depth=2).eval()
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        ref = model(x)
        out = torch.compile(model)(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('name', ['agent_deit_t.in1k', 'agent_deit_s.in1k_448'])
def test_deit_non_std_cfg_contract(name):
    """What timm's test_model_default_cfgs_non_std checks for 'deit*' models (our agent_deit_* names are not in its
    NON_STD_FILTERS, so timm's suite applies the 4-D feature-map checks instead: see docs/models/agent.md)."""
    with torch.device('meta'):
        model = timm.create_model(name, device='meta', dtype=torch.float32).eval()
    cfg = model.pretrained_cfg
    x = torch.randn(1, *cfg['input_size'], device='meta')
    feats = model.forward_features(x)
    grid = cfg['input_size'][1] // 16
    assert feats.shape == (1, 1 + grid * grid, model.num_features)
    assert model.forward_head(feats, pre_logits=True).shape == (1, model.head_hidden_size)
    model.to(torch.bfloat16)
    assert model(x.to(torch.bfloat16)).dtype == torch.bfloat16
    model.to(torch.float32)
    model.reset_classifier(0)
    assert model(x).shape == (1, model.head_hidden_size)
    model.reset_classifier(0, '')
    assert model(x).shape == feats.shape
    headless = timm.create_model(name, num_classes=0, device='meta')
    assert headless(x).shape == (1, headless.num_features)
    sd = timm.create_model(name, device='meta').state_dict()
    assert cfg['classifier'] + '.weight' in sd and cfg['first_conv'] + '.weight' in sd
    with pytest.raises(TypeError):
        timm.create_model(name, device='meta', not_a_model_arg=1)
    frozen = timm.create_model(name, device='meta').requires_grad_(False)
    frozen.set_input_size(img_size=tuple(2 * s for s in cfg['input_size'][1:]))
    assert not any(p.requires_grad for p in frozen.parameters())
    assert frozen.pos_embed.shape[1] == 1 + (2 * grid) ** 2
