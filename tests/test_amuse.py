"""Schedule-Free (theory.schedule_free) against the ``schedulefree`` package, AMUSE's reconstructed
schedule, the river-valley model against its closed form, and claims AMUSE-1/AMUSE-2."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gflab.theory import schedule_free as SF
from gflab.theory._validate import GflabInputError

schedulefree = pytest.importorskip("schedulefree")  # pinned in requirements/test.lock
torch.set_num_threads(1)

RNG = np.random.default_rng(0)
A_MAT, B_VEC = RNG.standard_normal((6, 4)), RNG.standard_normal(6)
W0, C0 = RNG.standard_normal((4, 3)), RNG.standard_normal(3)


def _grads(W, c):
    """∇ of ½‖A W + c − b‖² (a small least-squares problem with a matrix and a bias)."""
    R = A_MAT @ W + c - B_VEC[:, None]
    return A_MAT.T @ R, R.sum(0)


def _torch_run(cls, steps, **kw):
    tW = torch.tensor(W0, requires_grad=True)
    tc = torch.tensor(C0, requires_grad=True)
    opt = cls([tW, tc], **kw)
    opt.train()
    for _ in range(steps):
        opt.zero_grad()
        R = torch.tensor(A_MAT) @ tW + tc - torch.tensor(B_VEC)[:, None]
        (0.5 * (R**2).sum()).backward()
        opt.step()
    y = (tW.detach().numpy().copy(), tc.detach().numpy().copy())
    opt.eval()  # parameters become the average x
    x = (tW.detach().numpy().copy(), tc.detach().numpy().copy())
    return y, x


def _ours(opt, steps):
    st = opt.init((W0, C0))
    y = (W0, C0)
    for _ in range(steps):
        y, st = opt.update(_grads(*y), st)
    return y, st.x


CASES = {
    "adamw-reference": (
        "AdamWScheduleFreeReference",
        SF.schedule_free_adamw,
        dict(lr=0.05, warmup_steps=5, weight_decay=0.01),
    ),
    "adamw": ("AdamWScheduleFree", SF.schedule_free_adamw, dict(lr=0.05, warmup_steps=5)),
    "adamw-r": ("AdamWScheduleFree", SF.schedule_free_adamw, dict(lr=0.02, r=1.0)),
    "sgd": ("SGDScheduleFree", SF.schedule_free_sgd, dict(lr=0.01, warmup_steps=3)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_schedule_free_matches_package(name):
    """y (the training point) and x (the eval-mode average) after 40 steps agree with the
    package's float64 optimiser to a few ulps: the same recurrences (the package's main AdamW runs
    them in y-space, a different association of the same sums, hence 1e-13 not exact)."""
    cls_name, ours, kw = CASES[name]
    ty, tx = _torch_run(getattr(schedulefree, cls_name), 40, **kw)
    oy, ox = _ours(ours(**kw), 40)
    for a, b in zip((*ty, *tx), (*oy, *ox), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)


def test_uniform_average_weights():
    """r = 0, no warmup: c_k = 1/(k+1), so x is the plain mean of z_1..z_k (Defazio et al.)."""
    opt = SF.schedule_free_sgd(0.05, beta=0.9, weight_lr_power=2.0)
    st = opt.init((W0,))
    y, zs = (W0,), []
    for _ in range(7):
        y, st = opt.update((_grads(y[0], C0)[0],), st)
        zs.append(st.z[0])
    np.testing.assert_allclose(st.x[0], np.mean(zs, axis=0), rtol=1e-13)
    np.testing.assert_allclose(y[0], 0.1 * st.z[0] + 0.9 * st.x[0], rtol=1e-14)


def test_amuse_schedule_and_constant_limit():
    """AMUSE's β_k = β_start + (β_end − β_start) k/(k+τ); with β_start = β_end it is SF-Muon."""
    a = SF.amuse(0.01, beta_start=0.0, beta_end=0.9, tau=10.0)
    assert a.beta_at(0) == 0.0 and math.isclose(a.beta_at(10), 0.45)
    assert a.beta_at(10_000) > 0.899
    same = SF.amuse(0.01, beta_start=0.9, beta_end=0.9, tau=10.0)
    ref = SF.schedule_free_muon(0.01, beta=0.9)
    s1, s2 = same.init((W0,)), ref.init((W0,))
    y1 = y2 = (W0,)
    for _ in range(5):
        y1, s1 = same.update((_grads(y1[0], C0)[0],), s1)
        y2, s2 = ref.update((_grads(y2[0], C0)[0],), s2)
    np.testing.assert_allclose(y1[0], y2[0], rtol=1e-15, atol=1e-16)


