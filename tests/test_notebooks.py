"""Lecturers' notebooks (jupytext percent ``.py`` files in ``notebooks/``, paired ``.ipynb``) run
headless in a real Jupyter kernel (nbclient) with the inline backend: their numbers agree with the
closed forms, each figure is shown once, and the ipywidgets sliders exist and recompute (moved from
a cell appended for the test) against the closed forms."""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from gflab.theory import closed_forms as CF

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
NAMES = ("01_depth", "02_staircase", "03_plasticity", "04_muon")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# Appended to each notebook: move sliders as a reader would, print what the callbacks computed.
CHECKS = {
    "01_depth": """
widget.controls["depth"].value = 4
widget.controls["alpha"].value = 1e-4
runs = widget.data["runs"]
out = dict(
    offdiag_final={int(L): float(v) for L, v in offdiag_final.items()},
    n=n, alpha=alpha, m=m, sim_vs_reduced_error=sim_vs_reduced_error,
    widget_depths=[r.depth for r in runs], widget_final=float(runs[-1].offdiagonal[-1]),
    widget_values=widget.values,
)
""",
    "02_staircase": """
widget.controls["beta"].value = 1e-5
d = widget.data
out = dict(
    specgf_arrival=specgf_arrival.tolist(), s=s.tolist(), gf_arrival=gf_arrival.tolist(),
    widget_beta=widget.values["beta"], widget_s=d["s"].tolist(),
    widget_arrival=M.arrival_times(d["sgf"].times, d["sgf"].series["proxies"], d["s"], 0.5).tolist(),
)
""",
    "03_plasticity": """
widget.controls["depth"].value = 3
runs = widget.data["runs"]
out = dict(
    phase1_error=float(np.max(np.abs(phase1_matrix - phase1_closed_form))),
    sr={str(L): {k: float(r[k].final["stable_rank"]) for k in r} for L, r in results.items()},
    widget_values=widget.values,
    widget_phase1=runs["phase1"].final["matrix"].tolist(),
    widget_resumed_sr=float(runs["resumed"].final["stable_rank"]),
)
""",
    "04_muon": """
widget.controls["lr"].value = 0.02
d = widget.data
out = dict(
    arrivals={f"{k[0]}/{k[1]}": v.tolist() for k, v in arrivals.items()},
    predicted=predicted.tolist(), widget_lr=widget.values["lr"],
    widget_specgd=d["arrivals"]["specgd"].tolist(), widget_muon=d["arrivals"]["muon"].tolist(),
)
""",
}


def execute(name: str, monkeypatch) -> tuple[nbformat.NotebookNode, dict]:
    """Run the notebook plus its check cell in a fresh kernel (the inline backend: MPLBACKEND
    unset in the kernel), return the executed notebook and the check cell's JSON."""
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    code = CHECKS[name] + "\nimport json as _json\nprint(_json.dumps(out))\n"
    nb.cells.append(nbformat.v4.new_code_cell(code))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    # this checkout's gflab.* in the kernel (its folders as the package's subpackages: with ROOT
    # alone, gflab.theory etc. would come from wherever gflab is installed)
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "docs" / "_build" / "namespace"))
    client = NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    return nb, json.loads(text.strip().splitlines()[-1])


def check_outputs(nb) -> None:
    """Each figure once; the widget cell shows a widget; no cell raised."""
    figure_cells = widget_cells = 0
    for cell in nb.cells[:-1]:
        if cell.cell_type != "code":
            continue
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(images) <= 1, cell.source  # today's bug: plt.subplots + `fig` showed it twice
        assert not [o for o in cell.outputs if o.output_type == "error"]
        if cell.source.rstrip().splitlines()[-1].startswith("fig "):
            assert len(images) == 1, cell.source
            figure_cells += 1
        if any(WIDGET_MIME in o.get("data", {}) for o in cell.outputs):
            widget_cells += 1
    assert figure_cells >= 1 and widget_cells == 1


def test_every_notebook_is_listed():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.py")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_plain_percent_format(name):
    text = (NOTEBOOKS / f"{name}.py").read_text()
    assert text.startswith("# ---\n# jupyter:\n")
    assert "format_name: percent" in text and "formats: ipynb,py:percent" in text
    assert text.count("# %%") >= 3
    assert "outputs" not in text and "execution_count" not in text


