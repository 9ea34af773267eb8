"""Claims AMUSE-1 and AMUSE-2 (docs/theory.md §2.4) in the river-valley model of :mod:`gflab.sims.river`.

The abstract's two statements, made executable (the optimisers: :mod:`gflab.theory.schedule_free`; AMUSE
is RECONSTRUCTED there: Schedule-Free Muon with β_k = β_end·k/(k + τ), our assumption):

- **AMUSE-1**: orthogonalisation speeds bulk progress but amplifies the oscillation across the
  walls. Muon (step η) against GD at its best wall step 1/h_wall: k_90(GD) ≥ 2 k_90(Muon) and
  A(Muon) ≥ 2 A(GD) (A = RMS wall distance over the last quarter). GD's k_90 beyond the horizon is
  counted as the horizon (a lower bound, so the speed-up margin is conservative); an exact 0
  amplitude is floored at machine epsilon.
- **AMUSE-2**: the interpolation schedule damps the oscillation while keeping the speed. AMUSE's
  output x against Muon at the same η: A(AMUSE x) ≤ A(Muon)/3 and k_90(AMUSE x) ≤ 2 k_90(Muon).
  It does NOT hold as stated, so it is registered as a map (``report_only``): the damping holds
  everywhere in the hypotheses (A falls 7× to 240×), but the average x reaches 90 % of the bulk
  1.9× to 2.8× later than Muon (τ = 10: ≈ 2×; τ = 100: 2.3×–2.8×; τ = 1000, beyond: 4×–5×),
  and at η = 0.003 the average even oscillates more than Muon (:func:`false_variant_amuse2`).
  Schedule-Free Muon with the constant β = β_end damps as much at the same cost
  (``sf_muon_damping``, ``sf_muon_slowdown``): in this model the damping comes from the
  averaging, not from the schedule.

Margins in decades: log10(measured ratio / required ratio), the minimum of the two parts.
River valley: 4 × 4, two bulk columns (h_bulk ∈ {1e-3, 3e-3}) and two walls (h_wall = 1), W(0) = 0,
W* = I, 1000 steps, gradient noise σ ∈ {0, 1e-4}.
"""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import strategies as st

from gflab.proofs_checks.registry import Claim, Evidence, register_claim
from gflab.sims.river import RiverConfig, simulate_river

__all__ = [
    "SPEEDUP",
    "AMPLIFY",
    "DAMP",
    "SLOWDOWN",
    "check_amuse1",
    "check_amuse2",
    "false_variant_amuse2",
]

SPEEDUP = 2.0  # AMUSE-1: GD needs at least twice Muon's steps to 90 % of the bulk
AMPLIFY = 2.0  # AMUSE-1: Muon's wall amplitude at least twice GD's
DAMP = 3.0  # AMUSE-2: AMUSE's wall amplitude at most a third of Muon's
SLOWDOWN = 2.0  # AMUSE-2: AMUSE reaches 90 % of the bulk within twice Muon's steps
EPS = 2.2e-16


def _k90(summary: dict, horizon: int) -> float:
    k = summary["steps_to_bulk_90"]
    return float(horizon) if not math.isfinite(k) else float(k)


def _nums(r: dict) -> dict:
    out = {}
    for m, seqs in r.items():
        for q, s in seqs.items():
            out[f"{m}.{q}"] = {
                "steps_to_bulk_90": s["steps_to_bulk_90"],
                "wall_amplitude": s["wall_amplitude"],
                "bulk_progress": s["bulk_progress"],
            }
    return out


def check_amuse1(cfg: RiverConfig) -> Evidence:
    """AMUSE-1 on one river valley (margin in decades)."""
    r = simulate_river(cfg)
    gd, mu = r["gd"]["W"], r["muon"]["W"]
    if not math.isfinite(mu["steps_to_bulk_90"]):
        return Evidence(
            -1.0, _nums(r), "Muon did not reach 90 % of the bulk within the horizon", config=cfg
        )
    speed = _k90(gd, cfg.steps) / max(mu["steps_to_bulk_90"], 1.0)
    amp = mu["wall_amplitude"] / max(gd["wall_amplitude"], EPS)
    margin = min(math.log10(speed / SPEEDUP), math.log10(amp / AMPLIFY))
    return Evidence(margin, {"speedup": speed, "amplification": amp, **_nums(r)}, config=cfg)


def check_amuse2(cfg: RiverConfig) -> Evidence:
    """AMUSE-2 on one river valley (margin in decades)."""
    r = simulate_river(cfg)
    mu, am, sf = r["muon"]["W"], r["amuse"]["x"], r["sf-muon"]["x"]
    if not (math.isfinite(mu["steps_to_bulk_90"]) and math.isfinite(am["steps_to_bulk_90"])):
        return Evidence(-1.0, _nums(r), "Muon or AMUSE did not reach 90 % of the bulk", config=cfg)
    damp = mu["wall_amplitude"] / max(am["wall_amplitude"], EPS)
    slow = am["steps_to_bulk_90"] / max(mu["steps_to_bulk_90"], 1.0)
    margin = min(math.log10(damp / DAMP), math.log10(SLOWDOWN / slow))
    return Evidence(
        margin,
        {
            "damping": damp,
            "slowdown": slow,
            "sf_muon_damping": mu["wall_amplitude"] / max(sf["wall_amplitude"], EPS),
            "sf_muon_slowdown": sf["steps_to_bulk_90"] / max(mu["steps_to_bulk_90"], 1.0),
            **_nums(r),
        },
        config=cfg,
    )


