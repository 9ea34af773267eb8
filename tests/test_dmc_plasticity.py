"""Plasticity (docs/theory.md §2.1, claim DMC-5): the `dmf-plasticity` command, Kleinman's protocol at a
tiny scale against an independent NumPy GD loop, and a DMC `beyond` map's row contract."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from shared_cases import assert_arrays_close

from gflab.cli import main
from gflab.proofs_checks import dmc
from gflab.sims.kleinman import KleinmanScale, kleinman_problem, run_kleinman
from gflab.theory import closed_forms as CF

PHASE_KEYS = (
    "singular_values",
    "stable_rank",
    "effective_rank",
    "loss",
    "test_rmse",
    "time_to_converge",
)

N, L, M, ALPHA = 4, 2, 10.0, 1e-3
CLI = [
    "simulate",
    "dmf-plasticity",
    "--depth",
    str(L),
    "--n",
    str(N),
    "--init",
    "mimic",
    "--m",
    "10",
    "--alpha",
    "1e-3",
    "--pretrain-mask",
    "diagonal",
    "--mask",
    "superdiag",
    "--target",
    "ones",
    "--json",
]


@pytest.fixture(scope="module")
def plasticity_json():
    """One in-process run of the command (captured by hand: capsys is function-scoped)."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(CLI)
    return rc, json.loads(buf.getvalue())


def test_plasticity_cli_json_contract(plasticity_json):
    rc, out = plasticity_json
    assert rc == 0
    assert set(out) >= {"config", "pretrain", "resumed", "scratch"}
    assert out["config"]["model"] == "dmf-plasticity" and out["config"]["m"] == M


@pytest.mark.parametrize("phase", ["pretrain", "resumed", "scratch"])
def test_plasticity_cli_json_phase(plasticity_json, phase):
    d = plasticity_json[1][phase]
    assert set(d) >= set(PHASE_KEYS)
    assert d["status"] == "converged"
    assert len(d["singular_values"]) == N
    assert math.isfinite(d["time_to_converge"]) and d["time_to_converge"] > 0


def test_plasticity_pretrain_equals_closed_form(plasticity_json):
    """Phase 1 (diagonal Ω1, target J, mimic(α, m)) ends at the closed-form limit W∞.

    Tolerance: the run stops at ℓ/ℓ_ref ≤ converge_tol = 1e-16, i.e. the residual on Ω1 is at
    most √converge_tol = 1e-8 of ‖P_Ω1 W*‖_F; at depth 2 the flow keeps W in span{I, J} with
    λ1/λ2 conserved, so W − W∞ is that residual times a bounded factor (ρ-dependent, ≤ √n here),
    plus the solver's relative error (rtol 1e-9). 1e-7 covers both with a factor ≥ 5 to spare
    (measured: 3e-9)."""
    _, out = plasticity_json
    W = np.asarray(out["pretrain"]["matrix"])
    lim = CF.mimic_limit(N, L, ALPHA, M).matrix()
    assert np.linalg.norm(W - lim) / np.linalg.norm(lim) <= 1e-7
    sv = np.sort(CF.mimic_limit(N, L, ALPHA, M).singular_values)[::-1]
    np.testing.assert_allclose(out["pretrain"]["singular_values"], sv, rtol=1e-7)


def test_plasticity_depth2_resumed_keeps_rank(plasticity_json):
    """DMC-5 at depth 2: resumed sr − 1 ≥ SEPARATION × scratch sr − 1 (measured ≈ 12×)."""
    _, out = plasticity_json

    def tail(sv):  # sr − 1 without cancellation, as the claim computes it
        s = np.sort(np.asarray(sv))[::-1]
        return float(np.sum(s[1:] ** 2) / s[0] ** 2)

    res, scr = out["resumed"], out["scratch"]
    assert res["stable_rank"] > scr["stable_rank"]
    assert tail(res["singular_values"]) >= dmc.SEPARATION * tail(scr["singular_values"])


