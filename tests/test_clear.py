"""CLEAR ViT/DeiT: original timm/DeiT checkpoints load unchanged, full radius == timm's model, any input size.

The official CLEAR code is FLUX-only (no classifier): the attention itself is checked against the official
processors in tests/test_local_window.py; here the reference is timm's own ViT/DeiT with the same weights.
"""
import argparse
import math

import pytest
import timm
import torch
from safetensors.torch import save_file

from vizattn.models._checkpoint import CheckpointError
from vizattn.models.clear import ClearAttention
from vizattn.ops.local_window import window_attention_macs
from vizattn.utils import count_macs, count_params

# variant: (timm source model, params in M as published (timm / DeiT README), GMACs at 224 (DeiT paper))
VARIANTS = {
    'clear_deit_tiny_patch16_224': ('deit_tiny_patch16_224', 5.7, 1.3),
    'clear_deit_small_patch16_224': ('deit_small_patch16_224', 22.1, 4.6),
    'clear_deit_base_patch16_224': ('deit_base_patch16_224', 86.6, 17.6),
    'clear_vit_tiny_patch16_224': ('vit_tiny_patch16_224', 5.7, 1.3),
    'clear_vit_small_patch16_224': ('vit_small_patch16_224', 22.1, 4.6),
    'clear_vit_base_patch16_224': ('vit_base_patch16_224', 86.6, 17.6),
}
TINY = 'clear_deit_tiny_patch16_224'


@pytest.fixture(scope='module')
def deit_tiny():
    """timm's own deit_tiny_patch16_224 (random weights, fixed seed), the model the released weights are for."""
    torch.manual_seed(0)
    return timm.create_model('deit_tiny_patch16_224').eval()


@pytest.fixture(scope='module')
def timm_file(deit_tiny, tmp_path_factory):
    """deit_tiny weights as timm publishes them on the HF hub: a flat model.safetensors."""
    path = tmp_path_factory.mktemp('ckpt') / 'model.safetensors'
    save_file({k: v.contiguous() for k, v in deit_tiny.state_dict().items()}, str(path))
    return str(path)


@pytest.fixture(scope='module')
def deit_release_file(deit_tiny, tmp_path_factory):
    """The facebookresearch/deit release layout (deit_tiny_patch16_224-a1311bcf.pth): {'model': state_dict},
    here with the extra entries of a DeiT training checkpoint."""
    path = tmp_path_factory.mktemp('ckpt') / 'deit_tiny_patch16_224-a1311bcf.pth'
    torch.save({'model': deit_tiny.state_dict(), 'epoch': 299,
                'args': argparse.Namespace(model='deit_tiny_patch16_224', lr=5e-4)}, path)
    return str(path)


def _load(path, name=TINY, **kwargs):
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path), **kwargs)


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize('which', ['timm_file', 'deit_release_file'])
def test_original_checkpoint_loads_strictly_and_full_radius_is_timm(which, deit_tiny, request):
    path = request.getfixturevalue(which)
    model = _load(path, radius=math.inf).eval()
    assert all(torch.equal(v, deit_tiny.state_dict()[k]) for k, v in model.state_dict().items())
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = deit_tiny(x)
        assert _rel(model(x), ref) <= 1e-5
        if which == 'timm_file':
            model.set_window(radius=20)  # > sqrt(13^2 + 13^2): the disc covers the 14x14 grid
            assert _rel(model(x), ref) <= 1e-5
            model.set_window(radius=4)  # CLEAR's local window (not distilled): a different function
            local = model(x)
            assert torch.isfinite(local).all() and _rel(local, ref) > 1e-3


def test_full_radius_other_sizes_match_timm_dynamic_img_size(deit_tiny):
    """Position-embedding interpolation is timm's: at 288x208 CLEAR(r=inf) == timm deit_tiny(dynamic_img_size)."""
    sd = {k: v for k, v in deit_tiny.state_dict().items() if not k.startswith('blocks.') or int(k.split('.')[1]) < 4}
    ref_model = timm.create_model('deit_tiny_patch16_224', depth=4, dynamic_img_size=True).eval()
    ref_model.load_state_dict(sd)
    model = timm.create_model(TINY, depth=4, radius=math.inf).eval()
    model.load_state_dict(sd)
    x = torch.randn(1, 3, 288, 208)
    with torch.no_grad():
        assert _rel(model(x), ref_model(x)) <= 1e-5


def test_register_tokens_are_global():
    """Class + 4 register tokens: with a full radius the model is timm's ViT with the same weights."""
    args = dict(embed_dim=64, depth=2, num_heads=2, reg_tokens=4, num_classes=7)
    ref = timm.create_model('vit_tiny_patch16_224', dynamic_img_size=True, dynamic_img_pad=True, **args).eval()
    model = timm.create_model('clear_vit_tiny_patch16_224', radius=math.inf, **args).eval()
    model.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 100, 90)
    with torch.no_grad():
        assert _rel(model(x), ref(x)) <= 1e-5
        model.set_window(radius=2)
        assert torch.isfinite(model(x)).all()


