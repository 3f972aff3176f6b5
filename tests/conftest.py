import os

import torch

# Without a GPU the Triton kernels run in Triton's interpreter; it must be chosen before the kernels are
# imported (tests/test_kernels_bra.py). Nothing else on CPU uses Triton.
if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')
