"""torch.optim.Muon's bfloat16 Newton–Schulz, reproduced bit for bit in JAX (docs/theory.md §2.2).

torch 2.13's ``_zeropower_via_newtonschulz`` casts the update to bfloat16 (from float64 through
float32, as ``Tensor.bfloat16()`` does), transposes tall inputs, divides by its Frobenius norm
*rounded to bfloat16* and clamped at eps (both bf16), then runs ``addmm`` five times. On CPU each
bf16 ``mm``/``addmm`` forms the products in float32 (exact: two 8-bit significands), sums them
over k in index order, scales by alpha, adds beta·C in float32 and rounds once to bfloat16.
XLA's float32 dot sums in another order, which flips a bf16 rounding in about 1 of 100 6×6
inputs; the explicit k-ordered sum below removes that. Always compiled: the compiled kernel matched
torch on every input tried, while op-by-op (eager) execution differed in 1 of 300 (XLA is free
to fuse the float32 multiply-adds when it compiles; eager rounds each op separately). tests/test_sgf_methods.py checks equality
with torch's own kernel on 300 inputs.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from gflab.theory.lora import NS_COEFFICIENTS

__all__ = ["newton_schulz_torch_bf16", "ordered_matmul_f32"]

_F32 = jnp.float32


def ordered_matmul_f32(x, y):
    """x @ y in float32 with the sum over k taken in index order (torch's CPU bf16 gemm).

    Args:
        x: (m, k) array (bf16 or float32 values).
        y: (k, n) array.

    Returns:
        (m, n) float32 array.
    """
    x = x.astype(_F32)
    y = y.astype(_F32)

    def body(k, acc):
        return acc + x[:, k, None] * y[None, k, :]

    acc = jnp.zeros((x.shape[0], y.shape[1]), _F32)
    return jax.lax.fori_loop(0, x.shape[1], body, acc)


@functools.partial(jax.jit, static_argnames=("steps", "dtype"))
def newton_schulz_torch_bf16(G, steps: int = 5, eps: float = 1e-7, dtype=jnp.bfloat16):
    """Muon's quintic Newton–Schulz exactly as torch.optim.Muon computes it in bfloat16.

    Args:
        G: (m, n) array, any float dtype.
        steps: Newton–Schulz iterations (torch's ``ns_steps``).
        eps: floor of the Frobenius norm (torch's ``eps``), itself rounded to ``dtype``.
        dtype: the 16-bit storage dtype (torch uses bfloat16).

    Returns:
        (m, n) array of ``dtype``: bit-identical to ``_zeropower_via_newtonschulz(G, ...)``.
    """
    a, b, c = (jnp.asarray(v, _F32) for v in NS_COEFFICIENTS)
    tall = G.shape[-2] > G.shape[-1]
    X = G.astype(_F32).astype(dtype)
    if tall:
        X = X.T
    norm = jnp.sqrt(jnp.sum(jnp.square(X.astype(_F32)))).astype(dtype)
    norm = jnp.maximum(norm, jnp.asarray(eps, _F32).astype(dtype))
    X = (X.astype(_F32) / norm.astype(_F32)).astype(dtype)
    for _ in range(steps):
        gram = ordered_matmul_f32(X, X.T).astype(dtype)
        update = (c * ordered_matmul_f32(gram, gram) + b * gram.astype(_F32)).astype(dtype)
        X = (ordered_matmul_f32(update, X) + a * X.astype(_F32)).astype(dtype)
    return X.T if tall else X
