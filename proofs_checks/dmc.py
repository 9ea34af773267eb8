"""Claims DMC-1..DMC-5 of docs/theory.md §2.3 (deep matrix completion, [DMC] Shin & Yun).

Every check integrates gradient flow (Tsit5 → RKC2 + PID, rtol = 1e-9, atol = 1e-14, float64) and decides
from the *trajectory*, never from the final matrix alone:

- **Coupling** is the saved series ``coupling(t)`` = max over observed entries a, b in different
  row/column-connected groups of |K_ab(t)|, divided by max_a K_aa(t) (docs/theory.md §2.1; the tangent
  kernel K at saved times on a log grid). It is scale-free, so thresholds are absolute:
  *decoupled* means max_t coupling(t) ≤ τ_dec = 1e3·rtol = 1e-6 (three decades of slack over the
  solver's relative error, which is the only way a mathematically zero cross term could appear);
  *coupled* means max_t coupling(t) ≥ τ_cpl = 1e-3, three decades above τ_dec. Over the whole
  hypothesis space of DMC-1 the kernel at t = 0 or at the closed-form limit has coupling ≥ 0.03,
  so τ_cpl leaves ≥ 1.5 decades of margin.
- Margins are in **decades**: log10(threshold / measured) for an upper bound and
  log10(measured / threshold) for a lower bound (≥ 0: held; 1 = a factor of ten to spare). A
  claim with several parts reports the minimum over its parts. Exact zeros are floored at machine
  epsilon, so a mathematically exact "0 ≤ τ_dec" shows as log10(1e-6 / 2.2e-16) ≈ 9.65.
- Limits come from runs until the relative loss ℓ/ℓ(0-target) ≤ 1e-16 (diagonal Ω), or to
  t1 = 2000 for masks whose limit is approached only algebraically (block-diagonal: the
  within-block zero-sum eigenvalue decays like 1/t at depth 2).

Compile economy (docs/theory.md §4): sizes come from small fixed sets, every run saves 64 points with the
coupling measure on, so one compiled solve per (n, depth, |Ω|) serves all claims; runs are memoised
in-process (claims DMC-3 and DMC-4 share them).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from gflab.proofs_checks.registry import Evidence, paper_claims
from gflab.sims.config import DMFConfig
from gflab.sims.dmf import dmf_problem, package_dmf, solve_dmf_from
from gflab.sims.methods import GD, Adaptive
from gflab.sims.plasticity import PlasticityConfig, simulate_plasticity
from gflab.sims.result import SimResult
from gflab.sims.schema import command as schema_command
from gflab.theory import closed_forms as CF
from gflab.theory import dmf as T
from gflab.theory import measures as M

__all__ = [
    "RTOL",
    "TAU_DEC",
    "TAU_CPL",
    "claim_config",
    "run_config",
    "coupling_of",
    "FALSE_VARIANTS",
]

RTOL = 1e-9
ATOL = 1e-14
TAU_DEC = 1e3 * RTOL  # decoupled: cross coupling at most this (scale-free)
TAU_CPL = 1e-3  # coupled: cross coupling at least this somewhere on the trajectory
N_SAVE = 64
T1_SLOW = 2000.0  # horizon for masks whose limit is approached algebraically (see module doc)
TOL_CF = 1e-6  # relative Frobenius error allowed between the integrated limit and a closed form
EPS = float(np.finfo(float).eps)

NS = (4, 6, 8)
MS_FINITE = (1.5, 2.0, 3.0, 5.0, 10.0)
ALPHAS = (1e-1, 1e-2, 1e-3)
INIT_SEEDS = (0, 1, 2, 3)

PAPER = "DMC"


# ----------------------------------------------------------------------------- running


def claim_config(ex: dict[str, Any], **over: Any) -> DMFConfig:
    """The :class:`DMFConfig` of one example dict (keys of the strategies below).

    Args:
        ex: one example (depth, n, m, α, mask, init, ...).
        **over: fields to override.

    Returns:
        The config.
    """
    ex = {**ex, **over}
    mask = ex.get("mask", "diagonal")
    slow = not mask == "diagonal"
    method = ex.get("method", Adaptive(rtol=RTOL, atol=ATOL))  # a method object
    gd = method.discrete
    return DMFConfig(
        depth=int(ex["depth"]),
        n=int(ex["n"]),
        init=ex.get("init", "mimic"),
        m=float(ex.get("m", math.inf)),
        alpha=float(ex["alpha"]),
        mask=mask,
        target=ex.get("target", "ones"),
        seed=int(ex.get("seed", 0)),
        t1=T1_SLOW if (slow and not gd) else None,
        grid="log" if (slow and not gd) else None,
        method=method,
        steps=ex.get("steps"),
        converge_tol=1e-16,
        n_save=N_SAVE,
        coupling=True,
    )


@functools.lru_cache(maxsize=512)
def run_config(cfg: DMFConfig) -> SimResult:
    """Memoised :func:`gflab.sims.dmf.simulate_dmf` (checks share runs).

    Args:
        cfg: the config.

    Returns:
        Its result.
    """
    factors, mask, target = dmf_problem(cfg)
    return package_dmf(cfg, solve_dmf_from(cfg, factors, mask, target), mask, target)


def _run_custom(cfg: DMFConfig, factors=None, target=None, mask=None) -> SimResult:
    """Run from explicit factors/target/mask (for settings a config name cannot express)."""
    f0, m0, t0 = dmf_problem(cfg)
    f0 = f0 if factors is None else factors
    m0 = m0 if mask is None else mask
    t0 = t0 if target is None else target
    return package_dmf(cfg, solve_dmf_from(cfg, f0, m0, t0), m0, t0)


def coupling_of(res: SimResult) -> float:
    """max over saved times of the scale-free cross coupling (0 if Ω has one group).

    Args:
        res: a DMF result with the saved tangent-kernel coupling.

    Returns:
        The largest coupling (nan when nothing was saved).
    """
    c = np.asarray(res.series["coupling"], dtype=float)
    return float(np.max(c)) if c.size else math.nan


def _dec_upper(measured: float, bound: float) -> float:
    """Margin in decades for ``measured <= bound`` (measured floored at machine epsilon)."""
    return math.log10(bound / max(measured, EPS))


def _dec_lower(measured: float, bound: float) -> float:
    """Margin in decades for ``measured >= bound`` (an exact 0 shows as log10(eps/bound))."""
    return math.log10(max(measured, EPS) / bound)


def _ok_status(res: SimResult) -> bool:
    return res.status in ("converged", "t1_reached") and res.final_state is not None


def _cmd(ex: dict[str, Any], **over: Any) -> str:
    """The ``gflab simulate dmf`` command of an example's config (sims/schema.py's table)."""
    return schema_command(claim_config(ex, **over))


# ----------------------------------------------------------------------------- DMC-1, DMC-2


def _coupled_margin(res: SimResult) -> tuple[float, dict]:
    c = coupling_of(res)
    return _dec_lower(c, TAU_CPL), {"max_coupling": c, "tau_cpl": TAU_CPL}


def _decoupled_margin(res: SimResult, *, diagonal_W: bool = False) -> tuple[float, dict]:
    c = coupling_of(res)
    margin = _dec_upper(c, TAU_DEC)
    nums = {"max_coupling": c, "tau_dec": TAU_DEC}
    if diagonal_W and "matrix" in res.series:
        # W stays (block-)diagonal: max over t of the off-Ω part, relative to the largest entry
        Ws = np.asarray(res.series["matrix"], dtype=float)
        mask = T.make_mask(res.config["mask"], res.config["n"], seed=res.config["seed"])
        off = np.max(np.abs(Ws * (1 - mask)), axis=(1, 2)) / np.maximum(
            np.max(np.abs(Ws), axis=(1, 2)), 1e-300
        )
        nums["max_offmask_over_max_entry"] = float(np.max(off))
        margin = min(margin, _dec_upper(float(np.max(off)), TAU_DEC))
    return margin, nums


def _status_guard(res: SimResult, margin: float, nums: dict) -> Evidence:
    nums = {**nums, "status": res.status, "final_time": res.final.get("time", math.nan)}
    if not _ok_status(res):
        return Evidence(
            -math.inf if not math.isfinite(margin) else min(margin, -1.0),
            nums,
            f"run ended with status {res.status}: {res.message}",
        )
    return Evidence(margin, nums)


def _check_dmc1(ex: dict[str, Any], swap: bool = False) -> Evidence:
    """Coupled for finite m / Gaussian inits; decoupled with W (block-)diagonal for m = ∞.
    ``swap`` expects the opposite regime (a false variant)."""
    res = run_config(claim_config(ex))
    decoupled = ex["init"] == "mimic" and math.isinf(float(ex.get("m", math.inf)))
    decoupled = decoupled != swap
    if decoupled:
        margin, nums = _decoupled_margin(res, diagonal_W=True)
    else:
        margin, nums = _coupled_margin(res)
    nums["expected"] = "decoupled" if decoupled else "coupled"
    nums["config"] = claim_config(ex).to_dict()
    return _status_guard(res, margin, nums)


def _check_dmc2(ex: dict[str, Any], expect: str = "decoupled") -> Evidence:
    """Depth 2 stays decoupled; ``expect="coupled"`` claims the opposite (a false variant)."""
    res = run_config(claim_config(ex))
    margin, nums = (_decoupled_margin if expect == "decoupled" else _coupled_margin)(res)
    return _status_guard(res, margin, {**nums, "config": claim_config(ex).to_dict()})


_depth_ge3 = st.sampled_from((3, 4, 5, 6))
_mask_bd = st.sampled_from(("diagonal", "block:2"))


def _init_strategy(
    *, finite_m: bool = True, infinite_m: bool = True, gaussian: bool = True, others: bool = False
):
    opts = []
    if finite_m:
        opts.append(
            st.fixed_dictionaries({"init": st.just("mimic"), "m": st.sampled_from(MS_FINITE)})
        )
    if infinite_m:
        opts.append(st.fixed_dictionaries({"init": st.just("mimic"), "m": st.just(math.inf)}))
    if gaussian:
        opts.append(
            st.fixed_dictionaries(
                {
                    "init": st.sampled_from(("gaussian", "tied-gaussian")),
                    "seed": st.sampled_from(INIT_SEEDS),
                }
            )
        )
    if others:
        opts.append(
            st.fixed_dictionaries(
                {
                    "init": st.sampled_from(("orthogonal", "identity")),
                    "seed": st.sampled_from(INIT_SEEDS),
                }
            )
        )
    return st.one_of(*opts)


def _merge(base, init):
    return st.tuples(base, init).map(lambda p: {**p[0], **p[1]})


def _strategy_dmc1():
    base = st.fixed_dictionaries(
        {
            "depth": _depth_ge3,
            "n": st.sampled_from(NS),
            "mask": _mask_bd,
            "alpha": st.sampled_from(ALPHAS),
        }
    )
    return _merge(base, _init_strategy())


def _strategy_dmc2():
    base = st.fixed_dictionaries(
        {
            "depth": st.just(2),
            "n": st.sampled_from(NS),
            "mask": _mask_bd,
            "alpha": st.sampled_from(ALPHAS + (1e-4,)),
        }
    )
    return _merge(base, _init_strategy(others=True))


# ----------------------------------------------------------------------------- DMC-3


def _cf_error(res: SimResult, ex: dict[str, Any], alpha: float, cf_scale: float = 1.0) -> float:
    lim = CF.mimic_limit(int(ex["n"]), int(ex["depth"]), alpha, float(ex["m"]))
    W = np.asarray(res.final["matrix"], dtype=float)
    Wc = cf_scale * lim.matrix()
    return float(np.linalg.norm(W - Wc) / np.linalg.norm(Wc))


def _check_dmc3(ex: dict[str, Any], cf_scale: float = 1.0) -> Evidence:
    """Limit vs closed form at α and α/10; coupled: σ2 shrinks ≥ 2× per decade; decoupled: α-free.
    ``cf_scale`` ≠ 1 multiplies the closed form (a false variant)."""
    a = float(ex["alpha"])
    r1 = run_config(claim_config(ex))
    r2 = run_config(claim_config(ex, alpha=a / 10))
    for r in (r1, r2):
        if r.status != "converged":
            return _status_guard(r, -1.0, {"alpha": r.config["alpha"]})
    e1, e2 = _cf_error(r1, ex, a, cf_scale), _cf_error(r2, ex, a / 10, cf_scale)
    nums = {
        "cf_error_alpha": e1,
        "cf_error_alpha_over_10": e2,
        "stable_rank_alpha": r1.final["stable_rank"],
        "stable_rank_alpha_over_10": r2.final["stable_rank"],
        "tail_alpha": M.stable_rank_tail(r1.final["singular_values"]),
        "tail_alpha_over_10": M.stable_rank_tail(r2.final["singular_values"]),
    }
    margins = [_dec_upper(max(e1, e2), TOL_CF)]
    coupled = int(ex["depth"]) >= 3 and math.isfinite(float(ex["m"]))
    if coupled:
        s1 = float(np.sort(r1.final["singular_values"])[-2])
        s2 = float(np.sort(r2.final["singular_values"])[-2])
        ratio = s2 / s1
        nums.update(sigma2_ratio_per_decade=ratio, sigma2_ratio_bound=0.5)
        margins.append(_dec_upper(ratio, 0.5))
    else:
        W1, W2 = (np.asarray(r.final["matrix"], dtype=float) for r in (r1, r2))
        diff = float(np.linalg.norm(W1 - W2) / np.linalg.norm(W1))
        nums.update(alpha_dependence=diff)
        margins.append(_dec_upper(diff, TOL_CF))
    nums["regime"] = "coupled" if coupled else "decoupled"
    nums["config"] = claim_config(ex).to_dict()
    return Evidence(min(margins), nums)


def _strategy_dmc3():
    return st.fixed_dictionaries(
        {
            "depth": st.sampled_from((2, 3, 4, 5, 6)),
            "n": st.sampled_from(NS),
            "init": st.just("mimic"),
            "m": st.sampled_from(MS_FINITE + (math.inf,)),
            "mask": st.just("diagonal"),
            "alpha": st.sampled_from(ALPHAS),
        }
    )


# ----------------------------------------------------------------------------- DMC-4

DEPTHS_4 = (2, 3, 4, 5, 6)


def _check_dmc4(ex: dict[str, Any], direction: int = 1) -> Evidence:
    """tail(L) = stable rank − 1 of the limit strictly decreases over L = 2..6 (``direction``
    −1 claims it increases: a false variant)."""
    tails, cf_err = [], 0.0
    for L in DEPTHS_4:
        r = run_config(claim_config(ex, depth=L))
        if r.status != "converged":
            return _status_guard(r, -1.0, {"depth": L})
        tails.append(M.stable_rank_tail(r.final["singular_values"]))
        cf_err = max(cf_err, _cf_error(r, {**ex, "depth": L}, float(ex["alpha"])))
    steps = [direction * math.log10(tails[i] / tails[i + 1]) for i in range(len(tails) - 1)]
    nums = {
        "config": claim_config(ex, depth=DEPTHS_4[0]).to_dict(),
        "depths": list(DEPTHS_4),
        "stable_rank_minus_1": tails,
        "decades_drop_per_depth": steps,
        "max_cf_error": cf_err,
    }
    worst = DEPTHS_4[1 + min(range(len(steps)), key=steps.__getitem__)]  # the run that fell short
    return Evidence(
        min(min(steps), _dec_upper(cf_err, TOL_CF)), nums, config=claim_config(ex, depth=worst)
    )


def _strategy_dmc4():
    return st.fixed_dictionaries(
        {
            "n": st.sampled_from(NS),
            "init": st.just("mimic"),
            "m": st.sampled_from(MS_FINITE),
            "mask": st.just("diagonal"),
            "alpha": st.sampled_from(ALPHAS),
            "depth": st.just(2),
        }
    )


# ----------------------------------------------------------------------------- DMC-5

SCRATCH_DECAY = 0.9  # depth 2 from scratch: (sr − 1) shrinks by at least this per decade of α
SEPARATION = 2.0  # depth 2: resumed (sr − 1) ≥ 2 × scratch (sr − 1)
TAU_RANK1 = 1e-4  # depth ≥ 3: sr − 1 ≤ this for resumed and scratch
TAU_RMSE = 0.05  # depth ≥ 3: test RMSE ≤ this (target entries are 1)


def _plasticity_config(ex: dict[str, Any], **over: Any) -> PlasticityConfig:
    ex = {**ex, **over}
    return PlasticityConfig(
        depth=int(ex["depth"]),
        n=int(ex["n"]),
        init=ex.get("init", "mimic"),
        m=float(ex.get("m", math.inf)),
        alpha=float(ex["alpha"]),
        pretrain_mask=ex.get("pretrain_mask", "diagonal"),
        mask=ex.get("mask", "superdiag"),
        target=ex.get("target", "ones"),
        seed=int(ex.get("seed", 0)),
        method=Adaptive(rtol=RTOL, atol=ATOL),
        n_save=N_SAVE,
    )


@functools.lru_cache(maxsize=256)
def run_plasticity(cfg: PlasticityConfig):
    """:func:`gflab.sims.plasticity.simulate_plasticity`, cached (hypothesis replays examples, and
    DMC-5 and its false variant share runs).

    Args:
        cfg: the plasticity experiment.

    Returns:
        Its :class:`gflab.sims.plasticity.PlasticityResult`.
    """
    return simulate_plasticity(cfg)


def _check_dmc5(ex: dict[str, Any], swap_regimes: bool = False) -> Evidence:
    """Depth 2 keeps its pretrained rank, depth ≥ 3 goes rank one. ``swap_regimes`` applies each
    depth's criterion to the other (a false variant)."""
    L = int(ex["depth"])
    p = run_plasticity(_plasticity_config(ex))
    for name in ("pretrain", "resumed", "scratch"):
        r = getattr(p, name)
        if r.status != "converged":
            return _status_guard(r, -1.0, {"phase": name})
    res_t = M.stable_rank_tail(p.resumed.final["singular_values"])
    scr_t = M.stable_rank_tail(p.scratch.final["singular_values"])
    nums = {
        "resumed_sr_minus_1": res_t,
        "scratch_sr_minus_1": scr_t,
        "resumed_test_rmse": p.resumed.final["test_rmse"],
        "scratch_test_rmse": p.scratch.final["test_rmse"],
        "pretrain_sr": p.pretrain.final["stable_rank"],
        "switch_time": p.switch_time,
        "config": _plasticity_config(ex).to_dict(),
    }
    if (L == 2) != swap_regimes:
        q = run_plasticity(_plasticity_config(ex, alpha=float(ex["alpha"]) / 10))
        if q.scratch.status != "converged" or q.resumed.status != "converged":
            return _status_guard(q.scratch, -1.0, {"phase": "scratch at alpha/10"})
        scr_t2 = M.stable_rank_tail(q.scratch.final["singular_values"])
        decay = scr_t2 / scr_t
        sep = res_t / scr_t
        nums.update(
            scratch_sr_minus_1_alpha_over_10=scr_t2,
            scratch_decay_per_decade=decay,
            resumed_over_scratch=sep,
            resumed_alpha_dependence=abs(
                M.stable_rank_tail(q.resumed.final["singular_values"]) - res_t
            ),
        )
        margin = min(_dec_upper(decay, SCRATCH_DECAY), _dec_lower(sep, SEPARATION))
    else:
        margin = min(
            _dec_upper(res_t, TAU_RANK1),
            _dec_upper(scr_t, TAU_RANK1),
            _dec_upper(p.resumed.final["test_rmse"], TAU_RMSE),
            _dec_upper(p.scratch.final["test_rmse"], TAU_RMSE),
        )
    return Evidence(margin, nums)


