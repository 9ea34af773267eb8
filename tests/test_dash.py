"""DASH and its baselines (theory.interventions) against independent implementations, and the
DASH-1 map at both ends of its answer (sims.dash, proofs_checks.dash)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from shared_cases import assert_arrays_close

from gflab.theory import interventions as I
from gflab.theory.errors import GflabInputError

torch.set_num_threads(1)


def _numpy_dash(weights, batch_neg_grads, alpha, floor):
    """DASH written out element by element, the way the authors' loop reads (oracle)."""
    g = [np.zeros_like(w) for w in weights]
    for grads in batch_neg_grads:
        g = [(1 - alpha) * gi + alpha * x for gi, x in zip(g, grads, strict=True)]
    out = []
    for w, d in zip(weights, g, strict=True):
        w = np.array(w, dtype=float)
        if w.ndim == 1:
            c = w @ d / (max(np.linalg.norm(w), 1e-8) * max(np.linalg.norm(d), 1e-8))
            out.append(w * min(max(c, floor), 1.0))
            continue
        rows = w.reshape(w.shape[0], -1) if w.ndim == 2 else w.reshape(-1, w[0, 0].size)
        drows = d.reshape(rows.shape)
        new = rows.copy()
        for i in range(rows.shape[0]):
            c = (
                rows[i]
                @ drows[i]
                / (max(np.linalg.norm(rows[i]), 1e-8) * max(np.linalg.norm(drows[i]), 1e-8))
            )
            new[i] = rows[i] * min(max(c, floor), 1.0)
        out.append(new.reshape(w.shape))
    return out


@pytest.mark.parametrize("alpha,floor", [(0.3, 0.3), (1.0, 0.05), (0.7, 1e-4)])
def test_dash_matches_numpy_loop(alpha, floor):
    rng = np.random.default_rng(0)
    shapes = [(5, 7), (3, 5), (4, 3, 2, 2), (3,)]
    w = [rng.standard_normal(s) for s in shapes]
    batches = [
        [rng.standard_normal(s) + 0.5 * x for s, x in zip(shapes, w, strict=True)] for _ in range(3)
    ]
    got = I.dash(w, I.dash_direction(batches, alpha), floor)
    want = _numpy_dash(w, batches, alpha, floor)
    # the same float64 sums in a different order: a few ulps
    assert_arrays_close(got, want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    "shape", [(6, 4), (4, 3, 3, 3), (5,)], ids=["linear-6x4", "conv-4x3x3x3", "bias-5"]
)
def test_neuron_cosine_matches_torch(shape):
    """Against torch.cosine_similarity, the call the authors' code makes (dim = -1 of the rows;
    the (h w) kernel of a convolution; the whole bias vector)."""
    rng = np.random.default_rng([1, *shape])
    w, g = rng.standard_normal(shape), rng.standard_normal(shape)
    tw, tg = torch.tensor(w), torch.tensor(g)
    if len(shape) == 4:
        tw, tg = tw.flatten(2), tg.flatten(2)
    if len(shape) == 1:
        tw, tg = tw[None], tg[None]
    want = torch.cosine_similarity(tg, tw, dim=-1).numpy()
    np.testing.assert_allclose(I.neuron_cosine(w, g), want, rtol=1e-13)


def test_dash_shrink_runs_on_torch_tensors():
    """The operator runs on torch tensors unchanged (the bridge's use)."""
    rng = np.random.default_rng(1)
    tw = torch.tensor(rng.standard_normal((6, 4)))
    out = I.dash_shrink(tw, -tw, 0.3)
    assert torch.allclose(out, 0.3 * tw, rtol=0, atol=0)  # cos = −1 → the floor exactly


def test_dash_keeps_aligned_and_floors_orthogonal():
    w = np.array([[1.0, 0.0], [0.0, 2.0]])
    g = np.array([[3.0, 0.0], [1.0, 0.0]])  # row 0 aligned (cos 1), row 1 orthogonal (cos 0)
    np.testing.assert_array_equal(I.dash_shrink(w, g, 0.25), [[1.0, 0.0], [0.0, 0.5]])


def test_alpha_is_immaterial_with_one_batch():
    """With one batch g = α(−∇): the cosine is scale-free, so DASH does not depend on α."""
    rng = np.random.default_rng(2)
    w, d = [rng.standard_normal((4, 4))], [rng.standard_normal((4, 4))]
    a = I.dash(w, I.dash_direction([d], 0.1), 0.2)[0]
    b = I.dash(w, I.dash_direction([d], 1.0), 0.2)[0]
    np.testing.assert_allclose(a, b, rtol=1e-14)


