"""One module per family; importing them runs their ``@register_model`` entry points."""
from . import agent, biformer, clear, ela, litv2, ulsam, van  # noqa: F401
