"""Optimisers by composition (theory/optim.py, sims/methods.py): the composed Muon against a hand
transcription of its definition step by step; one update contract for Schedule-Free's base; the
pieces on NumPy, JAX and torch alike."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from gflab.sims import methods as M
from gflab.sims.bridge.optim import OPTIMIZERS
from gflab.theory import optim as O
from gflab.theory import schedule_free as SF
from gflab.theory.errors import GflabInputError

torch.set_num_threads(1)
COEF = (3.4445, -4.7750, 2.0315)


def _np_ns(G, steps=5, eps=1e-7):
    """Keller Jordan's quintic Newton–Schulz on the wide orientation, X/(‖X‖_F + eps)."""
    a, b, c = COEF
    tall = G.shape[0] > G.shape[1]
    X = G.T if tall else G
    X = X / (np.sqrt(np.sum(X * X)) + eps)
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * (A @ A)) @ X
    return X.T if tall else X


def _np_scale(kind, rows, cols):
    """torch.optim.Muon's adjust_lr_fn: "original" √max(1, m/n), "match_rms_adamw" 0.2√max(m, n)."""
    if kind == "original":
        return math.sqrt(max(1.0, rows / cols))
    if kind == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    return 1.0


def _muon_by_hand(g, buf, lr, mu, nesterov, kind):
    """One Muon step from its definition (EMA form): buf ← μ buf + (1 − μ) g; u = g + μ(buf − g)
    with Nesterov, else buf; update = −lr·s(shape)·NS₅(u)."""
    buf = mu * buf + (1 - mu) * g
    u = g + mu * (buf - g) if nesterov else buf
    return -lr * _np_scale(kind, *g.shape) * _np_ns(u), buf


VARIANTS = [
    (0.95, True, "none"),
    (0.95, True, "original"),
    (0.9, False, "original"),
    (0.5, True, "match_rms_adamw"),
    (0.3, False, "match_rms_adamw"),
    (0.0, True, "none"),
]


@pytest.mark.parametrize(("mu", "nesterov", "kind"), VARIANTS)
def test_composed_muon_equals_hand_transcription_step_by_step(mu, nesterov, kind):
    """sims.methods.Muon (chain(muon_direction, ScaleByLr)) against the definition written out in
    NumPy, 8 steps on a tall and a wide matrix fed the same gradients (scales 1e-2 to 1e2): every
    step's updates and momentum buffers agree to 1e-14 in relative Frobenius norm. They differ
    only in rounding (torch's lerp vs the EMA formula, XLA's vs NumPy's products); the quintic
    NS amplifies an ulp of its input by up to a = 3.4445 per iteration on small singular values,
    so the updates differ by measured ≤ 5.4e-15 (buffers ≤ 3e-16)."""
    rng = np.random.default_rng(7)
    shapes = ((10, 3), (3, 12))
    method = M.Muon(lr=0.02, momentum=mu, nesterov=nesterov, shape_scale=kind)
    params = tuple(jnp.asarray(rng.standard_normal(s)) for s in shapes)
    state = method.init(params)
    bufs = [np.zeros(s) for s in shapes]
    worst = 0.0
    for _ in range(8):
        grads = [rng.standard_normal(s) * 10 ** rng.uniform(-2, 2) for s in shapes]
        ups, state = method.update(tuple(jnp.asarray(g) for g in grads), state, params)
        for i, g in enumerate(grads):
            want, bufs[i] = _muon_by_hand(g, bufs[i], 0.02, mu, nesterov, kind)
            for got, ref in ((ups[i], want), (state[i], bufs[i])):
                err = np.linalg.norm(np.asarray(got) - ref) / np.linalg.norm(ref)
                worst = max(worst, err)
    assert worst <= 1e-14, worst


def test_chain_fuses_scalar_factors_as_torch_forms_adjusted_lr():
    """Shape scale then −lr on a tall matrix: one multiplication by s·(−lr) (torch's adjusted_lr),
    bit for bit; two separate roundings, −lr·(s·u), differ from it in 7 961 of these 30 000
    entries, which is why torch.optim.Muon's bit-identical tests need the fusion."""
    rng = np.random.default_rng(1)
    u = rng.standard_normal((300, 100))
    t = O.chain(O.ScaleByShape(O.ShapeScale.ORIGINAL), O.ScaleByLr(0.0123))
    (got,), _ = t.update((u,), t.init((u,)))
    s = math.sqrt(300 / 100)
    assert np.array_equal(got, (s * -0.0123) * u)


@pytest.mark.parametrize("namespace", ["numpy", "torch"])
def test_muon_direction_is_namespace_agnostic(namespace):
    """The one Muon direction on NumPy and torch float64 arrays equals it on JAX arrays (three
    steps of momentum, NS and shape scale): different matrix kernels, so ulps (1e-13)."""
    rng = np.random.default_rng(3)
    gs = [rng.standard_normal((6, 4)) for _ in range(3)]
    conv = {"numpy": np.asarray, "torch": torch.tensor}[namespace]
    t = O.muon_direction(0.9, True, 5, O.ShapeScale.MATCH_RMS_ADAMW)
    sa, sb = t.init((conv(gs[0]),)), t.init((jnp.asarray(gs[0]),))
    for g in gs:
        (a,), sa = t.update((conv(g),), sa)
        (b,), sb = t.update((jnp.asarray(g),), sb)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-13)


