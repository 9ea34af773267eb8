"""Claim DASH-1 (docs/theory.md §2.4): does DASH at the switch restore from-scratch training in DMF?

The [DMC] plasticity protocol (:mod:`gflab.sims.plasticity`): phase 1 on the diagonal Ω1, phase 2 on the
connected superdiagonal Ω2, resumed or from scratch (the same mimic(α, m) init), n = 6, target all
ones, Tsit5 → RKC2 + PID at rtol 1e-9 (flow) or GD with step 0.2 (2000 steps of phase 1, up to 4000 of
phase 2). DASH (:mod:`gflab.theory.interventions`, the authors' rule) is applied to the pretrained factors
at the switch (:mod:`gflab.sims.dash`).

*Restored* means the intervened run is at least as low-rank and as accurate as from scratch, up to
10 % relative and an absolute floor (flows at depth ≥ 3 reach stable rank 1 to ~1e-9, where ratios
are noise):

  sr − 1 ≤ 1.1 (sr_scratch − 1) + 1e-3   and   test RMSE ≤ 1.1 RMSE_scratch + 0.01

(target entries are 1, so 0.01 is 1 % of an entry). The margin is the smaller of the two, in
decades: log10(bound / measured); ≥ 0 restored. This is a map (``report_only``), not a pass/fail:
the answer depends on λ, α, m and depth. What it shows (``gflab check --claim DASH-1``, and the
``dash_plasticity`` figure): at depth 2 every neuron's weights are nearly orthogonal to the new
gradient (cos ≈ 0 at m = ∞), so DASH shrinks almost every neuron by its floor λ, and the product by
≈ λ^L. DASH restores the from-scratch rank and error only when that brings the product down to the
scale of a small initialisation (λ = 1e-4 at α = 1e-3); the authors' default λ = 0.3 closes about
half the rank gap and does not restore. At depth 3 resumed ≈ scratch ≈ rank 1 already ([DMC]) and
DASH keeps it.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from hypothesis import strategies as st

from gflab.proofs_checks.registry import Claim, Evidence, register_claim
from gflab.sims.dash import DashConfig, Intervention, simulate_dash_plasticity
from gflab.sims.plasticity import PlasticityConfig
from gflab.theory import measures as M

__all__ = [
    "REL_TOL",
    "SR_FLOOR",
    "RMSE_FLOOR",
    "dash_config",
    "dash_run_config",
    "check_dash1",
    "restoration",
]

REL_TOL = 0.1  # 10 % relative slack over the from-scratch value
SR_FLOOR = 1e-3  # absolute slack on sr − 1 (depth ≥ 3 flows reach 1e-9: ratios there are noise)
RMSE_FLOOR = 0.01  # absolute slack on the test RMSE (1 % of a target entry)
N = 6
GD_LR = 0.2
GD_SWITCH = 2000
GD_STEPS = 4000
EPS = 2.2e-16


def dash_config(ex: dict[str, Any]) -> PlasticityConfig:
    """The :class:`PlasticityConfig` of one DASH-1 example.

    Args:
        ex: one DASH-1 example (depth, n, m, α, λ, α_DASH, method).

    Returns:
        The plasticity experiment without the intervention.
    """
    gd = str(ex.get("method", "adaptive")).startswith("gd")
    return PlasticityConfig(
        depth=int(ex["depth"]),
        n=int(ex.get("n", N)),
        m=float(ex["m"]),
        alpha=float(ex["alpha"]),
        method=f"gd:{GD_LR:g}" if gd else "adaptive",
        switch=GD_SWITCH if gd else None,
        steps=GD_STEPS if gd else None,
        rtol=1e-9,
        atol=1e-14,
        n_save=64,
    )


def dash_run_config(ex: dict[str, Any]) -> DashConfig:
    """The :class:`DashConfig` of one DASH-1 example (``gflab simulate dmf-dash`` reruns it).

    Args:
        ex: one DASH-1 example (depth, n, m, α, λ, α_DASH, method).

    Returns:
        The DASH experiment.
    """
    return DashConfig.from_intervention(dash_config(ex), _intervention(ex))


def _intervention(ex: dict[str, Any]) -> Intervention:
    return Intervention(
        kind=ex.get("kind", "dash"),
        floor=float(ex.get("floor", 0.3)),
        alpha=float(ex.get("dash_alpha", 0.3)),
    )


@functools.lru_cache(maxsize=256)
def _run(cfg: PlasticityConfig, iv: Intervention):
    return simulate_dash_plasticity(cfg, iv)


def restoration(ex: dict[str, Any]) -> dict[str, Any]:
    """Measure one example: ranks and errors of resumed, scratch and intervened, and the margin.

    Args:
        ex: one DASH-1 example (depth, n, m, α, λ, α_DASH, method).

    Returns:
        The measured numbers and ``margin`` (−inf with ``status`` when a run failed).
    """
    cfg, iv = dash_config(ex), _intervention(ex)
    r = _run(cfg, iv)
    runs = {"resumed": r.resumed, "scratch": r.scratch, "intervened": r.intervened}
    bad = {k: v.status for k, v in runs.items() if v.final_state is None}
    if bad or r.pretrain.final_state is None:
        return {"margin": -math.inf, "status": bad or r.pretrain.status}
    t = {k: M.stable_rank_tail(v.final["singular_values"]) for k, v in runs.items()}
    e = {k: float(v.final["test_rmse"]) for k, v in runs.items()}
    sr_bound = (1 + REL_TOL) * t["scratch"] + SR_FLOOR
    rmse_bound = (1 + REL_TOL) * e["scratch"] + RMSE_FLOOR
    margin = min(
        math.log10(sr_bound / max(t["intervened"], EPS)),
        math.log10(rmse_bound / max(e["intervened"], EPS)),
    )
    gap = t["resumed"] - t["scratch"]
    return {
        "margin": margin,
        "restored": margin >= 0,
        "sr_minus_1": t,
        "test_rmse": e,
        "rank_gap_closed": (t["resumed"] - t["intervened"]) / gap if abs(gap) > 1e-12 else math.nan,
        "fraction_at_floor": r.info.get("fraction_at_floor", math.nan),
        "product_norm_ratio": r.info["product_norm_after"] / r.info["product_norm_before"],
        "status": {k: v.status for k, v in runs.items()},
    }


def check_dash1(ex: dict[str, Any]) -> Evidence:
    """DASH-1 on one example (a map entry: margin ≥ 0 means DASH restored from-scratch training).

    Args:
        ex: one DASH-1 example (depth, n, m, α, λ, α_DASH, method).

    Returns:
        The :class:`Evidence` of :func:`restoration`.
    """
    out = restoration(ex)
    margin = out.pop("margin")
    return Evidence(margin, {"example": dict(ex), **out}, config=dash_run_config(ex))


def _strategy_dash1():
    flow = st.fixed_dictionaries(
        {
            "depth": st.sampled_from((2, 3)),
            "m": st.sampled_from((math.inf, 10.0)),
            "alpha": st.sampled_from((1e-2, 1e-3)),
            "floor": st.sampled_from((0.3, 1e-2, 1e-4)),
            "dash_alpha": st.sampled_from((0.3, 1.0)),
            "method": st.just("adaptive"),
        }
    )
    gd = st.fixed_dictionaries(
        {
            "depth": st.just(2),
            "m": st.sampled_from((math.inf, 10.0)),
            "alpha": st.just(1e-3),
            "floor": st.sampled_from((0.3, 1e-4)),
            "dash_alpha": st.sampled_from((0.3, 1.0)),
            "method": st.just("gd"),
        }
    )
    return st.one_of(flow, gd)


def _reproduce_dash1(ex: dict[str, Any]) -> str:
    return (
        f'python -c "from gflab.proofs_checks.dash import check_dash1; print(check_dash1({dict(ex)!r}))"'
    ).replace("inf", "float('inf')")


def dash_map(
    depths=(2, 3), ms=(math.inf, 10.0), alphas=(1e-2, 1e-3), floors=(0.3, 1e-2, 1e-3, 1e-4)
) -> list[dict[str, Any]]:
    """The whole DASH-1 grid (flow, α_DASH = 0.3) plus the baselines at each (depth, m, α).

    Args:
        depths: the depths L.
        ms: the mimic parameters m.
        alphas: the init scales α.
        floors: DASH's floors λ.

    Returns:
        One row per grid point.
    """
    rows = []
    for depth in depths:
        for m in ms:
            for a in alphas:
                base = {"depth": depth, "m": m, "alpha": a}
                for fl in floors:
                    ex = {**base, "kind": "dash", "floor": fl}
                    rows.append({**ex, **restoration(ex)})
                for kind in ("none", "shrink-perturb", "reset"):
                    ex = {**base, "kind": kind, "floor": 0.3}
                    rows.append({**ex, **restoration(ex)})
    return rows


def _dash_beyond(profile: str = "ci") -> dict:
    """``gflab check --beyond DASH-1``: the whole grid (:func:`dash_map`) as printable rows."""
    floors = (0.3, 1e-2, 1e-4) if profile == "ci" else (0.3, 0.1, 1e-2, 1e-3, 1e-4)
    rows = []
    for r in dash_map(floors=floors):
        if not math.isfinite(r["margin"]):
            rows.append({"depth": r["depth"], "m": str(r["m"]), "status": str(r.get("status"))})
            continue
        rows.append(
            {
                "depth": r["depth"],
                "m": f"{r['m']:g}",
                "alpha": r["alpha"],
                "kind": r["kind"],
                "floor": r["floor"] if r["kind"] in ("dash", "shrink-perturb") else None,
                "restored": bool(r["restored"]),
                "margin": round(r["margin"], 3),
                "sr_minus_1": {k: float(f"{v:.3g}") for k, v in r["sr_minus_1"].items()},
                "test_rmse": {k: float(f"{v:.3g}") for k, v in r["test_rmse"].items()},
            }
        )
    return {
        "title": "DASH-1: restored (sr − 1 ≤ 1.1·scratch + 1e-3 and RMSE ≤ 1.1·scratch + 0.01) "
        "after an intervention at the switch; flow, n = 6, Ω1 diagonal → Ω2 superdiagonal",
        "rows": rows,
    }


register_claim(
    Claim(
        id="DASH-1",
        paper="DASH",
        statement="DASH (authors' rule: per-neuron cos(w, averaged −∇) clamped to [λ, 1]) applied at "
        "the switch of the DMF plasticity protocol restores the from-scratch stable rank and test "
        "error: a map over depth, m, α, λ and α_DASH (restores at depth 2 only when λ^L shrinks the "
        "product to the scale of a small init; the authors' λ = 0.3 does not)",
        hypotheses="n = 6, Ω1 diagonal → Ω2 superdiagonal, target ones, mimic(α, m) init; flow "
        "(rtol 1e-9) or GD η = 0.2 (2000 + 4000 steps); restored iff sr − 1 ≤ 1.1 (sr_scr − 1) + "
        "1e-3 and RMSE ≤ 1.1 RMSE_scr + 0.01",
        strategy=_strategy_dash1,
        check=check_dash1,
        reproduce=_reproduce_dash1,
        config=dash_run_config,
        margin_units="decades: min over rank and test RMSE of log10(bound / measured) (report only)",
        examples={"ci": 6, "dev": 24, "thorough": 80},
        beyond=_dash_beyond,
        report_only=True,
    )
)
