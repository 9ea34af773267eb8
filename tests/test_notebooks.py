"""Lecturers' notebooks (jupytext percent ``.py`` files in ``notebooks/``) run headless end to end,
store no outputs, and their numbers agree with the closed forms."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

from theory import closed_forms as CF

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ("01_depth", "02_staircase", "03_plasticity", "04_muon")


def run_notebook(name: str) -> dict:
    """Execute a notebook as the plain Python file it is (MPLBACKEND=Agg from conftest), in this
    process so that compiled solves are shared with the other tests."""
    import matplotlib.pyplot as plt

    try:
        return runpy.run_path(str(NOTEBOOKS / f"{name}.py"), run_name="__main__")
    finally:
        plt.close("all")


def test_every_notebook_is_listed():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.py")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_plain_percent_format(name):
    text = (NOTEBOOKS / f"{name}.py").read_text()
    assert text.startswith("# ---\n# jupyter:\n")
    assert "format_name: percent" in text
    assert text.count("# %%") >= 3
    assert "outputs" not in text and "execution_count" not in text


def test_depth_notebook():
    ns = run_notebook("01_depth")
    n, alpha, m = ns["n"], ns["alpha"], ns["m"]
    for L, value in ns["offdiag_final"].items():
        assert value == pytest.approx(CF.mimic_limit(n, L, alpha, m).offdiagonal, rel=1e-7)
    assert ns["offdiag_final"][2] == pytest.approx(CF.depth2_rho(n, m), rel=1e-7)
    # full factor flow (rtol 1e-9) vs reduced ODE (rtol 1e-11): both track the same curve
    assert ns["sim_vs_reduced_error"] < 1e-6


def test_staircase_notebook():
    ns = run_notebook("02_staircase")
    np.testing.assert_allclose(
        ns["specgf_arrival"], CF.specgf_arrival_time(ns["s"], 0.5), rtol=0.02
    )
    assert np.all(np.diff(ns["gf_arrival"]) < 0)  # gradient flow: largest first


def test_plasticity_notebook():
    ns = run_notebook("03_plasticity")
    np.testing.assert_allclose(ns["phase1_matrix"], ns["phase1_closed_form"], atol=1e-6)
    r2, r3 = ns["results"][2], ns["results"][3]
    assert r2["resumed"].final["stable_rank"] > r2["scratch"].final["stable_rank"] + 0.1
    assert r3["resumed"].final["stable_rank"] == pytest.approx(1.0, abs=0.01)


def test_muon_notebook():
    ns = run_notebook("04_muon")
    a = ns["arrivals"]
    np.testing.assert_allclose(a[("lora", "SpecGD")], ns["predicted"], rtol=0.1)
    assert np.all(np.diff(a[("lora", "Muon")]) > 0)
    # both-Gaussian init delays the smallest mode of exact SpecGD (SGF-7)
    assert a[("gaussian", "SpecGD")][0] > 1.5 * a[("lora", "SpecGD")][0]