def test_bad_parameters_are_refused():
    with pytest.raises(GflabInputError):
        SF.ScheduleFree(base="lion")
    with pytest.raises(GflabInputError):
        SF.ScheduleFree(base="muon", tau=10.0)  # tau without beta_end


# ----------------------------------------------------------------------------- river valley


def test_river_gd_matches_closed_form():
    """GD on the river quadratic is per-column geometric: P_K = 1 − (1 − η h_bulk)^K exactly
    (σ = 0), and likewise the walls, (1 − η h_wall)^K."""
    from gflab.sims.river import RiverConfig, simulate_river

    cfg = RiverConfig(h_bulk=2e-3, steps=200, lr_gd=0.7)
    gd = simulate_river(cfg)["gd"]["W"]
    k = np.arange(cfg.steps + 1)
    np.testing.assert_allclose(gd["bulk_progress_series"], 1 - (1 - 0.7 * 2e-3) ** k, rtol=1e-12)
    # W − W* is formed next to W* = 1: an absolute rounding error of a few ulps of 1
    np.testing.assert_allclose(
        gd["wall_series"], np.sqrt(2) * (1 - 0.7) ** k, rtol=1e-12, atol=1e-15
    )


def test_amuse_claims_and_false_variants():
    """AMUSE-1 holds in its hypotheses and fails without a river (h_bulk = h_wall/2: GD is fast in
    the bulk too); AMUSE-2's false variant (η = 0.003) is caught by decades."""
    from dataclasses import replace

    from gflab.proofs_checks.amuse import check_amuse1, check_amuse2, false_variant_amuse2
    from gflab.sims.river import RiverConfig

    assert check_amuse1(RiverConfig(lr=0.01)).margin > 0.3
    assert check_amuse1(replace(RiverConfig(lr=0.01), h_bulk=0.5)).margin < 0
    ev = check_amuse2(false_variant_amuse2())
    assert ev.margin < -1.0 and ev.numbers["damping"] < 1.0


def test_claims_run_under_ci():
    from gflab.proofs_checks.registry import claims
    from gflab.proofs_checks.runner import run_claim

    reg = claims()
    rep = run_claim(reg["AMUSE-1"], profile="ci")
    assert rep.verdict == "held" and rep.examples == reg["AMUSE-1"].examples["ci"]
    assert reg["AMUSE-2"].report_only and reg["DASH-1"].report_only


@pytest.mark.parametrize("kind", ["sf-muon", "amuse"])
def test_bridge_schedule_free_muon_matches_theory(kind):
    """The bridge's torch optimizer against theory.schedule_free on NumPy (float64 tensors): the
    same arithmetic through array-api-compat, so agreement to rounding (1e-12)."""
    from gflab.sims.bridge.optim import build_optimizers, optimizer_settings

    settings = optimizer_settings(kind, 0.02, 2e-3, 0.0, 0.0, 0.95, True, "original")
    tW = torch.tensor(W0, requires_grad=True)
    (opt,) = build_optimizers(kind, [tW], [], settings)
    lr = 0.02 * math.sqrt(max(1.0, W0.shape[0] / W0.shape[1]))  # torch Muon's "original" factor
    ours = SF.amuse(lr) if kind == "amuse" else SF.schedule_free_muon(lr)
    st, y = ours.init((W0,)), (W0,)
    for _ in range(12):
        opt.zero_grad()
        R = torch.tensor(A_MAT) @ tW + torch.tensor(C0) - torch.tensor(B_VEC)[:, None]
        (0.5 * (R**2).sum()).backward()
        opt.step()
        y, st = ours.update((_grads(y[0], C0)[0],), st)
    np.testing.assert_allclose(tW.detach().numpy(), y[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(opt.average()[0].numpy(), st.x[0], rtol=1e-12, atol=1e-14)


def test_rate_summary_on_exact_equal_rate():
    """√d_i = η k for every mode (SpecGD's equal rate, docs/theory.md §2.2): slopes 1 in units of η,
    spread 0 (to the least-squares fit's rounding), half-arrivals √(s_i/2)/η (linear
    interpolation between integer steps of a convex d_i: within one step)."""
    from gflab.sims.sf_lora import rate_summary

    eta, s = 0.01, np.array([0.5, 2.0, 8.0])
    k = np.arange(400)
    d = np.minimum((eta * k)[:, None] ** 2, s[None, :])
    out = rate_summary(d, s, eta)
    np.testing.assert_allclose(out["sqrt_slope"], 1.0, rtol=1e-9)
    assert out["rate_spread"] < 1e-9
    np.testing.assert_allclose(out["half_arrival"], np.sqrt(s / 2) / eta, atol=1.0)