def _river_examples():
    return st.builds(
        RiverConfig,
        h_bulk=st.sampled_from((1e-3, 3e-3)),
        noise=st.sampled_from((0.0, 1e-4)),
        lr=st.sampled_from((0.01, 0.03)),
        tau=st.sampled_from((10.0, 100.0)),
        seed=st.sampled_from((0, 1)),
        steps=st.just(1000),
    )


def false_variant_amuse2() -> RiverConfig:
    """AMUSE-2 outside its hypotheses: η = 0.003, where AMUSE's average oscillates more than Muon."""
    return replace(RiverConfig(), lr=0.003, tau=100.0)


def _river_map(lrs=(0.003, 0.01, 0.03), taus=(10.0, 100.0, 1000.0), noises=(0.0, 1e-4)) -> list:
    """Both claims' margins beyond the hypotheses: η (including 0.003), τ up to 1000, σ."""
    rows = []
    for lr in lrs:
        for tau in taus:
            for noise in noises:
                cfg = RiverConfig(lr=lr, tau=tau, noise=noise)
                a1, a2 = check_amuse1(cfg), check_amuse2(cfg)
                rows.append(
                    {
                        "lr": lr,
                        "tau": tau,
                        "noise": noise,
                        "amuse1_margin": a1.margin,
                        "amuse2_margin": a2.margin,
                        "damping": a2.numbers.get("damping"),
                        "slowdown": a2.numbers.get("slowdown"),
                        "sf_muon_damping": a2.numbers.get("sf_muon_damping"),
                    }
                )
    return rows


def _river_beyond(profile: str = "ci") -> dict:
    """``gflab check --beyond AMUSE-1|AMUSE-2``: :func:`_river_map` as printable rows."""
    rows = [
        {
            k: (float(f"{v:.4g}") if isinstance(v, float) and math.isfinite(v) else v)
            for k, v in r.items()
        }
        for r in _river_map(taus=(10.0, 100.0) if profile == "ci" else (10.0, 100.0, 1000.0))
    ]
    for r in rows:
        for k, v in r.items():
            if isinstance(v, float) and not math.isfinite(v):
                r[k] = str(v)
    return {
        "title": "AMUSE-1/2 margins (decades) beyond the hypotheses: η (0.003 included), τ, σ; "
        "damping = A(Muon)/A(AMUSE x), slowdown = k90(AMUSE x)/k90(Muon)",
        "rows": rows,
    }


HYP = (
    "river valley 4×4, 2 bulk columns h_bulk ∈ {1e-3, 3e-3}, 2 walls h_wall = 1, W(0) = 0, W* = I, "
    "1000 steps, noise σ ∈ {0, 1e-4}, seeds {0, 1}; Muon/SF-Muon/AMUSE step η ∈ {0.01, 0.03}, "
    "GD step 1/h_wall; AMUSE β: 0 → 0.9, τ ∈ {10, 100}"
)


def _river_claim(claim_id: str, check, **kw) -> Claim:
    """An [AMUSE] claim on the river valley: the hypotheses, examples and beyond-map all AMUSE
    claims share. An example is a :class:`RiverConfig`, so its worst example is reproduced by
    ``gflab simulate river ... --json`` (:func:`gflab.sims.schema.command`)."""
    shared = dict(
        hypotheses=HYP, strategy=_river_examples, config=lambda cfg: cfg, beyond=_river_beyond
    )
    examples = {"ci": 4, "dev": 16, "thorough": 32}
    return Claim(id=claim_id, paper="AMUSE", check=check, examples=examples, **shared, **kw)


register_claim(
    _river_claim(
        "AMUSE-1",
        check_amuse1,
        statement="orthogonalisation speeds bulk progress but amplifies wall oscillation: "
        f"k90(GD) ≥ {SPEEDUP:g}·k90(Muon) and A(Muon) ≥ {AMPLIFY:g}·A(GD)",
        margin_units="decades: min(log10(speed-up/2), log10(amplification/2))",
    )
)

register_claim(
    _river_claim(
        "AMUSE-2",
        check_amuse2,
        statement="AMUSE's schedule (RECONSTRUCTED) damps the wall oscillation while keeping the "
        f"speed: A(AMUSE x) ≤ A(Muon)/{DAMP:g} and k90(AMUSE x) ≤ {SLOWDOWN:g}·k90(Muon) (a map: "
        "the damping holds, the speed does not: x arrives 1.9–2.8× later than Muon)",
        margin_units="decades: min(log10(damping/3), log10(2/slowdown)) (report only)",
        report_only=True,
    )
)