@pytest.mark.parametrize(
    "extra, parameter",
    [
        (["--pretrain-mask", "bogus"], "pretrain_mask"),
        (["--pretrain-mask", "bernoulli:2"], "pretrain_mask"),
        (["--mask", "bogus"], "mask"),
        (["--alpha", "-1e-3"], "alpha"),
        (["--switch", "0"], "switch"),
        (["--method", "gd:0.1", "--steps", "10"], "switch"),  # GD needs a phase-1 step count
        (["--method", "gd:0.1", "--steps", "10", "--switch", "2.5"], "switch"),  # a step count
    ],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_plasticity_cli_bad_input(capsys, extra, parameter, as_json):
    """Bad input: exit 2 and one line that names the parameter: on stderr, or with --json as
    ``{"error": {"parameter", "message", "allowed"}}`` on stdout.

    (Ω1 ⊂ Ω2 is deliberately not required: the protocol allows any pair, so no subset check.)"""
    base = ["simulate", "dmf-plasticity", "--depth", "2", "--n", "4"] + (
        ["--json"] if as_json else []
    )
    assert main(base + extra) == 2
    cap = capsys.readouterr()
    if as_json:
        lines = cap.out.strip().splitlines()
        assert len(lines) == 1, cap.out
        assert json.loads(lines[0])["error"]["parameter"] == parameter
        return
    assert cap.out == ""
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and f"error: {parameter}:" in lines[0], cap.err


# ----------------------------------------------------------------------------- Kleinman protocol

TINY = KleinmanScale(
    n=12,
    rank=2,
    n1=30,
    n2=(50, 70),
    t_c=(0, 2, 4),
    post_steps=3,
    depths=(1, 3),
    seeds=(0,),
    chunk=1,
)


def _numpy_gd(factors, mask, target, lr, steps):
    """Independent GD on ½·mean_Ω(W − W*)²: explicit chain rule, no theory/sims code."""
    fs = [np.array(f, dtype=np.float64) for f in factors]
    count = mask.sum()
    svals = []
    for _ in range(steps):
        prods = [np.eye(mask.shape[0])]  # prods[l] = W_l ⋯ W_1 (empty product for l = 0)
        for f in fs:
            prods.append(f @ prods[-1])
        R = mask * (prods[-1] - target) / count
        grads = []
        for l in range(len(fs)):
            left = np.eye(mask.shape[0])  # W_L ⋯ W_{l+2}
            for f in fs[l + 1 :]:
                left = f @ left
            grads.append(left.T @ R @ prods[l].T)
        fs = [f - lr * g for f, g in zip(fs, grads, strict=True)]
        W = np.eye(mask.shape[0])
        for f in fs:
            W = f @ W
        svals.append(np.linalg.svd(W, compute_uv=False))
    return W, np.asarray(svals)


@pytest.mark.parametrize("depth", TINY.depths)
def test_kleinman_tiny_runs_and_matches_numpy_gd(depth):
    run = run_kleinman(TINY, depth, seed=0, keep=TINY.n)
    # documented shape: test_error[N2][T_c] for every N2 and T_c; traces per (N2, T_c)
    assert set(run.test_error) == set(TINY.n2)
    assert {n2: set(run.test_error[n2]) for n2 in TINY.n2} == dict.fromkeys(TINY.n2, set(TINY.t_c))
    errors = [e for n2 in TINY.n2 for e in run.test_error[n2].values()]
    assert all(math.isfinite(e) and e > 0 for e in errors), errors
    cells = [(n2, tc) for n2 in TINY.n2 for tc in TINY.t_c]
    got = {c: (list(run.traces[c][0]), run.traces[c][1].shape) for c in cells}
    steps = np.arange(1, TINY.post_steps + 1)
    assert got == {(n2, tc): (list(tc + steps), (TINY.post_steps, TINY.n)) for n2, tc in cells}
    ks1, sv1 = run.phase1_trace
    np.testing.assert_array_equal(ks1, np.arange(0, max(TINY.t_c) + 1))
    assert sv1.shape == (max(TINY.t_c) + 1, TINY.n)

    # T_c = 0: phase 2 is plain GD on Ω2 from the init; the mask is rebuilt here from the
    # documented rule (first N2 entries of the seed's permutation)
    factors, target, order = kleinman_problem(TINY, depth, 0)
    gd = {}
    for n2 in TINY.n2:
        mask = np.zeros(TINY.n**2)
        mask[order[:n2]] = 1.0
        gd[n2] = _numpy_gd(factors, mask.reshape(TINY.n, TINY.n), target, TINY.lr, TINY.post_steps)
    # 1e-12 relative: three GD steps of 12×12 float64 products, different summation order
    # only (rounding ~1e-15 per operation, amplified by at most a few per step)
    errors = [float(np.mean((W - target) ** 2)) for W, _ in gd.values()]
    assert [run.test_error[n2][0] for n2 in gd] == pytest.approx(errors, rel=1e-12, abs=0)
    got = [run.traces[(n2, 0)][1] for n2 in gd]
    assert_arrays_close(got, [svals for _, svals in gd.values()], rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- beyond maps


def test_dmc_beyond_rows_contract():
    """The cheapest DMC `beyond` map (DMC-2: depth 2–3, n = 6; measured in docs/dmc.md) returns
    rows with the documented keys, finite margins, and holds ⇔ margin ≥ 0."""
    out = dmc._beyond_dmc2(profile="ci")
    assert isinstance(out["title"], str) and out["title"]
    rows = out["rows"]
    assert len(rows) >= 2

    def documented(row) -> bool:
        keys = set(row) >= {"hypothesis_dropped", "setting", "margin", "holds"}
        return keys and isinstance(row["holds"], bool) and math.isfinite(row["margin"])

    assert [r for r in rows if not documented(r)] == []
    assert [r for r in rows if r["holds"] != (r["margin"] >= 0)] == []
    # the reference row holds and dropping "depth 2" breaks it (DMC-2's whole point)
    assert rows[0]["hypothesis_dropped"].startswith("none") and rows[0]["holds"]
    assert not next(r for r in rows if r["hypothesis_dropped"] == "depth 2")["holds"]
