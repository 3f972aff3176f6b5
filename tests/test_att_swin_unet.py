"""Att-SwinU-Net: parity with the official code, checkpoints (official, Swin-T ImageNet), sizes, timm contract."""
import os

import numpy as np
import pytest
import timm
import torch

import vizattn  # noqa: F401  (registers the models)
from tests.synthetic import fixed_input, synthetic_state_dict
from vizattn.models._checkpoint import CheckpointError
from vizattn.models.att_swin_unet import WindowAttention, checkpoint_filter_fn
from vizattn.utils.flops import CUSTOM_FLOPS, count_params

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'att_swin_unet')
BAR = 1e-5  # max abs error / max abs output, fp32
# The official model (cross-contextual mode) has 46,901,892 parameters; 6,432 of them are a top-level
# PatchEmbed(in_chans=4) and 1,536 a LayerNorm(768) that its forward never uses, 864 its 9-channel head.
OFFICIAL_PARAMS = 46_901_892
OFFICIAL_SWIN_MODE_PARAMS = 41_388_804
UNUSED = 6_432 + 1_536


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


def _save_official(path, sd):
    """As the official trainer saves it: {'model_weights': state_dict, 'test_F1_score': F1}."""
    torch.save({'model_weights': sd, 'test_F1_score': np.float64(0.9123)}, path)
    return path


def _load(path, **kwargs):
    kwargs.setdefault('spatial_attention', 'none')
    overlay = dict(file=path)
    if 'num_classes' in kwargs:  # keep the official head when asking for its 9 channels
        overlay['num_classes'] = kwargs['num_classes']
    return timm.create_model('att_swin_unet_t', pretrained=True, pretrained_cfg_overlay=overlay, **kwargs).eval()


@pytest.fixture(scope='module')
def official_file(tmp_path_factory):
    return _save_official(str(tmp_path_factory.mktemp('asu') / 'weights_isic18.model'),
                          _official_sd(_fixture('att_swin_unet_t')))


def _check(out, ref, channels=None):
    sub, corner = out[:, :, ::7, ::7], out[:, :, :16, :16]
    if channels is not None:
        ref = dict(ref, sub=ref['sub'][:, :channels], corner=ref['corner'][:, :channels])
    assert tuple(sub.shape) == tuple(ref['sub'].shape)
    assert (sub - ref['sub']).abs().max().item() / ref['absmax'] <= BAR
    assert (corner - ref['corner']).abs().max().item() / ref['absmax'] <= BAR


# ---------------------------------------------------------------------------------------------- parity

def test_parity_official_cross_contextual(official_file):
    """The README configuration (cross-contextual attention on every skip); the official head has 9 channels."""
    data = _fixture('att_swin_unet_t')
    assert data['spatial_flag_max_diff'] == 0.0  # the official spatial-attention flag changes nothing
    model = _load(official_file)  # num_classes=1: the first official channel (the one its evaluation reads)
    x = fixed_input(data['input_shape'], data['input_seed'])
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 1, 224, 224)
    _check(out, data['output'], channels=1)
    m9 = _load(official_file, num_classes=9)
    assert torch.equal(m9.head.weight, _official_sd(data)['decoder.output.weight'])


@pytest.mark.heavy
def test_parity_official_swin_mode(tmp_path):
    data = _fixture('att_swin_unet_t_swin')
    path = _save_official(str(tmp_path / 'swin_mode.model'), _official_sd(data))
    model = _load(path, num_classes=9, cross_skips=0)
    with torch.no_grad():
        _check(model(fixed_input(data['input_shape'], data['input_seed'])), data['output'])


def test_params_match_official():
    with torch.device('meta'):
        ours = timm.create_model('att_swin_unet_t', num_classes=9)
        swin_mode = timm.create_model('att_swin_unet_t', num_classes=9, cross_skips=0)
        binary = timm.create_model('att_swin_unet_t')
    assert count_params(ours) == OFFICIAL_PARAMS - UNUSED
    assert count_params(swin_mode) == OFFICIAL_SWIN_MODE_PARAMS - UNUSED
    assert abs(count_params(binary) / 1e6 - 46.9) <= 0.05  # the "about 46.9M"


