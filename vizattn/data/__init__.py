"""Generators of the bundled default datasets (no download needed)."""
from .shapes import SHAPE_CLASSES, make_shapes_classification

__all__ = ['SHAPE_CLASSES', 'make_shapes_classification']
