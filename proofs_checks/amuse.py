"""Claims AMUSE-1 and AMUSE-2 (docs/theory.md §2.4, docs/dash-amuse.md) in the river valley of
:mod:`gflab.sims.river`, on the published AMUSE (:class:`gflab.theory.schedule_free.AMUSE`).

The abstract's two statements, made executable:

- **AMUSE-1**: orthogonalisation speeds bulk progress but amplifies the oscillation across the
  walls. Muon (AMUSE's base step alone: momentum 0.95, Nesterov, Newton–Schulz, shape scale
  0.2·√max(m, n), linear warmup) against GD at its best wall step 1/h_wall, both under the same
  gradient noise σ > 0: k_90(GD) ≥ 2 k_90(Muon) and A(Muon) ≥ 2 A(GD) (A = RMS wall distance over
  the last quarter). GD's A is the **noise floor**: at step 1/h_wall GD lands on the wall's bottom
  every step, up to the noise, so A(GD) ≈ σ·√(rows·walls)/h_wall. At σ = 0 it is exactly 0, there
  is no floor to measure against, and the check reports a violation (never a ratio to rounding).
  GD's k_90 beyond the horizon counts as the horizon (a lower bound: a conservative speed-up).
- **AMUSE-2**: AMUSE's interpolation damps the oscillation while keeping the speed. AMUSE's output
  x (what ``eval()`` gives) against Muon at the same base step: A(AMUSE x) ≤ A(Muon)/3 and
  k_90(AMUSE x) ≤ 2 k_90(Muon). A map over (β₁, ρ, T₀, σ, η), registered ``report_only``: where it
  holds and where it fails depends on how fast β rises to 1 (docs/dash-amuse.md gives the map).
  ``sf_muon_damping`` is the same ratio for ρ = 0 (β kept at β₁): whether the schedule, rather than
  the averaging, does the damping.

Margins in decades: log10(measured ratio / required ratio), the minimum of the two parts.
"""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import product

from hypothesis import strategies as st

from gflab.proofs_checks.registry import Evidence, paper_claims
from gflab.sims.river import RiverConfig, simulate_river

__all__ = [
    "SPEEDUP",
    "AMPLIFY",
    "DAMP",
    "SLOWDOWN",
    "check_amuse1",
    "check_amuse2",
    "noise_floor",
    "FALSE_VARIANTS",
]

SPEEDUP = 2.0  # AMUSE-1: GD needs at least twice Muon's steps to 90 % of the bulk
AMPLIFY = 2.0  # AMUSE-1: Muon's wall amplitude at least twice GD's (the noise floor)
DAMP = 3.0  # AMUSE-2: AMUSE's wall amplitude at most a third of Muon's
SLOWDOWN = 2.0  # AMUSE-2: AMUSE reaches 90 % of the bulk within twice Muon's steps
NO_FLOOR = -1.0  # AMUSE-1's margin when σ = 0 (no noise floor: the amplification is undefined)


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


def noise_floor(cfg: RiverConfig) -> float:
    """GD's expected wall amplitude at step η_GD under noise σ: each wall entry is the stationary
    AR(1) e ← (1 − η h) e − η σ ξ, variance (ησ)²/(1 − (1 − ηh)²), summed over rows × walls.

    Args:
        cfg: the river-valley run (its GD step and noise σ).

    Returns:
        The amplitude.
    """
    eta, h = cfg.gd_step, cfg.h_wall
    a = 1.0 - eta * h
    return eta * cfg.noise * math.sqrt(cfg.rows * (cfg.cols - cfg.bulk) / (1.0 - a * a))


def check_amuse1(cfg: RiverConfig) -> Evidence:
    """AMUSE-1 on one river valley (margin in decades).

    Args:
      cfg: the river valley (σ > 0 for the amplification to be defined).

    Returns:
      :class:`Evidence` with the speed-up, the amplification over GD's noise floor and every
      method's summary.
    """
    r = simulate_river(cfg)
    gd, mu = r["gd"]["W"], r["muon"]["W"]
    nums = {"noise_floor_expected": noise_floor(cfg), **_nums(r)}
    if not math.isfinite(mu["steps_to_bulk_90"]):
        return Evidence(
            -1.0, nums, "Muon did not reach 90 % of the bulk within the horizon", config=cfg
        )
    speed = _k90(gd, cfg.steps) / max(mu["steps_to_bulk_90"], 1.0)
    if gd["wall_amplitude"] == 0.0:
        return Evidence(
            NO_FLOOR,
            {"speedup": speed, **nums},
            "σ = 0: GD's wall amplitude is exactly 0, no noise floor to amplify",
            config=cfg,
        )
    amp = mu["wall_amplitude"] / gd["wall_amplitude"]
    margin = min(math.log10(speed / SPEEDUP), math.log10(amp / AMPLIFY))
    return Evidence(margin, {"speedup": speed, "amplification": amp, **nums}, config=cfg)


