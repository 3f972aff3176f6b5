"""Generators of the bundled default datasets (no download needed)."""
from .scenes import DEFAULT_ROOT, SEG_CLASSES, make_scene, prepare_default_data, write_ade, write_classification, write_coco
from .shapes import SHAPE_CLASSES, make_shapes_classification

__all__ = ['SHAPE_CLASSES', 'make_shapes_classification', 'SEG_CLASSES', 'make_scene', 'prepare_default_data',
           'write_classification', 'write_coco', 'write_ade', 'DEFAULT_ROOT']
