"""ELA (Efficient Local Attention): the paper's equations, timm base-network weights, the timm contract.

There is no official code or checkpoint: the module is checked against the paper's equations computed here
independently (unfold + einsum for the 1D conv, explicit group statistics for GroupNorm), and the networks
against timm's own base networks, whose pretrained weights they load with the ELA parameters left fresh.
"""
import logging

import pytest
import timm
import torch
import torch.nn.functional as F

import vizattn  # noqa: F401  (registers the models)
from vizattn.models._checkpoint import CheckpointError
from vizattn.models.ela import ELA, ELA_VARIANTS, ELAMobileNetV2, ELAResNet, ela_layer
from vizattn.utils.flops import count_macs, count_params

MODELS = ['resnet18_ela', 'resnet50_ela', 'mobilenetv2_100_ela']
BASE = dict(resnet18_ela='resnet18', resnet50_ela='resnet50', mobilenetv2_100_ela='mobilenetv2_100')
DEFAULT_VARIANT = dict(resnet18_ela='B', resnet50_ela='B', mobilenetv2_100_ela='S')
# paper: ELA-T (k 5, groups C, GN 32), ELA-B (7, C, 16), ELA-S (5, C/8, 16), ELA-L (7, C/8, 16)
PAPER_VARIANTS = dict(T=(5, 'C', 32), B=(7, 'C', 16), S=(5, 'C/8', 16), L=(7, 'C/8', 16))
LOGGER = 'vizattn.models.ela'


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def _randomise(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5 + (1.0 if p is module.norm.weight else 0.0))
    return module


# --------------------------------------------------------------------------------- the paper's equations