def _strategy_dmc5():
    d2 = st.fixed_dictionaries(
        {
            "depth": st.just(2),
            "n": st.sampled_from((4, 6)),
            "m": st.sampled_from((1.5, 2.0, 10.0, math.inf)),
            "alpha": st.sampled_from((1e-2, 1e-3)),
        }
    )
    d3 = st.fixed_dictionaries(
        {
            "depth": st.sampled_from((3, 4)),
            "n": st.sampled_from((4, 6)),
            "m": st.sampled_from((1.5, 2.0, 10.0)),
            "alpha": st.sampled_from((1e-3, 1e-4)),
        }
    )
    return st.one_of(d2, d3)


def _cmd_plasticity(ex: dict[str, Any]) -> str:
    return schema_command(_plasticity_config(ex))


# ----------------------------------------------------------------------------- beyond the hypotheses


def _row(dropped: str, setting: str, ev: Evidence, **extra: Any) -> dict:
    row = {
        "hypothesis_dropped": dropped,
        "setting": setting,
        "margin": round(ev.margin, 4) if math.isfinite(ev.margin) else ev.margin,
        "holds": ev.held,
    }
    row.update(extra)
    return row


def _unequal_target(n: int, seed: int = 0) -> np.ndarray:
    """A target whose diagonal entries differ: v vᵀ with v_i ∈ [0.5, 2] (rank one, diag v_i²)."""
    v = np.random.default_rng(seed).uniform(0.5**0.5, 2**0.5, size=n)
    return np.outer(v, v)