def test_original_checkpoint_adapts_head_chans_and_features(timm_file):
    m = _load(timm_file, num_classes=5, in_chans=1)
    assert m(torch.randn(1, 1, 64, 80)).shape == (1, 5)
    feats = _load(timm_file, features_only=True, out_indices=(3, 7, 11))
    outs = feats(torch.randn(1, 3, 96, 128))
    assert feats.feature_info.reduction() == [16, 16, 16]
    assert [tuple(o.shape) for o in outs] == [(1, 192, 6, 8)] * 3


def test_down_sampled_variant_loads_original_weights(timm_file, tmp_path):
    """The pooling weights are new parameters: they start at average pooling (CLEAR's init) from a full-
    attention checkpoint, and a distilled CLEAR checkpoint (our own safetensors) carries them."""
    model = _load(timm_file, down_factor=4).eval()
    weights = [m.spatial_weight for m in model.modules() if isinstance(m, ClearAttention)]
    assert len(weights) == 12 and all(torch.equal(w, torch.full((4, 4), 1 / 16)) for w in weights)
    with torch.no_grad():
        weights[0].add_(torch.arange(16.).reshape(4, 4) / 100)
    path = tmp_path / 'clear_distilled.safetensors'
    save_file(model.state_dict(), str(path))
    again = _load(str(path), down_factor=4).eval()
    x = torch.randn(1, 3, 112, 144)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))
    with pytest.raises(CheckpointError, match='unexpected 12 keys: .*spatial_weight'):
        _load(str(path))  # a down-sampled checkpoint does not fit the plain variant


def test_wrong_variant_names_keys(timm_file, tmp_path):
    with pytest.raises(CheckpointError, match=r'shape mismatches: .*blocks\.0\.'):
        _load(timm_file, 'clear_deit_small_patch16_224')
    sd = {k: v for k, v in timm.create_model('deit_tiny_patch16_224', depth=11).state_dict().items()}
    path = tmp_path / 'depth11.safetensors'
    save_file(sd, str(path))
    with pytest.raises(CheckpointError, match=r'missing \d+ keys: .*blocks\.11\.'):
        _load(str(path))


def test_truncated_checkpoint(deit_release_file, tmp_path):
    data = open(deit_release_file, 'rb').read()
    bad = tmp_path / 'truncated.pth'
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated.pth'):
        _load(str(bad))


@pytest.mark.parametrize('name', sorted(VARIANTS))
def test_params_match_timm_and_paper(name):
    source, params, _ = VARIANTS[name]
    ours = count_params(timm.create_model(name, device='meta'))
    assert ours == count_params(timm.create_model(source, device='meta'))
    assert abs(ours / 1e6 - params) <= 0.05
    # the down-sampled variant adds one 4x4 pooling weight per block
    assert count_params(timm.create_model(name, down_factor=4, device='meta')) == ours + 12 * 16


def _macs(name, **kwargs):
    return count_macs(timm.create_model(name, **kwargs))


@pytest.mark.parametrize('name', [TINY] + [pytest.param(n, marks=pytest.mark.heavy) for n in sorted(VARIANTS)
                                           if 'tiny' not in n])
def test_flops_match_paper(name):
    _, _, gmacs = VARIANTS[name]
    assert abs(_macs(name, radius=math.inf) / 1e9 - gmacs) <= 0.05


def test_window_macs_at_higher_resolution():
    """On 14x14 a radius-4 window touches most of the grid, so the reference runs one masked tile (full-attention
    MACs); on 28x28 it runs tiles and executes fewer MACs than full attention."""
    args = dict(depth=1, num_classes=0)
    assert _macs(TINY, **args) == _macs(TINY, radius=math.inf, **args)
    size = (3, 448, 448)
    full = count_macs(timm.create_model(TINY, radius=math.inf, **args), size)
    local = count_macs(timm.create_model(TINY, **args), size)
    attn_full = window_attention_macs(28, 28, math.inf, 64, 3, num_global=1)
    attn_local = window_attention_macs(28, 28, 4, 64, 3, num_global=1)
    assert full - local > 0.3 * (attn_full - attn_local)


@pytest.mark.parametrize('size', [(224, 224), (200, 150), (97, 131), (16, 16), (384, 256)])
def test_any_input_size(size):
    model = timm.create_model(TINY, num_classes=10, depth=2, down_factor=4).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
        final, feats = model.forward_intermediates(torch.randn(1, 3, *size), indices=1)
    assert out.shape == (1, 10) and torch.isfinite(out).all()
    assert feats[0].shape[2:] == (math.ceil(size[0] / 16), math.ceil(size[1] / 16))


def test_forward_intermediates_final_is_forward_features():
    model = timm.create_model(TINY, depth=3).eval()
    x = torch.randn(2, 3, 96, 64)
    with torch.no_grad():
        final, feats = model.forward_intermediates(x, return_prefix_tokens=True, norm=True)
        torch.testing.assert_close(final, model.forward_features(x))
        only = model.forward_intermediates(x, indices=[0], output_fmt='NLC', intermediates_only=True)
    assert len(feats) == 3 and feats[0][0].shape == (2, 192, 6, 4) and feats[0][1].shape == (2, 1, 192)
    assert only[0].shape == (2, 24, 192)


