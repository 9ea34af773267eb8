"""AMUSE, Schedule-Free Muon and Schedule-Free AdamW in the LoRA factorisation (docs/theory.md §2.2, §2.4).

The [SGF] problem (ℒ = ½‖AB − Y‖², LoRA init A(0) = 0, B(0) = γ·Gaussian, Y with singular values
s_i) run by AMUSE as published (:class:`gflab.theory.schedule_free.AMUSE`), its base step alone ("Muon":
momentum, Nesterov, Newton–Schulz, AMUSE's shape scale and warmup, no averaging), Schedule-Free Muon
(AMUSE with ρ = 0: β stays β₁) and Schedule-Free AdamW. For the Schedule-Free methods every
sequence is measured: the fast z, the average x (the output) and the gradient point y. Per sequence
and mode i:

- the proxies d_i = u_iᵀ A B v_i (:func:`gflab.theory.measures.proxies`) at every step;
- the half-arrival step k_i (first step with d_i ≥ s_i/2, :func:`gflab.theory.measures.arrival_times`);
- the growth rate of √d_i: the least-squares slope of √d_i against k over the mode's active window
  d_i ∈ [0.1 s_i, 0.8 s_i], in units of η. Equal rate ([SGF]) means the same slope for every mode;
  ``rate_spread`` = max/min − 1 of the modes' slopes (0 = exactly equal).

For a product A B of two Schedule-Free sequences the proxies are those of A_seq B_seq (the product
of the two factors' x, or y, or z).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, replace

import numpy as np

from gflab.theory import lora as T
from gflab.theory import measures as M
from gflab.theory._validate import GflabInputError, positive_int, positive_real
from gflab.theory.optim import MUON_MOMENTUM, apply_updates
from gflab.theory.schedule_free import AMUSE, schedule_free_adamw

__all__ = ["SFLoRAConfig", "simulate_sf_lora", "SF_LORA_METHODS", "rate_summary"]

SF_LORA_METHODS = ("muon", "sf-muon", "amuse", "sf-adamw")
WINDOW = (0.1, 0.8)  # active window of a mode, as fractions of its target s_i


@dataclass(frozen=True)
class SFLoRAConfig:
    """One LoRA problem run by every method of :data:`SF_LORA_METHODS` with the same base learning
    rate ``lr`` (``lr_adamw`` for Schedule-Free AdamW) and AMUSE's published hyper-parameters
    (β₁, ρ, T₀ = ``warmup_steps``, μ; the authors' language-model β₁ = 0.6, ρ = 0.8). Defaults:
    SGF-6's 10 × 12, r = 3, s = (0.5, 2, 8), γ = 1e-3, 1200 steps, and η = 3√s_max/1200 (AMUSE's shape
    scale 0.2·√max(m, n) ≈ 0.66 slows the step; Muon's modes arrive within the run); targets'
    singular vectors drawn from ``seed``."""

    rows: int = 10
    cols: int = 12
    rank: int = 3
    target_svals: tuple = (0.5, 2.0, 8.0)
    gamma: float = 1e-3
    lr: float = 3.0 * 8.0**0.5 / 1200
    lr_adamw: float = 2e-3
    steps: int = 1200
    beta1: float = 0.6
    rho: float = 0.8
    warmup_steps: int = 100
    momentum: float = MUON_MOMENTUM
    seed: int = 0

    def __post_init__(self):
        positive_int("steps", self.steps, minimum=8)
        positive_real("lr", self.lr)
        positive_real("lr_adamw", self.lr_adamw)
        if self.warmup_steps >= self.steps:
            raise GflabInputError(
                "warmup_steps", f"fewer than steps = {self.steps}", self.warmup_steps
            )
        if len(self.target_svals) != self.rank:
            raise GflabInputError(
                "target_svals", f"{self.rank} values (one per rank)", self.target_svals
            )

    def to_dict(self) -> dict:
        """The config as JSON-ready fields, with ``"model": "sf-lora"``."""
        return {"model": "sf-lora", **asdict(self)}


def rate_summary(proxies: np.ndarray, svals: np.ndarray, lr: float) -> dict:
    """Half-arrival steps, √d_i slopes (units of η) over each mode's active window, their spread.

    Args:
      proxies: ``(steps + 1, k)`` d_i per step.
      svals: ``(k,)`` targets s_i.
      lr: η, the unit of the slopes.

    Returns:
      ``{"half_arrival": (k,), "sqrt_slope": (k,), "rate_spread": float}`` (slopes ``nan`` where a
      mode's window has fewer than 3 steps).
    """
    k = np.arange(proxies.shape[0], dtype=float)
    half = M.arrival_times(k, proxies, svals, 0.5)
    slopes = np.full(svals.size, np.nan)
    for i, s in enumerate(svals):
        sel = (proxies[:, i] >= WINDOW[0] * s) & (proxies[:, i] <= WINDOW[1] * s)
        # the first contiguous run inside the window (later re-entries are oscillations)
        idx = np.nonzero(sel)[0]
        if idx.size < 3:
            continue
        run = idx[: np.argmax(np.diff(np.append(idx, idx[-1] + 2)) > 1) + 1]
        if run.size < 3:
            continue
        slopes[i] = np.polyfit(k[run], np.sqrt(proxies[run, i]), 1)[0] / lr
    ok = slopes[np.isfinite(slopes)]
    spread = float(ok.max() / ok.min() - 1) if ok.size == svals.size and ok.min() > 0 else np.inf
    return {"half_arrival": half, "sqrt_slope": slopes, "rate_spread": spread}


@functools.lru_cache(maxsize=64)
def simulate_sf_lora(config: SFLoRAConfig) -> dict:
    """Run the four methods (module docstring) from one LoRA init, on one target.

    Args:
      config: the run's config (cached: an equal config returns the same dict).

    Returns:
      ``{method: {sequence: summary}}`` for ``muon`` (sequence ``W``), ``sf-muon``, ``amuse`` and
      ``sf-adamw`` (sequences ``x``, ``y``, ``z``); each summary is :func:`rate_summary`'s dict
      plus ``"proxies"``, the ``(steps + 1, k)`` d_i per step.
    """
    s = np.asarray(config.target_svals, dtype=float)
    Y, U, V = T.spectral_target(config.rows, config.cols, s, config.seed + 104729)
    A0, B0 = T.lora_init(config.rows, config.cols, config.rank, config.gamma, config.seed)
    out: dict = {}

    def prox(A, B):
        return np.asarray(M.proxies(A @ B, U, V))

    amuse = AMUSE(
        lr=config.lr,
        momentum=config.momentum,
        beta1=config.beta1,
        rho=config.rho,
        warmup_steps=config.warmup_steps,
    )
    p, st = (A0, B0), amuse.init((A0, B0))
    d = [prox(*p)]
    for _ in range(config.steps):
        u, st = amuse.update(T.gradients(*p, Y), st, p, averaging=False)
        p = apply_updates(p, u)
        d.append(prox(*p))
    d = np.array(d)
    out["muon"] = {"W": {**rate_summary(d, s, config.lr), "proxies": d}}
    sfs = {
        "sf-muon": (replace(amuse, rho=0.0), config.lr),
        "amuse": (amuse, config.lr),
        "sf-adamw": (schedule_free_adamw(config.lr_adamw), config.lr_adamw),
    }
    for name, (opt, lr) in sfs.items():
        st, y = opt.init((A0, B0)), (A0, B0)
        seqs = {"x": [prox(A0, B0)], "y": [prox(A0, B0)], "z": [prox(A0, B0)]}
        for _ in range(config.steps):
            u, st = opt.update(T.gradients(*y, Y), st, y)  # the one contract: updates
            y = apply_updates(y, u)
            x = opt.average(y, st) if isinstance(opt, AMUSE) else st.x
            seqs["x"].append(prox(*x))
            seqs["y"].append(prox(*y))
            seqs["z"].append(prox(*st.z))
        out[name] = {}
        for q, vals in seqs.items():
            arr = np.array(vals)
            out[name][q] = {**rate_summary(arr, s, lr), "proxies": arr}
    return out