def check_amuse2(cfg: RiverConfig) -> Evidence:
    """AMUSE-2 on one river valley (margin in decades).

    Args:
      cfg: the river valley and AMUSE's hyper-parameters.

    Returns:
      :class:`Evidence` with the damping A(Muon)/A(AMUSE x), the slowdown k90(AMUSE x)/k90(Muon),
      the same two for ρ = 0 (``sf_muon_*``) and every method's summary.
    """
    r = simulate_river(cfg)
    mu, am, sf = r["muon"]["W"], r["amuse"]["x"], r["sf-muon"]["x"]
    if not (math.isfinite(mu["steps_to_bulk_90"]) and math.isfinite(am["steps_to_bulk_90"])):
        return Evidence(-1.0, _nums(r), "Muon or AMUSE did not reach 90 % of the bulk", config=cfg)
    tiny = 1e-300  # an amplitude of exactly 0 would be infinite damping
    damp = mu["wall_amplitude"] / max(am["wall_amplitude"], tiny)
    slow = am["steps_to_bulk_90"] / max(mu["steps_to_bulk_90"], 1.0)
    margin = min(math.log10(damp / DAMP), math.log10(SLOWDOWN / slow))
    return Evidence(
        margin,
        {
            "damping": damp,
            "slowdown": slow,
            "sf_muon_damping": mu["wall_amplitude"] / max(sf["wall_amplitude"], tiny),
            "sf_muon_slowdown": _k90(sf, cfg.steps) / max(mu["steps_to_bulk_90"], 1.0),
            **_nums(r),
        },
        config=cfg,
    )


def _amuse1_examples():
    return st.builds(
        RiverConfig,
        h_bulk=st.sampled_from((1e-3, 3e-3)),
        noise=st.sampled_from((1e-5, 1e-4)),
        lr=st.sampled_from((0.01, 0.03)),
        seed=st.sampled_from((0, 1)),
        steps=st.just(1000),
    )


def _amuse2_examples():
    return st.builds(
        RiverConfig,
        beta1=st.sampled_from((0.4, 0.6, 0.9)),
        rho=st.sampled_from((0.3, 0.8)),
        warmup_steps=st.sampled_from((50, 100, 300)),
        noise=st.sampled_from((1e-5, 1e-4)),
        lr=st.sampled_from((0.01, 0.03)),
        seed=st.sampled_from((0, 1)),
        steps=st.just(1000),
    )


FALSE_VARIANTS = {
    "AMUSE-1": {
        "no river": (
            "an isotropic quadratic (h_bulk = h_wall): GD is as fast in the bulk as Muon",
            lambda cfg: check_amuse1(replace(cfg, h_bulk=cfg.h_wall)),
        ),
        "zero noise": (
            "σ = 0: GD's amplitude is exactly 0, the amplification has no floor",
            lambda cfg: check_amuse1(replace(cfg, noise=0.0)),
        ),
    },
    "AMUSE-2": {
        "fast rise": (
            "β₁ = 0.9, ρ = 0.8 after a 50-step warmup: β reaches 1 early and AMUSE's x oscillates",
            lambda cfg: check_amuse2(replace(cfg, beta1=0.9, rho=0.8, warmup_steps=50)),
        ),
    },
}
"""Per claim, named false variants: (what is false, a check on a claim example that must fail)."""


def _fmt(v):
    if isinstance(v, float):
        return float(f"{v:.4g}") if math.isfinite(v) else str(v)
    return v


def _amuse1_beyond(profile: str = "ci") -> dict:
    """``gflab check --beyond AMUSE-1``: margins over σ (0 and 1e-3 included), η and h_bulk."""
    rows = []
    noises = (0.0, 1e-5, 1e-4, 1e-3)
    for lr, hb, noise in product((0.01, 0.03), (1e-3, 3e-3, 1.0), noises):
        ev = check_amuse1(RiverConfig(lr=lr, h_bulk=hb, noise=noise))
        rows.append(
            {
                "lr": lr,
                "h_bulk": hb,
                "noise": noise,
                "margin": ev.margin,
                "speedup": ev.numbers.get("speedup"),
                "amplification": ev.numbers.get("amplification", "undefined (no floor)"),
            }
        )
    return {
        "title": "AMUSE-1 margins (decades) beyond the hypotheses: σ = 0 (no noise floor), σ = 1e-3 "
        "(the floor reaches Muon's oscillation), h_bulk = 1 (no river); speedup = "
        "k90(GD)/k90(Muon), amplification = A(Muon)/A(GD)",
        "rows": [{k: _fmt(v) for k, v in r.items()} for r in rows],
    }


