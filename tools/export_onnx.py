"""Export a vizattn model (classifier or multi-scale backbone) to ONNX and check it under onnxruntime.

    python tools/export_onnx.py --model biformer_t [--features] [--size 224 224] [--checkpoint FILE]
                                [--model-kwargs n_win=8] [--opset 17] [--out biformer_t.onnx] [--no-verify]

Needs ``onnx`` and ``onnxruntime`` (``pip install onnx==1.23.2 onnxruntime==1.32.0``). The attention ops run on
their ``reference`` backend (plain tensor ops: BRA's routing is a TopK and its region gather a GatherElements /
index, which export as such). Some ops have no ONNX form that onnxruntime runs, and are swapped during export for
exact equivalents (and one rewritten):

- ``movedim(d, -1)`` in the agent bias resizing -> an explicit permute (the exporter emits a negative Transpose
  perm that onnxruntime rejects);
- ``adaptive_avg_pool2d`` to a size that does not divide the input (agent tokens: 56x56 -> 3x3) -> two matmuls
  with the same averaging bins;
- ``torchvision.ops.deform_conv2d`` (LITv2's token merging) -> bilinear ``grid_sample`` per kernel tap + a matmul.

The batch dimension is dynamic; the spatial size is fixed at export (shape-dependent padding and bias
interpolation are resolved then). ``--verify`` (default) runs onnxruntime on the export input and a second
batch size and reports the max error relative to the largest PyTorch output.
"""
import argparse
import contextlib
import math
import os.path as osp
import sys
import types
from typing import List

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def _bins(size: int, out: int) -> torch.Tensor:
    """(out, size) averaging matrix of adaptive average pooling (PyTorch's bin edges)."""
    m = torch.zeros(out, size)
    for i in range(out):
        start, end = (i * size) // out, math.ceil((i + 1) * size / out)
        m[i, start:end] = 1.0 / (end - start)
    return m


def adaptive_avg_pool2d(x: torch.Tensor, output_size) -> torch.Tensor:
    """Exact ``F.adaptive_avg_pool2d`` as matmuls (exportable for any sizes)."""
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    H, W = int(x.shape[-2]), int(x.shape[-1])
    ph, pw = _bins(H, oh).to(x), _bins(W, ow).to(x)
    return torch.matmul(torch.matmul(ph, x), pw.t())


def deform_conv2d(input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), mask=None):
    """``torchvision.ops.deform_conv2d`` (DCNv1/v2, groups = 1) via ``grid_sample``: same sampling, zeros outside."""
    B, C, H, W = input.shape
    O, Cw, kh, kw = weight.shape
    sh, sw = stride
    pad_h, pad_w = padding
    dh, dw = dilation
    Ho, Wo = int(offset.shape[-2]), int(offset.shape[-1])
    n_off = offset.shape[1] // (2 * kh * kw)
    if n_off != 1 or Cw != C:
        raise NotImplementedError('export replacement handles offset_groups = groups = 1')
    ys = (torch.arange(Ho, dtype=input.dtype) * sh - pad_h).view(1, Ho, 1)
    xs = (torch.arange(Wo, dtype=input.dtype) * sw - pad_w).view(1, 1, Wo)
    taps = []
    for a in range(kh):
        for b in range(kw):
            k = a * kw + b
            py = ys + a * dh + offset[:, 2 * k]
            px = xs + b * dw + offset[:, 2 * k + 1]
            grid = torch.stack([(px + 0.5) * 2 / W - 1, (py + 0.5) * 2 / H - 1], dim=-1)
            s = F.grid_sample(input, grid, mode='bilinear', padding_mode='zeros', align_corners=False)
            if mask is not None:
                s = s * mask[:, k:k + 1]
            taps.append(s)
    cols = torch.stack(taps, dim=2).reshape(B, C * kh * kw, Ho * Wo)    # (B, C*K, L), K fastest like weight
    out = torch.matmul(weight.reshape(O, C * kh * kw), cols).reshape(B, O, Ho, Wo)
    return out if bias is None else out + bias.view(1, O, 1, 1)


def _move_last(x: torch.Tensor, dim: int):
    """(x with ``dim`` moved last, the inverse permutation), with explicit non-negative dims (the exporter
    writes ``movedim(d, -1)`` as a Transpose with a negative perm entry, which onnxruntime rejects)."""
    dim = dim % x.dim()
    perm = [d for d in range(x.dim()) if d != dim] + [dim]
    inverse = [perm.index(d) for d in range(x.dim())]
    return x.permute(perm), inverse


