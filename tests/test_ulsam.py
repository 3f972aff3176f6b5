"""ULSAM (subspace attention): parity with the official module, timm base-network weights, the paper's counts."""
import logging
import os

import pytest
import timm
import torch

import vizattn  # noqa: F401  (registers the models)
from tests.synthetic import fixed_input, synthetic_state_dict
from vizattn.models._checkpoint import CheckpointError
from vizattn.models.ulsam import PAPER_PLACEMENTS, ULSAM, ULSAMMobileNet, convert_official_ulsam
from vizattn.utils.flops import count_macs, count_params

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'ulsam')
BAR = 1e-5  # max abs error / max abs output, fp32
LOGGER = 'vizattn.models.ulsam'
BASE = dict(mobilenetv1_ulsam='mobilenetv1_100', mobilenetv2_ulsam='mobilenetv2_100')

# WACV 2020 poster/slides (ImageNet-1K, g = 4), millions. The baselines they report: MV1 4.2M / 569M,
# MV2 3.4M / 300M; timm's are 4.232M / 568.74M and 3.505M / 300.77M, so we also compare the changes.
PAPER = dict(
    mobilenetv1_ulsam=dict(params=3.9, macs=517.0, base_params=4.2, base_macs=569.0),
    mobilenetv2_ulsam=dict(params=2.96, macs=261.88, base_params=3.4, base_macs=300.0),
)
# the paper's other MobileNetV2 rows (ImageNet / Birds tables) and the replaced blocks that reproduce them
MV2_ROWS = [
    (((4, 2),), 3.28, 277.34),
    (((5, 2),), 3.08, 284.54),
    (((3, 3), (4, 2)), 3.23, 267.06),
    (((5, 1), (5, 2)), 2.77, 269.07),
    (((4, 1), (4, 2), (5, 1), (5, 2)), 2.54, 223.77),
]


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


def _rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def _load(name, path, **kwargs):
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path), **kwargs)


# ---------------------------------------------------------------------------------------------- parity

@pytest.mark.parametrize('name', ['ulsam_c32_g4', 'ulsam_c48_g16_odd', 'ulsam_c16_g1'])
def test_parity_official_module(name):
    data = _fixture(name)
    official = _official_sd(data)
    assert all('.subspaces.' in '.' + k for k in official)  # the official layout
    module = ULSAM(data['channels'], data['num_splits']).eval()
    module.load_state_dict(convert_official_ulsam(official))
    x = fixed_input(data['input_shape'], data['input_seed'])
    with torch.no_grad():
        assert _rel_err(module(x), data['output']) <= BAR
        if 'train_output' in data:  # batch statistics and the official momentum-0.9 running update
            module.train()
            assert _rel_err(module(x), data['train_output']) <= BAR
            sd = module.state_dict()
            for k, v in convert_official_ulsam(data['train_running']).items():
                assert torch.allclose(sd[k], v, rtol=1e-5, atol=1e-6), k


def test_module_equals_per_subspace_definition():
    """The vectorised module is the official per-subspace computation: check against it written out here."""
    torch.manual_seed(0)
    m = ULSAM(24, 3).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_()
        m.bn_dws.running_var.uniform_(0.5, 1.5)
        m.bn_point.running_mean.normal_()
        x = torch.randn(2, 24, 6, 9)
        outs = []
        for k, xk in enumerate(x.chunk(3, dim=1)):
            sl = slice(8 * k, 8 * (k + 1))
            a = xk * m.conv_dws.weight[sl].view(1, 8, 1, 1) + m.conv_dws.bias[sl].view(1, 8, 1, 1)
            a = (a - m.bn_dws.running_mean[sl].view(1, 8, 1, 1)) / torch.sqrt(
                m.bn_dws.running_var[sl].view(1, 8, 1, 1) + 1e-5)
            a = (a * m.bn_dws.weight[sl].view(1, 8, 1, 1) + m.bn_dws.bias[sl].view(1, 8, 1, 1)).clamp(min=0)
            a = torch.nn.functional.max_pool2d(a, 3, 1, 1)
            a = (a * m.conv_point.weight[k].view(1, 8, 1, 1)).sum(1, keepdim=True) + m.conv_point.bias[k]
            a = (a - m.bn_point.running_mean[k]) / torch.sqrt(m.bn_point.running_var[k] + 1e-5)
            a = (a * m.bn_point.weight[k] + m.bn_point.bias[k]).clamp(min=0)
            a = torch.exp(a) / torch.exp(a).sum(dim=(2, 3), keepdim=True)  # softmax over H*W
            outs.append(a * xk + xk)
        assert _rel_err(m(x), torch.cat(outs, 1)) <= 1e-6