def _unbalanced(factors, ratio: float = 4.0):
    """Scale W_1 by ``ratio`` and W_L by 1/ratio: same product, imbalanced factors."""
    f = [np.array(x) for x in factors]
    f[0] = f[0] * ratio
    f[-1] = f[-1] / ratio
    return f


def _gd_rows(check, base: dict[str, Any], steps: int = 4000) -> list[dict]:
    """Rows of a beyond map: ``check`` under GD on ``base``'s problem, η up to the stability edge
    (≈ 1 here) and past it."""
    rows = []
    for eta in (0.01, 0.1, 0.5, 1.5):
        ev = check({**base, "method": GD(lr=eta), "steps": steps})
        desc = f"GD η = {eta:g}, {steps} steps"
        rows.append(_row("gradient flow", desc, ev, status=ev.numbers.get("status", "")))
    return rows


def _bernoulli_rows(check, base: dict[str, Any], note: str) -> list[dict]:
    """Rows of a beyond map: ``check`` on Bernoulli(p) masks, with their number of groups."""
    rows = []
    for p in (0.15, 0.3):
        ex = {**base, "mask": f"bernoulli:{p}"}
        cfg = claim_config(ex)
        mask = T.make_mask(cfg.mask, cfg.n, seed=cfg.seed)
        groups = len(set(T.observation_groups(mask).tolist()))
        desc = f"Bernoulli({p}) mask, {groups} row/column groups{note}"
        rows.append(_row("(block-)diagonal mask", desc, check(ex), groups=groups))
    return rows


