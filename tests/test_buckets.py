"""Shape buckets (sims/buckets.py): a padded solve equals the unpadded one, for every model and
method, and its pad entries stay exactly zero.

The oracle is the same solve on the real shapes (``buckets=False``, the code path that existed
before buckets). Tolerances: the two runs do the same arithmetic except that XLA sums padded
arrays (matrix products, the error norm's sum of squares) in another order, so they differ by
rounding: states are compared to 1e-12 absolute (entries are O(0.1–10), ~10⁴ ulp of room over
a few hundred steps), step counts exactly. The horizons are short on purpose: the Tsit5 → RKC2
hybrid's step sequence is itself chaotic at the rounding level on long runs (a one-ulp change
of one initial entry of a DMF run to convergence changed its 711 accepted / 97 rejected steps
to 707–709 / 94–97), so no padding, however exact, can promise equal counts there (see
sims/buckets.py's docstring).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import optimistix as optx
import pytest

from gflab.sims import buckets as B
from gflab.sims import engine, rkc
from gflab.sims.config import DMFConfig, LoRAConfig
from gflab.sims.dmf import dmf_problem, simulate_dmf, solve_dmf_from
from gflab.sims.lora import lora_problem, solve_lora_from
from gflab.sims.methods import SOLVERS, Adaptive, Muon, NewtonSchulz

STATE_ATOL = 1e-12
# Saved statistics are taken from the solver's dense output between steps. Dopri8's interpolant
# weighs its stages by polynomials with coefficients up to ~120 (diffrax's eval_coeffs, 14
# stages), so the rounding-level state difference (~1e-13 after the run) reaches saved values
# amplified ~10²: measured 2.0e-11 (LoRA SpecGF) and 1.5e-12 (DMF); every other method ≤ 1e-14.
SAVED_ATOL = {"dopri8": 1e-10}


def _dmf(method, **kw):
    base = dict(depth=3, n=3, alpha=0.3, m=3.0, mask="bernoulli:0.6", target="lowrank:2")
    base.update(seed=1, n_save=5, coupling=True)
    if str(method).startswith("gd"):
        base.update(steps=40)
    else:
        base.update(t1=kw.pop("t1", 2.0), grid="linear")
    return DMFConfig(method=method, **{**base, **kw})


def _lora(method, flow="specgf", beta=0.05, **kw):
    base = dict(rows=5, cols=6, rank=3, target_svals=(1.0, 2.0, 3.0), gamma=0.3)
    base.update(init="gaussian", seed=2, n_save=5, flow=flow)
    discrete = not (str(method).startswith(("adaptive", "euler")) or isinstance(method, Adaptive))
    if discrete:
        base.update(steps=30)
    else:
        base.update(t1=kw.pop("t1", 1.0), beta=beta if flow == "specgf" else None)
    return LoRAConfig(method=method, **{**base, **kw})


def _adaptive(solver):
    return Adaptive(rtol=1e-8, atol=1e-12, solver=solver)


# (id, config); every solver of SOLVERS for both models and every discrete method. The DMF
# problems (n = 3, depth 3, |Ω| ≤ 9) run as n = 8, depth 4 (one frozen identity layer), |Ω| = 8
# or 16; the LoRA ones (5×6, rank 3, k = 3) as 8×8, rank 8, k = 8
CASES = (
    [(f"dmf-{s}", lambda s=s: _dmf(_adaptive(s))) for s in SOLVERS]
    + [("dmf-gd", lambda: _dmf("gd:0.05"))]
    + [(f"lora-specgf-{s}", lambda s=s: _lora(_adaptive(s))) for s in SOLVERS]
    + [(f"lora-gf-{s}", lambda s=s: _lora(_adaptive(s), flow="gf")) for s in ("tsit5", "rkc2")]
    + [
        ("lora-gf-euler", lambda: _lora("euler:0.01", flow="gf")),
        ("lora-specgf-euler", lambda: _lora("euler:0.01")),
        ("lora-polar-euler", lambda: _lora("euler:0.01", beta=0.0)),
        ("lora-gd", lambda: _lora("gd:0.05", flow="gf")),
        ("lora-specgd", lambda: _lora("specgd:0.02")),
        ("lora-specgd-smooth", lambda: _lora({"name": "specgd-smooth", "lr": 0.02, "beta": 0.1})),
        ("lora-ns", lambda: _lora(NewtonSchulz(lr=0.02))),
        ("lora-muon", lambda: _lora(Muon(lr=0.02))),
    ]
)
# cheap representatives in the default suite; the rest under `slow` (make test-all)
DEFAULT = {"dmf-tsit5-rkc2", "lora-specgf-tsit5-rkc2", "lora-muon"}
PARAMS = [
    pytest.param(make, id=cid, marks=() if cid in DEFAULT else pytest.mark.slow)
    for cid, make in CASES
]


def _solve(cfg, buckets):
    if isinstance(cfg, DMFConfig):
        f, m, t = dmf_problem(cfg)
        return solve_dmf_from(cfg, f, m, t, buckets=buckets)
    return solve_lora_from(cfg, *lora_problem(cfg), buckets=buckets)


@pytest.fixture
def padded_arrays(monkeypatch):
    """Every array the padded drivers slice back (final states, saved matrices), unsliced."""
    seen = []
    real_unpad = B.unpad

    def spy(a, real):
        seen.append((np.asarray(a), tuple(real)))
        return real_unpad(a, real)

    monkeypatch.setattr(B, "unpad", spy)
    return seen


def _max_diff(a, b):
    return max(
        float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b, strict=True)
    )


def _pads_of(a, real):
    """Entries of ``a`` outside its top-left ``real`` block (trailing two axes)."""
    keep = B.region_mask(real, a.shape[-2:])
    return a[..., ~keep]


@pytest.mark.parametrize("make", PARAMS)
def test_padded_solve_equals_unpadded(make, padded_arrays):
    cfg = make()
    assert B.paddable(cfg.method)
    plain = _solve(cfg, False)
    assert not padded_arrays  # the unpadded path pads nothing
    padded = _solve(cfg, True)
    got = {
        "counts": (padded.status, padded.steps, padded.rejected_steps, padded.final_time),
        "saved": {k: v.shape for k, v in padded.saved.items()},
        "times": padded.times,
        "padded_something": any(a.shape[-2:] != r for a, r in padded_arrays if len(r) == 2),
    }
    want = {
        "counts": (plain.status, plain.steps, plain.rejected_steps, plain.final_time),
        "saved": {k: v.shape for k, v in plain.saved.items()},
        "times": plain.times,
        "padded_something": True,
    }
    np.testing.assert_equal(got, want)
    assert plain.extra.get("executed_steps") == padded.extra.get("executed_steps")
    assert _max_diff(plain.final_state, padded.final_state) <= STATE_ATOL
    # saved statistics: the same quantities of the same states (scale: their own size)
    worst = max(
        float(np.max(np.abs(plain.saved[k] - padded.saved[k])))
        / max(1.0, float(np.max(np.abs(plain.saved[k]))))
        for k in plain.saved
    )
    assert worst <= SAVED_ATOL.get(getattr(cfg.method, "solver", None), STATE_ATOL)
    # pad entries of the final state and saved matrices stayed exactly 0
    leaves = [(a, r) for a, r in padded_arrays if len(r) == 2]
    assert max(float(np.max(np.abs(_pads_of(a, r)), initial=0.0)) for a, r in leaves) == 0.0


@pytest.mark.parametrize(
    "method",
    [
        pytest.param(Muon(lr=0.02, ns_dtype="bfloat16"), id="muon-bf16"),
        pytest.param(
            Muon(lr=0.02, shape_scale="original"), id="muon-scale", marks=pytest.mark.slow
        ),
        pytest.param(
            NewtonSchulz(lr=0.02, ns_dtype="float32"), id="ns-f32", marks=pytest.mark.slow
        ),
    ],
)
def test_inexact_methods_are_not_padded(method, padded_arrays):
    assert not B.paddable(method)
    cfg = _lora(method, steps=3)
    a, b = _solve(cfg, True), _solve(cfg, False)
    assert not padded_arrays and _max_diff(a.final_state, b.final_state) == 0.0


@pytest.mark.parametrize(
    "x,want", [(1, 8), (3, 8), (8, 8), (9, 16), (16, 16), (17, 24), (25, 32), (513, 768)]
)
def test_bucket(x, want):
    assert B.bucket(x) == want


def test_real_start_is_the_unpadded_start():
    """The stabilised solvers' power iteration starts from the same vector: the real block of
    the padded start equals sims/rkc.py's start of the real state (bitwise), its pads are 0."""
    real = [(3, 5), (5, 2)]
    y0 = tuple(jnp.zeros(s) for s in real)
    py0 = tuple(jnp.zeros((8, 8)) for _ in real)
    v = rkc._unit_start(y0)
    pv = B.real_start(py0, jnp.asarray(real))
    blocks = [np.asarray(p)[: r[0], : r[1]] for p, r in zip(pv, real, strict=True)]
    pads = [np.asarray(_pads_of(np.asarray(p), r)) for p, r in zip(pv, real, strict=True)]
    assert _max_diff(v, blocks) == 0.0 and all(np.all(p == 0) for p in pads)


