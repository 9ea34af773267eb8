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

Schedules: gflab's runs T_c steps on Ω1 and ``post_steps`` on Ω2 and measures the end. Their loop
(``for T in range(T_c + post)``, the Ω1 loss while ``T <= T_c``, the test loss taken before the
step of the last iteration) measures the state after T_c + 1 steps on Ω1 and post − 2 on Ω2:
``schedule="kleinman"`` runs exactly that. Problems: gflab's draw (:func:`kleinman_problem`),
their seeded draw (:func:`kleinman_authors_problem`: NumPy's legacy generator for the truth,
torch's for the observations and the init, as their script seeds both), or a file
(:func:`load_kleinman_problem`). ``gflab simulate kleinman`` runs one (depth, seed, N2)
(:class:`KleinmanConfig`, docs/reproduce-the-authors.md).

Efficiency: phase 1 runs once to the largest T_c and branches at every T_c of the grid; GD is a
jitted ``lax.scan`` over fixed chunks (one compile per (n, depth)). Full scale (n = 100, T_c up to
1e5, 30 000 steps after, N2 ∈ {1250, …, 2000}, 4 depths, 3 seeds) is about 1.2e6 GD steps per
(depth, seed): a long run. ``kleinman_scale(fast=True)`` gives a reduced protocol for figures.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass, field

import jax
import numpy as np

import gflab.sims._jaxsetup  # noqa: F401
from gflab.sims.config import DMFConfig
from gflab.sims.dmf import solve_dmf_from
from gflab.sims.limits import FLOAT64_BYTES, require_fits
from gflab.theory import dmf as T
from gflab.theory._validate import Choice, positive_int, positive_real
from gflab.theory.errors import GflabInputError

__all__ = [
    "KleinmanScale",
    "kleinman_scale",
    "kleinman_problem",
    "kleinman_authors_problem",
    "load_kleinman_problem",
    "run_kleinman",
    "KleinmanRun",
    "KleinmanConfig",
    "simulate_kleinman",
    "Schedule",
    "Draw",
    "SCHEDULES",
    "DRAWS",
]


class Schedule(Choice):
    """Which state a run measures (module docstring): ``gflab``'s, T_c steps on Ω1 then
    ``post_steps`` on Ω2, or their loop's, T_c + 1 then ``post_steps`` − 2."""

    KLEINMAN = "kleinman"
    GFLAB = "gflab"

    @property
    def offsets(self) -> tuple[int, int]:
        """(extra Ω1 steps after T_c, change of the Ω2 steps): (0, 0) for gflab's, (1, −2) for
        theirs."""
        return (1, -2) if self is Schedule.KLEINMAN else (0, 0)


class Draw(Choice):
    """The problem's random draw: their script's generators (``kleinman``) or gflab's (NumPy
    ``default_rng``)."""

    KLEINMAN = "kleinman"
    GFLAB = "gflab"


SCHEDULES = tuple(Schedule)
DRAWS = tuple(Draw)


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
        positive_int("chunk", self.chunk)
        for t in self.t_c:
            if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
                raise GflabInputError("t_c", "whole step counts >= 0", t)
        positive_int("post_steps", self.post_steps, minimum=2)


def kleinman_scale(fast: bool = False) -> KleinmanScale:
    """Kleinman's full scale, or (``fast``) n = 30, rank 2, N1 = 135 → N2 = 270 and a short grid.

    The reduced scale keeps N1 = 15% and N2 = 30% of the entries and a rank well below the sample
    budget, with 3 seeds and 10 000 steps after the switch.

    Args:
        fast: the reduced scale.

    Returns:
        The scale (sizes, sample counts, T_c grid, seeds).
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
    """(initial factors, target, observation order) for one seed, as NumPy float64.

    Args:
        scale: the experiment's scale.
        depth: the number of factors L.
        seed: the seed.

    Returns:
        (factors, target, order).
    """
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


def kleinman_authors_problem(scale: KleinmanScale, depth: int, seed: int, n2: int):
    """(initial factors, target, observation order) as Kleinman et al.'s ``main-num-examples.py``
    draws them for one run (one N2), NumPy float64 of their float32 values.

    Their script seeds NumPy's legacy global generator and torch's with ``seed``; draws the truth
    U, V = randn(n, r) in float32 (W* = U Vᵀ/√r rescaled to ‖W*‖_F = n, with their expression);
    then N2 observed entries by ``torch.multinomial(ones(n²), N2)`` without
    replacement (Ω1 = the first N1); then reseeds both and draws each layer's weight with
    ``normal_(std = init^{1/L}/√n)``, first layer first. Their product is
    weight_1ᵀ weight_2ᵀ ⋯ weight_Lᵀ, which is gflab's W_L ⋯ W_1 with W_l = weight_{L+1−l}ᵀ.

    Args:
      scale: n, rank, init_scale are used.
      depth: number of layers L.
      seed: their ``seed``.
      n2: their ``ntrain_samples2`` (how many entries the draw observes).

    Returns:
      (factors W_1..W_L, target, order): ``order`` holds the N2 observed entries' flat indices
      (row-major), in draw order.
    """
    try:
        import torch
    except ImportError:  # an optional dependency (the bridge extra)
        raise GflabInputError(
            "draw",
            "gflab, or torch installed (pip install 'gflab[bridge]') for their draw",
            "kleinman",
        ) from None

    n, r = scale.n, scale.rank
    legacy = np.random.RandomState(seed)
    U = legacy.randn(n, r).astype(np.float32)
    V = legacy.randn(n, r).astype(np.float32)
    # their expression, so NumPy's promotion rules apply as they do to their script (NumPy ≥ 2:
    # float32 / a float64 scalar is float64)
    W = U.dot(V.T) / np.sqrt(r)
    W = W / np.linalg.norm(W, "fro") * n
    gen = torch.Generator().manual_seed(seed)
    order = torch.multinomial(torch.ones(n * n), int(n2), replacement=False, generator=gen)
    gen = torch.Generator().manual_seed(seed)  # their init_model seeds again
    std = scale.init_scale ** (1.0 / depth) * n**-0.5
    weights = [torch.empty(n, n).normal_(0.0, std, generator=gen) for _ in range(depth)]
    factors = [w.double().numpy().T.copy() for w in reversed(weights)]
    return factors, W.astype(np.float64), order.numpy().astype(np.int64)


def load_kleinman_problem(path, n: int, depth: int, n2: int):
    """(factors, target, order) from an .npz file holding ``target`` (n×n), ``order`` (at least
    N2 distinct flat row-major indices of observed entries, in observation order: Ω1 = the first
    N1, Ω2 = the first N2) and ``W1`` … ``WL`` (n×n, W = W_L ⋯ W_1). Every error is one
    :class:`GflabInputError` naming ``problem_file``.

    Args:
        path: the .npz file.
        n: the matrix size.
        depth: the number of factors L.
        n2: N2, the number of entries observed in phase 2.

    Returns:
        (factors, target, order), as NumPy float64 (order: int64).
    """
    from gflab.sims.config import load_factors

    if not isinstance(path, str) or not path:
        raise GflabInputError("problem_file", "a path to an .npz file", path)
    try:
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
            order = np.asarray(z["order"]) if "order" in names else None
    except (OSError, ValueError) as e:
        raise GflabInputError("problem_file", "a readable .npz file", f"{path} ({e})") from None
    if order is None:
        raise GflabInputError("problem_file", "an array named order", f"arrays {sorted(names)}")
    if order.ndim != 1 or order.size < n2 or not np.issubdtype(order.dtype, np.integer):
        raise GflabInputError(
            "problem_file",
            f"order: at least N2 = {n2} integer indices",
            f"{order.dtype} {order.shape}",
        )
    order = order.astype(np.int64)
    if order.min() < 0 or order.max() >= n * n or np.unique(order[:n2]).size != n2:
        raise GflabInputError(
            "problem_file",
            f"order: distinct indices in [0, {n * n})",
            f"min {order.min()}, max {order.max()}, {np.unique(order[:n2]).size} distinct of {n2}",
        )
    shapes = {"target": (n, n), **{f"W{i}": (n, n) for i in range(1, depth + 1)}}
    arrays = load_factors("problem_file", path, {**shapes, "order": order.shape})
    return arrays[1 : depth + 1], arrays[0], order


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


def _put(a) -> jax.Array:
    """A NumPy value on the device as a float64/int64 array, compiling nothing."""
    a = np.asarray(a)
    return jax.device_put(a.astype(np.float64) if a.dtype.kind == "f" else a)


def _gd(fs, mask, target, lr, steps, chunk, keep):
    step = lr / float(mask.sum())
    ks, svs = [], []
    # device_put of NumPy values: jnp.asarray would compile a conversion program each
    m, t = _put(mask), _put(target)
    sizes = [chunk] * (steps // chunk) + ([steps % chunk] if steps % chunk else [])
    done = 0
    for size in sizes:
        fs = _gd_chunk(fs, m, t, _put(step), steps=size)
        done += size
        _, sig = _measure(fs, target)
        ks.append(done)
        svs.append(sig[:keep])
    return fs, np.asarray(ks, dtype=float), np.asarray(svs).reshape(len(ks), -1)


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
        tuple(_put(f) for f in raw.final_state),
        raw.times / lr,
        raw.saved["singular_values"],
    )


def run_kleinman(
    scale: KleinmanScale,
    depth: int,
    seed: int,
    *,
    gradient_flow: bool = False,
    keep: int = 10,
    schedule: Schedule = Schedule.GFLAB,
    problem=None,
) -> KleinmanRun:
    """Phase 1 to max T_c (branching at each T_c), then phase 2 for every N2 from each branch.

    Args:
      scale: the protocol's sizes.
      depth, seed: the run (``seed`` draws the problem unless ``problem`` is given).
      gradient_flow: the flow limit instead of GD (gflab's schedule only).
      keep: singular values kept in the traces.
      schedule: a :class:`Schedule` (or its spelling): ``gflab`` (T_c steps on Ω1, then
        ``post_steps``) or ``kleinman`` (their loop's measured state: T_c + 1 steps on Ω1, then
        ``post_steps`` − 2).
      problem: (factors, target, order) to use instead of :func:`kleinman_problem`'s draw.

    Returns:
      A :class:`KleinmanRun`.
    """
    depth = positive_int("depth", depth)
    schedule = Schedule.parse(schedule, "schedule")
    if gradient_flow and schedule is not Schedule.GFLAB:
        raise GflabInputError("schedule", "gflab with the gradient-flow variant", schedule)
    t0 = time.perf_counter()
    if problem is None:
        problem = kleinman_problem(scale, depth, seed)
    factors, target, order = problem
    if max(scale.n2) > len(order):
        raise GflabInputError("n2", f"at most the {len(order)} observed entries", max(scale.n2))
    m1 = _mask(scale.n, order, scale.n1)
    out = KleinmanRun(depth, seed, scale, gradient_flow=gradient_flow)
    fs = tuple(_put(f) for f in factors)
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
        more, change = schedule.offsets  # their loop: one more Ω1 step, two fewer Ω2 steps
        branch, start, post = fs, tc + more, scale.post_steps + change
        if more:
            branch, _, _ = _gd(fs, m1, target, scale.lr, more, scale.chunk, keep)
        for n2 in scale.n2:
            m2 = _mask(scale.n, order, n2)
            if gradient_flow:
                f2, k, s = _flow(branch, m2, target, scale.lr, post)
            else:
                f2, k, s = _gd(branch, m2, target, scale.lr, post, scale.chunk, keep)
            err, _ = _measure(f2, target)
            out.test_error.setdefault(n2, {})[tc] = err
            out.traces[(n2, tc)] = (k + start, np.asarray(s)[:, :keep])
    out.phase1_trace = (np.asarray(ks1), np.asarray(sv1))
    out.wall_seconds = time.perf_counter() - t0
    return out


# ----------------------------------------------------------------------------- one run by command


@dataclass(frozen=True)
class KleinmanConfig:
    """One run of Kleinman et al.'s critical-period protocol (``gflab simulate kleinman``): one
    depth, seed and N2, phase 2 from every switch step T_c.

    Defaults are their ``configs/num-examples.yaml`` (n = 100, rank 5, N1 = 1000, N2 = 1250, lr
    0.2, init 1e-3, seed 1, 30 000 steps after the switch, T_c from 0 to 1e5), their draw and their
    schedule. ``draw`` picks the problem's generator (``kleinman``: their script's, needs torch;
    ``gflab``: :func:`kleinman_problem`), ``problem_file`` reads it instead
    (:func:`load_kleinman_problem`); ``schedule`` as in :func:`run_kleinman`.
    """

    depth: int = 3
    seed: int = 1
    n: int = 100
    rank: int = 5
    n1: int = 1000
    n2: int = 1250
    t_c: tuple = (0, 1000, 5000, 10_000, 20_000, 40_000, 60_000, 80_000, 100_000)
    post_steps: int = 30_000
    lr: float = 0.2
    init_scale: float = 1e-3
    draw: Draw = Draw.KLEINMAN
    schedule: Schedule = Schedule.KLEINMAN
    problem_file: str | None = None

    model = "kleinman"  # the key of sims.models.MODELS (``gflab simulate kleinman``)

    def __post_init__(self):
        for name in ("lr", "init_scale"):
            v = getattr(self, name)
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                object.__setattr__(self, name, float(v))
        tcs = tuple(self.t_c) if isinstance(self.t_c, (tuple, list)) else (self.t_c,)
        for t in tcs:  # a comma list arrives as floats: whole numbers only
            if isinstance(t, bool) or not isinstance(t, (int, float, np.number)) or t < 0 or t % 1:
                raise GflabInputError("t_c", "whole step counts >= 0", t)
        object.__setattr__(self, "t_c", tuple(sorted({int(t) for t in tcs})))
        if not self.t_c:
            raise GflabInputError("t_c", "at least one switch step", self.t_c)
        positive_int("depth", self.depth)
        n = positive_int("n", self.n)
        # the factors, their products and one gradient per factor: ~3L + 4 n×n arrays
        require_fits("n", FLOAT64_BYTES * float(n) ** 2 * (3 * self.depth + 4), n)
        positive_int("seed", self.seed, minimum=0)
        object.__setattr__(self, "draw", Draw.parse(self.draw, "draw"))
        object.__setattr__(self, "schedule", Schedule.parse(self.schedule, "schedule"))
        positive_int("n2", self.n2)
        self.scale()  # n, rank, n1 <= n2 <= n², lr, init_scale, post_steps
        if self.problem_file is not None:
            load_kleinman_problem(self.problem_file, self.n, self.depth, self.n2)

    def scale(self) -> KleinmanScale:
        """The :class:`KleinmanScale` of this run."""
        return KleinmanScale(
            n=self.n,
            rank=self.rank,
            n1=self.n1,
            n2=(self.n2,),
            t_c=self.t_c,
            post_steps=self.post_steps,
            lr=self.lr,
            init_scale=self.init_scale,
            depths=(self.depth,),
            seeds=(self.seed,),
        )

    def problem(self):
        """(factors, target, order): from the file, their draw, or gflab's."""
        if self.problem_file is not None:
            return load_kleinman_problem(self.problem_file, self.n, self.depth, self.n2)
        if self.draw is Draw.KLEINMAN:
            return kleinman_authors_problem(self.scale(), self.depth, self.seed, self.n2)
        return kleinman_problem(self.scale(), self.depth, self.seed)

    def to_dict(self) -> dict:
        """The config as a JSON-ready dict (what the store keys and the record's metadata hold)."""
        d = {"model": self.model, **asdict(self), "t_c": list(self.t_c)}
        if self.problem_file is None:
            del d["problem_file"]
        else:
            from gflab.sims.config import factors_digest

            factors, target, order = self.problem()
            d["problem_sha256"] = factors_digest([target, order.astype(np.float64), *factors])
        return d


def simulate_kleinman(config: KleinmanConfig) -> dict:
    """Run ``config``: the test error mean_{all entries}(W − W*)² after phase 2 for each T_c, the
    top singular values at the end, and the run's seconds, as a JSON-ready dict.

    Args:
        config: the experiment.

    Returns:
        The JSON-ready dict.
    """
    if not isinstance(config, KleinmanConfig):
        raise GflabInputError("config", "a KleinmanConfig", config)
    run = run_kleinman(
        config.scale(),
        config.depth,
        config.seed,
        schedule=config.schedule,
        problem=config.problem(),
    )
    n2 = config.n2
    steps = config.schedule.offsets
    return {
        "config": config.to_dict(),
        "t_c": list(config.t_c),
        "phase1_steps": [tc + steps[0] for tc in config.t_c],
        "phase2_steps": config.post_steps + steps[1],
        "test_error": [run.test_error[n2][tc] for tc in config.t_c],
        "singular_values": [run.traces[(n2, tc)][1][-1][:8].tolist() for tc in config.t_c],
        "wall_seconds": run.wall_seconds,
    }