def _beyond_dmc1(profile: str = "ci") -> dict:
    base = {"depth": 3, "n": 6, "mask": "diagonal", "alpha": 1e-2, "init": "mimic", "m": 3.0}
    rows = [_row("none (reference)", str(base), _check_dmc1(base))]
    rows.append(
        _row("depth >= 3", "depth 2, otherwise the reference", _check_dmc1({**base, "depth": 2}))
    )
    rows += _bernoulli_rows(_check_dmc1, {**base, "seed": 0}, "")
    rows.append(
        _row(
            "mimic init with m < inf",
            "identity init (W(0) = αI, like m = inf)",
            _check_dmc1({**base, "init": "identity"}),
        )
    )
    rows += _gd_rows(_check_dmc1, base)  # η up to the stability edge and past it
    return {
        "title": "DMC-1 beyond its hypotheses: coupled (margin = decades above τ_cpl = 1e-3)",
        "rows": rows,
    }


def _beyond_dmc2(profile: str = "ci") -> dict:
    base = {"depth": 2, "n": 6, "mask": "diagonal", "alpha": 1e-2, "init": "gaussian", "seed": 0}
    rows = [_row("none (reference)", str(base), _check_dmc2(base))]
    rows.append(
        _row("depth 2", "depth 3, otherwise the reference", _check_dmc2({**base, "depth": 3}))
    )
    rows += _bernoulli_rows(_check_dmc2, base, " (decoupled along them)")
    cfg = claim_config(base)
    res = _run_custom(cfg, target=_unequal_target(cfg.n))
    m, nums = _decoupled_margin(res)
    rows.append(
        _row(
            "equal diagonal targets",
            "diagonal targets v_i² ∈ [0.5, 2]",
            _status_guard(res, m, nums),
        )
    )
    rows += _gd_rows(_check_dmc2, base)
    return {
        "title": "DMC-2 beyond its hypotheses: decoupled (margin = decades below τ_dec = 1e-6)",
        "rows": rows,
    }


