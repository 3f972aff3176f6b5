"""BiFormer: parity with the official code, the original checkpoint format, paper numbers, any input size."""
import argparse
import os

import pytest
import timm
import torch
from safetensors.torch import save_file

from tests.synthetic import fixed_input, synthetic_tensor
from vizattn.models._checkpoint import CheckpointError
from vizattn.utils import count_macs, count_params

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'biformer')

# Paper / official README (params in M, GFLOPs at 224).
PAPER = {'biformer_t': (13.1, 2.2), 'biformer_s': (25.5, 4.5), 'biformer_b': (56.8, 9.8), 'biformer_stl': (28.4, 4.6)}


def _fixture(variant):
    return torch.load(os.path.join(FIXTURES, f'{variant}.pt'), weights_only=True)


def _official_file(fixture, path):
    """Weights in the official release layout and wrapping, as main.py/utils.save_model write them."""
    sd = {name: synthetic_tensor(name, shape, getattr(torch, dtype)) for name, shape, dtype in fixture['keys']}
    torch.save({'model': sd, 'epoch': 299, 'max_accuracy': 81.4, 'scaler': {'scale': 65536.0},
                'args': argparse.Namespace(model='biformer_tiny', lr=5e-4)}, path)
    return str(path)


@pytest.fixture(scope='module')
def fixture():
    return _fixture('biformer_t')


@pytest.fixture(scope='module')
def official_file(fixture, tmp_path_factory):
    return _official_file(fixture, tmp_path_factory.mktemp('ckpt') / 'biformer_tiny_in1k.pth')


def _load(path, name='biformer_t', **kwargs):
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path), **kwargs)


@pytest.mark.parametrize('variant', ['biformer_t', 'biformer_stl'])
def test_parity_with_official(variant, tmp_path):
    fixture = _fixture(variant)
    model = _load(_official_file(fixture, tmp_path / f'{variant}.pth'), variant).eval()
    x = fixed_input(fixture['input_shape'], fixture['input_seed'])
    with torch.no_grad():
        final, feats = model.forward_intermediates(x)
        out = model.forward_head(final)
    ref = fixture['output']
    assert (out - ref).abs().max() / ref.abs().max() <= 1e-5
    for got, want in zip(feats, fixture['stage_means']):
        assert (got.mean((2, 3)) - want).abs().max() / want.abs().max() <= 1e-5


def test_flex_backend_matches_on_model(fixture, official_file):
    model = _load(official_file).eval()
    x = fixed_input((1, 3, 224, 224), 1)
    with torch.no_grad():
        ref = model(x)
        model.set_attn_backend('flex')
        out = model(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


def test_original_checkpoint_adapts_head_chans_and_features(official_file):
    m = _load(official_file, num_classes=5, in_chans=1)
    assert m(torch.randn(1, 1, 64, 64)).shape == (1, 5)
    feats = _load(official_file, features_only=True)
    outs = feats(torch.randn(1, 3, 96, 128))
    assert feats.feature_info.reduction() == [4, 8, 16, 32]
    assert [o.shape[1] for o in outs] == [64, 128, 256, 512]
    assert [tuple(o.shape[2:]) for o in outs] == [(24, 32), (12, 16), (6, 8), (3, 4)]


def test_own_safetensors_roundtrip(tmp_path):
    model = timm.create_model('biformer_t').eval()
    path = tmp_path / 'biformer_t.safetensors'
    save_file(model.state_dict(), str(path))
    loaded = _load(str(path)).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_wrong_variant_names_keys(official_file):
    with pytest.raises(CheckpointError, match=r'missing \d+ keys: .*stages\.0\.blocks\.2'):
        _load(official_file, 'biformer_s')
    with pytest.raises(CheckpointError, match='shape mismatches'):
        _load(official_file, 'biformer_b')


def test_truncated_checkpoint(official_file, tmp_path):
    data = open(official_file, 'rb').read()
    bad = tmp_path / 'truncated.pth'
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated.pth'):
        _load(str(bad))


@pytest.mark.parametrize('name', sorted(PAPER))
def test_params_and_flops_match_paper(name):
    model = timm.create_model(name)
    params, flops = PAPER[name]
    assert round(count_params(model) / 1e6, 1) == params
    assert round(count_macs(model) / 1e9, 1) == flops


@pytest.mark.parametrize('size', [(224, 224), (200, 150), (97, 131), (32, 32), (256, 320)])
def test_any_input_size(size):
    model = timm.create_model('biformer_t', num_classes=10).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    assert out.shape == (1, 10) and torch.isfinite(out).all()


def test_region_count_is_an_argument():
    model = timm.create_model('biformer_t', n_win=8, features_only=True).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 256, 256))
    assert [tuple(o.shape[2:]) for o in outs] == [(64, 64), (32, 32), (16, 16), (8, 8)]


def test_channels_last_and_batch_one():
    model = timm.create_model('biformer_t').eval()
    x = torch.randn(1, 3, 160, 192)
    with torch.no_grad():
        ref = model(x)
        out = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_bf16_autocast():
    model = timm.create_model('biformer_t').eval()
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = model(x)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert torch.nn.functional.cosine_similarity(out.float().flatten(), ref.flatten(), dim=0) > 0.99


def test_gradient_checkpointing_same_grads():
    torch.manual_seed(0)
    model = timm.create_model('biformer_t', num_classes=4)
    x = torch.randn(2, 3, 64, 64)
    model(x).sum().backward()
    ref = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, ref[n], rtol=1e-4, atol=1e-6)


def test_routing_gets_no_gradient_but_bra_params_do():
    model = timm.create_model('biformer_t', num_classes=4)
    model(torch.randn(1, 3, 64, 64)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_bad_input_errors():
    model = timm.create_model('biformer_t')
    with pytest.raises(ValueError, match='expected 3 input channels, got 1'):
        model(torch.randn(1, 1, 224, 224))
    with pytest.raises(ValueError, match='too small'):
        model(torch.randn(1, 3, 16, 64))
    with pytest.raises(ValueError, match='4-D'):
        model(torch.randn(3, 224, 224))


@pytest.mark.heavy
def test_torch_compile():
    model = timm.create_model('biformer_t', depths=(1, 1, 1, 1), num_classes=3).eval()
    x = torch.randn(1, 3, 96, 80)
    with torch.no_grad():
        ref = model(x)
        out = torch.compile(model)(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
