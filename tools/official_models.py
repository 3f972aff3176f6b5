"""Build the papers' official models from a checkout of their repositories, for side-by-side benchmarks.

Nothing of the official code is vendored: each builder imports it from the checkout given on the command line
(``tools/benchmark.py --official PATH``), stubbing only what cannot run here:

- BiFormer (rayleizhu/BiFormer): ``fairscale``'s checkpoint wrapper (unused at inference) -> identity.
- VAN (Visual-Attention-Network/VAN-Classification): imported as is.
- LITv2 (ziplab/LITv2): its deformable conv is a CUDA-only extension (``import DCN``, no CPU path) and it imports
  ``apex.amp``; the extension's forward and backward entry points are routed to torchvision's deform_conv2d
  kernels, the same ones our LITv2 calls, and ``apex.amp.float_function`` is the identity.
- Agent Attention (LeapLabTHU/Agent-Attention): its DeiT files use timm 0.4's ``register_model``, stubbed for
  the import.
"""
import importlib
import importlib.util
import os
import sys
import types

import torch
import torchvision

# our model name -> (family, builder arguments)
OFFICIAL = {
    'biformer_t': ('biformer', 'biformer_tiny'),
    'biformer_s': ('biformer', 'biformer_small'),
    'biformer_b': ('biformer', 'biformer_base'),
    'van_b0': ('van', 'van_b0'),
    'van_b1': ('van', 'van_b1'),
    'van_b2': ('van', 'van_b2'),
    'litv2_s': ('litv2', dict(embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24])),
    'litv2_m': ('litv2', dict(embed_dim=96, depths=[2, 2, 18, 2], num_heads=[3, 6, 12, 24])),
    'litv2_b': ('litv2', dict(embed_dim=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32])),
    'agent_pvt_t': ('agent', ('agent_pvt', 'agent_pvt_tiny', dict(
        img_size=224, agent_num=['9', '16', '49', '49'], attn_type='AAAA', agent_sr_ratios='1111'))),
    'agent_swin_t': ('agent', ('agent_swin', 'AgentSwinTransformer', dict(
        img_size=224, window_size=56, attn_type='AAAB', embed_dim=96, depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24], agent_num=['9', '16', '49', '49']))),
}


def load_file(path: str, name: str):
    """Import one file of an official checkout as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def import_biformer(repo):
    """Put the BiFormer checkout on the path, with fairscale's checkpoint wrapper as the identity."""
    fs = types.ModuleType('fairscale')
    fs.nn = types.ModuleType('fairscale.nn')
    fs.nn.checkpoint = types.ModuleType('fairscale.nn.checkpoint')
    fs.nn.checkpoint.checkpoint_wrapper = lambda m, *a, **k: m
    sys.modules.update({'fairscale': fs, 'fairscale.nn': fs.nn, 'fairscale.nn.checkpoint': fs.nn.checkpoint})
    sys.path.insert(0, repo)


def _biformer(repo, fn_name):
    import_biformer(repo)
    return getattr(importlib.import_module('models.biformer'), fn_name)()


def _van(repo, fn_name):
    return getattr(load_file(os.path.join(repo, 'models', 'van.py'), 'official_van'), fn_name)()


def install_litv2_stubs():
    """``apex`` and the ``DCN`` extension of LITv2, backed by torchvision's deformable conv (fwd and bwd)."""
    apex = types.ModuleType('apex')
    apex.amp = types.SimpleNamespace(float_function=lambda fn: fn)
    sys.modules['apex'] = apex
    dcn = types.ModuleType('DCN')

    def forward(input, weight, bias, offset, kh, kw, sh, sw, ph, pw, dh, dw, group, deformable_group, im2col_step):
        assert weight.shape[2:] == (kh, kw) and offset.shape[1] == 2 * deformable_group * kh * kw
        return torchvision.ops.deform_conv2d(input, offset, weight, bias, stride=(sh, sw), padding=(ph, pw),
                                             dilation=(dh, dw))

    def backward(input, weight, bias, offset, grad_output, kh, kw, sh, sw, ph, pw, dh, dw, group, deformable_group,
                 im2col_step):
        mask = input.new_zeros(input.shape[0], 1)  # unused (use_mask=False), shaped as torchvision passes it
        b = bias if bias is not None else weight.new_zeros(weight.shape[0])
        gi, gw, go, _gm, gb = torch.ops.torchvision._deform_conv2d_backward(
            grad_output.contiguous(), input, weight, offset, mask, b, sh, sw, ph, pw, dh, dw, group,
            deformable_group, False)
        return gi, go, gw, (gb if bias is not None else None)

    def not_used(*args, **kwargs):
        raise NotImplementedError('LITv2 uses the unmodulated deformable conv only')

    dcn.deform_conv2d_forward, dcn.deform_conv2d_backward = forward, backward
    dcn.modulated_deform_conv2d_forward = dcn.modulated_deform_conv2d_backward = not_used
    sys.modules['DCN'] = dcn


def _litv2(repo, kwargs):
    install_litv2_stubs()
    sys.path.insert(0, os.path.join(repo, 'classification'))
    from models.litv2 import LITv2
    return LITv2(img_size=224, num_classes=1000, alpha=0.9, local_ws=[0, 0, 2, 1], drop_path_rate=0., **kwargs)


def agent_modules(repo: str):
    """The official agent_swin / agent_pvt / agent_deit / agent_cswin modules."""
    sys.path.insert(0, os.path.join(repo, 'agent_transformer'))
    import timm.models.registry  # noqa: F401  (timm 1.x keeps the module as a deprecated alias)
    stub = types.ModuleType('timm.models.registry')
    stub.register_model = lambda fn: fn  # timm 0.4's default_cfgs do not fit timm 1.x's PretrainedCfg
    saved = sys.modules['timm.models.registry']
    sys.modules['timm.models.registry'] = stub
    try:
        return tuple(importlib.import_module(f'models.{name}')
                     for name in ('agent_swin', 'agent_pvt', 'agent_deit', 'agent_cswin'))
    finally:
        sys.modules['timm.models.registry'] = saved


def _agent(repo, spec):
    module_name, fn_name, kwargs = spec
    modules = dict(zip(('agent_swin', 'agent_pvt', 'agent_deit', 'agent_cswin'), agent_modules(repo)))
    return getattr(modules[module_name], fn_name)(**kwargs)


_BUILDERS = {'biformer': _biformer, 'van': _van, 'litv2': _litv2, 'agent': _agent}


def build_official(model_name: str, repo: str) -> torch.nn.Module:
    """The official counterpart of one of our models, from the checkout at ``repo``."""
    if model_name not in OFFICIAL:
        raise KeyError(f'no official counterpart known for {model_name!r}; known: {sorted(OFFICIAL)}')
    family, arg = OFFICIAL[model_name]
    return _BUILDERS[family](os.path.abspath(repo), arg)