def _amuse2_map(beta1s, rhos, warmups, noises, lrs=(0.01, 0.03)) -> list:
    rows = []
    for b1, rho, w, noise, lr in product(beta1s, rhos, warmups, noises, lrs):
        ev = check_amuse2(RiverConfig(beta1=b1, rho=rho, warmup_steps=w, noise=noise, lr=lr))
        rows.append(
            {
                "beta1": b1,
                "rho": rho,
                "warmup_steps": w,
                "noise": noise,
                "lr": lr,
                "holds": ev.held,
                "margin": ev.margin,
                "damping": ev.numbers.get("damping"),
                "slowdown": ev.numbers.get("slowdown"),
                "sf_muon_damping": ev.numbers.get("sf_muon_damping"),
            }
        )
    return rows


def _amuse2_beyond(profile: str = "ci") -> dict:
    """``gflab check --beyond AMUSE-2``: the map over (β₁, ρ, T₀, σ, η)."""
    if profile == "ci":
        rows = _amuse2_map((0.4, 0.6, 0.9), (0.3, 0.8), (50, 300), (1e-4,))
    else:
        rows = _amuse2_map((0.4, 0.6, 0.9), (0.3, 0.8, 1.0), (50, 100, 300), (1e-5, 1e-4, 1e-3))
    return {
        "title": "AMUSE-2 map over (beta1, rho, warmup_steps, noise, lr): holds = damping >= 3 and "
        "slowdown <= 2; damping = A(Muon)/A(AMUSE x), slowdown = k90(AMUSE x)/k90(Muon), "
        "sf_muon_damping = the damping with rho = 0 (beta kept at beta1)",
        "rows": [{k: _fmt(v) for k, v in r.items()} for r in rows],
    }


HYP1 = (
    "river valley 4×4, 2 bulk columns h_bulk ∈ {1e-3, 3e-3}, 2 walls h_wall = 1, W(0) = 0, W* = I, "
    "1000 steps, gradient noise σ ∈ {1e-5, 1e-4} (> 0: GD's amplitude is the noise floor), seeds "
    "{0, 1}; Muon = AMUSE's base step (μ = 0.95, scale 0.2·√4, warmup 100) at η ∈ {0.01, 0.03}; "
    "GD step 1/h_wall"
)
HYP2 = (
    "river valley 4×4 (h_bulk = 1e-3, h_wall = 1), 1000 steps, σ ∈ {1e-5, 1e-4}, seeds {0, 1}; "
    "AMUSE as published at η ∈ {0.01, 0.03}, β₁ ∈ {0.4, 0.6, 0.9}, ρ ∈ {0.3, 0.8}, "
    "T₀ ∈ {50, 100, 300}, μ = 0.95, r = 0, p = 2, aux type adamw; Muon = its base step"
)


# An example is a RiverConfig, so its worst example is reproduced by `gflab simulate river ...
# --json` (gflab.sims.schema.command); 4, 16, 32 examples in the ci, dev, thorough profiles.
_river_claim = paper_claims(
    "AMUSE", config=lambda cfg: cfg, examples={"ci": 4, "dev": 16, "thorough": 32}
)

_river_claim(
    "AMUSE-1",
    check_amuse1,
    steer=False,
    strategy=_amuse1_examples,
    hypotheses=HYP1,
    beyond=_amuse1_beyond,
    statement="orthogonalisation speeds bulk progress but amplifies wall oscillation above the "
    f"noise floor: k90(GD) ≥ {SPEEDUP:g}·k90(Muon) and A(Muon) ≥ {AMPLIFY:g}·A(GD), both under "
    "the same gradient noise σ > 0",
    margin_units="decades: min(log10(speed-up/2), log10(amplification/2))",
)

_river_claim(
    "AMUSE-2",
    check_amuse2,
    steer=False,
    strategy=_amuse2_examples,
    hypotheses=HYP2,
    beyond=_amuse2_beyond,
    statement="AMUSE's output x damps the wall oscillation while keeping the speed: "
    f"A(AMUSE x) ≤ A(Muon)/{DAMP:g} and k90(AMUSE x) ≤ {SLOWDOWN:g}·k90(Muon) (a map over "
    "β₁, ρ, T₀, σ, η: it holds where β rises slowly and fails where β reaches 1 early)",
    margin_units="decades: min(log10(damping/3), log10(2/slowdown)) (report only)",
    report_only=True,
)
