import os

import torch

# Without a GPU the Triton kernels run in Triton's interpreter. It must be chosen before anything imports
# triton (timm and torch may, through tests/timm_plugin.py), so it is set here, in the first module pytest
# imports from this package. Nothing else on CPU uses Triton.
if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')
