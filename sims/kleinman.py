"""Kleinman, Achille & Soatto's critical-period matrix completion at scale (docs/theory.md §2.1, plasticity).

Protocol (their ``main-num-examples.py``, reimplemented): a rank-5 truth W* = U Vᵀ/√r rescaled to
‖W*‖_F = n (entries of RMS 1); a random permutation of the n² entries; Ω2 = its first N2 entries
and Ω1 ⊂ Ω2 its first N1. GD with step 0.2 on the *mean* loss ½ mean_{Ω}(W − W*)² (so the
effective per-entry step is 0.2/|Ω|), Gaussian factors with std init^{1/L}/√n. Phase 1 runs T_c
steps on Ω1, phase 2 runs ``post_steps`` more on Ω2. The measured outcome is the test error
mean_{all entries}(W − W*)² at the end (their ``get_test_loss``), and the singular values over time.

Depth 1 (a single trained matrix, no factorisation) is allowed *only here*, as in Kleinman's
experiments: it is the convex baseline without a critical period. ``gradient_flow=True`` replaces
GD by its flow limit (time t = 0.2 × steps, mean loss, Tsit5 via :mod:`gflab.sims.dmf`, depth ≥ 2).

Efficiency: phase 1 runs once to the largest T_c and branches at every T_c of the grid; GD is a
jitted ``lax.scan`` over fixed chunks (one compile per (n, depth)). Full scale (n = 100, T_c up to
1e5, 30 000 steps after, N2 ∈ {1250, …, 2000}, 4 depths, 3 seeds) is about 1.2e6 GD steps per
(depth, seed): a long run. ``kleinman_scale(fast=True)`` gives a reduced protocol for figures.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

import gflab.sims._jaxsetup  # noqa: F401
from gflab.sims.config import DMFConfig
from gflab.sims.dmf import solve_dmf_from
from gflab.theory import dmf as T
from gflab.theory._validate import GflabInputError, positive_int, positive_real

__all__ = ["KleinmanScale", "kleinman_scale", "kleinman_problem", "run_kleinman", "KleinmanRun"]


@dataclass(frozen=True)
class KleinmanScale:
    """One protocol size. ``t_c`` are switch steps; ``n2`` the phase-2 observation counts."""

    n: int = 100
    rank: int = 5
    n1: int = 1000
    n2: tuple = (1250, 1500, 1750, 2000)
    t_c: tuple = (0, 1000, 5000, 10_000, 20_000, 40_000, 60_000, 80_000, 100_000)
    post_steps: int = 30_000
    lr: float = 0.2
    init_scale: float = 1e-3
    depths: tuple = (1, 2, 3, 4)
    seeds: tuple = (0, 1, 2)
    chunk: int = 1000  # GD steps per compiled chunk; every T_c must be a multiple

    def __post_init__(self):
        positive_int("n", self.n)
        positive_int("rank", self.rank)
        if not 0 < self.n1 <= min(self.n2) <= max(self.n2) <= self.n * self.n:
            raise GflabInputError("n1/n2", "0 < N1 <= N2 <= n²", (self.n1, self.n2))
        positive_real("lr", self.lr)
        positive_real("init_scale", self.init_scale)
        for t in self.t_c + (self.post_steps,):
            if t < 0 or t % self.chunk:
                raise GflabInputError("t_c", f"multiples of chunk={self.chunk}", t)


def kleinman_scale(fast: bool = False) -> KleinmanScale:
    """Kleinman's full scale, or (``fast``) n = 30, rank 2, N1 = 135 → N2 = 270 and a short grid.

    The reduced scale keeps N1 = 15% and N2 = 30% of the entries and a rank well below the sample
    budget, with 3 seeds and 10 000 steps after the switch.
    """
    if not fast:
        return KleinmanScale()
    return KleinmanScale(
        n=30,
        rank=2,
        n1=135,
        n2=(270,),
        t_c=(0, 1000, 3000, 10_000, 30_000),
        post_steps=10_000,
        depths=(1, 2, 3),
        seeds=(0, 1, 2),
        chunk=1000,
    )


def kleinman_problem(scale: KleinmanScale, depth: int, seed: int):
    """(initial factors, target, observation order) for one seed, as NumPy float64."""
    rng = np.random.default_rng(seed)
    n, r = scale.n, scale.rank
    U = rng.standard_normal((n, r))
    V = rng.standard_normal((n, r))
    W = U @ V.T / math.sqrt(r)
    W = W / np.linalg.norm(W) * n
    order = rng.permutation(n * n)
    std = scale.init_scale ** (1.0 / depth) / math.sqrt(n)
    factors = [std * rng.standard_normal((n, n)) for _ in range(depth)]
    return factors, W, order


def _mask(n: int, order: np.ndarray, count: int) -> np.ndarray:
    m = np.zeros(n * n)
    m[order[:count]] = 1.0
    return m.reshape(n, n)


@functools.partial(jax.jit, static_argnames=("steps",))
def _gd_chunk(factors, mask, target, step, steps):
    """``steps`` GD steps W_l += step · field_l (field of the sum loss; step = lr/|Ω| for the mean)."""

    def one(fs, _):
        g = T.gradient_field(list(fs), mask, target)
        return tuple(f + step * x for f, x in zip(fs, g, strict=True)), None

    out, _ = jax.lax.scan(one, tuple(factors), None, length=steps)
    return out


def _measure(fs, target):
    W = np.asarray(T.product([np.asarray(f) for f in fs]))
    sig = np.linalg.svd(W, compute_uv=False)
    return float(np.mean((W - target) ** 2)), sig


@dataclass
class KleinmanRun:
    """Results of one (depth, seed): ``test_error[N2][T_c]`` and singular-value traces."""

    depth: int
    seed: int
    scale: KleinmanScale
    test_error: dict = field(default_factory=dict)
    traces: dict = field(default_factory=dict)  # (N2, T_c) -> (steps, top singular values)
    phase1_trace: tuple = ()
    wall_seconds: float = 0.0
    gradient_flow: bool = False


def _gd(fs, mask, target, lr, steps, chunk, keep):
    step = lr / float(mask.sum())
    ks, svs = [], []
    m, t = jnp.asarray(mask), jnp.asarray(target)
    for c in range(steps // chunk):
        fs = _gd_chunk(fs, m, t, jnp.asarray(step), steps=chunk)
        _, sig = _measure(fs, target)
        ks.append((c + 1) * chunk)
        svs.append(sig[:keep])
    return fs, np.asarray(ks, dtype=float), np.asarray(svs)


def _flow(fs, mask, target, lr, steps, n_save=60):
    """Gradient flow of the mean loss for flow time lr·steps (the GD steps' continuum limit)."""
    depth, n = len(fs), mask.shape[0]
    if depth < 2:
        raise GflabInputError("depth", "depth >= 2 for the gradient-flow variant", depth)
    cfg = DMFConfig(
        depth=depth,
        n=n,
        init="gaussian",
        t1=lr * steps,
        normalisation="mean",
        n_save=n_save,
        grid="linear",
        rtol=1e-7,
        atol=1e-12,
    )
    raw = solve_dmf_from(cfg, [np.asarray(f) for f in fs], mask, target)
    if raw.final_state is None:
        raise GflabInputError("flow", "a finite gradient-flow solution", raw.status)
    return (
        tuple(jnp.asarray(f) for f in raw.final_state),
        raw.times / lr,
        raw.saved["singular_values"],
    )


def run_kleinman(
    scale: KleinmanScale, depth: int, seed: int, *, gradient_flow: bool = False, keep: int = 10
) -> KleinmanRun:
    """Phase 1 to max T_c (branching at each T_c), then phase 2 for every N2 from each branch."""
    depth = positive_int("depth", depth)
    t0 = time.perf_counter()
    factors, target, order = kleinman_problem(scale, depth, seed)
    m1 = _mask(scale.n, order, scale.n1)
    out = KleinmanRun(depth, seed, scale, gradient_flow=gradient_flow)
    fs = tuple(jnp.asarray(f) for f in factors)
    done = 0
    ks1, sv1 = [0.0], [_measure(fs, target)[1][:keep]]
    for tc in sorted(scale.t_c):
        if tc > done:
            if gradient_flow:
                fs, k, s = _flow(fs, m1, target, scale.lr, tc - done)
            else:
                fs, k, s = _gd(fs, m1, target, scale.lr, tc - done, scale.chunk, keep)
            ks1 += list(k + done)
            sv1 += list(np.asarray(s)[:, :keep])
            done = tc
        for n2 in scale.n2:
            m2 = _mask(scale.n, order, n2)
            if gradient_flow:
                f2, k, s = _flow(fs, m2, target, scale.lr, scale.post_steps)
            else:
                f2, k, s = _gd(fs, m2, target, scale.lr, scale.post_steps, scale.chunk, keep)
            err, _ = _measure(f2, target)
            out.test_error.setdefault(n2, {})[tc] = err
            out.traces[(n2, tc)] = (k + tc, np.asarray(s)[:, :keep])
    out.phase1_trace = (np.asarray(ks1), np.asarray(sv1))
    out.wall_seconds = time.perf_counter() - t0
    return out
