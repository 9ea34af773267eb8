"""The measurements the redrawn figures plot, against oracles: the equal-rate lines of
``bridge_lora_spectra`` and the factor imbalance of ``sgf_l2``."""

from __future__ import annotations

import numpy as np
import pytest

from gflab.figures.bridge import _sqrt_spectra
from gflab.figures.sgf import _rates_params, l2_record
from gflab.sims import LoRAConfig
from gflab.sims.bridge.probes import growth_fits
from gflab.sims.lora import lora_problem
from gflab.theory import closed_forms as CF

STEPS = np.arange(0, 61, 5)


def _run(slopes, intercepts, steps=STEPS, burn_in=10):
    """A bridge record whose modules' √σ_i grow as a_i + c_i·step (two modules, the second with
    doubled slopes), with the slopes fitted as the bridge fits them."""
    modules = {}
    for k, scale in enumerate((1.0, 2.0)):
        root = np.asarray(intercepts)[None, :] + scale * np.outer(steps, slopes)
        sv = root**2
        fit = growth_fits(steps, sv, burn_in)
        modules[f"m{k}"] = {"singular_values": sv.tolist(), "growth_slopes": fit["slopes"]}
    return {"steps": steps.tolist(), "config": {"burn_in": burn_in}, "modules": modules}


@pytest.mark.parametrize(
    "slopes, equal", [((0.03, 0.03, 0.03), True), ((0.03, 0.02, 0.01), False)], ids=["equal", "fan"]
)
def test_equal_rate_lines(slopes, equal):
    """Oracle: with equal slopes the law's lines are the measured curves (to rounding); with
    unequal ones they are parallel lines through each mode's burn-in value, slope = the mean."""
    intercepts = (0.9, 0.6, 0.3)
    steps, meas, tl, law, fitted = _sqrt_spectra(_run(slopes, intercepts))
    np.testing.assert_allclose(fitted, 1.5 * np.asarray(slopes), rtol=1e-10)  # mean of ×1, ×2
    i0 = int(np.searchsorted(steps, 10))
    np.testing.assert_allclose(law[0], meas[i0], rtol=1e-12)  # starts at the measured value
    law_slopes = np.diff(law, axis=0) / np.diff(tl)[:, None]
    np.testing.assert_allclose(law_slopes, 1.5 * np.mean(slopes), rtol=1e-10)  # one slope
    gap = np.max(np.abs(law - meas[i0:]))
    assert (gap < 1e-10) if equal else (gap > 0.1)


def test_l2_record_imbalance():
    """SGF-5 on a small problem: the record's ‖AᵀA − BBᵀ‖_F starts at ‖B(0)B(0)ᵀ‖_F (A(0) = 0 under
    LoRA init: the closed form of the start) and vanishes at the limit, whose singular values
    are (s_i − λ)_+ (docs/theory.md §2.2)."""
    cfg = LoRAConfig(
        rows=6,
        cols=7,
        rank=2,
        target_svals=(1.0, 4.0),
        gamma=1e-2,
        init="lora",
        flow="specgf",
        beta=1e-6,
        l2=0.5,
        t1=4.0,
        n_save=41,
    )
    rec = l2_record(**_rates_params(cfg))
    A0, B0, *_ = lora_problem(cfg)
    assert np.abs(A0).max() == 0.0
    # 1e-12: the same norm of the same float64 matrices
    assert rec["imbalance"][0] == pytest.approx(np.linalg.norm(B0 @ B0.T), rel=1e-12)
    assert rec["status"] == 1.0  # converged before t1
    # the limit to the solver's convergence tolerance (ℓ − ℓ_min ≤ 1e-12 ℓ_ref): 1e-5 on σ
    np.testing.assert_allclose(
        rec["singular_values"][-1], CF.soft_threshold_limit((1.0, 4.0), 0.5, 2), atol=1e-5
    )
    assert rec["imbalance"][-1] < 1e-4 < rec["imbalance"].max()  # balanced only at the end