def _conv1d_ref(z, weight, groups):
    """'same' 1D conv written out: y[b, c, i] = sum_{j in group(c), t} w[c, j, t] * z_pad[b, j, i + t]."""
    B, C, L = z.shape
    k = weight.shape[-1]
    win = F.pad(z, (k // 2, k // 2)).unfold(2, k, 1)  # (B, C, L, k)
    gs = C // groups
    win = win.reshape(B, groups, gs, L, k)
    w = weight.reshape(groups, gs, gs, k)  # (group, out in group, in in group, tap)
    return torch.einsum('bnilt,noit->bnol', win, w).reshape(B, C, L)


def _group_norm_ref(y, groups, weight, bias, eps=1e-5):
    B, C, L = y.shape
    v = y.reshape(B, groups, -1)
    mean = v.sum(-1, keepdim=True) / v.shape[-1]
    var = ((v - mean) ** 2).sum(-1, keepdim=True) / v.shape[-1]
    v = (v - mean) / torch.sqrt(var + eps)
    return v.reshape(B, C, L) * weight[None, :, None] + bias[None, :, None]


def _ela_ref(x, module, groups, gn_groups):
    """ELA from the paper: z_h = mean over W, z_w = mean over H; y = sigma(GN(F(z))); out = x * y_h * y_w."""
    H, W = x.shape[2:]
    z_h = x.sum(dim=3) / W
    z_w = x.sum(dim=2) / H
    w = module.conv.weight
    y_h = _group_norm_ref(_conv1d_ref(z_h, w, groups), gn_groups, module.norm.weight, module.norm.bias)
    y_w = _group_norm_ref(_conv1d_ref(z_w, w, groups), gn_groups, module.norm.weight, module.norm.bias)
    y_h, y_w = 1 / (1 + torch.exp(-y_h)), 1 / (1 + torch.exp(-y_w))
    return x * y_h[:, :, :, None] * y_w[:, :, None, :]


@pytest.mark.parametrize('variant', sorted(PAPER_VARIANTS))
@pytest.mark.parametrize('shape', [(2, 64, 9, 13), (1, 64, 1, 6)])
def test_module_matches_paper_equations(variant, shape):
    k, groups, gn = PAPER_VARIANTS[variant]
    C = shape[1]
    n_groups = C if groups == 'C' else C // 8
    module = _randomise(ela_layer(variant)(C)).eval()
    assert (module.conv.kernel_size[0], module.conv.groups, module.norm.num_groups) == (k, n_groups, gn)
    assert module.conv.bias is None
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert _rel_err(module(x), _ela_ref(x.double(), module.double(), n_groups, gn).float()) <= 1e-6
    # one conv and one GroupNorm, shared by both directions: C*k*(C/groups) + 2C parameters
    assert count_params(module) == C * k * (C // n_groups) + 2 * C


def test_variant_table_and_errors():
    assert ELA_VARIANTS == dict(T=(5, 1, 32), B=(7, 1, 16), S=(5, 8, 16), L=(7, 8, 16))
    with pytest.raises(ValueError, match='divisible'):
        ela_layer('T')(144)  # GroupNorm(32) on 144 channels
    with pytest.raises(ValueError, match='unknown ELA variant'):
        ela_layer('X')
    with pytest.raises(ValueError, match='odd'):
        ELA(64, kernel_size=4)
    assert ela_layer('ela-s')(64).conv.groups == 8


def test_module_channels_last_bf16_compile():
    module = _randomise(ela_layer('S')(32)).eval()
    x = torch.randn(2, 32, 11, 7)
    with torch.no_grad():
        ref = module(x)
        assert _rel_err(module(x.to(memory_format=torch.channels_last)), ref) <= 1e-6
        with torch.autocast('cpu', dtype=torch.bfloat16):
            y = module(x.bfloat16())
        assert y.dtype == torch.bfloat16 and _rel_err(y.float(), ref) < 3e-2
        assert _rel_err(torch.compile(module)(x), ref) <= 1e-5


# ------------------------------------------------------------------------------- networks on timm's nets

@pytest.mark.parametrize('name', MODELS)
def test_structure_is_timms_base_plus_ela(name):
    model = timm.create_model(name)
    base = timm.create_model(BASE[name])
    ela = {n: m for n, m in model.named_modules() if isinstance(m, ELA)}
    if name == 'mobilenetv2_100_ela':
        assert isinstance(model, ELAMobileNetV2)
        assert len(ela) == 16 and all('.se' in n for n in ela)  # every inverted residual, after the dw conv
        assert all(m.channels == b.conv_dw.out_channels for (n, m), b in
                   zip(ela.items(), [b for s in model.blocks[1:] for b in s]))
    else:
        assert isinstance(model, ELAResNet)
        assert len(ela) == (8 if name == 'resnet18_ela' else 16) and all(n.endswith('.se') for n in ela)
    ela_keys = {k for k in model.state_dict() if k.startswith(tuple(n + '.' for n in ela))}
    assert set(model.state_dict()) - ela_keys == set(base.state_dict())
    k, gs, gn = ELA_VARIANTS[DEFAULT_VARIANT[name]]
    ela_params = sum(m.channels * k * gs + 2 * m.channels for m in ela.values())
    assert count_params(model) == count_params(base) + ela_params


@pytest.mark.parametrize('name', MODELS)
def test_params_and_macs(name):
    """Ours = timm's base + the ELA convs: 2 directions x C*k*(C/groups) MACs per position."""
    model = timm.create_model(name)
    base = timm.create_model(BASE[name])
    k, gs, _ = ELA_VARIANTS[DEFAULT_VARIANT[name]]
    extra = {}

    def hook(m, inp, out):
        H, W = inp[0].shape[2:]
        extra[m] = m.channels * gs * k * (H + W)
    for m in model.modules():
        if isinstance(m, ELA):
            m.register_forward_hook(hook)
    macs = count_macs(model)
    assert macs == count_macs(base) + sum(extra.values())
    # small beside the base: +0.02% (R18, ELA-B), +0.08% (R50, ELA-B), +2.5% (MV2, ELA-S on the expanded chs)
    assert sum(extra.values()) < (3e-2 if name == 'mobilenetv2_100_ela' else 1e-3) * count_macs(base)


# ------------------------------------------------------------------------------------------- checkpoints

def _base_file(tmp_path, arch, name='base.pth', wrap=True):
    sd = timm.create_model(arch).state_dict()
    path = str(tmp_path / name)
    torch.save({'state_dict': sd, 'epoch': 600} if wrap else sd, path)
    return path, sd


def _load(name, path, **kwargs):
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path), **kwargs)


@pytest.mark.parametrize('name', ['resnet18_ela', 'mobilenetv2_100_ela'])
def test_base_network_checkpoint_loads_and_reports_new_keys(name, tmp_path, caplog):
    path, base_sd = _base_file(tmp_path, BASE[name])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        model = _load(name, path)
    sd = model.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in base_sd.items())  # every base key loaded
    new = sorted(set(sd) - set(base_sd))
    assert new and all('.se.' in k for k in new)
    msg = ' '.join(r.getMessage() for r in caplog.records if r.name == LOGGER)
    assert f'{len(new)} ELA keys are new' in msg and all(k in msg for k in new)
    ref = 'layer1.0.se.conv.weight' if name == 'resnet18_ela' else 'blocks.1.0.se.conv.weight'
    assert ref in msg
    # the ELA parameters are the model's fresh initialisation (GroupNorm affine 1 / 0)
    assert all(torch.all(sd[k] == (1 if k.endswith('norm.weight') else 0)) for k in new if '.norm.' in k)


def test_base_checkpoint_head_in_chans_features(tmp_path):
    path, base_sd = _base_file(tmp_path, 'resnet18', wrap=False)
    model = _load('resnet18_ela', path, num_classes=5, in_chans=1)
    assert model.fc.out_features == 5 and model.conv1.in_channels == 1
    assert torch.allclose(model.conv1.weight, base_sd['conv1.weight'].sum(1, keepdim=True))
    assert torch.equal(model.layer3[1].conv2.weight, base_sd['layer3.1.conv2.weight'])
    feats = _load('resnet18_ela', path, features_only=True, out_indices=(1, 2, 3, 4))
    assert feats.feature_info.reduction() == [4, 8, 16, 32]
    assert feats.feature_info.channels() == [64, 128, 256, 512]


