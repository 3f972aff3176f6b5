"""PredFormer: parity with the official models, OpenSTL checkpoints, paper params/FLOPs, roll-out, inputs."""
import os

import numpy as np
import pytest
import timm
import torch

import vizattn  # noqa: F401  (registers the models)
from tests.synthetic import fixed_input, synthetic_state_dict
from vizattn.models._checkpoint import CheckpointError
from vizattn.models.predformer import ARRANGEMENTS, PredFormer, sinusoidal_position_encoding
from vizattn.utils.flops import CUSTOM_FLOPS, count_params

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'predformer')
BAR = 1e-5
ORDER = ('full', 'facst', 'facts', 'ts', 'st', 'tst', 'sts', 'tsst', 'stts')
# The paper's tables (Params M, FLOPs G) per dataset, in ORDER.
PAPER = {
    'mmnist': ([25.3] * 9, [21.2, 16.5, 16.5, 16.5, 16.5, 16.4, 16.5, 16.5, 16.4]),
    'taxibj': ([8.4, 8.4, 8.4, 8.4, 8.4, 6.3, 6.3, 8.4, 8.4], [2.4, 2.2, 2.2, 2.2, 2.2, 1.6, 1.6, 2.2, 2.2]),
    'weather': ([5.3, 5.3, 5.3, 5.3, 5.3, 4.0, 4.0, 5.3, 5.3], [17.8, 8.5, 8.5, 8.6, 8.6, 6.3, 6.5, 8.6, 8.6]),
}
FAST_PARITY = ['predformer_tsst_mmnist', 'predformer_tsst_taxibj', 'predformer_facst_taxibj',
               'predformer_full_taxibj', 'predformer_facts_weather']
HEAVY_PARITY = [f'predformer_{v}_taxibj' for v in ('facts', 'st', 'ts', 'sts', 'tst', 'stts')]


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


def _save_openstl(path, sd):
    """As OpenSTL's BaseExperiment._save writes it ({'epoch', 'optimizer', 'state_dict', 'scheduler'})."""
    torch.save({'epoch': 2000, 'optimizer': {'state': {}, 'param_groups': [{'lr': 1e-3, 'params': [0, 1]}]},
                'state_dict': sd, 'scheduler': {'last_epoch': 2000, 'base_lrs': [1e-3]}}, path)
    return path


def _load(name, path, **kwargs):
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path), **kwargs).eval()


def _input(data):
    return fixed_input(data['input_shape'], data['input_seed']).sigmoid()  # frames in [0, 1], as generated


def _parity(name, tmp_path):
    data = _fixture(name)
    model = _load(name, _save_openstl(str(tmp_path / 'latest.pth'), _official_sd(data)))
    assert count_params(model) == data['params']
    x = _input(data)
    with torch.no_grad():
        if '_facst_' in name:
            # the official Fac-S-T reads its (b n t)-ordered tokens as (b t n) in the head (a bug we fix):
            # re-create that order to compare everything else
            tok = model.forward_features(x)
            B, T, N, D = tok.shape
            out = model.forward_head(tok.transpose(1, 2).reshape(B, T, N, D))
        else:
            out = model(x)
    ref = data['output']
    assert tuple(out.shape) == ref['shape']
    assert (out[..., ::4, ::4] - ref['sub']).abs().max().item() / ref['absmax'] <= BAR
    assert (out.mean(dim=(2, 3, 4)) - ref['mean']).abs().max().item() / ref['absmax'] <= BAR


@pytest.mark.parametrize('name', FAST_PARITY)
def test_parity_official(name, tmp_path):
    _parity(name, tmp_path)


@pytest.mark.heavy
@pytest.mark.parametrize('name', HEAVY_PARITY)
def test_parity_official_more(name, tmp_path):
    _parity(name, tmp_path)


def test_bare_state_dict_and_own_round_trip(tmp_path):
    """OpenSTL's best-model 'checkpoint.pth' is a bare state_dict; vizattn's own safetensors load too."""
    from safetensors.torch import save_file
    name = 'predformer_tst_taxibj'
    data = _fixture(name)
    sd = _official_sd(data)
    path = str(tmp_path / 'checkpoint.pth')
    torch.save(sd, path)
    model = _load(name, path)
    assert torch.equal(model.layers[1].transformers[2].blocks[0].mlp.fc1_g.weight,
                       sd['blocks.1.temporal_transformer_second.layers.0.1.fn.fc1_g.weight'])
    own = str(tmp_path / 'model.safetensors')
    save_file(model.state_dict(), own)
    again = _load(name, own)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))


