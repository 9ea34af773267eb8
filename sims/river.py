"""A river-valley model for Muon and AMUSE (docs/theory.md §2.4, docs/dash-amuse.md).

The loss is a quadratic in a matrix W ∈ ℝ^{rows × cols} whose curvature acts on columns:

  f(W) = ½ tr((W − W*) H (W − W*)ᵀ),   H = diag(h_1, …, h_cols),   ∇f = (W − W*) H,

with ``bulk`` flat columns (curvature h_bulk: the river, far from its target) and the remaining
steep columns (curvature h_wall: the valley walls). W(0) = 0 and W* = the identity's first
``cols`` columns (every column has unit distance to travel). Stochastic gradients add σ ξ_k,
ξ_k i.i.d. standard Gaussian matrices (drawn from ``seed``); σ = 0 is deterministic.

Methods (one run each, the same noise draws): GD at step ``lr_gd``; Muon as AMUSE's base step
alone (momentum μ, Nesterov, Newton–Schulz, AMUSE's shape scale and warmup; ``averaging=False``);
AMUSE as published (:class:`gflab.theory.schedule_free.AMUSE`: β₁, ρ, warmup T₀, r, p); and
Schedule-Free Muon, the same AMUSE with ρ = 0 (β stays β₁: the schedule switched off).

Measured on each method's evaluation sequence (W for GD and Muon; for the Schedule-Free methods
the average x, which is their output, and also the fast z and the gradient point y):

- *bulk progress* P_k = 1 − ‖(W_k − W*)_bulk‖_F / ‖(W_0 − W*)_bulk‖_F (1 = arrived);
- *bulk speed* k_90: the first step with P_k ≥ 0.9 (∞ if not within the horizon);
- *wall amplitude* A = RMS over the last quarter of the steps of ‖(W_k − W*)_wall‖_F.

Orthogonalisation (Muon's Newton–Schulz) equalises the singular values of the step, so the flat
columns move as fast as the steep ones (bulk speed-up) while the steep ones keep a step of size ≈ η
that never decays at the bottom of the valley (oscillation). GD's step is proportional to the
curvature: slow in the bulk, damped on the walls.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np

from gflab.theory._validate import GflabInputError, one_of, positive_int, positive_real, probability
from gflab.theory.optim import MUON_MOMENTUM, apply_updates
from gflab.theory.schedule_free import AMUSE, AUX_UPDATE_TYPES

__all__ = [
    "RiverConfig",
    "river_problem",
    "simulate_river",
    "stored_river",
    "METHODS",
    "river_loss_gradient",
]

METHODS = ("gd", "muon", "sf-muon", "amuse")
# the valley's width: its behaviour depends on cols and bulk; rows and cols beyond this add cost only
MAX_SIDE = 4096
# measured on a 2-core CPU (all four methods, one step): ~0.6 ms + ~4e-7 s per rows·cols·min(rows,
# cols) of Newton-Schulz work (1000×4: 1.6 ms, 100000×4: 0.7 s, 200×200: 0.84 s per step)
_STEP_SECONDS = (6e-4, 4e-7)
# float64 ranges: curvatures and steps whose products with O(1) distances stay far from overflow
# (1e308) and underflow (a step 1/h_wall of 1e320 is inf); outside them a run is NaN, not a result
_RANGES = {
    "h_bulk": (1e-12, 1e12),
    "h_wall": (1e-12, 1e12),
    "noise": (0.0, 1e6),
    "lr": (1e-12, 1e6),
    "lr_gd": (1e-12, 1e12),
}
BULK_FRACTION = 0.9  # "arrived in the bulk": progress ≥ 90 %, from then on


@dataclass(frozen=True)
class RiverConfig:
    """One river-valley run of every method in :data:`METHODS` (same noise draws for all).

    ``lr_gd`` is GD's step (default 1/h_wall: GD's fastest non-oscillating step on the walls);
    ``lr`` is the base learning rate of Muon, Schedule-Free Muon and AMUSE (the same for the three,
    times AMUSE's shape scale, warmed up linearly over ``warmup_steps``). ``beta1``, ``rho``,
    ``warmup_steps``, ``momentum``, ``r``, ``weight_lr_power``, ``weight_decay`` and
    ``aux_update_type`` are AMUSE's published hyper-parameters (defaults: the authors' language-model
    script's β₁ = 0.6, ρ = 0.8, μ = 0.95; T₀ = 100 = 10 % of the default run).
    """

    rows: int = 4
    cols: int = 4
    bulk: int = 2
    h_bulk: float = 1e-3
    h_wall: float = 1.0
    noise: float = 0.0
    lr: float = 0.01
    lr_gd: float | None = None
    steps: int = 1000
    beta1: float = 0.6
    rho: float = 0.8
    warmup_steps: int | None = None  # None: a tenth of the steps (100 of the default 1000)
    momentum: float = MUON_MOMENTUM
    r: float = 0.0
    weight_lr_power: float = 2.0
    weight_decay: float = 0.0
    aux_update_type: str = "adamw"
    seed: int = 0

    model = "river"  # the key of sims.models.MODELS (``gflab simulate river``)
    _FLOATS = (
        "h_bulk",
        "h_wall",
        "noise",
        "lr",
        "lr_gd",
        "beta1",
        "rho",
        "momentum",
        "r",
        "weight_lr_power",
        "weight_decay",
    )

    def __post_init__(self):
        for name in self._FLOATS:  # 10 and 10.0 are one config, so one store key
            v = getattr(self, name)
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                object.__setattr__(self, name, float(v))
        for name, lo in (("rows", 1), ("cols", 2)):
            v = positive_int(name, getattr(self, name), minimum=lo)
            if v > MAX_SIDE:
                raise GflabInputError(name, f"an integer in [{lo}, {MAX_SIDE}]", v)
        positive_int("bulk", self.bulk)
        if self.bulk >= self.cols:
            raise GflabInputError("bulk", f"fewer than cols = {self.cols}", self.bulk)
        if self.cols > self.rows:
            raise GflabInputError("cols", f"at most rows = {self.rows}", self.cols)
        positive_real("h_bulk", self.h_bulk)
        positive_real("h_wall", self.h_wall)
        positive_real("noise", self.noise, allow_zero=True)
        positive_real("lr", self.lr)
        if self.lr_gd is not None:
            positive_real("lr_gd", self.lr_gd)
        positive_int("steps", self.steps, minimum=8)
        for name, (lo, hi) in _RANGES.items():
            v = getattr(self, name)
            if v is not None and not lo <= v <= hi and not (v == 0 and lo == 0):
                raise GflabInputError(name, f"a number in [{lo:g}, {hi:g}]", v)
        self._require_budget()
        if self.warmup_steps is None:
            object.__setattr__(self, "warmup_steps", max(1, self.steps // 10))
        probability("beta1", self.beta1)
        positive_real("rho", self.rho, allow_zero=True)
        positive_int("warmup_steps", self.warmup_steps)
        if self.warmup_steps >= self.steps:
            raise GflabInputError(
                "warmup_steps", f"fewer than steps = {self.steps}", self.warmup_steps
            )
        if not 0 <= self.momentum < 1:
            raise GflabInputError("momentum", "a number in [0, 1)", self.momentum)
        positive_real("r", self.r, allow_zero=True)
        positive_real("weight_lr_power", self.weight_lr_power, allow_zero=True)
        positive_real("weight_decay", self.weight_decay, allow_zero=True)
        one_of("aux_update_type", self.aux_update_type, AUX_UPDATE_TYPES)
        positive_int("seed", self.seed, minimum=0)

    def _require_budget(self) -> None:
        """Refuse before allocating: the noise draws (steps × rows × cols) and the estimated time."""
        from gflab.sims.limits import FLOAT64_BYTES, require_fits, require_time

        size = float(self.rows) * float(self.cols)
        # the noise draws, plus per step 8 recorded floats of 8 sequences in Python lists
        require_fits(
            "steps", FLOAT64_BYTES * (float(self.steps) * (size + 64) + 16 * size), self.steps
        )
        c0, c1 = _STEP_SECONDS
        require_time(
            "steps", float(self.steps) * (c0 + c1 * size * min(self.rows, self.cols)), self.steps
        )

    @property
    def gd_step(self) -> float:
        """GD's step: ``lr_gd``, or 1/h_wall when it is not given."""
        return self.lr_gd if self.lr_gd is not None else 1.0 / self.h_wall

    def amuse(self, rho: float | None = None) -> AMUSE:
        """The published AMUSE with this config's hyper-parameters (``rho`` overrides ρ).

        Args:
            rho: ρ to use instead of the config's (0: Schedule-Free Muon).

        Returns:
            The optimiser (docs/theory.md §2.4).
        """
        return AMUSE(
            lr=self.lr,
            momentum=self.momentum,
            beta1=self.beta1,
            rho=self.rho if rho is None else rho,
            warmup_steps=self.warmup_steps,
            r=self.r,
            weight_lr_power=self.weight_lr_power,
            weight_decay=self.weight_decay,
            aux_update_type=self.aux_update_type,
        )

    def to_dict(self) -> dict:
        """The config as JSON-ready fields, with ``"model": "river"``."""
        return {"model": "river", **asdict(self)}


def river_problem(config: RiverConfig):
    """(W0, W*, h): ``rows × cols`` zeros, the identity's first columns, the column curvatures.

    Args:
        config: the run's config (``rows``, ``cols``, ``bulk``, ``h_bulk``, ``h_wall``).

    Returns:
        problem (tuple): W0 and W* (rows, cols), and h (cols,): ``bulk`` values h_bulk, then
            h_wall.
    """
    h = np.array([config.h_bulk] * config.bulk + [config.h_wall] * (config.cols - config.bulk))
    return np.zeros((config.rows, config.cols)), np.eye(config.rows, config.cols), h


def river_loss_gradient(W: np.ndarray, target: np.ndarray, h: np.ndarray):
    """(f(W), ∇f(W)) of the river-valley quadratic (module docstring).

    Args:
        W: the iterate (rows, cols).
        target: W*, shaped as W.
        h: (cols,) the column curvatures.

    Returns:
        loss_and_gradient (tuple): f(W) = ½ Σ (W − W*)² h as a float, and ∇f = (W − W*) H.
    """
    D = W - target
    return 0.5 * float(np.sum(D * D * h)), D * h


def _measure(W, target, bulk):
    D = W - target
    return np.linalg.norm(D[:, :bulk]), np.linalg.norm(D[:, bulk:])


def _summary(series, bulk0, steps):
    b, w = np.asarray(series["bulk"]), np.asarray(series["wall"])
    tail = w[-max(2, steps // 4) :]
    prog = 1 - b / bulk0
    # first step at which the bulk is 90 % of the way (inf if not within the horizon)
    hit = np.nonzero(prog >= BULK_FRACTION)[0]
    k90 = float(hit[0]) if hit.size else np.inf
    return {
        "bulk_progress": float(prog[-1]),
        "steps_to_bulk_90": float(k90),
        "wall_amplitude": float(np.sqrt(np.mean(tail * tail))),
        "bulk_progress_series": (1 - b / bulk0).tolist(),
        "wall_series": w.tolist(),
    }


@functools.lru_cache(maxsize=256)
def simulate_river(config: RiverConfig) -> dict:
    """Run GD, Muon, Schedule-Free Muon (AMUSE at ρ = 0) and AMUSE on the river valley.

    Args:
      config: the run's config (cached: an equal config returns the same dict).

    Returns:
      ``{method: {sequence: summary}}``: sequence ``W`` for GD/Muon, ``x``/``y``/``z`` for the
      Schedule-Free methods; each summary has ``bulk_progress``, ``wall_amplitude`` and the
      per-step series (``steps + 1`` values).
    """
    W0, target, h = river_problem(config)
    bulk0 = float(np.linalg.norm((W0 - target)[:, : config.bulk]))
    rng = np.random.default_rng(config.seed)
    noise = config.noise * rng.standard_normal((config.steps, *W0.shape))
    out: dict = {}

    def rec(series, W):
        b, w = _measure(W, target, config.bulk)
        series["bulk"].append(b)
        series["wall"].append(w)

    # GD
    s = {"bulk": [], "wall": []}
    W = W0.copy()
    rec(s, W)
    for k in range(config.steps):
        W = W - config.gd_step * (river_loss_gradient(W, target, h)[1] + noise[k])
        rec(s, W)
    out["gd"] = {"W": _summary(s, bulk0, config.steps)}
    # Muon: AMUSE's base step alone (momentum, Nesterov, NS, shape scale, warmup; no averaging)
    opt = config.amuse()
    W = (W0.copy(),)
    st, s = opt.init(W), {"bulk": [], "wall": []}
    rec(s, W[0])
    for k in range(config.steps):
        g = river_loss_gradient(W[0], target, h)[1] + noise[k]
        u, st = opt.update((g,), st, W, averaging=False)
        W = apply_updates(W, u)
        rec(s, W[0])
    out["muon"] = {"W": _summary(s, bulk0, config.steps)}
    # Schedule-Free Muon (AMUSE with rho = 0: beta stays beta1) and AMUSE as published
    for name, opt in (("sf-muon", config.amuse(rho=0.0)), ("amuse", config.amuse())):
        y = (W0.copy(),)
        st = opt.init(y)
        ss = {q: {"bulk": [], "wall": []} for q in "xyz"}
        for q in "xyz":
            rec(ss[q], W0)
        for k in range(config.steps):
            g = river_loss_gradient(y[0], target, h)[1] + noise[k]
            u, st = opt.update((g,), st, y)
            y = apply_updates(y, u)
            for q, arr in (("x", opt.average(y, st)[0]), ("y", y[0]), ("z", st.z[0])):
                rec(ss[q], arr)
        out[name] = {q: _summary(ss[q], bulk0, config.steps) for q in "xyz"}
    return out


def stored_river(config: RiverConfig, store=None) -> tuple[dict, str]:
    """:func:`simulate_river` through the result store (:class:`gflab.sims.store.ResultStore`).

    The entry is a record under ``config``'s key: one array per method, sequence and series
    (``gd.W.wall_series``...) and the scalar summaries in the sidecar, so the dict rebuilt from it
    equals :func:`simulate_river`'s.

    Args:
      config: the river valley.
      store: a :class:`ResultStore` (default: the default store).
    Returns:
      (the result of :func:`simulate_river`, ``"hit"``, ``"computed"``, or ``"diverged"`` when a
      series holds a non-finite value: such a run is a status, never stored as a result).
    """
    from gflab.sims.models import MODELS

    return MODELS[RiverConfig.model].stored(config, store)
