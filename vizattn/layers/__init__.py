"""Building blocks shared by several families."""
from .helpers import check_input, contiguous_as, pad_to_multiple

__all__ = ['check_input', 'contiguous_as', 'pad_to_multiple']
