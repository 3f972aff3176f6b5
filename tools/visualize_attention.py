"""Where one query point looks: BRA's routed regions, HiLo's two paths, agent attention maps, as a PNG.

    python tools/visualize_attention.py --model biformer_t --point 40 70 [--image img.jpg] [--size 224]
           [--checkpoint biformer_tiny_in1k.pth] [--stage 0] [--block 0] [--model-kwargs n_win=7] [--out attn.png]

Without ``--image`` a generated shapes scene is used. ``--point Y X`` is in pixels of the resized input. The
attention of the chosen stage/block (default: the first stage with attention, its first block) is recomputed
from the block's own projections on its captured input:

- BiFormer (BRA): the query's region and the ``topk`` regions it is routed to (``vizattn.ops.bra(...,
  return_routing=True)``), and the query token's attention over the routed tokens (mean over heads);
- LITv2 (HiLo): the Hi-Fi path (attention inside the query's s x s window) and the Lo-Fi path (attention over the
  s x s average-pooled map);
- Agent attention: the query's weights over the agents, the agents' aggregation maps (the query's three
  strongest agents) and the effective map (query -> agents -> keys).
"""
import argparse
import math
import os.path as osp
import sys
from typing import List, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

Panel = Tuple[str, np.ndarray, str]  # title, map (h, w) in [0, 1] or an RGB overlay, kind ('heat' | 'rgb')


def _find_attention(model, kinds=('BiLevelRoutingAttention', 'HiLoAttention', 'AgentAttention')):
    """(name, module) of every attention module of a known kind, in model order."""
    return [(n, m) for n, m in model.named_modules()
            if any(k in type(m).__name__ for k in kinds)]


def _capture(model, module, x):
    """Run the model; return the module's positional inputs."""
    store = {}

    def hook(mod, args, kwargs):
        store['args'] = args
        store['kwargs'] = kwargs
    h = module.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad():
            model(x)
    finally:
        h.remove()
    return store['args'], store['kwargs']