def test_real_norm_is_rms_norm_of_the_real_entries():
    x = (jnp.arange(6.0).reshape(2, 3), jnp.ones((3, 1)))
    padded = tuple(jnp.asarray(B.pad_to(a, (4, 4))) for a in x)
    got = B.RealNorm(jnp.asarray(np.sqrt(9.0)))(padded)
    assert float(got) == pytest.approx(float(optx.rms_norm(x)), rel=1e-15, abs=0)


def test_smoothed_polar_pad_shift_leaves_the_value():
    """T_β of a padded matrix with the Gram shift equals T_β of the real block (an SVD oracle)."""
    from gflab.theory import lora as TL

    rng = np.random.default_rng(0)
    g = rng.standard_normal((5, 3))
    U, s, Vt = np.linalg.svd(g, full_matrices=False)
    want = U @ np.diag(s / np.sqrt(s**2 + 0.1)) @ Vt
    G = jnp.asarray(B.pad_to(g, (8, 4)))
    got = TL.smoothed_polar(G, 0.1, real=(jnp.arange(8) < 5, jnp.arange(4) < 3))
    assert np.max(np.abs(np.asarray(got)[:5, :3] - want)) <= 1e-13
    assert np.all(_pads_of(np.asarray(got), (5, 3)) == 0)


def test_one_program_serves_a_bucket():
    """n = 5 and n = 7 both run at n = 8: the second config compiles no new solve."""
    a = _dmf(_adaptive("tsit5"), n=5, coupling=False, t1=0.5)
    b = dataclasses.replace(a, n=7)
    simulate_dmf(a)
    before = len(engine._seen_flow)
    res = simulate_dmf(b)
    assert len(engine._seen_flow) == before and res.final_state[0].shape == (7, 7)


def test_switch_off_by_environment(monkeypatch):
    monkeypatch.setenv("GFLAB_BUCKETS", "0")
    assert not B.use_buckets() and B.use_buckets(True)
    monkeypatch.setenv("GFLAB_BUCKETS", "1")
    assert B.use_buckets() and not B.use_buckets(False)


def test_store_key_ignores_buckets(monkeypatch, tmp_path):
    """Padded and unpadded results are the same result: one store key for both settings."""
    from gflab.sims.store import ResultStore

    cfg = _dmf(_adaptive("tsit5"))
    keys = set()
    for flag in ("0", "1"):
        monkeypatch.setenv("GFLAB_BUCKETS", flag)
        keys.add(ResultStore(tmp_path, versions={"jax": "x"}, code="c").key(cfg))
    assert len(keys) == 1
