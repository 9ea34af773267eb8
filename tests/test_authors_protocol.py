"""The [DMC] authors' protocol from the command line (issue 11 item 1).

Oracle: a NumPy re-implementation of the GD loop of baekrok/MC ``experiments/matrix_completion.py``
with its conventions: loss ``((mask*W - mask*W*)**2).mean()``, product F_0 F_1 ⋯ F_{L−1}, tied
Gaussian init ``default_rng(seed).normal(scale=α^{1/L}/√n)``, SGD lr 0.2, and the stop test on
the loss computed *before* the step it has just taken (so their ``epochs`` = steps taken before
the stop + 1, and their singular values are those of that pre-step product).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gflab.cli import main
from gflab.sims.config import DMFConfig
from gflab.theory import dmf as D

N, RANK, P, ALPHA, SEED, LR, STOP = 10, 2, 0.3, 1e-2, 0, 0.2, 1e-5


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    d = tmp_path_factory.mktemp("authors")
    rng = np.random.default_rng(123)
    target = rng.standard_normal((N, RANK)) @ rng.standard_normal((N, RANK)).T
    mask = (rng.random((N, N)) < P).astype(float)
    np.save(d / "target.npy", target)
    np.save(d / "mask.npy", mask)
    return d, mask, target


def authors_gd(mask, target, depth, seed=SEED, alpha=ALPHA, lr=LR, stop=STOP):
    """Their loop in NumPy float64: (epochs, loss at the stop, singular values of the product)."""
    n = mask.shape[0]
    F = [np.random.default_rng(seed).normal(scale=alpha ** (1 / depth) / np.sqrt(n), size=(n, n))]
    F = F * depth
    for epoch in range(1, 10**6):
        prods = [np.eye(n)]
        for f in F:
            prods.append(prods[-1] @ f)
        W = prods[-1]
        R = mask * W - mask * target
        loss = np.mean(R**2)
        G = 2 * R / R.size
        grads = []
        for i in range(depth):
            right = np.eye(n)
            for f in F[i + 1 :]:
                right = right @ f
            grads.append(prods[i].T @ G @ right.T)
        F = [f - lr * g for f, g in zip(F, grads, strict=True)]
        if loss < stop:
            return epoch, loss, np.linalg.svd(W, compute_uv=False)
    raise AssertionError("the reference loop did not stop")


def _simulate(argv, capsys):
    code = main(["simulate", "dmf", *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _authors_args(d, depth=2, *extra, gd=True):
    """``gflab simulate dmf`` flags of the authors' protocol on the problem in folder ``d``: their
    init, mask, target, full-mean loss and stop loss; with ``gd``, their seed and GD step too."""
    seed_and_step = [f"--seed={SEED}", f"--method=gd:{LR}"] if gd else []
    return [
        f"--depth={depth}",
        f"--n={N}",
        "--init=tied-gaussian",
        f"--alpha={ALPHA}",
        *seed_and_step[:1],
        f"--mask-file={d / 'mask.npy'}",
        f"--target-file={d / 'target.npy'}",
        "--normalisation=full-mean",
        f"--stop-loss={STOP}",
        *seed_and_step[1:],
        *extra,
    ]


@pytest.mark.parametrize("depth", [2, 3])
def test_gd_full_mean_stop_loss_matches_the_authors_loop(problem, depth, capsys):
    d, mask, target = problem
    epochs, loss, svals = authors_gd(mask, target, depth)
    code, doc = _simulate(_authors_args(d, depth, "--steps=200000"), capsys)
    assert code == 0 and doc["status"] == "converged"
    steps = doc["final"]["time"]
    # their epoch counter includes the step taken after the (pre-step) loss passed the test
    assert abs(epochs - (steps + 1)) <= 1, (epochs, steps)
    # same arithmetic up to summation order (XLA vs NumPy) over ~3e3 steps: measured 1e-15;
    # 1e-10 relative leaves room for the ±1-step case's O(lr·grad) difference only at depth 2
    np.testing.assert_allclose(doc["final"]["singular_values"], svals, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(doc["final"]["normalised_loss"], loss, rtol=1e-10)


def test_tied_gaussian_is_the_authors_draw():
    """gflab's tied-gaussian = the authors' 'gaussian' (one NumPy draw for every factor);
    gflab's gaussian draws the factors independently."""
    depth, n, alpha, seed = 3, 7, 1e-2, 80
    theirs = np.random.default_rng(seed).normal(
        scale=alpha ** (1 / depth) / np.sqrt(n), size=(n, n)
    )
    tied = D.make_init("tied-gaussian", n, depth, alpha, seed=seed)
    # every factor; loc + scale·z is the same product as scale·z: bit for bit
    np.testing.assert_array_equal(np.stack(tied), np.broadcast_to(theirs, (depth, n, n)))
    untied = D.make_init("gaussian", n, depth, alpha, seed=seed)
    assert not np.allclose(untied[0], untied[1])