def _rank_decay_margin(run_at, alpha: float) -> tuple[float, dict]:
    """σ2 ratio between α/10 and α for arbitrary settings (no closed form): ≤ 0.5 ⇒ held."""
    r1, r2 = run_at(alpha), run_at(alpha / 10)
    bad = [r for r in (r1, r2) if not _ok_status(r)]
    if bad:
        return -1.0, {"status": bad[0].status}
    s1 = float(np.sort(r1.final["singular_values"])[-2])
    s2 = float(np.sort(r2.final["singular_values"])[-2])
    return _dec_upper(s2 / s1, 0.5), {
        "sigma2_ratio_per_decade": s2 / s1,
        "stable_rank_alpha": r1.final["stable_rank"],
        "stable_rank_alpha_over_10": r2.final["stable_rank"],
    }


def _beyond_dmc3(profile: str = "ci") -> dict:
    base = {"depth": 3, "n": 6, "mask": "diagonal", "alpha": 1e-2, "init": "mimic", "m": 3.0}
    rows = [_row("none (reference)", str(base), _check_dmc3(base))]
    cfg = claim_config(base)
    tgt = _unequal_target(cfg.n)
    m, nums = _rank_decay_margin(
        lambda a: _run_custom(claim_config(base, alpha=a), target=tgt), 1e-2
    )
    rows.append(
        _row(
            "equal diagonal targets (closed form)",
            "diagonal targets v_i² ∈ [0.5, 2]",
            Evidence(m, nums),
            **nums,
        )
    )
    for seed in (0, 1):
        gex = {**base, "init": "gaussian", "seed": seed}
        m, nums = _rank_decay_margin(lambda a, g=gex: run_config(claim_config(g, alpha=a)), 1e-2)
        rows.append(
            _row(
                "mimic init (closed form)", f"Gaussian init, seed {seed}", Evidence(m, nums), **nums
            )
        )
    m, nums = _rank_decay_margin(
        lambda a: _run_custom(
            claim_config(base, alpha=a),
            factors=_unbalanced(dmf_problem(claim_config(base, alpha=a))[0]),
        ),
        1e-2,
    )
    rows.append(
        _row(
            "balanced init (closed form)",
            "mimic factors with W_1 ×4, W_L ÷4",
            Evidence(m, nums),
            **nums,
        )
    )
    # GD: distance of the GD limit from the gradient-flow closed form, growing with η
    lim = CF.mimic_limit(6, 3, 1e-2, 3.0).matrix()
    for eta in (0.01, 0.1, 0.5, 1.5):
        r = run_config(claim_config(base, method=GD(lr=eta), steps=4000))
        if r.final_state is None:
            ev = Evidence(-math.inf, {"status": r.status})
        else:
            err = float(np.linalg.norm(np.asarray(r.final["matrix"]) - lim) / np.linalg.norm(lim))
            ev = Evidence(
                _dec_upper(err, TOL_CF) if r.status == "converged" else -1.0,
                {"cf_error": err, "status": r.status},
            )
        rows.append(
            _row(
                "gradient flow (closed form)",
                f"GD η = {eta:g}, 4000 steps",
                ev,
                **{k: v for k, v in ev.numbers.items()},
            )
        )
    return {
        "title": "DMC-3 beyond its hypotheses (margin in decades: σ2 halves per decade of α, "
        "or GD limit within 1e-6 of the flow's closed form)",
        "rows": rows,
    }


