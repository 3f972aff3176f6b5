"""Triton kernels behind the ``triton`` backends of vizattn's ops (installed as ``vizattn.kernels``).

They run on CUDA; on CPU only under ``TRITON_INTERPRET=1`` (set before triton is imported), which the tests use.
"""
