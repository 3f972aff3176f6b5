"""Building blocks shared by several families."""
from .helpers import check_input, pad_to_multiple

__all__ = ['check_input', 'pad_to_multiple']