def _macs_meta(model, size):
    from torch.utils.flop_counter import FlopCounterMode
    with torch.device('meta'), FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS) as counter:
        model(torch.empty(1, 3, *size))
    return counter.get_total_flops() / 2


def test_flops():
    # the paper reports no FLOPs; ours at 224 (MACs): 11.08G, Swin-UNet (concat skips) 8.90G
    with torch.device('meta'):
        model = timm.create_model('att_swin_unet_t').eval()
        swin_mode = timm.create_model('att_swin_unet_t', cross_skips=0, spatial_attention='none').eval()
    assert abs(_macs_meta(model, (224, 224)) / 1e9 - 11.08) <= 0.01
    assert abs(_macs_meta(swin_mode, (224, 224)) / 1e9 - 8.90) <= 0.01


# ---------------------------------------------------------------------------------------------- checkpoints

def test_official_checkpoint_adaptations(official_file):
    ref = _load(official_file)
    x = fixed_input((1, 3, 64, 96))
    with torch.no_grad():
        m = _load(official_file, num_classes=5, in_chans=1)
        assert m(x[:, :1]).shape == (1, 5, 64, 96)
        # the official forward repeats a grey channel 3 times: the same as summing the RGB filters
        w = ref.encoder.patch_embed.proj.weight
        assert torch.allclose(m.encoder.patch_embed.proj.weight, w.sum(1, keepdim=True))
        assert torch.equal(m.decoder.layers[2].skip.blocks[1].enc.kv.weight,
                           ref.decoder.layers[2].skip.blocks[1].enc.kv.weight)
        feats = timm.create_model('att_swin_unet_t', pretrained=True, features_only=True,
                                  pretrained_cfg_overlay=dict(file=official_file)).eval()(x)
        ref_feats = ref.forward_intermediates(x, intermediates_only=True)
        assert [f.shape[1] for f in feats] == [96, 192, 384, 768]
        assert all(torch.equal(a, b) for a, b in zip(feats, ref_feats))


def test_own_state_dict_round_trip(tmp_path, official_file):
    from safetensors.torch import save_file
    ref = _load(official_file)
    path = str(tmp_path / 'model.safetensors')
    save_file(ref.state_dict(), path)
    m = _load(path)
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), ref.state_dict().values()))


