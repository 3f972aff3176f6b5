"""Parameters and FLOPs (multiply-accumulates, as the papers count them) of a config's model or a timm model.

    python tools/get_flops.py configs/det/retinanet_biformer-s_fpn_1x_coco.py --shape 800 1280
    python tools/get_flops.py --model biformer_s [--shape 224 224]
    python tools/get_flops.py CONFIG --compare-mmengine       # also mmengine's own counter, for contrast

Counting uses ``vizattn.utils.count_macs`` (torch's FlopCounterMode plus formulas for the ops it would count as 0:
the fused CPU scaled-dot-product attention kernel, torchvision's deformable conv). The attention ops (BRA, HiLo,
agent attention) are switched to their reference backend for counting (torch's counter cannot see inside a Triton
kernel); the Triton/FlexAttention backends compute the same products. mmengine's jit-based counter gives 0 for
SDPA and custom ops (see --compare-mmengine).
The whole model is counted (backbone + neck + heads, the ``tensor`` forward, no post-processing), and the backbone
alone.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402


class _Forward(nn.Module):
    """``forward(x)`` of an OpenMMLab model in tensor mode (what count_macs calls)."""

    def __init__(self, model: nn.Module, kind: str):
        super().__init__()
        self.model = model
        self.kind = kind

    def forward(self, x):
        if self.kind == 'det':
            from mmdet.structures import DetDataSample
            h, w = x.shape[-2:]
            samples = [DetDataSample(metainfo=dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w),
                                                   scale_factor=(1.0, 1.0), batch_input_shape=(h, w)))
                       for _ in range(x.shape[0])]
            return self.model._forward(x, samples)
        if self.kind == 'seg':
            return self.model._forward(x)
        return self.model(x, mode='tensor') if self.kind == 'cls' else self.model(x)


def build(args):
    import vizattn.mm  # noqa: F401
    if args.model:
        import timm
        model = timm.create_model(args.model, num_classes=args.num_classes)
        return model, 'timm', None
    from mmengine.config import Config, DictAction  # noqa: F401
    from mmengine.registry import MODELS, DefaultScope
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)

    def drop_pretrained(d):
        if isinstance(d, dict):
            if isinstance(d.get('init_cfg'), dict) and d['init_cfg'].get('type') == 'Pretrained':
                d.pop('init_cfg')
            for v in d.values():
                drop_pretrained(v)
    drop_pretrained(cfg.model)
    scope = cfg.get('default_scope')
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    kind = {'mmdet': 'det', 'mmseg': 'seg'}.get(scope, 'cls')
    return model, kind, getattr(model, 'backbone', None)


@torch.no_grad()  # a decorator, not set_grad_enabled: in-process callers keep their grad mode
def main(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', nargs='?')
    p.add_argument('--model', help='a timm model name instead of a config')
    p.add_argument('--num-classes', type=int, default=1000)
    p.add_argument('--shape', type=int, nargs='+', default=None, help='input H W (default 224 224; det 800 1333)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--compare-mmengine', action='store_true', help="also run mmengine's counter")
    args = p.parse_args(argv)
    if not args.config and not args.model:
        p.error('give a config or --model')
    from vizattn.utils import count_macs, count_params
    model, kind, backbone = build(args)
    model.eval()
    for m in model.modules():  # count the arithmetic of the Triton / FlexAttention paths on the reference ops
        if hasattr(m, 'set_attn_backend') and not isinstance(m, _Forward):
            m.set_attn_backend('reference')
    shape = args.shape or ([800, 1333] if kind == 'det' else [512, 512] if kind == 'seg' else [224, 224])
    if len(shape) == 1:
        shape = shape * 2
    size = (3, shape[0], shape[1])
    fwd = _Forward(model, kind)
    macs = count_macs(fwd, size)
    lines = [f'input {shape[0]}x{shape[1]}',
             f'params: {count_params(model) / 1e6:.3f} M',
             f'FLOPs (MACs): {macs / 1e9:.3f} G']
    result = dict(params=count_params(model), macs=macs)
    if backbone is not None:
        bmacs = count_macs(backbone, size)
        lines.append(f'backbone: {count_params(backbone) / 1e6:.3f} M params, {bmacs / 1e9:.3f} GMACs')
        result['backbone_macs'] = bmacs
    if args.compare_mmengine:
        from mmengine.analysis import get_model_complexity_info
        info = get_model_complexity_info(fwd, input_shape=size, show_table=False, show_arch=False)
        lines.append(f"mmengine's counter: {info['flops'] / 1e9:.3f} G (misses SDPA / custom ops)")
        result['mmengine_flops'] = info['flops']
    print('\n'.join(lines))
    return result


if __name__ == '__main__':
    main()
