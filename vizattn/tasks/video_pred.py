"""Spatio-temporal prediction for PredFormer: datasets, a Moving MNIST generator, OpenSTL's metrics, mmengine model.

Registered with mmengine's root registries when imported (``custom_imports=dict(imports=['vizattn',
'vizattn.tasks.video_pred'])``): ``MovingMNISTDataset``, ``TaxiBJDataset``, ``WeatherBenchDataset``,
``VideoPredictor`` (MODELS) and ``VideoPredMetric``.

Formats (as OpenSTL reads them; items are ``dict(inputs=(T_in, C, H, W), data_samples=dict(target=(T_out, C, H,
W)))`` float tensors):

- Moving MNIST: training sequences generated on the fly (OpenSTL's trajectories: step 0.1, bouncing, digits
  max-composited on a 64x64 canvas) from MNIST digits (``train-images-idx3-ubyte[.gz]``) or, with no download,
  from digit glyphs drawn with OpenCV's Hershey fonts (``glyph_digits``); the test set is
  ``mnist_test_seq.npy`` ((20, N, 64, 64) uint8, Srivastava et al.) or a fixed generated one in that format
  (``write_moving_mnist``). Frames are /255.
- TaxiBJ: OpenSTL's ``taxibj/dataset.npz`` (``X_train``, ``Y_train``, ``X_test``, ``Y_test``, (N, 4, 2, 32,
  32) in [-1, 1], mapped to [0, 1]); or the original ``BJ{13..16}_M32x32_T30_InOut.h5`` files (needs h5py):
  their ``data`` (N, 2, 32, 32) flows are min-max scaled to [0, 1] over all files, cut into 4 + 4 windows
  within each file, the last 28 days (1344 half-hours) held out as the test set.
- WeatherBench (5.625 deg): ``{data_root}/{variable}/{variable}_{year}_5.625deg.nc`` files (one variable, e.g.
  ``2m_temperature`` / ``t2m``), read with xarray if installed, else h5py (NetCDF4 files are HDF5), else scipy
  (NetCDF3); the years are selected from the ``time`` coordinate, the last time step is dropped as OpenSTL does,
  values are standardised with the training years' mean and std, and inputs/targets are 12 + 12 hourly frames.

Metrics (``VideoPredMetric``) are OpenSTL's: MSE and MAE per frame summed over C x H x W (divided by C x H x W
with ``spatial_norm``, as for WeatherBench, after de-standardising), RMSE = sqrt(MSE), and on predictions
clipped to [0, 1] the per-frame SSIM (scikit-image's structural_similarity as OpenSTL's pinned version computes it
for float frames: 7x7 uniform window, data_range 2) and PSNR (20 log10(1 / RMSE_frame)), averaged over frames.
The copy-last-frame baseline's MSE/MAE are reported beside them.
"""
import glob
import gzip
import os
import os.path as osp
import re
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS

__all__ = ['glyph_digits', 'load_mnist_digits', 'moving_mnist_sequences', 'write_moving_mnist',
           'MovingMNISTDataset', 'TaxiBJDataset', 'WeatherBenchDataset', 'VideoPredictor', 'VideoPredMetric',
           'ssim_openstl', 'video_metrics']


# ---------------------------------------------------------------------------------------------------------
# Moving MNIST