def test_shrink_perturb_and_reset():
    rng = np.random.default_rng(3)
    w = [rng.standard_normal((3, 4)), rng.standard_normal((2, 3))]
    out = I.shrink_perturb(w, 0.3, 0.01, seed=7)
    xi = np.random.default_rng(7)
    want = [0.3 * x + 0.01 * xi.standard_normal(x.shape) for x in w]
    assert_arrays_close(out, want, rtol=1e-15)
    z = [np.zeros_like(x) for x in w]
    r = I.reset(w, z)
    assert r[0] is w[0] and np.all(r[1] == 0)
    with pytest.raises(GflabInputError):
        I.reset(w, z, layers=(5,))


def test_l2_init_gradient_matches_autograd():
    """λ(Σ‖W_l − W_l(0)‖)² (the authors' form: sum of norms, squared) and its gradient against
    torch autograd (float64: agreement to rounding)."""
    rng = np.random.default_rng(4)
    w = [rng.standard_normal((3, 4)), rng.standard_normal((4, 2))]
    w0 = [rng.standard_normal((3, 4)), rng.standard_normal((4, 2))]
    tw = [torch.tensor(x, requires_grad=True) for x in w]
    reg = sum((a - torch.tensor(b)).norm() for a, b in zip(tw, w0, strict=True))
    loss = 0.01 * reg**2
    loss.backward()
    assert math.isclose(float(I.l2_init_penalty(w, w0, 0.01)), loss.item(), rel_tol=1e-14)
    assert_arrays_close(I.l2_init_gradient(w, w0, 0.01), [t.grad.numpy() for t in tw], rtol=1e-13)


def test_bad_parameters_are_refused():
    with pytest.raises(GflabInputError):
        I.dash_shrink(np.ones((2, 2)), np.ones((2, 2)), 0.0)
    with pytest.raises(GflabInputError):
        I.dash_direction([], 0.3)
    with pytest.raises(GflabInputError):
        I.neuron_cosine(np.ones((2, 2)), np.ones((2, 3)))


# ----------------------------------------------------------------------------- DASH-1


def test_dash1_map_both_ends():
    """Depth 2, m = ∞, α = 1e-3 (flow): the authors' λ = 0.3 does not restore the from-scratch
    rank, λ = 1e-4 does (the map's two answers; each margin must have the stated sign, so a
    check that always said "restored" or never would fail here)."""
    from gflab.proofs_checks.dash import check_dash1

    ex = {"depth": 2, "m": math.inf, "alpha": 1e-3, "dash_alpha": 0.3}
    no = check_dash1({**ex, "floor": 0.3})
    yes = check_dash1({**ex, "floor": 1e-4})
    assert no.margin < -0.1, no.numbers
    assert yes.margin > 0.1, yes.numbers
    # DASH leaves resumed-without-intervention behind: λ = 0.3 closes part of the rank gap
    assert 0.0 < no.numbers["rank_gap_closed"] < 1.0
    # at m = ∞ every neuron is nearly orthogonal to the new gradient: all at the floor
    assert no.numbers["fraction_at_floor"] == 1.0


def test_dash_none_is_resumed():
    from gflab.proofs_checks.dash import dash_config
    from gflab.sims.dash import Intervention, simulate_dash_plasticity

    cfg = dash_config({"depth": 2, "m": 10.0, "alpha": 1e-2})
    r = simulate_dash_plasticity(cfg, Intervention("none"))
    assert r.intervened is r.resumed
    assert r.info["product_norm_before"] == r.info["product_norm_after"]


# ----------------------------------------------------------------------------- bridge warm start


def test_warmstart_identity_interventions_equal_warm():
    """DASH with λ = 1 (clamp(cos, 1, 1) = 1) and shrink-and-perturb with λ = 1, σ = 0 leave the
    weights unchanged, so those runs equal the plain warm run exactly (same data order, float64)."""
    pytest.importorskip("sklearn")
    from gflab.sims.bridge.warmstart import WarmStartConfig, run_warmstart

    cfg = WarmStartConfig(
        fractions=(0.5,),
        seeds=(0,),
        width=16,
        max_epochs=15,
        dash_floor=1.0,
        sp_shrink=1.0,
        sp_noise=0.0,
    )
    # and L2-to-init with λ = 0 is the plain warm run too
    l2 = run_warmstart(
        WarmStartConfig(
            fractions=(0.5,),
            seeds=(0,),
            width=16,
            max_epochs=15,
            l2_init=0.0,
            kinds=("warm", "warm+l2init"),
        )
    )["runs"]
    assert l2[1]["test_accuracy"] == l2[2]["test_accuracy"]
    np.testing.assert_allclose(
        l2[1]["layers"][0]["singular_values"], l2[2]["layers"][0]["singular_values"], rtol=1e-12
    )
    out = run_warmstart(cfg)
    runs = {r["kind"]: r for r in out["runs"]}
    assert set(runs) == {"cold", "warm", "warm+dash", "warm+sp", "warm+reset"}

    def seen(kind):  # what the run gives, bit for bit
        return runs[kind]["test_accuracy"], np.asarray(runs[kind]["layers"][0]["singular_values"])

    identity = ("warm+dash", "warm+sp")
    assert {k: seen(k)[0] for k in identity} == dict.fromkeys(identity, seen("warm")[0])
    np.testing.assert_array_equal(
        np.stack([seen(k)[1] for k in identity]), np.stack([seen("warm")[1]] * len(identity))
    )
    assert runs["warm+dash"]["dash_fraction_at_floor"] == 1.0  # every cos ≤ 1 = λ
    s = runs["cold"]["layers"][0]
    assert 1.0 <= s["effective_rank"] <= 16 and 1.0 <= s["stable_rank"] <= 16