def test_module_errors_and_cost():
    with pytest.raises(ValueError, match='divisible'):
        ULSAM(30, 4)
    # the poster's table: ULSAM on m = 512 channels at 14x14 costs ~1K params and 0.2M FLOPs (the two 1x1 convs)
    m = ULSAM(512, 4)
    assert m.conv_dws.weight.numel() + m.conv_point.weight.numel() == 1024
    assert count_macs(m, (512, 14, 14)) == 2 * 512 * 14 * 14


def test_module_channels_last_bf16_compile():
    torch.manual_seed(0)
    m = ULSAM(32, 4).eval()
    x = torch.randn(2, 32, 9, 7)
    with torch.no_grad():
        ref = m(x)
        assert _rel_err(m(x.to(memory_format=torch.channels_last)), ref) <= 1e-6
        with torch.autocast('cpu', dtype=torch.bfloat16):
            y = m(x.bfloat16())
        assert y.dtype == torch.bfloat16 and _rel_err(y.float(), ref) < 3e-2
        assert _rel_err(torch.compile(m)(x), ref) <= 1e-5


# ------------------------------------------------------------------------- networks: the paper's counts

@pytest.mark.parametrize('name', ['mobilenetv1_ulsam', 'mobilenetv2_ulsam'])
def test_params_and_macs_vs_paper(name):
    model = timm.create_model(name)
    base = timm.create_model(BASE[name])
    paper = PAPER[name]
    p, f = count_params(model) / 1e6, count_macs(model) / 1e6
    pb, fb = count_params(base) / 1e6, count_macs(base) / 1e6
    if name == 'mobilenetv2_ulsam':
        # 3.068M / 262.66M: the changes from the base match the paper's (-0.44M, -38.12M) to 0.005M / 0.05M;
        # the absolute params differ by the baselines' 0.105M (paper's MobileNetV2: 3.4M)
        assert abs((pb - p) - (paper['base_params'] - paper['params'])) < 0.005
        assert abs((fb - f) - (paper['base_macs'] - paper['macs'])) < 0.05
        assert abs(f - paper['macs']) < 1.0 and abs(p - paper['params']) < 0.11
    else:
        # 3.966M / 516.66M vs 3.9M / 517M (the paper gives one decimal: 4.2M -> 3.9M, 569M -> 517M)
        assert abs(p - paper['params']) < 0.1 and abs(f - paper['macs']) < 1.0
        assert abs((fb - f) - (paper['base_macs'] - paper['macs'])) < 1.0


@pytest.mark.parametrize('blocks,paper_params,paper_macs', MV2_ROWS)
def test_other_mv2_rows(blocks, paper_params, paper_macs):
    """Each of the paper's MobileNetV2 rows is reproduced by replacing bottlenecks of the 64/96/160 stages,
    up to the same baseline offset (0.105M params, 0.775M MACs: timm's MobileNetV2 against the paper's) as the
    headline row."""
    model = timm.create_model('mobilenetv2_ulsam', ulsam_blocks=blocks)
    assert abs(count_macs(model) / 1e6 - 0.775 - paper_macs) < 0.05
    assert abs(count_params(model) / 1e6 - 0.105 - paper_params) < 0.02


