"""Backend choice for the functional attention ops.

Order: the ``backend=`` argument > the ``VIZATTN_BACKEND`` environment variable > automatic.
``VIZATTN_BACKEND`` is either one name for every op (``flex``) or per op (``bra=flex,local_window=reference``).
Automatic: the Triton kernel on CUDA when it is installed and registered, else the reference.
A single global name that an op does not have (``VIZATTN_BACKEND=flex`` for an op without a flex backend)
leaves that op on its automatic choice; a per-op name or an argument that does not exist is an error.
"""
import os
from typing import Callable, Dict, Optional

import torch

ENV_VAR = 'VIZATTN_BACKEND'
_REGISTRY: Dict[str, Dict[str, Callable]] = {}


def register_backend(op: str, name: str, fn: Callable) -> Callable:
    _REGISTRY.setdefault(op, {})[name] = fn
    return fn


def available_backends(op: str):
    return sorted(_REGISTRY.get(op, {}))


def _from_env(op: str) -> Optional[str]:
    value = os.environ.get(ENV_VAR, '').strip()
    if not value:
        return None
    if '=' not in value:
        return value if value in _REGISTRY.get(op, {}) or value == 'auto' or not _is_known(value) else None
    for item in value.split(','):
        key, _, name = item.partition('=')
        if key.strip() == op:
            return name.strip()
    return None


def _is_known(name: str) -> bool:
    return any(name in backends for backends in _REGISTRY.values())


def select_backend(op: str, backend: Optional[str], device: torch.device) -> Callable:
    backends = _REGISTRY[op]
    name = backend or _from_env(op)
    if name is None or name == 'auto':
        name = 'triton' if device.type == 'cuda' and 'triton' in backends else 'reference'
    if name not in backends:
        source = 'backend argument' if backend else ENV_VAR
        raise ValueError(f'unknown {op} backend {name!r} (from {source}); available: {available_backends(op)}')
    return backends[name]