def test_own_checkpoint_roundtrip_strict(tmp_path, caplog):
    model = timm.create_model('resnet18_ela').eval()
    with torch.no_grad():  # non-default ELA values, so that a silent re-initialisation would show
        for n, p in model.named_parameters():
            if '.se.' in n:
                p.add_(0.1)
    path = str(tmp_path / 'own.pth')
    torch.save(model.state_dict(), path)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        loaded = _load('resnet18_ela', path).eval()
    assert not [r for r in caplog.records if r.name == LOGGER]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_wrong_network_or_variant_fails_naming_keys(tmp_path):
    path, _ = _base_file(tmp_path, 'resnet34', 'r34.pth')
    with pytest.raises(CheckpointError, match=r'unexpected \d+ keys: .*layer1\.2\.'):
        _load('resnet18_ela', path)
    path, _ = _base_file(tmp_path, 'mobilenetv2_100', 'mv2.pth')
    with pytest.raises(CheckpointError, match=r'missing \d+ keys: .*conv1\.weight'):
        _load('resnet18_ela', path)
    # an ELA-S checkpoint into the ELA-B model: shapes of the conv weights differ
    path = str(tmp_path / 's.pth')
    torch.save(timm.create_model('resnet18_ela', ela_variant='S').state_dict(), path)
    with pytest.raises(CheckpointError, match=r'se\.conv\.weight'):
        _load('resnet18_ela', path)


def test_truncated_file_fails(tmp_path):
    path, _ = _base_file(tmp_path, 'resnet18')
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[: len(data) // 3])
    with pytest.raises(CheckpointError):
        _load('resnet18_ela', path)


# ---------------------------------------------------------------------------------------- timm contract

@pytest.fixture(scope='module')
def r18():
    torch.manual_seed(0)
    return timm.create_model('resnet18_ela').eval()


@pytest.fixture(scope='module')
def mv2():
    torch.manual_seed(0)
    return timm.create_model('mobilenetv2_100_ela').eval()


@pytest.mark.parametrize('which', ['r18', 'mv2'])
def test_any_size_batch1_channels_last_bf16(which, request):
    model = request.getfixturevalue(which)
    with torch.no_grad():
        for shape in [(1, 3, 97, 131), (2, 3, 33, 45)]:
            x = torch.randn(shape)
            y = model(x)
            assert y.shape == (shape[0], 1000) and torch.isfinite(y).all()
        x = torch.randn(2, 3, 72, 88)
        ref = model(x)
        assert _rel_err(model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last)),
                        ref) <= 1e-5
        model.to(memory_format=torch.contiguous_format)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            y = model(x)
        assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()
        # batch elements are independent (GroupNorm normalises per sample)
        assert _rel_err(model(x[:1]), ref[:1]) <= 1e-5


@pytest.mark.parametrize('which', ['r18', 'mv2'])
def test_bad_input_raises(which, request):
    model = request.getfixturevalue(which)
    with pytest.raises(ValueError, match='expected 3 input channels, got 1'):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match='4-D'):
        model.forward_features(torch.randn(3, 64, 64))
    with pytest.raises(ValueError, match='input channels'):
        model.forward_intermediates(torch.randn(1, 4, 64, 64))


@pytest.mark.parametrize('which', ['r18', 'mv2'])
def test_intermediates_and_features(which, request):
    model = request.getfixturevalue(which)
    x = torch.randn(1, 3, 96, 80)
    with torch.no_grad():
        final, feats = model.forward_intermediates(x)
        assert torch.equal(final, model.forward_features(x))
    assert [f.shape[1] for f in feats] == [f['num_chs'] for f in model.feature_info]
    name = 'resnet18_ela' if which == 'r18' else 'mobilenetv2_100_ela'
    fm = timm.create_model(name, features_only=True)
    with torch.no_grad():
        out = fm(x)
    assert fm.feature_info.reduction() == [2, 4, 8, 16, 32]
    assert [o.shape[1] for o in out] == fm.feature_info.channels()
    assert [o.shape[2] for o in out] == [-(-96 // r) for r in fm.feature_info.reduction()]


def test_kwargs_variant_and_unknown_kwargs():
    m = timm.create_model('resnet50_ela', ela_variant='L')
    assert next(m for m in m.modules() if isinstance(m, ELA)).conv.kernel_size == (7,)
    with pytest.raises(TypeError):
        timm.create_model('resnet18_ela', not_an_arg=1)


@pytest.mark.heavy
def test_compile_resnet18_ela(r18):
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        assert _rel_err(torch.compile(r18)(x), r18(x)) <= 1e-5