def _beyond_dmc4(profile: str = "ci") -> dict:
    base = {"n": 6, "init": "mimic", "m": 3.0, "mask": "diagonal", "alpha": 1e-2, "depth": 2}
    rows = [_row("none (reference)", str(base), _check_dmc4(base))]
    rows.append(
        _row(
            "m < inf",
            "m = inf (diagonal init: every depth gives W∞ = I)",
            _dmc4_generic(lambda L: run_config(claim_config({**base, "m": math.inf}, depth=L))),
        )
    )
    for seed in (0, 1):
        rows.append(
            _row(
                "mimic init",
                f"Gaussian init, seed {seed}",
                _dmc4_generic(
                    lambda L, s=seed: run_config(
                        claim_config({**base, "init": "gaussian", "seed": s}, depth=L)
                    )
                ),
            )
        )
    tgt = _unequal_target(6)
    rows.append(
        _row(
            "equal diagonal targets",
            "diagonal targets v_i² ∈ [0.5, 2]",
            _dmc4_generic(lambda L: _run_custom(claim_config(base, depth=L), target=tgt)),
        )
    )
    return {
        "title": "DMC-4 beyond its hypotheses (margin = smallest drop of log10(sr − 1) per "
        "extra layer, L = 2..6)",
        "rows": rows,
    }


def _dmc4_generic(run_at) -> Evidence:
    tails = []
    for L in DEPTHS_4:
        r = run_at(L)
        if not _ok_status(r):
            return Evidence(-1.0, {"depth": L, "status": r.status})
        tails.append(M.stable_rank_tail(r.final["singular_values"]))
    steps = [
        math.log10(max(tails[i], 1e-300) / max(tails[i + 1], 1e-300)) for i in range(len(tails) - 1)
    ]
    return Evidence(min(steps), {"stable_rank_minus_1": tails})


