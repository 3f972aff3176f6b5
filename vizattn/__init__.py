"""vizattn: vision-attention backbones behind timm's interface.

Importing the package registers every vizattn model with timm (``timm.create_model('biformer_s')``).
"""
from . import models  # noqa: F401  (registers the models)
from .ops import bra  # noqa: F401

__version__ = '0.1.0'
