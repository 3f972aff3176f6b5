"""One module per family; importing them runs their ``@register_model`` entry points."""
from . import agent, biformer, litv2, van  # noqa: F401