AUTHORS_DMC5 = {"depth": 3, "n": 6, "m": 100.0, "alpha": 1e-2}
"""The [DMC] authors' own init (mimic m = 100, α = 1e-2) on the plasticity toy."""


def _dmc5_scope_grid(profile: str = "ci") -> list[dict]:
    """The (depth, n, m, α) points of DMC-5's scope map (authors' setting included)."""
    if profile == "ci":
        depths, ns = (3,), (6,)
        ms, alphas = (10.0, 30.0, 100.0), (1e-2, 1e-3, 1e-4)
    else:
        depths, ns = (3, 4), (4, 6)
        ms, alphas = (2.0, 10.0, 30.0, 100.0, 300.0), (1e-2, 1e-3, 1e-4)
    return [
        {"depth": L, "n": n, "m": m, "alpha": a}
        for L in depths
        for n in ns
        for m in ms
        for a in alphas
    ]


def dmc5_scope_rows(profile: str = "ci") -> list[dict]:
    """DMC-5's depth ≥ 3 statement (resumed and scratch both rank one, sr − 1 ≤ 1e-4, test RMSE
    ≤ 0.05) over (depth, n, m, α), beyond its hypotheses (m ≤ 10, α ≤ 1e-3): one row per point.

    Args:
        profile: ``ci``, ``dev`` or ``thorough`` (the grid's size).

    Returns:
        The rows of the map.
    """
    rows = []
    for ex in _dmc5_scope_grid(profile):
        ev = _check_dmc5(ex)
        n = ev.numbers
        rows.append(
            _row(
                "m ≤ 10 and α ≤ 1e-3 (depth ≥ 3)",
                f"depth {ex['depth']}, n {ex['n']}, m {ex['m']:g}, α {ex['alpha']:g}"
                + (" (the authors' init)" if ex == {**AUTHORS_DMC5} else ""),
                ev,
                resumed_sr_minus_1=n.get("resumed_sr_minus_1"),
                scratch_sr_minus_1=n.get("scratch_sr_minus_1"),
                resumed_test_rmse=n.get("resumed_test_rmse"),
                config=n.get("config"),
            )
        )
    return rows


def _beyond_dmc5(profile: str = "ci") -> dict:
    rows = []
    d3 = {"depth": 3, "n": 4, "m": 2.0, "alpha": 1e-3}
    rows.append(_row("none (reference, depth 3)", str(d3), _check_dmc5(d3)))
    rows.append(
        _row(
            "m < inf at depth >= 3 (coupled phase 1)",
            "depth 3, m = inf: phase 1 decoupled",
            _check_dmc5({**d3, "m": math.inf}),
        )
    )
    d2 = {"depth": 2, "n": 4, "m": 2.0, "alpha": 1e-3}
    rows.append(_row("none (reference, depth 2)", str(d2), _check_dmc5(d2)))
    ev = _check_dmc5({**d2, "pretrain_mask": "superdiag"})
    rows.append(
        _row("decoupled Ω1 at depth 2", "Ω1 = Ω2 = superdiag (pretraining is the task)", ev)
    )
    ev = _check_dmc5({**d2, "init": "gaussian", "seed": 0})
    rows.append(_row("mimic init", "Gaussian init, seed 0", ev))
    rows += dmc5_scope_rows(profile)
    return {
        "title": "DMC-5 beyond its hypotheses (margin in decades; depth 2: scratch rank decay and "
        "resumed/scratch separation, depth ≥ 3: both rank one)",
        "rows": rows,
    }


# ----------------------------------------------------------------------------- registration


# reproduced through sims/schema.py's command of claim_config unless a claim says otherwise
_dmc_claim = paper_claims(PAPER, reproduce=_cmd, config=claim_config)


_dmc_claim(
    "DMC-1",
    _check_dmc1,
    statement="Depth ≥ 3, (block-)diagonal Ω, target J: mimic(α, m < ∞) and Gaussian inits give "
    "coupled dynamics (max_t cross coupling ≥ 1e-3); mimic(α, ∞) stays decoupled "
    "(≤ 1e-6) with W(t) (block-)diagonal.",
    hypotheses="L ∈ {3,4,5,6}; n ∈ {4,6,8}; Ω ∈ {diagonal, 2 full diagonal blocks}; "
    "α ∈ {1e-1,1e-2,1e-3}; init mimic with m ∈ {1.5,2,3,5,10} (coupled) or m = ∞ "
    "(decoupled), or (tied) Gaussian seeds 0–3 (coupled); gradient flow, rtol 1e-9.",
    strategy=_strategy_dmc1,
    margin_units="decades beyond τ (coupling ≥ 1e-3, or ≤ 1e-6 for m = ∞)",
    examples={"ci": 4, "dev": 25, "thorough": 150},
    beyond=_beyond_dmc1,
)