@pytest.mark.parametrize("name", NAMES)
def test_paired_ipynb_matches_the_py_file(name):
    """The committed .ipynb (opened directly in Jupyter) is the .py file's pair, without outputs
    (regenerate with `make notebooks`)."""
    py = jupytext.read(NOTEBOOKS / f"{name}.py")
    ipynb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert [(c.cell_type, c.source) for c in ipynb.cells] == [
        (c.cell_type, c.source) for c in py.cells
    ]
    assert all(not c.get("outputs") for c in ipynb.cells if c.cell_type == "code")


def test_depth_notebook(monkeypatch):
    nb, ns = execute("01_depth", monkeypatch)
    check_outputs(nb)
    n, alpha, m = ns["n"], ns["alpha"], ns["m"]
    limits = {L: CF.mimic_limit(n, int(L), alpha, m).offdiagonal for L in ns["offdiag_final"]}
    assert ns["offdiag_final"] == pytest.approx(limits, rel=1e-7)
    assert ns["offdiag_final"]["2"] == pytest.approx(CF.depth2_rho(n, m), rel=1e-7)
    # full factor flow (rtol 1e-9) vs reduced ODE (rtol 1e-11): both track the same curve
    assert ns["sim_vs_reduced_error"] < 1e-6
    # the sliders' callbacks recomputed: depth 4, α = 1e-4, against the closed form
    v = ns["widget_values"]
    assert v["depth"] == 4 and v["alpha"] == pytest.approx(1e-4) and ns["widget_depths"] == [2, 4]
    lim = CF.mimic_limit(v["n"], 4, 1e-4, v["m"]).offdiagonal
    assert ns["widget_final"] == pytest.approx(lim, rel=1e-7)


def test_staircase_notebook(monkeypatch):
    nb, ns = execute("02_staircase", monkeypatch)
    check_outputs(nb)
    s = np.asarray(ns["s"])
    np.testing.assert_allclose(ns["specgf_arrival"], CF.specgf_arrival_time(s, 0.5), rtol=0.02)
    assert np.all(np.diff(ns["gf_arrival"]) < 0)  # gradient flow: largest first
    # the β slider recomputed SpecGF: equal rate, t_i ≈ √(s_i/2) (small β; 2% start-up)
    assert ns["widget_beta"] == pytest.approx(1e-5)
    ws = np.asarray(ns["widget_s"])
    np.testing.assert_allclose(ns["widget_arrival"], CF.specgf_arrival_time(ws, 0.5), rtol=0.02)


def test_plasticity_notebook(monkeypatch):
    nb, ns = execute("03_plasticity", monkeypatch)
    check_outputs(nb)
    assert ns["phase1_error"] < 1e-6
    sr = ns["sr"]
    assert sr["2"]["resumed"] > sr["2"]["scratch"] + 0.1  # DMC-5 at depth 2
    assert sr["3"]["resumed"] == pytest.approx(1.0, abs=0.01)
    # the depth slider recomputed: phase 1 at depth 3 ends at the closed-form limit
    v = ns["widget_values"]
    assert v["depth"] == 3
    lim = CF.mimic_limit(4, 3, v["alpha"], v["m"]).matrix()
    np.testing.assert_allclose(ns["widget_phase1"], lim, atol=1e-6)
    assert ns["widget_resumed_sr"] == pytest.approx(1.0, abs=0.01)


def test_muon_notebook(monkeypatch):
    nb, ns = execute("04_muon", monkeypatch)
    check_outputs(nb)
    a = {k: np.asarray(v) for k, v in ns["arrivals"].items()}
    np.testing.assert_allclose(a["lora/SpecGD"], ns["predicted"], rtol=0.1)
    assert np.all(np.diff(a["lora/Muon"]) > 0)
    # both-Gaussian init delays the smallest mode of exact SpecGD (SGF-7)
    assert a["gaussian/SpecGD"][0] > 1.5 * a["lora/SpecGD"][0]
    # the η slider recomputed: exact SpecGD arrives at ≈ √(0.9 s_i)/η for η = 0.02 (10%)
    assert ns["widget_lr"] == pytest.approx(0.02)
    s = np.array([1.0, 2.0, 4.0, 8.0])
    np.testing.assert_allclose(ns["widget_specgd"], CF.specgd_arrival_step(s, 0.02, 0.9), rtol=0.1)
    assert np.all(np.diff(ns["widget_muon"]) > 0)
