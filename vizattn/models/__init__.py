"""One module per family; importing them runs their ``@register_model`` entry points."""
from . import agent, att_swin_unet, biformer, clear, ela, litv2, predformer, ulsam, van  # noqa: F401