def test_flow_stop_loss_is_root_found(problem, capsys):
    """The flow stops at the crossing: its final loss equals the stop loss, and the loss of the
    returned state (recomputed in NumPy, the authors' formula) agrees."""
    d, mask, target = problem
    code, doc = _simulate(_authors_args(d, 3, gd=False), capsys)
    assert code == 0 and doc["status"] == "converged"
    W = np.asarray(doc["final"]["matrix"])
    full_mean = np.mean((mask * W - mask * target) ** 2)
    # Newton on the log-loss of the default solver's dense output (rtol 1e-9; Tsit5's
    # interpolant on Tsit5 steps, cubic Hermite on RKC2 steps, both accurate to ≈ the local
    # error): the state there carries the interpolant's error, ~1e-9 relative, so the loss ~1e-8
    # relative
    np.testing.assert_allclose(doc["final"]["normalised_loss"], STOP, rtol=1e-7)
    np.testing.assert_allclose(full_mean, STOP, rtol=1e-7)


@pytest.mark.parametrize(
    ("name", "factor"), [("sum", 1.0), ("mean", 1.0 / 4), ("full-mean", 2.0 / 9)]
)
def test_normalisation_factor(name, factor):
    """c with loss = c·½Σ_Ω R²: ½Σ/|Ω| (|Ω| = 4 here) and Σ/n² (n = 3) = (2/n²)·½Σ."""
    mask = np.zeros((3, 3))
    mask[:2, :2] = 1
    assert D.normalisation_factor(name, mask) == factor


def test_mask_file_content_enters_the_key(problem, tmp_path):
    d, mask, target = problem
    a = DMFConfig(depth=2, n=N, mask_file=str(d / "mask.npy"))
    other = mask.copy()
    other[0, 0] = 1 - other[0, 0]
    np.save(tmp_path / "mask.npy", other)
    b = DMFConfig(depth=2, n=N, mask_file=str(tmp_path / "mask.npy"))
    np.save(tmp_path / "same.npy", mask)
    c = DMFConfig(depth=2, n=N, mask_file=str(tmp_path / "same.npy"))
    assert a.to_dict()["mask_sha256"] != b.to_dict()["mask_sha256"]
    assert a.to_dict()["mask_sha256"] == c.to_dict()["mask_sha256"]


def test_bad_mask_file_is_one_line(problem, tmp_path, capsys):
    np.save(tmp_path / "wrong.npy", np.ones((3, 3)))
    code = main(
        ["simulate", "dmf", "--depth=2", f"--n={N}", f"--mask-file={tmp_path / 'wrong.npy'}"]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "mask_file" in err


# ----------------------------------------------------------------------------- --stop-loss cost


@pytest.mark.parametrize(
    "extra", [("--n-save=2", "--steps=2000000"), ("--n-save=2001", "--steps=2000000"), ()]
)
def test_stop_loss_ends_the_work_at_the_stop(problem, extra, capsys):
    """The engine's count of computed updates equals the steps the authors' loop takes before its
    stop (their epochs − 1), whether one save block spans the 2e6-step budget (--n-save 2), a
    block is 1000 steps (--n-save 2001), or --steps is left out (the default cap). Before, a
    stopped run kept scanning its save block: 5.0 s instead of 0.03 s for --n-save 2 here."""
    d, mask, target = problem
    epochs, _, _ = authors_gd(mask, target, 2)
    code, doc = _simulate(_authors_args(d, 2, *extra), capsys)
    assert code == 0 and doc["status"] == "converged"
    assert doc["stats"]["executed_steps"] == doc["stats"]["steps"] == epochs - 1


def test_stop_loss_cap_is_reported(problem, capsys, monkeypatch, tmp_path):
    """Without --steps the default cap bounds the run; reaching it is status max_steps (exit 1),
    after exactly the cap's number of updates."""

    from gflab import sims

    d, _, _ = problem
    monkeypatch.setattr(sims.config, "STOP_LOSS_MAX_STEPS", 25)
    # a fresh store: the key does not see the patched cap, so a stored run would be served
    monkeypatch.setenv("GFLAB_STORE", str(tmp_path))
    code, doc = _simulate(_authors_args(d, 2), capsys)
    assert code == 1 and doc["status"] == "max_steps"
    assert doc["stats"]["executed_steps"] == 25 == doc["final"]["time"]
    assert "default cap of 25 steps" in doc["message"]


def test_stop_loss_default_cap_is_documented():
    from gflab.sims.config import STOP_LOSS_MAX_STEPS
    from gflab.sims.schema import HELP

    assert f"{STOP_LOSS_MAX_STEPS:.0e}".replace("+0", "") in HELP["stop_loss"]
