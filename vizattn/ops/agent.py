"""Agent attention (Agent Attention, ECCV 2024) as one functional op with interchangeable backends.

A small set of ``n`` agent tokens ``A`` (in the paper: the queries average-pooled to a ``sqrt(n) x sqrt(n)`` grid)
stands between the queries and the keys:

* agent aggregation: ``V_A = softmax(scale * A K^T + B_1) V``        (n x N_k attention)
* agent broadcast:   ``O   = softmax(scale * Q A^T + B_2) V_A``      (N_q x n attention)

so that the cost is ``O(N n d)`` instead of ``O(N^2 d)``. ``B_1`` / ``B_2`` are the agent position biases, which
the models compute (they depend on the model's layout); this op takes them as additive masks.

Backends (``_backend``, op name ``'agent'``):

* ``reference``: two ``scaled_dot_product_attention`` calls with the biases as float masks (fused kernels where
  the device has them; no materialised attention on GPU);
* ``math``: explicit matmul + softmax, exactly the official formulation, for checks.

``agent_attention`` is TorchScript-compatible: when scripted it always runs the reference (the backend registry
is Python).
"""
from typing import Optional

import torch
import torch.nn.functional as F
from timm.layers import register_notrace_function

from ._backend import register_backend, select_backend

__all__ = ['agent_attention']


def _split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, N, C) -> (B, heads, N, C // heads)."""
    B, N, C = x.shape
    return x.reshape(B, N, num_heads, C // num_heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, N, d) -> (B, N, heads * d)."""
    B, h, N, d = x.shape
    return x.transpose(1, 2).reshape(B, N, h * d)


def _as_mask(bias: Optional[torch.Tensor], like: torch.Tensor) -> Optional[torch.Tensor]:
    # SDPA wants a float mask of the query dtype (under autocast q is bf16/fp16 while the biases stay fp32)
    return None if bias is None else bias.to(like.dtype)


def _agent_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor,
                agent_bias: Optional[torch.Tensor], query_bias: Optional[torch.Tensor], scale: float) -> torch.Tensor:
    """Head-split inputs (B, h, N, d); returns (B, h, N_q, d_v)."""
    agent_v = F.scaled_dot_product_attention(a, k, v, attn_mask=_as_mask(agent_bias, a), scale=scale)
    return F.scaled_dot_product_attention(q, a, agent_v, attn_mask=_as_mask(query_bias, q), scale=scale)


def _agent_math(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor,
                agent_bias: Optional[torch.Tensor], query_bias: Optional[torch.Tensor], scale: float) -> torch.Tensor:
    attn = (a * scale) @ k.transpose(-2, -1)
    if agent_bias is not None:
        attn = attn + agent_bias
    agent_v = attn.softmax(dim=-1).to(v.dtype) @ v
    attn = (q * scale) @ a.transpose(-2, -1)
    if query_bias is not None:
        attn = attn + query_bias
    return attn.softmax(dim=-1).to(agent_v.dtype) @ agent_v


def _check(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, agent_tokens: torch.Tensor, num_heads: int):
    shapes = '{}, {}, {}, {}'.format(list(q.shape), list(k.shape), list(v.shape), list(agent_tokens.shape))
    if q.dim() != 3 or k.dim() != 3 or v.dim() != 3 or agent_tokens.dim() != 3:
        raise ValueError('agent_attention expects (B, N, C) q, k, v and (B, n, C) agent tokens; got ' + shapes)
    B, C = q.shape[0], q.shape[2]
    if k.shape[0] != B or v.shape[0] != B or agent_tokens.shape[0] != B:
        raise ValueError('agent_attention: q, k, v and agent tokens must share the batch size; got ' + shapes)
    if k.shape[2] != C or agent_tokens.shape[2] != C or k.shape[1] != v.shape[1]:
        raise ValueError('agent_attention: q, k and agent tokens need the same channels and k, v the same '
                         'length; got ' + shapes)
    if C % num_heads != 0 or v.shape[2] % num_heads != 0:
        raise ValueError('num_heads={} must divide C_qk={} and C_v={}'.format(num_heads, C, v.shape[2]))


@register_notrace_function
def agent_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, agent_tokens: torch.Tensor,
                    num_heads: int, scale: Optional[float] = None, agent_bias: Optional[torch.Tensor] = None,
                    query_bias: Optional[torch.Tensor] = None, backend: Optional[str] = None) -> torch.Tensor:
    """Agent attention with heads packed in the channel dim.

    Args:
        q: (B, N_q, C) queries; k: (B, N_k, C) keys; v: (B, N_k, C_v) values.
        agent_tokens: (B, n, C) agent tokens (e.g. pooled queries).
        num_heads: attention heads (divides C and C_v).
        scale: softmax scale of both attentions, default (C // num_heads) ** -0.5.
        agent_bias: additive bias of the agent aggregation, broadcastable to (B, heads, n, N_k).
        query_bias: additive bias of the agent broadcast, broadcastable to (B, heads, N_q, n).
        backend: 'reference', 'math' or None (see ``vizattn.ops._backend``).
    Returns:
        (B, N_q, C_v).
    """
    _check(q, k, v, agent_tokens, num_heads)
    s = float(q.shape[-1] // num_heads) ** -0.5 if scale is None else scale
    qh, kh, vh = _split_heads(q, num_heads), _split_heads(k, num_heads), _split_heads(v, num_heads)
    ah = _split_heads(agent_tokens, num_heads)
    if torch.jit.is_scripting():
        out = _agent_sdpa(qh, kh, vh, ah, agent_bias, query_bias, s)
    else:
        out = select_backend('agent', backend, q.device)(qh, kh, vh, ah, agent_bias, query_bias, s)
    return _merge_heads(out)


register_backend('agent', 'reference', _agent_sdpa)
register_backend('agent', 'math', _agent_math)