def test_wrong_variant_raises(tmp_path):
    # a 'swin'-mode file (no cross-attention) does not fit the cross-contextual model, and the reverse
    path = _save_official(str(tmp_path / 'swin.model'), _official_sd(_fixture('att_swin_unet_t_swin')))
    with pytest.raises(CheckpointError, match=r'missing \d+ keys: decoder\.layers\.0\.skip\.blocks\.0'):
        _load(path)
    assert _load(path, cross_skips=0).decoder.layers[0].skip.cross is False
    torch.save({'model': {'conv.weight': torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match='unexpected 1 keys: conv.weight'):
        _load(path)


def test_truncated_file_raises(tmp_path, official_file):
    path = str(tmp_path / 'truncated.model')
    with open(official_file, 'rb') as f, open(path, 'wb') as g:
        g.write(f.read()[:4096])
    with pytest.raises(CheckpointError, match='truncated'):
        _load(path)


def _to_original_swin(sd):
    """timm's swin_tiny state_dict in the original Swin release layout (downsample at the end of a stage)."""
    import re
    from timm.models.swin_transformer import get_relative_position_index
    out = {}
    for k, v in sd.items():
        k = re.sub(r'^layers\.(\d+)\.downsample', lambda m: f'layers.{int(m.group(1)) - 1}.downsample', k)
        out[k.replace('head.fc.', 'head.')] = v
        if k.endswith('attn.relative_position_bias_table'):  # the release also stores the index buffers
            out[k.replace('relative_position_bias_table', 'relative_position_index')] = \
                get_relative_position_index(7, 7)
    return out


@pytest.fixture(scope='module')
def swin_tiny():
    torch.manual_seed(0)
    return timm.create_model('swin_tiny_patch4_window7_224').eval()


@pytest.mark.parametrize('layout', ['original', 'timm'])
def test_swin_imagenet_encoder_init(layout, swin_tiny, tmp_path):
    """A Swin-T ImageNet classifier initialises the encoder (and, Swin-UNet style, the decoder blocks)."""
    sd = swin_tiny.state_dict()
    path = str(tmp_path / 'swin_tiny_patch4_window7_224.pth')
    torch.save({'model': _to_original_swin(sd)} if layout == 'original' else sd, path)
    torch.manual_seed(1)
    model = timm.create_model('att_swin_unet_t', pretrained=True, pretrained_cfg_overlay=dict(file=path)).eval()
    assert torch.equal(model.encoder.layers[1].downsample.reduction.weight, sd['layers.1.downsample.reduction.weight'])
    assert torch.equal(model.encoder.norm.weight, sd['norm.weight'])
    # Swin-UNet's load_from: decoder blocks of a level start from the encoder blocks of that level
    assert torch.equal(model.decoder.layers[0].blocks[5].mlp.fc2.weight, sd['layers.2.blocks.5.mlp.fc2.weight'])
    assert torch.equal(model.decoder.layers[2].blocks[1].attn.qkv.weight, sd['layers.0.blocks.1.attn.qkv.weight'])
    # the encoder computes what timm's Swin-T computes
    x = fixed_input((1, 3, 224, 224))
    with torch.no_grad():
        ours = model.forward_intermediates(x, intermediates_only=True, norm=True)
        ref = swin_tiny.forward_intermediates(x, intermediates_only=True, norm=True)
    for a, b in zip(ours, ref):
        assert (a - b).abs().max() / b.abs().max() <= BAR


def test_swin_of_another_size_raises(swin_tiny):
    with torch.device('meta'):
        swin_s = timm.create_model('swin_small_patch4_window7_224')
        model = timm.create_model('att_swin_unet_t')
    with pytest.raises(CheckpointError, match=r'unexpected \d+ keys: encoder\.layers\.2\.blocks\.10'):
        checkpoint_filter_fn(swin_s.state_dict(), model)
    with torch.device('meta'):
        swin_b = timm.create_model('swin_base_patch4_window7_224')
    with pytest.raises(CheckpointError, match='mismatched'):
        checkpoint_filter_fn({'model': swin_b.state_dict()}, model)


def test_default_cfgs():
    cfg = timm.models.get_pretrained_cfg('att_swin_unet_t')
    assert cfg.tag == 'in1k_encoder' and cfg.url.endswith('swin_tiny_patch4_window7_224.pth')
    assert cfg.num_classes == 1 and cfg.input_size == (3, 224, 224) and not cfg.fixed_input_size


# ---------------------------------------------------------------------------------------------- attention

def _reference_window_attention(attn: WindowAttention, x: torch.Tensor) -> torch.Tensor:
    """Brute force: each real token attends to the real tokens of its (shifted) window and Swin region."""
    B, H, W, C = x.shape
    ws, s, nh = attn.window_size, attn.shift_size, attn.num_heads
    Hp, Wp = -(-H // ws) * ws, -(-W // ws) * ws
    # position of each original token in the rolled, padded frame
    rows = [(i - s) % Hp for i in range(H)]
    cols = [(j - s) % Wp for j in range(W)]

    def region(r, size):
        return 0 if r < size - ws else (1 if r < size - s else 2) if s > 0 else 0

    qkv = attn.qkv(x).reshape(B, H, W, 3, nh, C // nh)
    table = attn.relative_position_bias_table
    out = torch.zeros(B, H, W, nh, C // nh)
    for i in range(H):
        for j in range(W):
            ri, rj = rows[i], cols[j]
            keys = [(a, b) for a in range(H) for b in range(W)
                    if rows[a] // ws == ri // ws and cols[b] // ws == rj // ws
                    and region(rows[a], Hp) == region(ri, Hp) and region(cols[b], Wp) == region(rj, Wp)]
            q = qkv[:, i, j, 0] * attn.scale  # B, nh, d
            k = torch.stack([qkv[:, a, b, 1] for a, b in keys], 2)  # B, nh, n, d
            v = torch.stack([qkv[:, a, b, 2] for a, b in keys], 2)
            bias = torch.stack([table[(ri % ws - rows[a] % ws + ws - 1) * (2 * ws - 1)
                                      + (rj % ws - cols[b] % ws + ws - 1)] for a, b in keys], 1)  # nh, n
            logits = (q.unsqueeze(2) * k).sum(-1) + bias
            out[:, i, j] = (logits.softmax(-1).unsqueeze(-1) * v).sum(2)
    return attn.proj(out.reshape(B, H, W, C))


@pytest.mark.parametrize('shift', [0, 1])
@pytest.mark.parametrize('size', [(5, 7), (6, 6), (4, 9)])
def test_window_attention_pads_and_masks(shift, size):
    torch.manual_seed(0)
    attn = WindowAttention(8, 2, window_size=3, shift_size=shift).eval()
    with torch.no_grad():
        attn.relative_position_bias_table.normal_()
        x = torch.randn(2, *size, 8)
        ours, _ = attn(x)
        ref = _reference_window_attention(attn, x)
    assert (ours - ref).abs().max() <= 1e-5


def test_spatial_attention_changes_the_decoder():
    torch.manual_seed(0)
    base = timm.create_model('att_swin_unet_t', spatial_attention='none').eval()
    x = fixed_input((1, 3, 64, 64))
    outs = {}
    for op in ('add', 'mul'):
        m = timm.create_model('att_swin_unet_t', spatial_attention=op).eval()
        m.load_state_dict(base.state_dict())
        with torch.no_grad():
            outs[op] = m(x)
    with torch.no_grad():
        outs['none'] = base(x)
    assert (outs['add'] - outs['none']).abs().max() > 1e-3
    assert (outs['mul'] - outs['none']).abs().max() > 1e-3
    # the prior is the encoder block's own map: a decoder block fed its encoder twin's windows
    blk = base.encoder.layers[0].blocks[1]
    y, own = blk(base.encoder.patch_embed(x), None, True)
    assert own.shape == (9, 3, 49, 49) and torch.allclose(own.sum(-1), torch.ones(()))  # 16x16 padded to 21x21


# ---------------------------------------------------------------------------------------------- sizes

@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return timm.create_model('att_swin_unet_t').eval()


def test_any_size_and_batch(model):
    x = fixed_input((2, 3, 61, 83))
    with torch.no_grad():
        out = model(x)
        assert out.shape == (2, 1, 61, 83) and torch.isfinite(out).all()
        # batch 1 gives the same as the batch (no cross-sample leakage through padding or masks)
        assert torch.allclose(model(x[1:]), out[1:], atol=1e-5, rtol=1e-4)
        cl = model(x.contiguous(memory_format=torch.channels_last))
        assert torch.allclose(cl, out, atol=1e-5, rtol=1e-4)


def test_bf16_autocast(model):
    x = fixed_input((1, 3, 64, 64))
    with torch.no_grad():
        ref = model(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = model(x)
    assert out.shape == ref.shape and torch.isfinite(out).all()
    assert (out.float() - ref).abs().max() / ref.abs().max() < 0.1


def test_input_errors(model):
    with pytest.raises(ValueError, match='expected 3 input channels, got 1'):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match='4-D'):
        model(torch.randn(3, 64, 64))
    with pytest.raises(ValueError, match='segmentation'):
        timm.create_model('att_swin_unet_t', global_pool='avg')
    with pytest.raises(ValueError, match='spatial_attention'):
        timm.create_model('att_swin_unet_t', spatial_attention='sum')


def test_features_and_intermediates(model):
    x = fixed_input((1, 3, 96, 128))
    with torch.no_grad():
        final, inter = model.forward_intermediates(x)
        assert torch.equal(final, model.forward_features(x))
        assert [tuple(f.shape[1:]) for f in inter] == [(96, 24, 32), (192, 12, 16), (384, 6, 8), (768, 3, 4)]
        assert torch.equal(model.forward_head(final), model(x))
        early = model.forward_intermediates(x, indices=[1], intermediates_only=True, stop_early=True)
        assert len(early) == 1 and torch.equal(early[0], inter[1])
    f = timm.create_model('att_swin_unet_t', features_only=True, out_indices=(1, 3))
    assert f.feature_info.reduction() == [8, 32] and f.feature_info.channels() == [192, 768]


def test_backward_every_parameter_gets_a_gradient():
    model = timm.create_model('att_swin_unet_t', num_classes=2).train()
    out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 2, 64, 64)
    out.mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_grad_checkpointing_same_output():
    torch.manual_seed(0)
    model = timm.create_model('att_swin_unet_t').eval()
    x = fixed_input((1, 3, 64, 64))
    with torch.no_grad():
        ref = model(x)
        model.set_grad_checkpointing(True)
        assert torch.allclose(model(x), ref, atol=1e-6)


def test_timm_api_contract():
    from timm.models._manipulate import group_parameters
    with pytest.raises(TypeError):
        timm.create_model('att_swin_unet_t', not_a_model_arg=1)
    m = timm.create_model('att_swin_unet_t', device='meta', dtype=torch.float32)
    assert all(t.device.type == 'meta' for t in [*m.parameters(), *m.buffers()])
    assert len(set(group_parameters(m, m.group_matcher(), reverse=True).values())) > 1
    m.to(dtype=torch.float64)
    m.reset_classifier(3)
    assert m.head.weight.dtype == torch.float64 and m.head.weight.device.type == 'meta'
    m.reset_classifier(0)
    assert isinstance(m.head, torch.nn.Identity) and m.num_classes == 0
    assert m.num_features == m.head_hidden_size == 96


@pytest.mark.heavy
def test_torchscript_fx_compile():
    from timm.models import get_notrace_functions, get_notrace_modules
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names
    model = timm.create_model('att_swin_unet_t').eval()
    x = fixed_input((1, 3, 96, 96))
    with torch.no_grad():
        ref = model(x)
        assert torch.allclose(torch.jit.script(model)(x), ref, atol=1e-5)
        tk = dict(leaf_modules=get_notrace_modules(), autowrap_functions=get_notrace_functions())
        _, nodes = get_graph_node_names(model, tracer_kwargs=tk)
        fx = create_feature_extractor(model, return_nodes=[nodes[-1]], tracer_kwargs=tk)
        assert torch.equal(list(fx(x).values())[0], ref)
        compiled = torch.compile(model)
        assert torch.allclose(compiled(x), ref, atol=1e-4)


# ---------------------------------------------------------------------------------------------- task

def _write_isic_like(root, layout, n=5, size=40):
    """A tiny tree in one of the public layouts, with synthetic images."""
    import cv2
    from vizattn.tasks.lesion_seg import synthetic_lesion
    rng = np.random.default_rng(0)
    for i in range(n):
        img, mask = synthetic_lesion(rng, size)
        if layout == 'isic2018':
            paths = (f'ISIC2018_Task1-2_Training_Input/ISIC_{i:07d}.jpg',
                     f'ISIC2018_Task1_Training_GroundTruth/ISIC_{i:07d}_segmentation.png')
        elif layout == 'isic2017':
            paths = (f'ISIC-2017_Training_Data/ISIC_{i:07d}.jpg',
                     f'ISIC-2017_Training_Part1_GroundTruth/ISIC_{i:07d}_segmentation.png',
                     f'ISIC-2017_Training_Data/ISIC_{i:07d}_superpixels.png')  # in the release, not images
        else:
            stem = f'IMD{i:03d}'
            paths = (f'PH2 Dataset images/{stem}/{stem}_Dermoscopic_Image/{stem}.bmp',
                     f'PH2 Dataset images/{stem}/{stem}_lesion/{stem}_lesion.bmp')
        for p, arr in zip(paths, (cv2.cvtColor(img, cv2.COLOR_RGB2BGR), mask * 255, img)):
            (root / p).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / p), arr)
    return str(root)


@pytest.mark.parametrize('layout', ['isic2018', 'isic2017', 'ph2'])
def test_lesion_dataset_layouts(layout, tmp_path):
    from vizattn.tasks.lesion_seg import LesionSegDataset
    root = _write_isic_like(tmp_path, layout)
    ds = LesionSegDataset(root, layout=layout, split='all')
    assert len(ds) == 5  # ISIC 2017's *_superpixels.png are not images of the set
    item = ds[0]
    assert item['inputs'].shape == (3, 40, 40) and item['inputs'].dtype == torch.uint8
    gt = item['data_samples']['gt']
    assert gt.shape == (1, 40, 40) and set(gt.unique().tolist()) <= {0.0, 1.0} and gt.sum() > 0
    part = LesionSegDataset(root, layout=layout, split='val', splits=dict(val=(3, 5)))
    assert [s for _, _, s in part.items] == [s for _, _, s in ds.items][3:]
    with pytest.raises(ValueError, match='starts at image'):
        LesionSegDataset(root, layout=layout, split='test')  # the official split starts past 5 images


def test_lesion_augmentation_moves_image_and_mask_together():
    pytest.importorskip('albumentations')
    from vizattn.tasks.lesion_seg import LesionAlbumentations, paper_augmentation
    img = np.zeros((32, 32, 3), np.uint8)
    img[:8, :4] = 255
    mask = (img[..., 0] > 0).astype(np.uint8)
    out = LesionAlbumentations([dict(type='HorizontalFlip', p=1.0), dict(type='Rotate', limit=(90, 90), p=1.0)])(
        dict(img=img, mask=mask))
    assert np.array_equal(out['img'][..., 0] > 127, out['mask'] > 0)
    aug = LesionAlbumentations(paper_augmentation(48), seed=0)
    out = aug(dict(img=img, mask=mask))
    assert out['img'].shape == (48, 48, 3) and out['mask'].shape == (48, 48)
    with pytest.raises(ValueError, match='no transform'):
        LesionAlbumentations([dict(type='NotATransform')])


def test_dice_bce_loss_and_scores():
    from vizattn.tasks.lesion_seg import DiceBCELoss, LesionSegMetric, binary_seg_counts, seg_scores
    target = torch.zeros(2, 1, 8, 8)
    target[:, :, 2:6, 2:6] = 1
    perfect = DiceBCELoss()(target * 40 - 20, target)
    assert perfect['loss_dice'] < 1e-6 and perfect['loss_bce'] < 1e-6
    worst = DiceBCELoss(smooth=0.)((1 - target) * 40 - 20, target)
    assert abs(worst['loss_dice'].item() - 1) < 1e-6
    pred = torch.zeros(8, 8, dtype=torch.bool)
    pred[2:6, 2:4] = True  # half the lesion, no false positive
    counts = binary_seg_counts(pred, target[0, 0] > 0)
    assert counts.tolist() == [8, 0, 48, 8]
    s = seg_scores(counts)
    assert s['dice'] == pytest.approx(2 * 8 / (2 * 8 + 8)) and s['iou'] == pytest.approx(0.5)
    assert s['sensitivity'] == pytest.approx(0.5) and s['specificity'] == 1.0 and s['accuracy'] == 56 / 64
    metric = LesionSegMetric()
    metric.process(None, [dict(pred=pred, gt=target[0, 0] > 0), dict(pred=target[0, 0] > 0, gt=target[0, 0] > 0)])
    pooled = metric.compute_metrics(metric.results)
    assert pooled['dice'] == pytest.approx(100 * 2 * 24 / (2 * 24 + 8), abs=1e-3)
    per_image = LesionSegMetric(average='images').compute_metrics(metric.results)
    assert per_image['dice'] == pytest.approx(100 * (2 / 3 + 1) / 2, abs=1e-3)


def test_synthetic_config_trains_and_evaluates(tmp_path):
    """The bundled-data config through mmengine's Runner (shortened: 2 iterations, 8 images, 32x32)."""
    pytest.importorskip('albumentations')
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(os.path.join(os.path.dirname(__file__), '..', 'configs', 'seg',
                                       'att_swin_unet_synthetic-lesions.py'))
    synthetic = dict(num_images=8, size=32, seed=0)
    splits = dict(train=(0, 6), val=(6, 8), test=(6, 8))
    cfg.merge_from_dict({
        'work_dir': str(tmp_path / 'work'), 'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2,
        'train_dataloader.batch_size': 2, 'val_dataloader.batch_size': 2,
        'train_dataloader.dataset.data_root': str(tmp_path / 'data'),
        'train_dataloader.dataset.synthetic': synthetic, 'train_dataloader.dataset.splits': splits,
        'val_dataloader.dataset.data_root': str(tmp_path / 'data'),
        'val_dataloader.dataset.synthetic': synthetic, 'val_dataloader.dataset.splits': splits,
        'model.model_kwargs.img_size': 32, 'default_hooks.checkpoint.interval': 2,
        'param_scheduler': [dict(type='ConstantLR', factor=1.0, by_epoch=False)]})
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert set(metrics) == {f'lesion/{k}' for k in ('dice', 'iou', 'accuracy', 'sensitivity', 'specificity')}
    assert all(0 <= v <= 100 for v in metrics.values())
