"""torch.optim.Muon's bfloat16 Newton–Schulz, reproduced bit for bit in JAX (docs/theory.md §2.2).

torch 2.13's ``_zeropower_via_newtonschulz`` casts the update to bfloat16 (from float64 through
float32, as ``Tensor.bfloat16()`` does), transposes tall inputs, divides by its Frobenius norm
*rounded to bfloat16* and clamped at eps (both bf16), then runs ``mm`` and ``addmm`` five times.
On CPU, for small matrices (docs/sgf.md gives the sizes measured), each bf16 product forms the
float32 products of its terms (exact: two 8-bit significands) and sums them; an
``addmm(C, M, N, beta=β, alpha=α)`` multiplies the sum by α (rounded to float32) and adds β·C
with one fused multiply-add, ``fma(β, C, α·dot)``, rounded once to float32 and then to bfloat16.
What differs from a plain XLA expression of the same formula is reproduced explicitly here
rather than left to the compiler:

- The order of the sums (XLA's float32 dot sums in another; 1 of 100 6×6 inputs flipped a bf16
  rounding): :func:`ordered_matmul_f32`, in index order for the Gram matrix ``X @ X.T`` and in
  ATen's four partial sums for the two ``addmm`` products.
- The fused multiply-add: ``β·C + α·dot`` rounded twice flips about 1 of 60 Newton–Schulz calls,
  and whether LLVM contracts ``c·(G@G) + b·G`` into ``fma(c, G@G, b·G)`` or ``fma(b, G, c·(G@G))``
  is its choice; torch's is the second. :func:`fma_f32` computes it exactly (float64 with
  round-to-odd), independent of contraction.
- The norm is the float32 sum of squares rounded to bfloat16 (its summation order differs from
  torch's, which the bf16 rounding hid on every input tested).

The float64 side of Muon (the EMA lerps and the parameter update ``p.add_(O, alpha=-lr)``) is
fused multiply-adds in ATen's vectorised kernels; see :class:`gflab.sims.methods.Muon`.
tests/test_sgf_methods.py checks equality with torch's own kernel on 300 inputs per shape-scale
convention and 100-step trajectories.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from gflab.theory.lora import NS_COEFFICIENTS

__all__ = ["fma_f32", "newton_schulz_torch_bf16", "ordered_matmul_f32"]

_F32 = jnp.float32
_F64 = jnp.float64


def fma_f32(x, y, z):
    """``x·y + z`` rounded once to float32, for float32 ``x, y, z`` whose product ``x·y`` is exact
    in float64 (at most 53 significant bits: here a float32 times a bfloat16 value, 32 bits).

    float64 holds ``x·y`` exactly; the float64 sum ``s`` and its exact error ``e`` (Knuth's
    TwoSum) give the round-to-odd sum (``s`` nudged one float64 ulp towards ``e`` when inexact and
    even), and rounding a round-to-odd float64 to float32 is correct rounding (53 ≥ 24 + 2,
    Boldo and Melquiond 2008). No step depends on whether the compiler contracts a multiply-add.

    Args:
        x, y, z: float32 arrays (broadcastable).

    Returns:
        float32 array: ``fma(x, y, z)``.
    """
    p = x.astype(_F64) * y.astype(_F64)
    q = z.astype(_F64)
    s = p + q
    bb = s - p
    e = (p - (s - bb)) + (q - bb)
    bits = jax.lax.bitcast_convert_type(s, jnp.int64)
    inexact_even = (e != 0) & ((bits & 1) == 0)
    towards = jnp.where((e > 0) == (s > 0), 1, -1).astype(jnp.int64)
    s = jnp.where(inexact_even, jax.lax.bitcast_convert_type(bits + towards, _F64), s)
    return s.astype(_F32)


def ordered_matmul_f32(x, y, lanes: int = 1):
    """x @ y in float32 with the sum over k taken in a fixed order (torch's CPU bf16 gemm).

    ``lanes = 1``: one running sum in index order (the ``mm`` of the Gram matrix). ``lanes = 4``:
    ATen's generic bf16 kernel (``cpublas`` ``sum`` with four independent partial sums: term l
    goes to partial l mod 4 while whole groups of four remain, the tail to partial 0, then
    ((p0 + p1) + p2) + p3), which torch's ``addmm`` calls take here. The products are exact in
    float32 (two 8-bit significands), so only the order of the additions matters.

    Args:
        x: (m, k) array (bf16 or float32 values).
        y: (k, n) array.
        lanes: 1 or 4, as above.

    Returns:
        (m, n) float32 array.
    """
    x = x.astype(_F32)
    y = y.astype(_F32)
    m, k = x.shape
    n = y.shape[1]
    term = lambda i: x[:, i, None] * y[None, i, :]
    if lanes == 1:
        acc = jnp.zeros((m, n), _F32)
        return jax.lax.fori_loop(0, k, lambda i, acc: acc + term(i), acc)
    groups = k // lanes

    def group(g, parts):
        return tuple(parts[j] + term(g * lanes + j) for j in range(lanes))

    parts = tuple(jnp.zeros((m, n), _F32) for _ in range(lanes))
    parts = jax.lax.fori_loop(0, groups, group, parts)
    head = jax.lax.fori_loop(groups * lanes, k, lambda i, acc: acc + term(i), parts[0])
    total = head
    for j in range(1, lanes):
        total = total + parts[j]
    return total


@functools.partial(jax.jit, static_argnames=("steps", "dtype"))
def newton_schulz_torch_bf16(G, steps: int = 5, eps: float = 1e-7, dtype=jnp.bfloat16):
    """Muon's quintic Newton–Schulz exactly as torch.optim.Muon computes it in bfloat16.

    Args:
        G: (m, n) array, any float dtype.
        steps: Newton–Schulz iterations (torch's ``ns_steps``).
        eps: floor of the Frobenius norm (torch's ``eps``), itself rounded to ``dtype``.
        dtype: the 16-bit storage dtype (torch uses bfloat16).

    Returns:
        (m, n) array of ``dtype``: bit-identical to ``_zeropower_via_newtonschulz(G, ...)`` on
        CPU for the sizes docs/sgf.md lists (larger ones: within a few bf16 ulps).
    """
    a, b, c = (jnp.asarray(v, _F32) for v in NS_COEFFICIENTS)
    tall = G.shape[-2] > G.shape[-1]
    X = G.astype(_F32).astype(dtype)
    if tall:
        X = X.T
    norm = jnp.sqrt(jnp.sum(jnp.square(X.astype(_F32)))).astype(dtype)
    norm = jnp.maximum(norm, jnp.asarray(eps, _F32).astype(dtype))
    X = (X.astype(_F32) / norm.astype(_F32)).astype(dtype)

    def step(_, X):
        gram = ordered_matmul_f32(X, X.T).astype(dtype)
        # addmm(gram, gram, gram, beta=b, alpha=c) = fma(b, gram, c·(gram@gram))
        update = fma_f32(b, gram.astype(_F32), c * ordered_matmul_f32(gram, gram, 4)).astype(dtype)
        # addmm(X, update, X, beta=a) = fma(a, X, update@X)
        return fma_f32(a, X.astype(_F32), ordered_matmul_f32(update, X, 4)).astype(dtype)

    # a loop, not five unrolled copies: the same arithmetic, a fifth of the program to compile
    X = jax.lax.fori_loop(0, steps, step, X)
    return X.T if tall else X