def resize_dim(x: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """vizattn.models.agent._resize_dim (linear resize of one dim) without movedim."""
    if x.shape[dim] == size:
        return x
    y, inverse = _move_last(x, dim)
    shape = list(y.shape)
    y = F.interpolate(y.reshape(-1, 1, shape[-1]), size=size, mode='linear', align_corners=False)
    return y.reshape(shape[:-1] + [size]).permute(inverse)


@contextlib.contextmanager
def onnx_friendly():
    """Swap the two non-exportable ops in the vizattn model modules for the exact equivalents above."""
    import importlib
    patched = []
    try:
        agent = importlib.import_module('vizattn.models.agent')
        proxy = types.SimpleNamespace(**{k: getattr(F, k) for k in dir(F) if not k.startswith('__')})
        proxy.adaptive_avg_pool2d = adaptive_avg_pool2d
        patched.append((agent, 'F', agent.F))
        agent.F = proxy
        patched.append((agent, '_resize_dim', agent._resize_dim))
        agent._resize_dim = resize_dim
    except ImportError:
        pass
    try:
        litv2 = importlib.import_module('vizattn.models.litv2')
        patched.append((litv2, 'deform_conv2d', litv2.deform_conv2d))
        litv2.deform_conv2d = deform_conv2d
    except ImportError:
        pass
    try:
        yield
    finally:
        for mod, name, value in reversed(patched):
            setattr(mod, name, value)


class Features(nn.Module):
    """forward(x) -> tuple of the stage outputs (NCHW)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return tuple(self.model.forward_intermediates(x, intermediates_only=True))


def build(name: str, features: bool, checkpoint=None, **kwargs) -> nn.Module:
    import timm

    import vizattn  # noqa: F401
    if checkpoint:
        kwargs.update(pretrained=True, pretrained_cfg_overlay=dict(file=checkpoint))
    model = timm.create_model(name, **kwargs)
    if hasattr(model, 'set_attn_backend'):
        model.set_attn_backend('reference')
    model.eval()
    return Features(model).eval() if features else model


def export(model: nn.Module, x: torch.Tensor, out: str, opset: int = 17) -> List[str]:
    import warnings
    with torch.no_grad():
        ref = model(x)
    names = [f'out{i}' for i in range(len(ref))] if isinstance(ref, tuple) else ['logits']
    with onnx_friendly(), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(model, (x,), out, dynamo=False, opset_version=opset, input_names=['input'],
                          output_names=names, dynamic_axes={n: {0: 'batch'} for n in ['input'] + names})
    return names


def verify(model: nn.Module, path: str, x: torch.Tensor) -> float:
    """max |onnxruntime - PyTorch| / max |PyTorch| over all outputs (and a batch of 2 besides x)."""
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    worst = 0.0
    for batch in (x, torch.cat([x, x.flip(-1)])):
        with torch.no_grad():
            ref = model(batch)
        ref = ref if isinstance(ref, tuple) else (ref,)
        outs = sess.run(None, {'input': batch.numpy()})
        for r, o in zip(ref, outs):
            err = float((torch.from_numpy(o) - r).abs().max() / r.abs().max().clamp(min=1e-12))
            worst = max(worst, err)
    return worst


def _parse_kwargs(items):
    out = {}
    for item in items or []:
        k, v = item.split('=', 1)
        try:
            out[k] = eval(v, {}, {})
        except Exception:
            out[k] = v
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', required=True)
    p.add_argument('--features', action='store_true', help='export the multi-scale backbone (stage outputs)')
    p.add_argument('--size', type=int, nargs='+', default=[224, 224])
    p.add_argument('--checkpoint', default=None)
    p.add_argument('--model-kwargs', nargs='*', default=None)
    p.add_argument('--opset', type=int, default=17)
    p.add_argument('--out', default=None)
    p.add_argument('--no-verify', action='store_true')
    args = p.parse_args(argv)
    size = args.size * 2 if len(args.size) == 1 else args.size
    model = build(args.model, args.features, args.checkpoint, **_parse_kwargs(args.model_kwargs))
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
    out = args.out or f'{args.model}{"_features" if args.features else ""}.onnx'
    names = export(model, x, out, args.opset)
    print(f'exported {args.model} -> {out} (outputs {names}, opset {args.opset})')
    if not args.no_verify:
        err = verify(model, out, x)
        print(f'onnxruntime vs PyTorch: max error / max output = {err:.2e}')
        if err > 1e-4:
            raise SystemExit(f'onnxruntime output differs from PyTorch ({err:.2e})')
    return out


if __name__ == '__main__':
    main()