_dmc_claim(
    "DMC-2",
    _check_dmc2,
    statement="Depth 2, (block-)diagonal Ω, any init: the cross-group tangent kernel stays ≤ 1e-6 "
    "(in fact exactly 0) for all t (decoupled).",
    hypotheses="L = 2; n ∈ {4,6,8}; Ω ∈ {diagonal, 2 full diagonal blocks}; α ∈ {1e-1,…,1e-4}; "
    "init mimic (m finite or ∞), (tied) Gaussian, orthogonal, identity; gradient flow.",
    strategy=_strategy_dmc2,
    margin_units="decades below τ_dec = 1e-6 (9.65 = exactly zero)",
    examples={"ci": 3, "dev": 25, "thorough": 150},
    beyond=_beyond_dmc2,
)

_dmc_claim(
    "DMC-3",
    _check_dmc3,
    statement="Mimic(α, m) init, diagonal Ω, target J: the integrated limit equals the closed form "
    "(rel. error ≤ 1e-6) at α and α/10; coupled (L ≥ 3, m < ∞): σ2(W∞) shrinks at least "
    "2× per decade of α, so stable rank → 1 as α → 0; decoupled (L = 2 or m = ∞): W∞ is "
    "independent of α (≤ 1e-6) with stable rank 1 + (n−1)(1−ρ)²/(1+(n−1)ρ)² (> 1).",
    hypotheses="L ∈ {2,…,6}; n ∈ {4,6,8}; m ∈ {1.5,2,3,5,10,∞}; α ∈ {1e-1,1e-2,1e-3} (and α/10); "
    "diagonal Ω; target J; gradient flow until ℓ/ℓ_ref ≤ 1e-16.",
    strategy=_strategy_dmc3,
    margin_units="decades (min of closed-form error vs 1e-6 and σ2 ratio vs 0.5 / α-dependence vs 1e-6)",
    examples={"ci": 3, "dev": 20, "thorough": 120},
    beyond=_beyond_dmc3,
)

_dmc_claim(
    "DMC-4",
    _check_dmc4,
    statement="At fixed (n, m < ∞, α), the stable rank of the limit strictly decreases with depth "
    "L = 2, 3, 4, 5, 6 (each extra layer lowers sr − 1 by a positive number of decades).",
    hypotheses="n ∈ {4,6,8}; m ∈ {1.5,2,3,5,10}; α ∈ {1e-1,1e-2,1e-3}; mimic init, diagonal Ω, "
    "target J; gradient flow to convergence; limits also checked against closed forms.",
    strategy=_strategy_dmc4,
    reproduce=lambda ex: _cmd(ex, depth=3),
    config=lambda ex: claim_config(ex, depth=3),
    margin_units="decades: min over L of log10((sr_L − 1)/(sr_{L+1} − 1))",
    examples={"ci": 1, "dev": 10, "thorough": 60},
    beyond=_beyond_dmc4,
)

_dmc_claim(
    "DMC-5",
    _check_dmc5,
    statement="Plasticity, Ω1 = diagonal → Ω2 = diagonal + superdiagonal, target J, mimic(α, m): "
    "depth 2 resumed keeps sr − 1 ≥ 2× that of training on Ω2 from scratch, whose sr − 1 "
    "shrinks by ≥ 10% per decade of α (→ 1); depth ≥ 3 with 1 < m ≤ 10: resumed and scratch "
    "both reach sr − 1 ≤ 1e-4 and test RMSE ≤ 0.05. Not beyond m ≈ 10: near-identity inits "
    "(large m, as the authors' m = 100, α = 1e-2) lose plasticity at depth 3 too (resumed "
    "sr − 1 = 0.027 vs 3.8e-4 from scratch, n = 6); the boundary moves to larger m as α "
    "shrinks and depth grows (map: gflab check --beyond DMC-5, docs/dmc.md).",
    hypotheses="depth 2: n ∈ {4,6}, m ∈ {1.5,2,10,∞}, α ∈ {1e-2,1e-3} (and α/10); depth 3, 4: "
    "n ∈ {4,6}, m ∈ {1.5,2,10}, α ∈ {1e-3,1e-4}; phase 1 until converged, "
    "gradient flow throughout.",
    strategy=_strategy_dmc5,
    reproduce=_cmd_plasticity,
    config=_plasticity_config,
    margin_units="decades (min over the parts of the statement)",
    examples={"ci": 3, "dev": 15, "thorough": 80},
    beyond=_beyond_dmc5,
)


FALSE_VARIANTS: dict[str, tuple[str, Callable[..., Evidence]]] = {
    "DMC-1": (
        "the regimes swapped (finite m decoupled, m = ∞ coupled)",
        functools.partial(_check_dmc1, swap=True),
    ),
    "DMC-2": (
        "depth 2 is coupled (cross coupling ≥ 1e-3)",
        functools.partial(_check_dmc2, expect="coupled"),
    ),
    "DMC-3": (
        "a closed form off by 1e-4 relative",
        functools.partial(_check_dmc3, cf_scale=1 + 1e-4),
    ),
    "DMC-4": ("stable rank increases with depth", functools.partial(_check_dmc4, direction=-1)),
    "DMC-5": (
        "depth 2 goes rank one and depth ≥ 3 keeps its rank",
        functools.partial(_check_dmc5, swap_regimes=True),
    ),
}
"""Per claim, a deliberately false statement checked by the same machinery (description, check):
tests/test_false_variants.py shows each is violated where the true claim holds."""