def test_is_timms_mobilenet():
    for arch, base in [('mobilenetv1', 'mobilenetv1_100'), ('mobilenetv2', 'mobilenetv2_100')]:
        plain = ULSAMMobileNet(arch=arch, ulsam_blocks=())
        ref = timm.create_model(base).eval()
        assert {k: tuple(v.shape) for k, v in plain.state_dict().items()} == \
            {k: tuple(v.shape) for k, v in ref.state_dict().items()}
        plain.load_state_dict(ref.state_dict())
        x = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            assert torch.equal(plain.eval()(x), ref(x))
    model = timm.create_model('mobilenetv2_ulsam', ulsam_groups=8)
    assert model.ulsam_blocks == list(PAPER_PLACEMENTS['mobilenetv2'])
    assert all(isinstance(model.blocks[s][b], ULSAM) and model.blocks[s][b].num_splits == 8
               for s, b in model.ulsam_blocks)


def test_bad_placements():
    with pytest.raises(ValueError, match='keeps its input shape'):
        timm.create_model('mobilenetv2_ulsam', ulsam_blocks=((5, 0),))  # 96 -> 160, stride 2
    with pytest.raises(ValueError, match='no block'):
        timm.create_model('mobilenetv1_ulsam', ulsam_blocks=((3, 9),))
    with pytest.raises(ValueError, match='divisible'):
        timm.create_model('mobilenetv2_ulsam', ulsam_groups=7)
    with pytest.raises(TypeError):
        timm.create_model('mobilenetv2_ulsam', not_an_arg=1)


# ------------------------------------------------------------------------------------------- checkpoints

def _base_file(tmp_path, arch, name='base.pth'):
    sd = timm.create_model(arch).state_dict()
    path = str(tmp_path / name)
    torch.save({'state_dict': sd, 'epoch': 450}, path)
    return path, sd


@pytest.mark.parametrize('name', ['mobilenetv1_ulsam', 'mobilenetv2_ulsam'])
def test_base_network_checkpoint_loads_and_reports_keys(name, tmp_path, caplog):
    path, base_sd = _base_file(tmp_path, BASE[name])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        model = _load(name, path)
    sd = model.state_dict()
    replaced = tuple(f'blocks.{s}.{b}.' for s, b in PAPER_PLACEMENTS[name.split('_')[0]])
    kept = {k: v for k, v in base_sd.items() if not k.startswith(replaced)}
    assert all(torch.equal(sd[k], v) for k, v in kept.items())  # every base key outside the replaced blocks
    dropped = set(base_sd) - set(kept)
    new = sorted(set(sd) - set(kept))
    assert dropped and new and all(k.startswith(replaced) for k in new)
    msg = ' '.join(r.getMessage() for r in caplog.records if r.name == LOGGER)
    assert f'dropped {len(dropped)} keys' in msg and f'{len(new)} ULSAM keys are new' in msg
    assert all(k in msg for k in new)


def test_base_checkpoint_head_in_chans_features(tmp_path):
    path, base_sd = _base_file(tmp_path, 'mobilenetv2_100')
    model = _load('mobilenetv2_ulsam', path, num_classes=5, in_chans=1)
    assert model.classifier.out_features == 5 and model.conv_stem.in_channels == 1
    assert torch.allclose(model.conv_stem.weight, base_sd['conv_stem.weight'].sum(1, keepdim=True))
    feats = _load('mobilenetv2_ulsam', path, features_only=True)
    assert feats.feature_info.reduction() == [2, 4, 8, 16, 32]
    assert feats.feature_info.channels() == [16, 24, 32, 96, 320]


