"""Shape buckets: solve a problem on zero-padded arrays of a few fixed sizes, exactly.

A compiled solve is specialised to its array shapes, so every new (n, rank, |Ω|) used to cost a
new trace and XLA compile. Here the DMF and LoRA drivers (:mod:`gflab.sims.dmf`,
:mod:`gflab.sims.lora`) embed each array in the top-left block of a zero array whose sizes come
from :data:`SIZES` (:func:`bucket`), so one compiled program serves every problem of a bucket,
and slice the results back. DMF depths are bucketed too (frozen identity
factors). The option is the engine's, not the config's: ``GFLAB_BUCKETS=0``
(or ``buckets=False`` to the drivers) runs on the real shapes, and results, store keys and
outputs are the same either way (tests/test_buckets.py compares the two for every model and
method).

**Why the padding is exact.** Write a padded state as y = (y_real, y_pad), with the region
mask R (1 on the real block of every leaf, 0 elsewhere).

1. The padded vector field is ``f_p(y) = where(R, f(y), 0)`` (:func:`masked_field`). At a state
   with y_pad = 0 the real block of f(y) equals the unpadded field of y_real: every product of
   the fields here (DMF: products of block-diagonal factors with a zero pad block, the mask and
   the target zero outside the real block; LoRA: A, B, Y and the rank columns zero outside it)
   has zeros where the real problem has no index, and the extra terms of each sum are
   products with a zero factor. ``where`` then makes f_p's pad entries exactly 0 (not 0·x,
   which is NaN for x = inf), whatever the linear algebra returns there.
2. Every Runge–Kutta stage, the new state and the error estimate are linear combinations
   y + h Σ a_ij k_j of the state and field values with finite coefficients, so their pad
   entries are sums of exact zeros: 0 (Euler, Tsit5, Dopri, Bosh3, RKC2 alike). By induction
   over accepted and rejected steps y_pad = 0 along the whole trajectory, for every finite
   step size (the controller proposes only finite ones). A discrete method's update is masked
   the same way (:class:`PaddedSteps`), so params_pad = 0 after every step.
3. The controller's error norm is the RMS over the *real* entries, ‖e‖₂ / √(real count)
   (:class:`RealNorm`): the pad entries of e / (atol + rtol |y|) are 0/atol = 0 and contribute
   nothing to ‖e‖₂, so every step-size decision (the first step included) is the unpadded
   one, up to the order in which XLA sums the squares.
4. The stabilised solvers (``rkc2``, ``tsit5-rkc2``) choose their stage count and their switch
   from a power-iteration estimate of ρ(∂f/∂y). Because f_p is masked, its Jacobian is the
   unpadded Jacobian on the real block and 0 elsewhere; the iteration starts from the unpadded
   start vector embedded in the real block (:func:`real_start`: JAX's partitionable threefry
   draws element i of a flat normal array independently of the array's length), so every
   estimate, every stage count and every switch equals the unpadded run's.
5. DMF depth (:func:`depth_bucket`): L factors run as ``depth_bucket(L)``, the extra ones
   identity matrices placed after W_L with an empty region, so the masked field keeps them
   exactly I; I·X = X exactly (each sum is x·1 plus exact zeros), so the product, the loss and
   every real layer's field are the unpadded ones; the tangent kernel and the balancedness
   drift sum or maximise over the real layers only, and the identity layers' error-estimate
   entries are 0 (their stages never move).
6. Statistics are computed on the padded state with real-size denominators (the DMF test RMSE
   counts only real hidden entries; the kernel of padded observed entries is zeroed) and
   sliced back (singular values, proxies, saved matrices); final states are sliced before a
   result is packaged, so ranks, spectra and stored arrays are the real ones.

**Equal to what precision.** The padded and unpadded solves do the same operations except that
XLA sums padded arrays in another order, so they agree to rounding (tests/test_buckets.py:
states to 1e-12 and equal step counts on every method). On long runs of the ``tsit5-rkc2``
hybrid this is not enough for equal step counts: its accept/reject and switch decisions are
themselves chaotic at the rounding level (a DMF run to convergence, n = 6, depth 3: one ulp
added to one initial entry changed its 711 accepted / 97 rejected steps to 707–709 / 94–97;
the padded run gave 707 / 94), while the end states still agree to the solver's tolerance.
Long Tsit5 runs too: the worst SGF-4 example of ``gflab check --profile ci`` (LoRA 10×12,
rank 3, 23 146 steps to a relative loss gap of 1e-14) ended with 449–451 rejected steps and
stop times 5.43735616–5.43735670 under one-ulp changes of single entries of B(0); the padded
run (450 rejected, 5.43735614) lies in that spread, and so does its margin.

Not padded (the solve runs on the real shapes): Muon and Newton–Schulz in a 16/32-bit
``ns_dtype`` (their low-precision sums round differently when the reduction length changes, so
equality could hold only to bfloat16 precision), and Muon with a ``shape_scale`` other than
``none`` (its scale is a function of the matrix shape, fixed when the step is traced).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import optimistix as optx

from gflab.sims import rkc as _rkc
from gflab.sims.methods import Method, SpecGD
from gflab.theory import lora as _lora

__all__ = [
    "SIZES",
    "bucket",
    "DEPTHS",
    "depth_bucket",
    "use_buckets",
    "paddable",
    "pad_to",
    "put",
    "region_mask",
    "RealNorm",
    "PaddedFlow",
    "PaddedSteps",
    "padded_method",
    "masked_field",
    "masked_gradient",
    "real_start",
]

SIZES = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
"""Bucket sizes: 8 for every size up to 8 and 16 up to 16 (solves this small cost their per-step
overhead, not their flops: the claims' n ∈ {4, 6, 8} and ranks 3–5 then share one program), then
2^k and 1.5·2^k (at most 1.5× per dimension, ≤ 3.4× the flops of an n³ product). Beyond the
last, multiples of 256."""

_ENV = "GFLAB_BUCKETS"


def bucket(x: int) -> int:
    """The smallest bucket size ≥ ``x`` (x ≥ 1).

    Args:
      x: a real dimension (rows, columns, rank or observed-entry count).
    Returns:
      An entry of :data:`SIZES`, or the next multiple of 256 beyond it.
    """
    x = int(x)
    for s in SIZES:
        if s >= x:
            return s
    return -(-x // 256) * 256


DEPTHS = (2, 4, 8)
"""Depth buckets of DMF: a product of L factors runs with ``depth_bucket(L)`` factors, the extra
ones frozen identities (beyond 8: the next multiple of 8)."""


def depth_bucket(depth: int) -> int:
    """The smallest entry of :data:`DEPTHS` ≥ ``depth``, else the next multiple of 8.

    Args:
        depth: the number L ≥ 1 of DMF factors.

    Returns:
        The padded depth.
    """
    for d in DEPTHS:
        if d >= depth:
            return d
    return -(-int(depth) // 8) * 8


def use_buckets(flag: bool | None = None) -> bool:
    """Whether solves run on bucket shapes: ``flag`` when given, else the environment variable
    ``GFLAB_BUCKETS`` (on unless ``0``, ``off``, ``false`` or ``no``).

    Args:
        flag: an explicit choice, or ``None`` to read the environment.

    Returns:
        True when solves are padded.
    """
    if flag is not None:
        return bool(flag)
    return os.environ.get(_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def paddable(method: Method) -> bool:
    """Whether a padded solve of ``method`` equals the unpadded one (see the module docstring for
    the methods that are not padded, and why).

    Args:
        method: a method object of :mod:`gflab.sims.methods`.

    Returns:
        The method's ``padded_exact``: True for Adaptive, Euler, GD, SpecGD and SmoothedSpecGD,
        and for NewtonSchulz and Muon in float64 (Muon also only without a shape scale).
    """
    return method.padded_exact


def pad_to(a: Any, shape: Sequence[int]) -> np.ndarray:
    """``a`` in the top-left block of a float64 zero array of ``shape`` (same number of axes).

    Args:
        a: an array (or nested lists) no larger than ``shape`` along any axis.
        shape: the padded shape.

    Returns:
        The padded float64 array.
    """
    a = np.asarray(a, dtype=np.float64)
    out = np.zeros(tuple(shape), dtype=np.float64)
    out[tuple(slice(0, k) for k in a.shape)] = a
    return out


def put(a: Any) -> jax.Array:
    """A NumPy array or number on the device as is (``jax.device_put``: unlike ``jnp.asarray``,
    it compiles no staging program, which would be one more entry in the persistent cache).

    Args:
        a: a NumPy array or number (floats are cast to float64).

    Returns:
        The array on the default device.
    """
    a = np.asarray(a)
    return jax.device_put(a.astype(np.float64) if a.dtype.kind == "f" else a)


def region_mask(real: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    """Boolean array of ``shape``, True on the top-left block of size ``real``.

    Args:
        real: the real block's size, one entry per axis.
        shape: the padded shape.

    Returns:
        The boolean mask.
    """
    out = np.zeros(tuple(shape), dtype=bool)
    out[tuple(slice(0, k) for k in real)] = True
    return out


def unpad(a: Any, real: Sequence[int]) -> np.ndarray:
    """The top-left block of size ``real`` of the trailing axes of ``a`` (leading axes kept).

    Args:
        a: a padded array (leading axes, e.g. saved times, are kept whole).
        real: the real sizes of the trailing axes.

    Returns:
        A view of ``a``'s real block.
    """
    a = np.asarray(a)
    lead = a.ndim - len(real)
    return a[(slice(None),) * lead + tuple(slice(0, k) for k in real)]


# ----------------------------------------------------------------------------- fields


@functools.cache
def masked_field(field: Callable) -> Callable:
    """``field(t, y, args)`` with its entries outside ``args["region"]`` (a PyTree of boolean
    arrays shaped like ``y``) set to exactly 0. Cached, so one field gives one compiled solve.

    Args:
        field: a vector field ``field(t, y, args)``.

    Returns:
        The masked field (the same object for the same ``field``).
    """

    def padded(t, y, args):
        return jtu.tree_map(lambda v, r: jnp.where(r, v, 0.0), field(t, y, args), args["region"])

    padded.__name__ = f"padded_{getattr(field, '__name__', 'field')}"
    return padded


@functools.cache
def masked_gradient(gradient: Callable) -> Callable:
    """``gradient(params, args)`` masked to ``args["region"]`` as :func:`masked_field` does.

    Args:
        gradient: a loss gradient ``gradient(params, args)``.

    Returns:
        The masked gradient (the same object for the same ``gradient``).
    """

    def padded(params, args):
        g = gradient(params, args)
        return jtu.tree_map(lambda v, r: jnp.where(r, v, 0.0), g, args["region"])

    padded.__name__ = f"padded_{getattr(gradient, '__name__', 'gradient')}"
    return padded


# ----------------------------------------------------------------------------- continuous


class RealNorm(eqx.Module):
    """RMS norm over the real entries: ‖x‖₂ / √(real count); the count is an array (traced),
    so one compiled solve serves every real size of a bucket.

    Args:
      sqrt_count: √(number of real entries), a float64 scalar array.
    """

    sqrt_count: jax.Array

    def __call__(self, x):
        # optx.rms_norm is two_norm(x) / math.sqrt(size): the same operations on the real count
        return optx.two_norm(x) / self.sqrt_count


_START_SEED = 20260  # sims/rkc.py's _unit_start key (tests/test_buckets.py checks they agree)


def real_start(y0: Any, dims: jax.Array) -> Any:
    """The stabilised solvers' power-iteration start for the real problem, embedded in the
    padded shapes: leaf i's real block equals ``sims.rkc._unit_start`` of the unpadded state.

    ``jax.random.normal(key, (r, c))`` flattened is the first r·c entries of a longer draw with
    the same key (partitionable threefry: each entry's bits come from its own flat index), so
    the real block is gathered from one draw of the padded size with traced r, c.

    Args:
      y0: the padded state (2-D leaves).
      dims: (leaves, 2) int array of the real shapes (traced).
    Returns:
      A unit vector (PyTree like ``y0``) with zero pad entries.
    """
    leaves, treedef = jtu.tree_flatten(y0)
    keys = jax.random.split(jax.random.PRNGKey(_START_SEED), len(leaves))
    out = []
    for i, (k, x) in enumerate(zip(keys, leaves, strict=True)):
        R, C = jnp.shape(x)
        r, c = dims[i, 0], dims[i, 1]
        flat = jax.random.normal(k, (R * C,), jnp.result_type(x))
        ii = jnp.arange(R)[:, None]
        jj = jnp.arange(C)[None, :]
        inside = (ii < r) & (jj < c)
        idx = jnp.where(inside, ii * c + jj, 0)
        out.append(jnp.where(inside, flat[idx], 0.0))
    v = jtu.tree_unflatten(treedef, out)
    return _rkc._lin((1.0 / _rkc._norm(v), v))


@functools.cache
def _real_start_solver(cls: type) -> type:
    """``cls`` (RKC2 or Tsit5RKC) whose first spectral-radius estimate starts from
    :func:`real_start` instead of a draw of the padded shape."""

    class Padded(cls):
        dims: Any = None

        def init(self, terms, t0, t1, y0, args):
            state = super().init(terms, t0, t1, y0, args)
            f = lambda t, y: terms.vf(t, y, args)
            v, rho = _rkc._power(
                f, t0, y0, state.f0, real_start(y0, self.dims), self.init_power_iterations
            )
            return eqx.tree_at(lambda s: (s.v, s.rho), state, (v, rho))

    Padded.__name__ = Padded.__qualname__ = f"Padded{cls.__name__}"
    return Padded


class PaddedFlow(Method):
    """A continuous method run on padded shapes: the inner method's solver, its controller with
    :class:`RealNorm`, and (stabilised solvers) the start vector of :func:`real_start`.

    Args:
      inner: the :class:`~gflab.sims.methods.Adaptive` or :class:`~gflab.sims.methods.Euler`
        method the config asked for.
      sqrt_count: √(real entries of the state), float64 scalar.
      dims: (leaves, 2) int64 array of the state leaves' real shapes.
    """

    inner: Method
    sqrt_count: jax.Array
    dims: jax.Array
    name: ClassVar[str] = "padded-flow"
    padded_exact: ClassVar[bool] = False  # a wrapper of padded shapes is not padded again

    @property
    def max_steps(self):
        """The inner method's step cap."""
        return self.inner.max_steps

    @property
    def spelling(self) -> str:
        return self.inner.spelling

    def diffrax_solver(self):
        """The inner method's solver; a stabilised one (RKC2, Tsit5→RKC2) with its power
        iteration started on the real block (:func:`real_start`)."""
        solver = self.inner.diffrax_solver()
        if isinstance(solver, (_rkc.RKC2, _rkc.Tsit5RKC)):
            fields = {f.name: getattr(solver, f.name) for f in dataclasses.fields(solver) if f.init}
            return _real_start_solver(type(solver))(**fields, dims=self.dims)
        return solver

    def controller(self):
        """The inner method's step-size controller; a PID controller measures the error with
        :class:`RealNorm` (the RMS over the real entries only)."""
        c = self.inner.controller()
        if isinstance(c, diffrax.PIDController):
            return eqx.tree_at(lambda c: c.norm, c, RealNorm(self.sqrt_count))
        return c

    def dt0(self):
        """The inner method's first step."""
        return self.inner.dt0()


class PaddedSteps(Method):
    """A discrete method run on padded shapes: the inner update with its pad entries set to 0;
    SpecGD's polar factor thresholds its singular values at the real shape's rank tolerance
    (:func:`gflab.theory.lora.polar_rank_rtol` of the real shape, not the padded one).

    Args:
      inner: the discrete method the config asked for (:func:`paddable`).
      region: PyTree of boolean arrays shaped like the parameters, True on the real blocks.
      polar_rtol: PyTree of float64 scalars, each leaf's real rank tolerance.
    """

    inner: Method
    region: Any
    polar_rtol: Any
    name: ClassVar[str] = "padded-steps"
    padded_exact: ClassVar[bool] = False  # a wrapper of padded shapes is not padded again
    discrete: ClassVar[bool] = True

    @property
    def spelling(self) -> str:
        return self.inner.spelling

    def init(self, params):
        """The inner method's state.

        Args:
          params (PyTree): the padded initial parameters.

        Returns:
          state (Any): the inner method's ``init(params)``.
        """
        return self.inner.init(params)

    def update(self, grads, state, params):
        """The inner update with its pad entries set to 0 (SpecGD: the polar factor at the real
        shapes' rank tolerances).

        Args:
          grads (PyTree): ∇ℓ at ``params`` (padded).
          state (Any): the inner method's state.
          params (PyTree): the current padded iterate.

        Returns:
          updates_and_state (tuple): (updates, zero outside ``region``; the new inner state).
        """
        if type(self.inner) is SpecGD:
            lr = self.inner.lr
            updates = jtu.tree_map(
                lambda g, tol: -lr * _lora.polar(g, rtol=tol), grads, self.polar_rtol
            )
        else:
            updates, state = self.inner.update(grads, state, params)
        updates = jtu.tree_map(lambda u, r: jnp.where(r, u, 0.0), updates, self.region)
        return updates, state


def padded_method(method: Method, real: Sequence[tuple], shapes: Sequence[tuple]) -> Method:
    """The wrapper of ``method`` for a state whose leaves have real shapes ``real`` embedded in
    ``shapes`` (one pair per leaf, in the state's leaf order).

    Args:
      method: a :func:`paddable` method.
      real, shapes: per-leaf real and padded 2-D shapes.
    Returns:
      A :class:`PaddedFlow` or :class:`PaddedSteps`.
    """
    if method.discrete:
        region = tuple(put(region_mask(r, s)) for r, s in zip(real, shapes, strict=True))
        tols = tuple(put(_lora.polar_rank_rtol(r)) for r in real)
        return PaddedSteps(method, region, tols)
    count = sum(int(np.prod(r)) for r in real)
    return PaddedFlow(
        method,
        put(math.sqrt(count)),
        put(np.asarray(real, dtype=np.int64).reshape(len(real), 2)),
    )
