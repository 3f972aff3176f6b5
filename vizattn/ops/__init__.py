"""Functional attention ops, one API each, with interchangeable backends (see ``_backend``)."""
from ._backend import available_backends, select_backend
from .bra import bra, route_regions

__all__ = ['bra', 'route_regions', 'available_backends', 'select_backend']