def test_wrong_variant_raises(tmp_path):
    path = _save_openstl(str(tmp_path / 'latest.pth'), _official_sd(_fixture('predformer_tst_taxibj')))
    with pytest.raises(CheckpointError, match=r'missing \d+ keys: layers\.0\.transformers\.0\.blocks'):
        _load('predformer_sts_taxibj', path)  # other transformer names
    with pytest.raises(CheckpointError, match=r'missing \d+ keys: layers\.2\.'):
        _load('predformer_tst_taxibj', path, num_layers=3)  # the configs' Ndepth=3 for the Triplets
    with pytest.raises(CheckpointError, match=r'shape mismatches: head\.fc\.bias \(32,\) vs model \(16,\)'):
        _load('predformer_tst_weather', path)  # 2 channels vs 1, SwiGLU 1024 vs 512
    torch.save({'state_dict': {'conv.weight': torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match='unexpected 1 keys: conv.weight'):
        _load('predformer_tsst_taxibj', path)


def test_truncated_file_raises(tmp_path):
    path = _save_openstl(str(tmp_path / 'latest.pth'), _official_sd(_fixture('predformer_sts_taxibj')))
    with open(path, 'rb') as f:
        head = f.read(4096)
    with open(path, 'wb') as f:
        f.write(head)
    with pytest.raises(CheckpointError, match='truncated'):
        _load('predformer_sts_taxibj', path)


# ---------------------------------------------------------------------------------------------- sizes

def _meta(name, **kwargs):
    with torch.device('meta'):
        return timm.create_model(name, **kwargs).eval()


@pytest.mark.parametrize('dataset', list(PAPER))
def test_params_and_flops_match_paper(dataset):
    from torch.utils.flop_counter import FlopCounterMode
    params, flops = PAPER[dataset]
    for variant, p, g in zip(ORDER, params, flops):
        model = _meta(f'predformer_{variant}_{dataset}')
        assert abs(count_params(model) / 1e6 - p) <= 0.05, variant
        with torch.device('meta'), FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS) as counter:
            model(torch.empty(1, *model.pretrained_cfg['input_size']))
        assert abs(counter.get_total_flops() / 2e9 - g) <= 0.1, variant


def test_registered_presets():
    names = timm.list_models('predformer_*')
    assert len(names) == 27 and set(names) == {f'predformer_{v}_{d}' for v in ARRANGEMENTS for d in PAPER}
    m = _meta('predformer_tsst_mmnist')
    assert [t.axis for t in m.layers[0].transformers] == ['t', 's', 's', 't'] and len(m.layers) == 6
    assert len(_meta('predformer_full_mmnist').layers[0].transformers[0].blocks) == 24
    assert [len(t.blocks) for t in _meta('predformer_facts_weather').layers[0].transformers] == [4, 4]
    assert len(_meta('predformer_sts_taxibj').layers) == 2  # the paper's 6.3M row
    cfg = timm.models.get_pretrained_cfg('predformer_tsst_weather')
    assert cfg.input_size == (12, 32, 64) and not cfg.has_weights


def test_position_encoding_matches_the_official_formula():
    n, dim = 640, 256
    pe = sinusoidal_position_encoding(n, dim)
    ref = torch.FloatTensor([[p / (10000 ** (2 * (i // 2) / dim)) for i in range(dim)] for p in range(0, n, 37)])
    ref[:, 0::2] = torch.sin(ref[:, 0::2])
    ref[:, 1::2] = torch.cos(ref[:, 1::2])
    assert torch.equal(pe[::37], ref)
    m = _meta('predformer_tsst_taxibj')
    assert 'pos_embed' not in m.state_dict() and m.pos_embed.shape == (1, 4, 64, 256)


def _tiny(**kwargs):
    torch.manual_seed(0)
    args = dict(arrangement='tsst', img_size=(16, 24), patch_size=4, num_frames=3, in_chans=2, dim=32,
                num_heads=2, head_dim=16, num_layers=2)
    args.update(kwargs)
    return PredFormer(**args).eval()


@pytest.mark.parametrize('arrangement', list(ARRANGEMENTS))
def test_every_arrangement_runs_and_trains(arrangement):
    model = _tiny(arrangement=arrangement, drop_path_rate=0.1, proj_drop_rate=0.1, attn_drop_rate=0.1).train()
    out = model(torch.rand(2, 3, 2, 16, 24))
    assert out.shape == (2, 3, 2, 16, 24)
    out.mean().backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]


def test_rollout_and_truncation():
    model = _tiny()
    x = torch.rand(2, 3, 2, 16, 24)
    with torch.no_grad():
        one = model(x)
        long = model.predict(x, 7)  # 3 + 3 + 1 frames, each step fed the previous prediction
        assert long.shape == (2, 7, 2, 16, 24)
        step2 = model(one)
        assert torch.equal(long[:, :3], one) and torch.allclose(long[:, 3:6], step2)
        assert torch.allclose(long[:, 6:], model(step2)[:, :1])
        assert torch.equal(model.predict(x, 2), one[:, :2])
        assert model.num_frames_out == 3
        ar = _tiny(num_frames_out=7)
        assert torch.equal(ar(x), long)


def test_input_layouts_sizes_and_errors():
    model = _tiny()
    x = torch.rand(2, 3, 2, 16, 24)
    with torch.no_grad():
        ref = model(x)
        stacked = model(x.flatten(1, 2))
        assert stacked.shape == (2, 6, 16, 24) and torch.equal(stacked.view_as(ref), ref)
        assert torch.allclose(model(x[:1]), ref[:1], atol=1e-6)  # batch 1
        odd = model(torch.rand(1, 3, 2, 13, 30))  # padded to the patch multiple, cropped back
        assert odd.shape == (1, 3, 2, 13, 30) and torch.isfinite(odd).all()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            bf = model(x)
        assert (bf.float() - ref).abs().max() / ref.abs().max() < 0.05
    with pytest.raises(ValueError, match='expected 3 input frames, got 4'):
        model(torch.rand(1, 4, 2, 16, 24))
    with pytest.raises(ValueError, match='expected 2 channels per frame, got 1'):
        model(torch.rand(1, 3, 1, 16, 24))
    with pytest.raises(ValueError, match='stacked channels'):
        model(torch.rand(1, 5, 16, 24))
    with pytest.raises(ValueError, match='video batch'):
        model(torch.rand(3, 16, 24))
    with pytest.raises(ValueError, match='unknown PredFormer arrangement'):
        PredFormer(arrangement='tsts')
    with pytest.raises(ValueError, match='forward_intermediates'):
        timm.create_model('predformer_tsst_taxibj', features_only=True)
    with pytest.raises(TypeError):
        timm.create_model('predformer_tsst_taxibj', not_a_model_arg=1)


def test_intermediates_and_grad_checkpointing():
    model = _tiny()
    x = torch.rand(1, 3, 2, 16, 24)
    with torch.no_grad():
        final, inter = model.forward_intermediates(x)
        assert torch.equal(final, model.forward_features(x))
        assert [tuple(t.shape) for t in inter] == [(1, 3, 32, 4, 6)] * 2
        only = model.forward_intermediates(x, indices=[0], intermediates_only=True, stop_early=True)
        assert torch.equal(only[0], inter[0])
        ref = model(x)
        model.set_grad_checkpointing(True)
        assert torch.allclose(model(x), ref, atol=1e-6)
    m = _meta('predformer_tsst_mmnist', device='meta', dtype=torch.float32)
    assert all(t.device.type == 'meta' for t in [*m.parameters(), *m.buffers()])
    from timm.models._manipulate import group_parameters
    assert len(set(group_parameters(m, m.group_matcher(), reverse=True).values())) > 1


@pytest.mark.heavy
def test_torchscript_fx_compile():
    from timm.models import get_notrace_functions, get_notrace_modules
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names
    model = _tiny()
    x = torch.rand(1, 6, 16, 24)
    with torch.no_grad():
        ref = model(x)
        assert torch.allclose(torch.jit.script(model)(x), ref, atol=1e-6)
        tk = dict(leaf_modules=get_notrace_modules(), autowrap_functions=get_notrace_functions())
        _, nodes = get_graph_node_names(model, tracer_kwargs=tk)
        fx = create_feature_extractor(model, return_nodes=[nodes[-1]], tracer_kwargs=tk)
        assert torch.equal(list(fx(x).values())[0], ref)
        assert torch.allclose(torch.compile(model)(x), ref, atol=1e-5)


# ---------------------------------------------------------------------------------------------- task

def test_glyph_digits_and_moving_mnist_generator(tmp_path):
    from vizattn.tasks.video_pred import glyph_digits, load_mnist_digits, moving_mnist_sequences, write_moving_mnist
    digits = glyph_digits(20, seed=0)
    assert digits.shape == (20, 28, 28) and digits.dtype == np.uint8
    assert all(d.max() > 200 for d in digits) and digits[:, :3].max() == 0  # centred in a 20x20 box, like MNIST
    seqs = moving_mnist_sequences(digits, 3, seq_len=20, size=64, num_digits=2, seed=0)
    assert seqs.shape == (20, 3, 64, 64) and seqs.dtype == np.uint8
    assert np.array_equal(seqs, moving_mnist_sequences(digits, 3, seq_len=20, size=64, num_digits=2, seed=0))
    assert (np.abs(np.diff(seqs.astype(int), axis=0)).sum() > 0)  # the digits move
    path = write_moving_mnist(str(tmp_path / 'moving_mnist' / 'mnist_test_seq.npy'), num=4, seed=1)
    assert np.load(path).shape == (20, 4, 64, 64)
    # an MNIST idx3 file (as OpenSTL reads train-images-idx3-ubyte.gz)
    import gzip
    idx = str(tmp_path / 'train-images-idx3-ubyte.gz')
    with gzip.open(idx, 'wb') as f:
        f.write(bytes(16) + digits[:5].tobytes())
    assert np.array_equal(load_mnist_digits(idx), digits[:5])


def test_moving_mnist_dataset(tmp_path):
    from vizattn.tasks.video_pred import MovingMNISTDataset
    test = MovingMNISTDataset(str(tmp_path), split='test', generate_test=dict(num=6, seed=1))
    item = test[2]
    assert item['inputs'].shape == (10, 1, 64, 64) and item['data_samples']['target'].shape == (10, 1, 64, 64)
    raw = np.load(str(tmp_path / 'moving_mnist' / 'mnist_test_seq.npy'))
    assert torch.equal(item['data_samples']['target'][3, 0], torch.from_numpy(raw[13, 2] / 255.).float())
    train = MovingMNISTDataset(str(tmp_path), split='train', length=5, digits='glyphs', seed=3, num_frames_in=4,
                               num_frames_out=2, image_size=32, digit_size=14, num_digits=1)
    a, b = train[1], train[1]
    assert a['inputs'].shape == (4, 1, 32, 32) and torch.equal(a['inputs'], b['inputs'])  # seeded per index
    assert 0 <= a['inputs'].min() and a['inputs'].max() <= 1 and len(train) == 5
    with pytest.raises(FileNotFoundError, match='generate_test'):
        MovingMNISTDataset(str(tmp_path / 'none'), split='test')


def test_taxibj_npz_and_h5(tmp_path):
    from vizattn.tasks.video_pred import TaxiBJDataset
    rng = np.random.default_rng(0)
    arrays = {k: rng.uniform(-1, 1, (n, 4, 2, 32, 32)).astype(np.float32)
              for k, n in (('X_train', 6), ('Y_train', 6), ('X_test', 3), ('Y_test', 3))}
    (tmp_path / 'taxibj').mkdir()
    np.savez(str(tmp_path / 'taxibj' / 'dataset.npz'), **arrays)
    ds = TaxiBJDataset(str(tmp_path), split='test')
    assert len(ds) == 3 and torch.allclose(ds[1]['inputs'], torch.from_numpy((arrays['X_test'][1] + 1) / 2))
    with pytest.raises(ValueError, match='frames'):
        TaxiBJDataset(str(tmp_path), num_frames_in=2)
    h5py = pytest.importorskip('h5py')
    files = []
    for i, n in enumerate((30, 40)):
        name = f'BJ1{3 + i}_M32x32_T30_InOut.h5'
        with h5py.File(str(tmp_path / name), 'w') as f:
            f['data'] = rng.uniform(0, 500, (n, 2, 32, 32)).astype(np.float32)
        files.append(name)
    train = TaxiBJDataset(str(tmp_path), 'train', file=files, test_frames=16)
    test = TaxiBJDataset(str(tmp_path), 'test', file=files, test_frames=16)
    assert len(train) == (30 - 7) + (24 - 7) and len(test) == 16 - 7
    assert 0 <= train[0]['inputs'].min() and train[0]['inputs'].max() <= 1


def _write_weather(root, years, fmt, hours=40):
    """Tiny WeatherBench-like files (t2m, 32x64, hourly) in NetCDF3 (scipy) or NetCDF4/HDF5 (h5py)."""
    folder = root / '2m_temperature'
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = {}
    for y in years:
        start = (np.datetime64(f'{y}-01-01T00') - np.datetime64('1979-01-01T00')).astype('timedelta64[h]').astype(int)
        t = np.arange(start, start + hours, dtype=np.int64)
        v = (280 + 10 * rng.standard_normal((hours, 32, 64))).astype(np.float32)
        out[y] = v
        path = str(folder / f'2m_temperature_{y}_5.625deg.nc')
        if fmt == 'nc3':
            from scipy.io import netcdf_file
            with netcdf_file(path, 'w') as f:
                f.createDimension('time', hours)
                f.createDimension('lat', 32)
                f.createDimension('lon', 64)
                tv = f.createVariable('time', 'i4', ('time',))
                tv[:] = t
                tv.units = b'hours since 1979-01-01'
                f.createVariable('t2m', 'f4', ('time', 'lat', 'lon'))[:] = v
        else:
            import h5py
            with h5py.File(path, 'w') as f:
                f['time'] = t
                f['time'].attrs['units'] = 'hours since 1979-01-01 00:00:00'
                f['t2m'] = v
    return out


@pytest.mark.parametrize('fmt', ['nc3', 'nc4'])
def test_weatherbench_dataset(fmt, tmp_path):
    if fmt == 'nc4':
        pytest.importorskip('h5py')
    from vizattn.tasks.video_pred import WeatherBenchDataset
    values = _write_weather(tmp_path, ['2015', '2016', '2017'], fmt)
    train = WeatherBenchDataset(str(tmp_path), years=('2015', '2016'))
    full = np.concatenate([values['2015'], values['2016']])[:-1]  # OpenSTL drops the last time step
    assert train.mean == pytest.approx(full.mean(), rel=1e-6) and train.std == pytest.approx(full.std(), rel=1e-5)
    assert len(train) == len(full) - 11 - 12 - 1
    item = train[0]
    assert item['inputs'].shape == (12, 1, 32, 64) and item['data_samples']['target'].shape == (12, 1, 32, 64)
    ref = (full[11 + 1] - full.mean()) / full.std()
    assert torch.allclose(item['data_samples']['target'][0, 0], torch.from_numpy(ref).float(), atol=1e-4)
    test = WeatherBenchDataset(str(tmp_path), years=('2017', '2017'), norm_years=('2015', '2016'))
    assert test.mean == train.mean and len(test) == 40 - 1 - 23 - 1


def _openstl_metric(pred, true, spatial_norm=False):
    """OpenSTL's core/metrics.py MSE / MAE / PSNR formulas (numpy), for comparison."""
    norm = pred.shape[-1] * pred.shape[-2] * pred.shape[-3] if spatial_norm else 1
    mse = np.mean((pred - true) ** 2 / norm, axis=(0, 1)).sum()
    mae = np.mean(np.abs(pred - true) / norm, axis=(0, 1)).sum()
    clipped = np.clip(pred, 0, 1)
    psnr = np.mean([[20. * np.log10(1. / np.sqrt(np.mean((clipped[b, f] - true[b, f]) ** 2)))
                     for f in range(pred.shape[1])] for b in range(pred.shape[0])])
    return mse, mae, psnr


def _ssim_reference(a, b, data_range=2.0):
    """scikit-image's structural_similarity (0.19 defaults) written with scipy, for one (C, H, W) frame."""
    from scipy.ndimage import uniform_filter
    vals = []
    for x, y in zip(a.astype(np.float64), b.astype(np.float64)):
        f = lambda z: uniform_filter(z, size=7)  # noqa: E731
        ux, uy, uxx, uyy, uxy = f(x), f(y), f(x * x), f(y * y), f(x * y)
        c = 49 / 48
        vx, vy, vxy = c * (uxx - ux * ux), c * (uyy - uy * uy), c * (uxy - ux * uy)
        c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
        vals.append(s[3:-3, 3:-3].mean())
    return float(np.mean(vals))


def test_video_metrics_match_openstl():
    from vizattn.tasks.video_pred import VideoPredMetric, ssim_openstl
    rng = np.random.default_rng(0)
    true = rng.random((3, 4, 2, 16, 20)).astype(np.float32)
    pred = (true + 0.1 * rng.standard_normal(true.shape)).astype(np.float32)
    metric = VideoPredMetric(metric_list=['mse', 'mae', 'rmse', 'ssim', 'psnr'])
    metric.process(None, [dict(pred=torch.from_numpy(p), target=torch.from_numpy(t),
                               last_input=torch.from_numpy(t[0])) for p, t in zip(pred, true)])
    res = metric.compute_metrics(metric.results)
    mse, mae, psnr = _openstl_metric(pred, true)
    assert res['mse'] == pytest.approx(mse, rel=1e-6) and res['mae'] == pytest.approx(mae, rel=1e-6)
    assert res['rmse'] == pytest.approx(np.sqrt(mse), rel=1e-6) and res['psnr'] == pytest.approx(psnr, rel=1e-6)
    ssim = np.mean([_ssim_reference(np.clip(pred[b, f], 0, 1), true[b, f]) for b in range(3) for f in range(4)])
    assert res['ssim'] == pytest.approx(ssim, abs=1e-6)
    copy_last = np.mean(((np.repeat(true[:, :1], 4, 1) - true) ** 2).sum(axis=(2, 3, 4)))
    assert res['copy_last_mse'] == pytest.approx(copy_last, rel=1e-6)
    try:  # scikit-image itself where it is installed
        from skimage.metrics import structural_similarity
        ref = structural_similarity(np.clip(pred[0, 0], 0, 1).transpose(2, 1, 0), true[0, 0].transpose(2, 1, 0),
                                    channel_axis=-1, data_range=2.0)
        assert ssim_openstl(torch.from_numpy(np.clip(pred[0, 0], 0, 1)), torch.from_numpy(true[0, 0])).item() == \
            pytest.approx(ref, abs=1e-5)
    except ImportError:
        pass
    # WeatherBench style: de-standardised, per pixel
    wb = VideoPredMetric(metric_list=['mse', 'mae', 'rmse'], mean=280., std=10., spatial_norm=True, baseline=False)
    wb.process(None, [dict(pred=torch.from_numpy(p), target=torch.from_numpy(t)) for p, t in zip(pred, true)])
    res = wb.compute_metrics(wb.results)
    mse, mae, _ = _openstl_metric(pred * 10 + 280, true * 10 + 280, spatial_norm=True)
    assert res['mse'] == pytest.approx(mse, rel=1e-5) and res['rmse'] == pytest.approx(np.sqrt(mse), rel=1e-5)
    with pytest.raises(ValueError, match='unsupported'):
        VideoPredMetric(metric_list=['lpips'])


def _tiny_cfg(tmp_path, iters=2):
    from mmengine.config import Config
    cfg = Config.fromfile(os.path.join(os.path.dirname(__file__), '..', 'configs', 'pred',
                                       'predformer_tiny_generated-mmnist.py'))
    cfg.merge_from_dict({
        'work_dir': str(tmp_path / 'work'), 'train_dataloader.dataset.data_root': str(tmp_path / 'data'),
        'val_dataloader.dataset.data_root': str(tmp_path / 'data'),
        'test_dataloader.dataset.data_root': str(tmp_path / 'data')})
    if iters:
        cfg.merge_from_dict({'train_cfg.max_iters': iters, 'train_cfg.val_interval': iters,
                             'default_hooks.checkpoint.interval': iters,
                             'val_dataloader.dataset.generate_test': dict(num=8, seed=1),
                             'param_scheduler': [dict(type='ConstantLR', factor=1.0, by_epoch=False)]})
    return cfg


def test_tiny_config_runs(tmp_path):
    from mmengine.runner import Runner
    runner = Runner.from_cfg(_tiny_cfg(tmp_path))
    runner.train()
    metrics = runner.val_loop.run()
    assert {'pred/mse', 'pred/mae', 'pred/ssim', 'pred/psnr', 'pred/copy_last_mse'} <= set(metrics)


@pytest.mark.heavy
def test_tiny_config_beats_copy_last_frame(tmp_path):
    """The full demo (a few minutes on CPU): the trained model beats copying the last input frame."""
    from mmengine.runner import Runner
    runner = Runner.from_cfg(_tiny_cfg(tmp_path, iters=0))
    runner.train()
    metrics = runner.test()
    assert metrics['pred/mse'] < 0.7 * metrics['pred/copy_last_mse']  # measured 19.3 vs 38.1 at 500 iterations