def test_schedule_free_takes_its_base_as_an_object():
    """Schedule-Free around the one Muon direction (momentum inside the base) is the same
    recurrence as the module docstring's, written out here for 5 steps (1e-13: NS rounding)."""
    rng = np.random.default_rng(5)
    W = rng.standard_normal((5, 3))
    base = O.muon_direction(0.9, True, 5, O.ShapeScale.NONE)
    opt = SF.ScheduleFree(base=base, lr=0.1, beta=0.8)
    st, y = opt.init((W,)), (W,)
    z, x, buf, wsum, worst = W, W, np.zeros_like(W), 0.0, 0.0
    for _ in range(5):
        g = y[0] @ np.diag([1.0, 2.0, 3.0])
        u, st = opt.update((g,), st, y)
        y = O.apply_updates(y, u)
        buf = 0.9 * buf + 0.1 * g
        z = z - 0.1 * _np_ns(g + 0.9 * (buf - g))
        wsum += 0.1**2
        c = 0.1**2 / wsum
        x = (1 - c) * x + c * z
        worst = max(worst, np.max(np.abs(y[0] - (0.2 * z + 0.8 * x))))
    assert worst <= 1e-13, worst
    np.testing.assert_allclose(st.x[0], x, rtol=0, atol=1e-13)


def test_schedule_free_refuses_a_base_spelling():
    with pytest.raises(GflabInputError) as info:
        SF.ScheduleFree(base="muon")
    assert info.value.parameter == "base"


@pytest.mark.parametrize(
    ("aux", "other"), [("adamw", SF.AdamWUpdate), ("sgd", SF.SGDUpdate)], ids=["adamw", "sgd"]
)
def test_amuse_parses_its_aux_update_type_once_into_objects(aux, other):
    """AMUSE's public ``aux_update_type`` spelling becomes, at construction, the two groups' base
    updates: the one Muon direction (momentum → Newton–Schulz → AMUSE's shape scale) for the
    matrices and the named base for the others; equality still reads the public fields only."""
    opt = SF.AMUSE(momentum=0.9, ns_steps=4, aux_update_type=aux, beta2=0.99, eps=1e-9)
    muon, rest = opt.updates
    pieces = muon.direction.transforms
    assert isinstance(muon, SF.MuonUpdate) and isinstance(rest, other)
    assert [type(p) for p in pieces] == [O.EmaMomentum, O.NewtonSchulz, O.ScaleByShape]
    assert (pieces[0].momentum, pieces[1].steps) == (0.9, 4)
    assert pieces[2].factor((8, 2)) == SF.amuse_scale((8, 2), aux)
    assert opt.update_for(np.zeros((3, 2))) is muon and opt.update_for(np.zeros(3)) is rest
    assert opt == SF.AMUSE(momentum=0.9, ns_steps=4, aux_update_type=aux, beta2=0.99, eps=1e-9)


def test_amuse_adamw_base_is_adam_direction():
    """AdamWUpdate's direction is AdamDirection(β₂, ε) with t − 1 steps taken (oracle: the
    bias-corrected formula written out): z − lr·(g/(√(v/(1 − β₂ᵗ)) + ε) + wd·z), v = (1 − β₂)g²
    from v = 0 at t = 1 (1e-15: one ulp of the order of (1 − β₂)·g·g)."""
    rng = np.random.default_rng(4)
    z, g = rng.standard_normal(7), rng.standard_normal(7)
    opt = SF.AMUSE(aux_update_type="adamw", beta2=0.99, eps=1e-9)
    nz, v = opt.updates[1].step(z, g, np.zeros(7), lr=0.1, t=1, weight_decay=0.01)
    want_v = 0.01 * g * g
    want = z - 0.1 * (g / (np.sqrt(want_v / (1 - 0.99)) + 1e-9) + 0.01 * z)
    np.testing.assert_allclose(v, want_v, rtol=1e-15)
    np.testing.assert_allclose(nz, want, rtol=0, atol=1e-15)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("w", [0.05, 0.95, 1 - 1 / 0.9])
def test_lerp_on_torch_is_torch_lerp(dtype, w):
    """optim.lerp on torch tensors is torch.lerp bit for bit (its vectorised kernel fuses the
    multiply-add; the two-branch formula differs from it on 5–30 % of 1000+ entries), and on
    NumPy the formula of ATen's two branches."""
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(4096, generator=gen, dtype=dtype) for _ in range(2))
    assert torch.equal(O.lerp(a, b, w), torch.lerp(a, b, w))
    an, bn = a.double().numpy(), b.double().numpy()
    want = an + w * (bn - an) if abs(w) < 0.5 else bn + (w - 1) * (bn - an)
    assert np.array_equal(O.lerp(an, bn, w), want)


@pytest.fixture(scope="module")
def bridge_optim():
    from gflab.sims.bridge import optim

    return optim


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_bridge_optimizer_builds_from_its_settings(bridge_optim, name):
    """Each --optimizer spelling has settings and a builder (the tables), and the LoRA matrix's
    learning rate as given (0.02) reaches the optimizer group that holds it."""
    amuse = {"warmup_steps": 5}
    s = bridge_optim.optimizer_settings(name, 0.02, 1e-3, 0.01, 0.0, 0.95, True, "original", amuse)
    W, b = torch.zeros(4, 3, requires_grad=True), torch.zeros(3, requires_grad=True)
    opts = bridge_optim.build_optimizers(name, [W], [b], s)
    lrs = [g["lr"] for o in opts for g in o.param_groups if any(p is W for p in g["params"])]
    assert lrs == [0.02]


def test_bridge_optimizer_spelling_refused_naming_the_parameter(bridge_optim):
    with pytest.raises(GflabInputError) as info:
        bridge_optim.optimizer_settings("lion", 0.02, 1e-3, 0.0, 0.0, 0.95, True, "original")
    assert info.value.parameter == "optimizer"
    with pytest.raises(GflabInputError) as info:
        bridge_optim.build_optimizers("lion", [], [], {"lora": {}, "head": {}})
    assert info.value.parameter == "optimizer"
