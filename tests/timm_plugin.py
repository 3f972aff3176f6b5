"""Pytest plugin that runs timm's own ``tests/test_models.py`` on vizattn's models only.

timm builds its parametrize lists at import time from ``timm.list_models``, so vizattn must register its models
before that file is collected: ``pytest -p tests.timm_plugin <timm-src>/tests/test_models.py``.
Items of timm's file whose model is not a vizattn model are deselected; other test files are left alone.

VIZATTN_TIMM_MODELS: comma-separated fnmatch patterns restricting the models (default: all vizattn models).
Models matching HEAVY_MODELS get the ``heavy`` marker: CI's run (-m "not heavy") leaves them to `make test-heavy`.
"""
import fnmatch
import os

import pytest
import timm  # noqa: F401
import vizattn  # noqa: F401  (registers the models)
from timm.models._registry import _model_entrypoints

# Class-token transformers that timm's suite recognises by name ('vit_*', 'deit*' in NON_STD_FILTERS) so that
# they get its non-standard cfg test (pooled tokens, no 4-D map). Ours have other names: timm.list_models is
# wrapped before test_models.py builds its lists so that these patterns follow wherever 'deit*' goes.
OUR_NON_STD = ('agent_deit*', 'clear_deit*', 'clear_vit*')
_timm_list_models = timm.list_models


def _list_models(filter='', module='', pretrained=False, exclude_filters='', name_matches_cfg=False,
                 include_tags=None):
    def extend(patterns):
        if isinstance(patterns, (list, tuple)) and 'deit*' in patterns:
            return list(patterns) + list(OUR_NON_STD)
        return patterns
    return _timm_list_models(extend(filter), module, pretrained, extend(exclude_filters), name_matches_cfg,
                             include_tags)


timm.list_models = _list_models

OURS = {name for name, fn in _model_entrypoints.items() if fn.__module__.startswith('vizattn.')}
PATTERNS = [p for p in os.environ.get('VIZATTN_TIMM_MODELS', '').split(',') if p]
# These two download the released weights from the internet (timm skips them on its own CI too); the same
# checks run offline in tests/test_checkpoints.py on checkpoint files the tests write in the original formats.
NEEDS_DOWNLOAD = {'test_model_load_pretrained', 'test_model_features_pretrained'}
# The larger variants (about 35M params and up): their timm tests (FX, TorchScript, forward at 224) take minutes
# on 2 CPU cores, so CI runs the suite on the smaller variants of each family and `make test-heavy` on these.
HEAVY_MODELS = ('biformer_b', 'van_b3', 'van_b4', 'van_b5', 'van_b6', 'litv2_b', 'litv2_b_384', 'agent_swin_s',
                'agent_swin_b', 'agent_pvt_m', 'agent_pvt_l', 'agent_deit_b', 'agent_cswin_s', 'agent_cswin_b', 'clear_*_base_*', 'att_swin_unet_t',
                'predformer_*_mmnist', 'predformer_*_weather', *[f'predformer_{a}_taxibj' for a in (
                    'full', 'facst', 'facts', 'st', 'ts', 'sts', 'tst', 'stts')])
# Tests of timm's suite that assume an image classifier (pooled class logits, a 4-D feature pyramid of an image)
# and so cannot apply to these models; every other timm test runs on them.
NOT_APPLICABLE = {
    # per-pixel logits (B, classes, H, W) at input size: no pooled classifier to check, backward tests assert
    # output.shape[-1] == num_classes
    'att_swin_unet_*': {'test_model_default_cfgs', 'test_model_backward', 'test_model_backward_fx'},
    # frames in, frames out: no classes (num_classes is rejected), per-layer maps are 5-D at one stride
    'predformer_*': {'test_model_default_cfgs', 'test_model_forward_features', 'test_model_backward',
                     'test_model_backward_fx'},
}
TIMM_MARKERS = ('base', 'cfg', 'torchscript', 'features', 'fxforward', 'fxbackward')


def selected(model_name: str) -> bool:
    arch = model_name.split('.')[0]
    return arch in OURS and (not PATTERNS or any(fnmatch.fnmatch(arch, p) for p in PATTERNS))


def pytest_configure(config):
    for marker in TIMM_MARKERS:
        config.addinivalue_line('markers', f'{marker}: timm test_models marker')


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        if os.path.basename(str(item.fspath)) != 'test_models.py' or 'timm' not in str(item.fspath):
            keep.append(item)
            continue
        params = getattr(getattr(item, 'callspec', None), 'params', {})
        name = params.get('model_name', '')
        arch = name.split('.')[0]
        not_applicable = {t for p, tests in NOT_APPLICABLE.items() if fnmatch.fnmatch(arch, p) for t in tests}
        ok = selected(name) and item.originalname not in NEEDS_DOWNLOAD | not_applicable
        if ok and any(fnmatch.fnmatch(name.split('.')[0], p) for p in HEAVY_MODELS):
            item.add_marker(pytest.mark.heavy)
        (keep if ok else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