def glyph_digits(num: int = 1000, size: int = 28, seed: int = 0) -> np.ndarray:
    """(num, size, size) uint8 digit images drawn with OpenCV's Hershey fonts: random font, stroke width,
    scale, rotation, shear and blur, centred like MNIST (no download needed)."""
    import cv2
    rng = np.random.default_rng(seed)
    fonts = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
             cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX, cv2.FONT_HERSHEY_PLAIN]
    big = 4 * size
    out = np.zeros((num, size, size), np.uint8)
    for i in range(num):
        canvas = np.zeros((big, big), np.uint8)
        font = fonts[rng.integers(len(fonts))]
        scale = rng.uniform(2.6, 3.6) * (1.6 if font == cv2.FONT_HERSHEY_PLAIN else 1.0)
        thick = int(rng.integers(6, 13))
        text = str(int(rng.integers(10)))
        (w, h), _ = cv2.getTextSize(text, font, scale, thick)
        cv2.putText(canvas, text, ((big - w) // 2, (big + h) // 2), font, scale, 255, thick, cv2.LINE_AA)
        m = cv2.getRotationMatrix2D((big / 2, big / 2), rng.uniform(-15, 15), 1.0)
        m[0, 1] += rng.uniform(-0.25, 0.25)
        canvas = cv2.warpAffine(canvas, m, (big, big))
        ys, xs = np.nonzero(canvas > 20)
        if len(ys) == 0:
            continue
        crop = canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        s = 20.0 / max(crop.shape)  # MNIST: the digit fits a 20x20 box centred in 28x28
        crop = cv2.resize(crop, (max(1, int(crop.shape[1] * s)), max(1, int(crop.shape[0] * s))),
                          interpolation=cv2.INTER_AREA)
        y0, x0 = (size - crop.shape[0]) // 2, (size - crop.shape[1]) // 2
        out[i, y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = crop
    return out


def load_mnist_digits(path: str) -> np.ndarray:
    """MNIST ``train-images-idx3-ubyte`` (optionally .gz) as (N, 28, 28) uint8, as OpenSTL reads it."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = np.frombuffer(f.read(), np.uint8, offset=16)
    return data.reshape(-1, 28, 28)


def _trajectory(rng: np.random.Generator, seq_len: int, canvas: int, step: float = 0.1) -> Tuple[np.ndarray, ...]:
    """OpenSTL's random bouncing trajectory (top-left corners on a canvas of ``canvas`` free pixels)."""
    x, y = rng.random(), rng.random()
    theta = rng.random() * 2 * np.pi
    vy, vx = np.sin(theta), np.cos(theta)
    ys, xs = np.zeros(seq_len), np.zeros(seq_len)
    by = bx = 1
    for i in range(seq_len):
        y += by * vy * step
        x += bx * vx * step
        if x <= 0:
            x, bx = 0, -bx
        if x >= 1.0:
            x, bx = 1.0, -bx
        if y <= 0:
            y, by = 0, -by
        if y >= 1.0:
            y, by = 1.0, -by
        ys[i], xs[i] = y, x
    return (canvas * ys).astype(np.int32), (canvas * xs).astype(np.int32)


def moving_mnist_sequences(digits: np.ndarray, num: int, seq_len: int = 20, size: int = 64, num_digits: int = 2,
                           seed: int = 0) -> np.ndarray:
    """(seq_len, num, size, size) uint8 sequences (the ``mnist_test_seq.npy`` layout)."""
    rng = np.random.default_rng(seed)
    d = digits.shape[-1]
    out = np.zeros((seq_len, num, size, size), np.uint8)
    for n in range(num):
        for _ in range(num_digits):
            ty, tx = _trajectory(rng, seq_len, size - d)
            digit = digits[rng.integers(len(digits))]
            for t in range(seq_len):
                win = out[t, n, ty[t]:ty[t] + d, tx[t]:tx[t] + d]
                np.maximum(win, digit, out=win)
    return out


def _resize_digits(digits: np.ndarray, size: int) -> np.ndarray:
    import cv2
    if digits.shape[-1] == size:
        return digits
    return np.stack([cv2.resize(g, (size, size), interpolation=cv2.INTER_AREA) for g in digits])


def write_moving_mnist(path: str, num: int = 1000, seq_len: int = 20, size: int = 64, num_digits: int = 2,
                       digit_size: int = 28, seed: int = 1) -> str:
    """Write a fixed generated test set in the ``mnist_test_seq.npy`` format (glyph digits), once."""
    if not osp.exists(path):
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        digits = _resize_digits(glyph_digits(max(200, num // 5), seed=seed + 1000), digit_size)
        seqs = moving_mnist_sequences(digits, num, seq_len, size, num_digits, seed)
        tmp = path + '.tmp.npy'
        np.save(tmp, seqs)
        os.replace(tmp, path)
    return path


@DATASETS.register_module()
class MovingMNISTDataset(torch.utils.data.Dataset):
    """Moving MNIST, OpenSTL style.

    Args:
        data_root: folder holding ``moving_mnist/`` (``mnist_test_seq.npy``, ``train-images-idx3-ubyte.gz``).
        split: 'train' (generated on the fly, ``length`` items) or 'test' (the fixed ``test_file``).
        digits: 'mnist' (``mnist_file``) or 'glyphs' (drawn, no download; also used when 'auto' finds no file).
        test_file: the test npy, relative to data_root; ``generate_test=dict(num=..)`` writes a glyph one if absent.
        image_size, digit_size, num_digits, num_frames_in, num_frames_out: the sequence recipe.
        seed: with a seed, training items are deterministic per index (reproducible runs); None: random.
    """

    def __init__(self, data_root: str = 'data', split: str = 'train', num_frames_in: int = 10,
                 num_frames_out: int = 10, image_size: int = 64, digit_size: int = 28, num_digits: int = 2,
                 length: int = 10000, digits: str = 'auto',
                 mnist_file: str = 'moving_mnist/train-images-idx3-ubyte.gz',
                 test_file: str = 'moving_mnist/mnist_test_seq.npy', generate_test: Optional[dict] = None,
                 seed: Optional[int] = None):
        super().__init__()
        self.split = split
        self.t_in, self.t_out = num_frames_in, num_frames_out
        self.image_size, self.num_digits = image_size, num_digits
        self.seed = seed
        self.mean, self.std = 0., 1.
        total = num_frames_in + num_frames_out
        if split == 'test':
            path = osp.join(data_root, test_file)
            if generate_test is not None:
                write_moving_mnist(path, seq_len=total, size=image_size, num_digits=num_digits,
                                   digit_size=digit_size, **generate_test)
            if not osp.exists(path):
                raise FileNotFoundError(f'Moving MNIST test set not found: {path} (download mnist_test_seq.npy or '
                                        f'pass generate_test=dict(num=...))')
            self.data = np.load(path, mmap_mode='r')  # (T, N, H, W)
            if self.data.ndim != 4 or self.data.shape[0] < total:
                raise ValueError(f'{path}: expected (>= {total}, N, H, W) uint8 sequences, got {self.data.shape}')
            self.length = self.data.shape[1]
        elif split == 'train':
            mnist = osp.join(data_root, mnist_file)
            if digits == 'mnist' or (digits == 'auto' and osp.exists(mnist)):
                glyphs = load_mnist_digits(mnist)
            else:
                glyphs = glyph_digits(2000, seed=0 if seed is None else seed)
            self.digits = _resize_digits(glyphs, digit_size)
            self.length = length
        else:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, idx: int) -> dict:
        total = self.t_in + self.t_out
        if self.split == 'test':
            seq = np.asarray(self.data[:total, idx])
        else:
            seed = None if self.seed is None else self.seed * 1_000_003 + idx
            rng_seed = seed if seed is not None else int(np.random.randint(1 << 31))
            seq = moving_mnist_sequences(self.digits, 1, total, self.image_size, self.num_digits, rng_seed)[:, 0]
        seq = torch.from_numpy(seq.astype(np.float32) / 255.).unsqueeze(1)  # T, 1, H, W
        return dict(inputs=seq[:self.t_in], data_samples=dict(target=seq[self.t_in:total]))


# ---------------------------------------------------------------------------------------------------------
# TaxiBJ

def _require_h5py():
    try:
        import h5py
    except ImportError as e:
        raise ImportError('reading .h5 / NetCDF4 files needs h5py (pip install h5py)') from e
    return h5py


@DATASETS.register_module()
class TaxiBJDataset(torch.utils.data.Dataset):
    """TaxiBJ crowd flows (2 channels, 32x32), 4 -> 4 half-hours.

    ``file`` is OpenSTL's ``taxibj/dataset.npz`` (default) or a list of the original ``BJ*_M32x32_T30_InOut.h5``
    files (relative to data_root).
    """

    def __init__(self, data_root: str = 'data', split: str = 'train', file='taxibj/dataset.npz',
                 num_frames_in: int = 4, num_frames_out: int = 4, test_frames: int = 28 * 48):
        super().__init__()
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.mean, self.std = 0., 1.
        files = [file] if isinstance(file, str) else list(file)
        paths = [osp.join(data_root, f) for f in files]
        for p in paths:
            if not osp.exists(p):
                raise FileNotFoundError(f'TaxiBJ file not found: {p}')
        if len(paths) == 1 and paths[0].endswith('.npz'):
            d = np.load(paths[0])
            key = 'train' if split == 'train' else 'test'
            x, y = d[f'X_{key}'], d[f'Y_{key}']
            if x.shape[1] != num_frames_in or y.shape[1] != num_frames_out:
                raise ValueError(f'{paths[0]} holds {x.shape[1]} -> {y.shape[1]} frames, asked for '
                                 f'{num_frames_in} -> {num_frames_out}')
            self.x, self.y = (x.astype(np.float32) + 1) / 2, (y.astype(np.float32) + 1) / 2
        else:
            h5py = _require_h5py()
            flows = []
            for p in paths:
                with h5py.File(p, 'r') as f:
                    flows.append(np.asarray(f['data'], np.float32))
            lo = min(a.min() for a in flows)
            hi = max(a.max() for a in flows)
            total = num_frames_in + num_frames_out
            xs, ys = [], []
            for i, a in enumerate(flows):
                a = (a - lo) / (hi - lo)
                last = i == len(flows) - 1
                if split == 'test' and not last:
                    continue  # the test set is the end of the last file
                start, stop = (max(len(a) - test_frames, 0), len(a)) if split == 'test' else \
                    (0, len(a) - test_frames if last else len(a))
                for s in range(start, stop - total + 1):
                    xs.append(a[s:s + num_frames_in])
                    ys.append(a[s + num_frames_in:s + total])
            if not xs:
                raise ValueError('TaxiBJ h5 files hold no complete sequence for this split')
            self.x, self.y = np.stack(xs), np.stack(ys)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: int) -> dict:
        return dict(inputs=torch.from_numpy(np.ascontiguousarray(self.x[idx])),
                    data_samples=dict(target=torch.from_numpy(np.ascontiguousarray(self.y[idx]))))


# ---------------------------------------------------------------------------------------------------------
# WeatherBench

_UNITS = re.compile(r'(\w+) since (\d{4}-\d{1,2}-\d{1,2})(?:[ T](\d{1,2}:\d{2}(?::\d{2})?))?')


def _decode_time(values: np.ndarray, units: str) -> np.ndarray:
    m = _UNITS.match(units.strip())
    if m is None:
        raise ValueError(f'cannot read the time units {units!r}')
    unit, date, clock = m.group(1).lower(), m.group(2), m.group(3) or '00:00:00'
    y, mo, d = (int(v) for v in date.split('-'))
    origin = np.datetime64(f'{y:04d}-{mo:02d}-{d:02d}T{clock if clock.count(":") == 2 else clock + ":00"}')
    scale = {'hours': 3600, 'minutes': 60, 'seconds': 1, 'days': 86400}[unit]
    return origin + (np.asarray(values, np.float64) * scale).astype('timedelta64[s]')


def _read_nc(path: str, name: str) -> Tuple[np.ndarray, np.ndarray]:
    """(values (T, lat, lon) float32, times datetime64) of variable ``name`` in a NetCDF file."""
    try:
        import xarray as xr
        with xr.open_dataset(path) as ds:
            return ds[name].values.astype(np.float32), ds['time'].values.astype('datetime64[s]')
    except ImportError:
        pass
    with open(path, 'rb') as f:
        magic = f.read(4)
    if magic[:3] == b'CDF':  # NetCDF3 classic / 64-bit offset
        from scipy.io import netcdf_file
        with netcdf_file(path, 'r', mmap=False) as f:
            var = f.variables[name]
            values = var[:].astype(np.float32)
            scale, offset = getattr(var, 'scale_factor', 1.0), getattr(var, 'add_offset', 0.0)
            t = f.variables['time']
            return values * scale + offset, _decode_time(t[:], t.units.decode() if isinstance(t.units, bytes)
                                                         else t.units)
    h5py = _require_h5py()  # NetCDF4 = HDF5
    with h5py.File(path, 'r') as f:
        var = f[name]
        values = np.asarray(var, np.float32)
        scale, offset = var.attrs.get('scale_factor', 1.0), var.attrs.get('add_offset', 0.0)
        units = f['time'].attrs['units']
        units = units.decode() if isinstance(units, bytes) else str(units)
        return values * scale + offset, _decode_time(np.asarray(f['time']), units)


@DATASETS.register_module()
class WeatherBenchDataset(torch.utils.data.Dataset):
    """One WeatherBench variable at 5.625 deg (32 x 64), as OpenSTL's ``WeatherBenchDataset`` serves it.

    Args:
        data_root: folder holding ``{variable}/{variable}_*.nc``.
        variable, short: the WeatherBench folder/file name and the NetCDF variable (2m_temperature, t2m).
        years: inclusive (first, last) years of this split; ``norm_years``: the training years whose mean and
            std standardise every split (default: ``years``).
        idx_in, idx_out: frame offsets of inputs and targets (OpenSTL: -11..0 and 1..12).
    """

    def __init__(self, data_root: str = 'data/weather', variable: str = '2m_temperature', short: str = 't2m',
                 years: Sequence[str] = ('2010', '2015'), norm_years: Optional[Sequence[str]] = None,
                 idx_in: Sequence[int] = tuple(range(-11, 1)), idx_out: Sequence[int] = tuple(range(1, 13)),
                 step: int = 1):
        super().__init__()
        self.idx_in, self.idx_out = np.asarray(idx_in), np.asarray(idx_out)
        data = self._load(data_root, variable, short, years, step)
        stats = data if norm_years is None or tuple(norm_years) == tuple(years) else \
            self._load(data_root, variable, short, norm_years, step)
        self.mean = float(stats.mean(dtype=np.float64))
        self.std = float(stats.std(dtype=np.float64))
        self.data = ((data - self.mean) / self.std).astype(np.float32)[:, None]  # T, 1, H, W
        self.valid = np.arange(-int(self.idx_in[0]), len(self.data) - int(self.idx_out[-1]) - 1)
        if len(self.valid) <= 0:
            raise ValueError(f'WeatherBench {years}: {len(self.data)} time steps are too few for the windows')

    @staticmethod
    def _load(root: str, variable: str, short: str, years: Sequence[str], step: int) -> np.ndarray:
        files = sorted(glob.glob(osp.join(root, variable, f'{variable}*.nc')))
        if not files:
            raise FileNotFoundError(f'no WeatherBench files {osp.join(root, variable, variable + "*.nc")}')
        first, last = int(years[0]), int(years[1])
        chunks, times = [], []
        for f in files:
            m = re.search(r'_(\d{4})_', osp.basename(f))
            if m and not first <= int(m.group(1)) <= last:
                continue  # yearly files: skip the others without reading them
            values, t = _read_nc(f, short)
            yr = t.astype('datetime64[Y]').astype(int) + 1970
            keep = (yr >= first) & (yr <= last)
            chunks.append(values[keep])
            times.append(t[keep])
        if not chunks:
            raise FileNotFoundError(f'no WeatherBench data for the years {first}-{last} in {root}/{variable}')
        order = np.argsort(np.concatenate(times), kind='stable')
        data = np.concatenate(chunks)[order]
        return data[:-1:step]  # OpenSTL: isel(time=slice(None, -1, step)) drops the last step

    def __len__(self) -> int:
        return len(self.valid)

    def __getitem__(self, idx: int) -> dict:
        i = self.valid[idx]
        return dict(inputs=torch.from_numpy(self.data[i + self.idx_in]),
                    data_samples=dict(target=torch.from_numpy(self.data[i + self.idx_out])))


# ---------------------------------------------------------------------------------------------------------
# Metrics

def _uniform_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """scipy.ndimage.uniform_filter (its default mode 'reflect': the edge sample repeated) over the last 2 dims."""
    pad = size // 2
    x = _symmetric_pad(x, pad, size - 1 - pad).unsqueeze(1)
    k = torch.full((1, 1, size, size), 1.0 / (size * size), dtype=x.dtype, device=x.device)
    return F.conv2d(x, k).squeeze(1)


def _symmetric_pad(x: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """numpy 'symmetric' padding (scipy's 'reflect': the edge sample repeated) of the last two dims."""
    def pad_dim(t, dim):
        n = t.shape[dim]
        idx = list(range(before - 1, -1, -1)) + list(range(n)) + list(range(n - 1, n - 1 - after, -1))
        idx = [min(max(i, 0), n - 1) for i in idx]
        return t.index_select(dim, torch.tensor(idx, device=t.device))
    return pad_dim(pad_dim(x, -2), -1)


def ssim_openstl(pred: torch.Tensor, true: torch.Tensor, data_range: float = 2.0, win_size: int = 7) -> torch.Tensor:
    """Per-frame SSIM of (..., C, H, W) frames, as scikit-image's structural_similarity (uniform window,
    sample covariance, mean over the valid interior, averaged over channels); (...) values.

    OpenSTL calls it on float frames without a data_range; its pinned scikit-image (<= 0.19.3) then takes the
    float dtype range (-1, 1), so data_range is 2.
    """
    x, y = pred.double(), true.double()
    lead = x.shape[:-2]
    x, y = x.reshape(-1, *x.shape[-2:]), y.reshape(-1, *y.shape[-2:])
    ux, uy = _uniform_filter(x, win_size), _uniform_filter(y, win_size)
    uxx, uyy, uxy = _uniform_filter(x * x, win_size), _uniform_filter(y * y, win_size), _uniform_filter(x * y, win_size)
    n = win_size * win_size
    cov = n / (n - 1)
    vx, vy, vxy = cov * (uxx - ux * ux), cov * (uyy - uy * uy), cov * (uxy - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    p = (win_size - 1) // 2
    s = s[:, p:s.shape[-2] - p, p:s.shape[-1] - p].mean(dim=(-2, -1))
    return s.reshape(lead).mean(-1)  # mean over channels


def video_metrics(pred: torch.Tensor, true: torch.Tensor, mean: float = 0., std: float = 1.,
                  spatial_norm: bool = False, clip_range: Tuple[float, float] = (0., 1.),
                  metrics: Sequence[str] = ('mse', 'mae', 'ssim', 'psnr')) -> Dict[str, torch.Tensor]:
    """Per-frame sums (B, T) of OpenSTL's metrics for (B, T, C, H, W) predictions; average them over frames."""
    pred = pred.double() * std + mean
    true = true.double() * std + mean
    norm = pred.shape[-1] * pred.shape[-2] * pred.shape[-3] if spatial_norm else 1
    out = {}
    err = pred - true
    if 'mse' in metrics or 'rmse' in metrics:
        out['mse'] = (err ** 2).sum(dim=(-3, -2, -1)) / norm
    if 'mae' in metrics:
        out['mae'] = err.abs().sum(dim=(-3, -2, -1)) / norm
    clipped = pred.clamp(*clip_range)
    if 'ssim' in metrics:
        out['ssim'] = ssim_openstl(clipped, true)
    if 'psnr' in metrics:
        mse = ((clipped - true) ** 2).mean(dim=(-3, -2, -1))
        out['psnr'] = 20 * torch.log10(1 / mse.sqrt())
    return out


@METRICS.register_module()
class VideoPredMetric(BaseMetric):
    """OpenSTL's MSE / MAE / RMSE / SSIM / PSNR over a test set, and the copy-last-frame baseline's MSE / MAE.

    Args:
        metric_list: any of 'mse', 'mae', 'rmse', 'ssim', 'psnr' (OpenSTL's name; a 'metrics' key would make
            mmengine read the dict as an Evaluator).
        mean, std: de-standardisation (WeatherBench); spatial_norm: divide MSE/MAE by C*H*W (WeatherBench).
        baseline: also report ``copy_last_mse`` / ``copy_last_mae`` (the last input frame repeated).
    """

    default_prefix = 'pred'

    def __init__(self, metric_list: Sequence[str] = ('mse', 'mae', 'ssim', 'psnr'), mean: float = 0., std: float = 1.,
                 spatial_norm: bool = False, clip_range: Sequence[float] = (0., 1.), baseline: bool = True,
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        bad = set(metric_list) - {'mse', 'mae', 'rmse', 'ssim', 'psnr'}
        if bad:
            raise ValueError(f'unsupported metrics {sorted(bad)}')
        self.metrics = tuple(metric_list)
        self.mean, self.std, self.spatial_norm = mean, std, spatial_norm
        self.clip_range = tuple(clip_range)
        self.baseline = baseline

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for s in data_samples:
            res = video_metrics(s['pred'][None], s['target'][None], self.mean, self.std, self.spatial_norm,
                                self.clip_range, self.metrics)
            item = {k: (v.sum().item(), v.numel()) for k, v in res.items()}
            if self.baseline:
                last = s['last_input'][None, None].expand_as(s['target'][None])
                base = video_metrics(last, s['target'][None], self.mean, self.std, self.spatial_norm,
                                     self.clip_range, ('mse', 'mae'))
                item.update({f'copy_last_{k}': (v.sum().item(), v.numel()) for k, v in base.items()})
            self.results.append(item)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        out = {}
        for k in results[0]:
            total = sum(r[k][0] for r in results)
            count = sum(r[k][1] for r in results)
            out[k] = total / count
        if 'rmse' in self.metrics:
            out['rmse'] = float(np.sqrt(out['mse']))
            if 'mse' not in self.metrics:
                out.pop('mse')
        return {k: float(v) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------------------
# Model

@MODELS.register_module()
class VideoPredictor(BaseModel):
    """An mmengine model around a timm-created PredFormer: MSE loss (OpenSTL's) in train mode, frames in val/test.

    When the targets have more frames than the model predicts in one step, the model rolls out
    autoregressively (``PredFormer.predict``), in training too, as OpenSTL's method does.

    Args:
        model_name: e.g. 'predformer_tsst_mmnist'; ``model_kwargs`` go to ``timm.create_model``.
        pretrained: a checkpoint file (OpenSTL's or ours) or None.
    """

    def __init__(self, model_name: str = 'predformer_tsst_mmnist', model_kwargs: Optional[dict] = None,
                 pretrained: Optional[str] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        import timm
        import vizattn  # noqa: F401
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        kwargs = dict(model_kwargs or {})
        if pretrained:
            self.net = timm.create_model(model_name, pretrained=True, pretrained_cfg_overlay=dict(file=pretrained),
                                         **kwargs)
            self._is_init = True
        else:
            self.net = timm.create_model(model_name, **kwargs)

    def _predict(self, inputs: torch.Tensor, num_frames: int) -> torch.Tensor:
        if num_frames == self.net.num_frames_out:
            return self.net(inputs)
        return self.net.predict(inputs, num_frames)

    def forward(self, inputs: torch.Tensor, data_samples: Optional[dict] = None, mode: str = 'tensor'):
        target = None if data_samples is None else data_samples['target']
        pred = self._predict(inputs, target.shape[1] if target is not None else self.net.num_frames_out)
        if mode == 'tensor':
            return pred
        if mode == 'loss':
            return dict(loss_mse=F.mse_loss(pred.float(), target.float()))
        if mode == 'predict':
            out = []
            for i in range(pred.shape[0]):
                item = dict(pred=pred[i].float(), last_input=inputs[i, -1].float())
                if target is not None:
                    item['target'] = target[i].float()
                out.append(item)
            return out
        raise ValueError(f'unknown mode {mode!r}')