# ----------------------------------------------------------------------------- synthetic model


def _notebook_loop(X, cfg):
    """The notebook's three methods transcribed literally (lists and sets, recount every round):
    the independent implementation sims.dash_synthetic must agree with."""
    C, F, _ = X.shape
    N, J, gamma, tau = cfg.N, cfg.J, cfg.gamma, cfg.tau
    res = {}
    for method in ("cold", "warm", "ideal"):
        LF, LX, MX = np.zeros((C, F)), np.zeros((C, X.shape[2])), np.zeros((C, X.shape[2]))
        feats, nzs = [], []
        for j in range(J):
            n_c = N * (j + 1) // C
            if method == "cold":
                LF, LX, MX = np.zeros_like(LF), np.zeros_like(LX), np.zeros_like(MX)
                nz = [list(range(n_c)) for _ in range(C)]
            else:
                if method == "ideal":
                    MX = np.zeros_like(MX)
                lo = N * j // C if method == "warm" else 0
                nz = [list(range(lo, n_c)) for _ in range(C)]
                for c in range(C):
                    for i in nz[c]:
                        if LF[c, X[c, :, i] == 1].sum() >= tau:
                            LX[c, i] = 1
                    nz[c] = [i for i in nz[c] if LX[c, i] == 0]
            nzs.append(N * (j + 1) if method == "cold" else sum(map(len, nz)))
            while True:
                fc = np.array([X[c][:, nz[c]].sum(axis=1) for c in range(C)])
                if all(fc[LF == 0] < gamma):
                    break
                order = sorted(enumerate(fc.flatten()), key=lambda t: t[1], reverse=True)
                for flat, v in order:
                    c0, f0 = divmod(flat, F)
                    if LF[c0, f0] == 1:
                        continue
                    if v >= gamma:
                        LF[c0, f0] = 1
                        for c in range(C):
                            for i in nz[c]:
                                if LF[c, X[c, :, i] == 1].sum() >= tau:
                                    LX[c, i] = 1
                            nz[c] = [i for i in nz[c] if LX[c, i] == 0]
                        break
            for c in range(C):
                MX[c, nz[c]] = 1
            feats.append(LF.sum())
        res[method] = (feats, nzs)
    return res


def test_feature_learning_matches_literal_notebook():
    from gflab.sims.dash_synthetic import (
        FeatureLearningConfig,
        simulate_feature_learning,
        train_data,
    )

    cfg = FeatureLearningConfig(N=60, J=4, numfeat=8, gamma=6, tau=2, seeds=(3,), n_test=200)
    X, _ = train_data(cfg, 3)
    want = _notebook_loop(X, cfg)
    got = simulate_feature_learning(cfg)
    np.testing.assert_array_equal(
        np.stack([[got[m]["learned_features"][0], got[m]["nonzero_gradient"][0]] for m in want]),
        np.stack([[feats, nzs] for feats, nzs in want.values()]),
    )
    # warm learns no more features than starting cold (the notebook's loss of plasticity)
    assert got["warm"]["learned_features"][0, -1] <= got["cold"]["learned_features"][0, -1]


def test_feature_learning_data_is_the_notebooks():
    """Same draws as the notebook's np.random.seed + scipy.stats.bernoulli.rvs, point by point."""
    from scipy.stats import bernoulli

    from gflab.sims.dash_synthetic import FeatureLearningConfig, train_data

    cfg = FeatureLearningConfig(N=10, J=3, numfeat=5, seeds=(7,))
    X, p = train_data(cfg, 7)
    np.random.seed(7)  # noqa: NPY002  (the notebook's legacy global generator, on purpose)
    probs, draws = [], []
    for _ in range(cfg.C):  # in the notebook's order: a class's probabilities, then its points
        prob = np.sort(0.2 * np.random.rand(cfg.numfeat))[::-1]  # noqa: NPY002
        probs.append(prob)
        draws.append(np.stack([bernoulli.rvs(prob) for _ in range(X.shape[2])], axis=-1))
    np.testing.assert_array_equal(p[: cfg.C], np.stack(probs))
    np.testing.assert_array_equal(X[: cfg.C], np.stack(draws))