def test_own_and_official_layout_checkpoints(tmp_path, caplog):
    model = timm.create_model('mobilenetv2_ulsam').eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.startswith(('blocks.4.2.', 'blocks.5.2.')):
                p.add_(0.1)
    sd = model.state_dict()
    own = str(tmp_path / 'own.pth')
    torch.save(sd, own)
    # the same weights with ULSAM in the official per-subspace layout
    official = {}
    for k, v in sd.items():
        prefix = next((p for p in ('blocks.4.2.', 'blocks.5.2.') if k.startswith(p)), None)
        if prefix is None:
            official[k] = v
            continue
        layer, leaf = k[len(prefix):].split('.')
        for i, part in enumerate([v] * 4 if leaf == 'num_batches_tracked' else v.chunk(4, dim=0)):
            official[f'{prefix}subspaces.{i}.{layer}.{leaf}'] = part
    off = str(tmp_path / 'official_layout.pth')
    torch.save({'model': official}, off)
    x = torch.randn(1, 3, 64, 64)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for path in (own, off):
            with torch.no_grad():
                assert torch.equal(_load('mobilenetv2_ulsam', path).eval()(x), model(x))
    assert not [r for r in caplog.records if r.name == LOGGER]


def test_wrong_network_or_groups_fails_naming_keys(tmp_path):
    path, _ = _base_file(tmp_path, 'mobilenetv1_100', 'mv1.pth')
    with pytest.raises(CheckpointError, match=r'missing \d+ keys: blocks\.1\.0\.bn3'):
        _load('mobilenetv2_ulsam', path)
    path, _ = _base_file(tmp_path, 'mobilenetv2_140', 'mv2_140.pth')
    with pytest.raises(CheckpointError, match=r'shape mismatches: .*blocks\.'):
        _load('mobilenetv2_ulsam', path)
    path = str(tmp_path / 'g8.pth')
    torch.save(timm.create_model('mobilenetv2_ulsam', ulsam_groups=8).state_dict(), path)
    with pytest.raises(CheckpointError, match=r'conv_point\.weight'):
        _load('mobilenetv2_ulsam', path)


def test_truncated_file_fails(tmp_path):
    path, _ = _base_file(tmp_path, 'mobilenetv2_100')
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        _load('mobilenetv2_ulsam', path)


# ---------------------------------------------------------------------------------------- timm contract

@pytest.fixture(scope='module', params=['mobilenetv1_ulsam', 'mobilenetv2_ulsam'])
def net(request):
    torch.manual_seed(0)
    return request.param, timm.create_model(request.param).eval()


def test_any_size_batch1_channels_last_bf16(net):
    _, model = net
    with torch.no_grad():
        for shape in [(1, 3, 97, 131), (2, 3, 33, 45)]:
            y = model(torch.randn(shape))
            assert y.shape == (shape[0], 1000) and torch.isfinite(y).all()
        x = torch.randn(2, 3, 72, 88)
        ref = model(x)
        assert _rel_err(model(x[:1]), ref[:1]) <= 1e-5
        assert _rel_err(model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last)),
                        ref) <= 1e-5
        model.to(memory_format=torch.contiguous_format)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            y = model(x)
        assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()


def test_bad_input_raises(net):
    _, model = net
    with pytest.raises(ValueError, match='expected 3 input channels, got 1'):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match='4-D'):
        model.forward_features(torch.randn(3, 64, 64))
    with pytest.raises(ValueError, match='input channels'):
        model.forward_intermediates(torch.randn(1, 4, 64, 64))


def test_intermediates_and_features(net):
    name, model = net
    x = torch.randn(1, 3, 96, 80)
    with torch.no_grad():
        final, feats = model.forward_intermediates(x)
        assert torch.equal(final, model.forward_features(x))
    assert [f.shape[1] for f in feats] == [f['num_chs'] for f in model.feature_info]
    fm = timm.create_model(name, features_only=True, out_indices=(1, 2, 3, 4))
    with torch.no_grad():
        out = fm(x)
    assert fm.feature_info.reduction() == [4, 8, 16, 32]
    assert [o.shape[1] for o in out] == fm.feature_info.channels()
    assert [o.shape[2] for o in out] == [-(-96 // r) for r in fm.feature_info.reduction()]


@pytest.mark.heavy
def test_compile_mobilenetv1_ulsam():
    model = timm.create_model('mobilenetv1_ulsam').eval()
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        assert _rel_err(torch.compile(model)(x), model(x)) <= 1e-5