def test_window_arguments():
    model = timm.create_model(TINY, radius=2.5, window_shape='square', depth=2).eval()
    assert {(m.radius, m.window_shape) for m in model.modules() if isinstance(m, ClearAttention)} == {(2.5, 'square')}
    x = torch.randn(1, 3, 80, 80)
    with torch.no_grad():
        out = model(x)
        model.set_window(shape='disc')  # 21 of the 25 tokens of the 5x5 square
        other = model(x)
        model.set_window(radius=2.5, shape='square')
        torch.testing.assert_close(model(x), out)
    assert _rel(other, out) > 1e-4
    with pytest.raises(ValueError, match='radius must be positive'):
        timm.create_model(TINY, radius=0)
    with pytest.raises(ValueError, match='window_shape'):
        timm.create_model(TINY, window_shape='hex')
    with pytest.raises(ValueError, match='down_factor'):
        timm.create_model(TINY, down_factor=1)
    with pytest.raises(ValueError, match='patch dropout'):
        timm.create_model(TINY, patch_drop_rate=0.1)
    with pytest.raises(TypeError):
        timm.create_model(TINY, not_an_arg=1)


def test_flex_backend_matches_on_model():
    model = timm.create_model(TINY, depth=2, down_factor=4).eval()
    x = torch.randn(1, 3, 112, 96)
    with torch.no_grad():
        ref = model(x)
        model.set_attn_backend('flex')
        out = model(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


def test_channels_last_and_batch_one():
    model = timm.create_model(TINY, depth=2).eval()
    x = torch.randn(1, 3, 160, 192)
    with torch.no_grad():
        ref = model(x)
        out = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_bf16_autocast():
    model = timm.create_model(TINY, depth=3, down_factor=4).eval()
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = model(x)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert torch.nn.functional.cosine_similarity(out.float().flatten(), ref.flatten(), dim=0) > 0.99


def test_gradients_and_checkpointing():
    torch.manual_seed(0)
    model = timm.create_model(TINY, depth=2, num_classes=4, down_factor=4)
    x = torch.randn(2, 3, 64, 80)
    model(x).sum().backward()
    ref = {n: p.grad.clone() for n, p in model.named_parameters()}
    # the pooled tokens reach the logits through the grid tokens of later blocks (the class token does not see
    # them), so the last block's pooling weight gets a zero gradient, as in CLEAR
    assert ref['blocks.0.attn.spatial_weight'].abs().sum() > 0
    assert torch.equal(ref['blocks.1.attn.spatial_weight'], torch.zeros(4, 4))
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, ref[n], rtol=1e-4, atol=1e-6)


def test_bad_input_errors():
    model = timm.create_model(TINY, depth=1)
    with pytest.raises(ValueError, match='expected 3 input channels, got 1'):
        model(torch.randn(1, 1, 224, 224))
    with pytest.raises(ValueError, match='too small'):
        model(torch.randn(1, 3, 8, 64))
    with pytest.raises(ValueError, match='4-D'):
        model(torch.randn(3, 224, 224))
    with pytest.raises(ValueError, match='attn_mask'):
        model.forward_intermediates(torch.randn(1, 3, 32, 32), attn_mask=torch.ones(1))


@pytest.mark.heavy
def test_torch_compile():
    model = timm.create_model(TINY, depth=1, num_classes=3, down_factor=4).eval()
    x = torch.randn(1, 3, 96, 80)
    with torch.no_grad():
        ref = model(x)
        out = torch.compile(model)(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_distill_tool_runs(tmp_path):
    """tools/distill_clear.py: two mmengine iterations on a generated image folder, student saved and loadable."""
    import importlib.util
    import json
    import os
    spec = importlib.util.spec_from_file_location(
        'distill_clear', os.path.join(os.path.dirname(__file__), '..', 'tools', 'distill_clear.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    work = tmp_path / 'work'
    summary = tool.main(['--data', str(tmp_path / 'shapes'), '--make-shapes', '8', '--img-size', '32',
                         '--radius', '1', '--down-factor', '2', '--iters', '2', '--batch-size', '4',
                         '--model-args', '{"depth": 1}', '--lr', '1e-3', '--work-dir', str(work)])
    saved = json.loads((work / 'summary.json').read_text())
    assert saved['before']['count'] == 8 and 0 <= saved['after']['top1_agreement'] <= 100
    assert summary['trainable_params'] == 192 * 576 + 576 + 192 * 192 + 192 + 4  # qkv, proj, 2x2 pool weight
    logs = list(work.glob('*/*.log'))
    assert logs and 'loss_attn' in logs[0].read_text()
    student = timm.create_model(TINY, pretrained=True, pretrained_cfg_overlay=dict(file=summary['student']),
                                radius=1, down_factor=2, depth=1, num_classes=4, img_size=32)
    assert student(torch.randn(1, 3, 32, 32)).shape == (1, 4)