def _heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    """(..., C) -> (..., heads, C // heads)."""
    return t.reshape(*t.shape[:-1], heads, t.shape[-1] // heads)


@torch.no_grad()
def bra_panels(module, x: torch.Tensor, qy: int, qx: int) -> List[Panel]:
    from vizattn.ops import bra
    q, k, v = module.qkv(x).split([module.qk_dim, module.qk_dim, module.dim], dim=-1)
    _, idx = bra(q, k, v, module.num_heads, module.n_win, module.topk, module.scale, backend='reference',
                 return_routing=True)
    B, H, W, _ = q.shape
    n = module.n_win
    rh, rw = math.ceil(H / n), math.ceil(W / n)
    region = (qy // rh) * n + (qx // rw)
    routed = idx[0, region].tolist()
    routing = np.zeros((n * rh, n * rw), np.float32)
    for r in routed:
        routing[(r // n) * rh:(r // n + 1) * rh, (r % n) * rw:(r % n + 1) * rw] = 0.6
    routing[(region // n) * rh:(region // n + 1) * rh, (region % n) * rw:(region % n + 1) * rw] += 0.4
    # the query token's attention over the tokens of its routed regions (padded tokens have zero keys: masked)
    kp = F.pad(k, (0, 0, 0, n * rw - W, 0, n * rh - H))[0]
    valid = torch.zeros(n * rh, n * rw, dtype=torch.bool)
    valid[:H, :W] = True
    mask = torch.zeros(n * rh, n * rw, dtype=torch.bool)
    for r in routed:
        mask[(r // n) * rh:(r // n + 1) * rh, (r % n) * rw:(r % n + 1) * rw] = True
    mask &= valid
    keys = _heads(kp[mask], module.num_heads)                       # (T, heads, d)
    query = _heads(q[0, qy, qx], module.num_heads)                   # (heads, d)
    attn = torch.einsum('hd,thd->ht', query * module.scale, keys).softmax(-1).mean(0)
    heat = torch.zeros(n * rh, n * rw)
    heat[mask] = attn
    return [(f'BRA routing: query region + top-{len(routed)} routed ({n}x{n} regions)', routing[:H, :W], 'heat'),
            ('BRA token attention (mean over heads)', (heat / heat.max()).numpy()[:H, :W], 'heat')]


@torch.no_grad()
def hilo_panels(module, x: torch.Tensor, qy: int, qx: int) -> List[Panel]:
    from vizattn.ops.hilo import window_mean_pool
    B, H, W, C = x.shape
    out: List[Panel] = []
    s = module.window_size
    if module.hi_heads > 0:
        qh, kh, _ = module.h_qkv(x).chunk(3, dim=-1)
        y0, x0 = (qy // s) * s, (qx // s) * s
        win_k = kh[0, y0:y0 + s, x0:x0 + s]                          # (<=s, <=s, C)
        attn = torch.einsum('hd,ijhd->hij', _heads(qh[0, qy, qx], module.hi_heads) * module.scale,
                            _heads(win_k, module.hi_heads))
        attn = attn.flatten(1).softmax(-1).mean(0).reshape(win_k.shape[:2])
        heat = torch.zeros(H, W)
        heat[y0:y0 + win_k.shape[0], x0:x0 + win_k.shape[1]] = attn / attn.max()
        out.append((f'HiLo Hi-Fi: {module.hi_heads} heads inside the {s}x{s} window', heat.numpy(), 'heat'))
    if module.lo_heads > 0:
        lq = module.l_q(x)
        lk, _ = module.l_kv(window_mean_pool(x, s)).chunk(2, dim=-1)
        h, w = lk.shape[1:3]
        attn = torch.einsum('hd,ijhd->hij', _heads(lq[0, qy, qx], module.lo_heads) * module.scale,
                            _heads(lk[0], module.lo_heads)).flatten(1).softmax(-1).mean(0).reshape(h, w)
        heat = F.interpolate((attn / attn.max())[None, None], size=(H, W), mode='nearest')[0, 0]
        out.append((f'HiLo Lo-Fi: {module.lo_heads} heads over the {s}x{s}-pooled map ({h}x{w})',
                    heat.numpy(), 'heat'))
    return out


@torch.no_grad()
def agent_panels(module, x: torch.Tensor, H: int, W: int, qy: int, qx: int) -> List[Panel]:
    from vizattn.models.agent import agent_position_biases
    B, N, C = x.shape
    P = getattr(module, 'num_prefix_tokens', 0)
    q, k, v = module._project(x)
    q_map = q[:, P:].reshape(B, H, W, C).permute(0, 3, 1, 2)
    agents = F.adaptive_avg_pool2d(q_map, module.pool_size).reshape(B, C, -1).transpose(1, 2)[0]  # (n, C)
    agent_bias, query_bias = agent_position_biases(module.an_bias, module.na_bias, module.ah_bias, module.aw_bias,
                                                   module.ha_bias, module.wa_bias, H, W)
    heads = module.num_heads
    a = _heads(agents, heads).transpose(0, 1)                         # (heads, n, d)
    kk = _heads(k[0, P:], heads).transpose(0, 1)                      # (heads, HW, d)
    agg = ((a * module.scale) @ kk.transpose(-1, -2) + agent_bias[0]).softmax(-1)        # (heads, n, HW)
    qi = qy * W + qx
    qq = _heads(q[0, P + qi], heads)                                 # (heads, d)
    bc = (torch.einsum('hd,hnd->hn', qq * module.scale, a) + query_bias[0, :, qi]).softmax(-1)  # (heads, n)
    effective = torch.einsum('hn,hnt->t', bc, agg) / heads
    grid = module.pool_size if isinstance(module.pool_size, tuple) else (module.pool_size, module.pool_size)
    weights = bc.mean(0)
    out: List[Panel] = [(f'agent weights of the query ({grid[0]}x{grid[1]} agents)',
                         (weights / weights.max()).reshape(grid).numpy(), 'heat_small')]
    for j in weights.topk(min(3, len(weights))).indices.tolist():
        m = agg[:, j].mean(0).reshape(H, W)
        out.append((f'agent {j} (weight {weights[j]:.2f}): aggregation map', (m / m.max()).numpy(), 'heat'))
    out.append(('effective attention: query -> agents -> keys', (effective / effective.max()).reshape(H, W).numpy(),
                'heat'))
    return out


def load_image(path, size: int) -> np.ndarray:
    if path:
        import cv2
        img = cv2.imread(path)
        if img is None:
            raise SystemExit(f'cannot read {path}')
        img = cv2.resize(img[..., ::-1], (size, size), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(img)
    from vizattn.data import make_scene
    img, _, _ = make_scene(np.random.default_rng(0), (size, size), num_objects=(2, 3))
    return img


def render(img: np.ndarray, panels: List[Panel], point, stride: int, out: str, title: str):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    cols = len(panels) + 1
    fig, axes = plt.subplots(1, cols, figsize=(3.2 * cols, 3.6))
    axes[0].imshow(img)
    axes[0].scatter([point[1]], [point[0]], c='red', s=40, marker='x')
    axes[0].set_title(f'query at (y={point[0]}, x={point[1]})', fontsize=8)
    for ax, (name, heat, kind) in zip(axes[1:], panels):
        if kind == 'heat_small':
            ax.imshow(heat, cmap='magma')
        else:
            up = np.kron(heat, np.ones((stride, stride)))[:img.shape[0], :img.shape[1]]
            ax.imshow(img)
            ax.imshow(up, cmap='jet', alpha=0.5, vmin=0, vmax=1)
            ax.scatter([point[1]], [point[0]], c='white', s=30, marker='x')
        ax.set_title(name, fontsize=7)
    for ax in axes:
        ax.axis('off')
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _parse_kwargs(items):
    out = {}
    for item in items or []:
        k, v = item.split('=', 1)
        try:
            out[k] = eval(v, {}, {})  # literals only: numbers, tuples
        except Exception:
            out[k] = v
    return out


@torch.no_grad()  # a decorator, not set_grad_enabled: in-process callers keep their grad mode
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', required=True)
    p.add_argument('--point', type=int, nargs=2, metavar=('Y', 'X'), default=None)
    p.add_argument('--image', default=None)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--checkpoint', default=None, help='original or vizattn checkpoint (timm overlay file)')
    p.add_argument('--stage', type=int, default=None, help='feature level (default: first with attention)')
    p.add_argument('--block', type=int, default=0)
    p.add_argument('--model-kwargs', nargs='*', default=None, help='e.g. n_win=8')
    p.add_argument('--out', default=None)
    args = p.parse_args(argv)
    import timm

    import vizattn  # noqa: F401
    from vizattn.mm.backbone import level_modules
    kwargs = _parse_kwargs(args.model_kwargs)
    if args.checkpoint:
        kwargs.update(pretrained=True, pretrained_cfg_overlay=dict(file=args.checkpoint))
    model = timm.create_model(args.model, **kwargs).eval()
    cfg = model.pretrained_cfg
    img = load_image(args.image, args.size)
    point = args.point or [args.size // 2, args.size // 2]
    x = torch.from_numpy(img).permute(2, 0, 1).float()[None] / 255.
    x = (x - torch.tensor(cfg['mean']).view(1, 3, 1, 1)) / torch.tensor(cfg['std']).view(1, 3, 1, 1)
    levels = level_modules(model)
    found = _find_attention(model)
    if not found:
        raise SystemExit(f'{args.model} has no BRA / HiLo / agent attention to show')

    def level_of(name):
        return next((i for i, m in enumerate(levels) if name.startswith(m + '.')), -1)
    stage = args.stage if args.stage is not None else level_of(found[0][0])
    in_stage = [(n, m) for n, m in found if level_of(n) == stage]
    if not in_stage:
        raise SystemExit(f'no attention in stage {stage}; stages with attention: '
                         f'{sorted({level_of(n) for n, _ in found})}')
    name, module = in_stage[min(args.block, len(in_stage) - 1)]
    fargs, fkwargs = _capture(model, module, x)
    kind = type(module).__name__
    if 'BiLevelRouting' in kind:
        feat = fargs[0]
        stride = args.size // feat.shape[1]
        panels = bra_panels(module, feat, point[0] // stride, point[1] // stride)
    elif 'HiLo' in kind:
        feat = fargs[0]
        stride = args.size // feat.shape[1]
        panels = hilo_panels(module, feat, point[0] // stride, point[1] // stride)
    else:
        feat, H, W = fargs[0], fargs[1], fargs[2]
        stride = args.size // H
        panels = agent_panels(module, feat, H, W, point[0] // stride, point[1] // stride)
    out = args.out or f'attention_{args.model}_s{stage}.png'
    render(img, panels, point, stride, out, f'{args.model}: {name} ({kind}), stride {stride}')
    print(f'{name} ({kind}) -> {out}')
    return out


if __name__ == '__main__':
    main()
