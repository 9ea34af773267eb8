"""Methods as objects (sims/methods.py): validation, JSON round trip, optax-like updates against
NumPy formulas, and no recompilation when a method's numbers change (equinox's trace counter)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gflab.sims import engine
from gflab.sims import methods as M
from gflab.sims.config import DMFConfig, LoRAConfig
from gflab.theory.errors import GflabInputError

EXAMPLES = [
    M.Adaptive(rtol=1e-7, atol=1e-10, solver="dopri5"),
    M.Euler(dt=0.01),
    M.GD(lr=0.2),
    M.SpecGD(lr=0.1),
    M.SmoothedSpecGD(lr=0.1, beta=1e-3),
    M.NewtonSchulz(lr=0.1, ns_steps=3, ns_dtype="float32"),
    M.Muon(lr=0.02, momentum=0.9, nesterov=False, shape_scale="original"),
]


@pytest.mark.parametrize("method", EXAMPLES, ids=lambda m: m.name)
def test_dict_round_trip(method):
    assert M.method_from_dict(method.to_dict()) == method


@pytest.mark.parametrize(
    ("make", "parameter"),
    [
        (lambda: M.GD(lr=-1.0), "lr"),
        (lambda: M.Adaptive(rtol=0.0), "rtol"),
        (lambda: M.Adaptive(solver="rk4"), "solver"),
        (lambda: M.Euler(dt=float("nan")), "dt"),
        (lambda: M.Muon(lr=0.1, momentum=1.0), "momentum"),
        (lambda: M.Muon(lr=0.1, shape_scale="x"), "shape_scale"),
        (lambda: M.NewtonSchulz(lr=0.1, ns_steps=0), "ns_steps"),
        (lambda: M.parse_method("sgd:0.1"), "method"),
        (lambda: M.parse_method("gd:-2"), "method"),
        (lambda: M.parse_method("adaptive:1"), "method"),
    ],
)
def test_validation_names_the_parameter(make, parameter):
    with pytest.raises(GflabInputError) as info:
        make()
    assert info.value.parameter == parameter


def test_spellings_are_parsed_once_into_objects():
    assert M.parse_method("gd:0.2") == M.GD(lr=0.2)
    assert M.parse_method("muon:0.01", momentum=0.9, rtol=1e-3) == M.Muon(lr=0.01, momentum=0.9)
    assert M.parse_method("euler:0.5").dt == 0.5


_FLOW = dict(rows=6, cols=7, rank=3, target_svals=(1.0, 2.0, 4.0), beta=1e-6, t1=2.0)


@pytest.mark.parametrize(
    ("make", "parameter"),
    [
        (lambda: DMFConfig(depth=2, n=4, method=M.GD(lr=0.1), steps=10, rtol=1e-3), "rtol"),
        (lambda: LoRAConfig(**_FLOW, momentum=0.5), "momentum"),
        (lambda: LoRAConfig(**_FLOW, method=M.Adaptive(rtol=1e-5), rtol=1e-9), "rtol"),
    ],
)
def test_an_option_beside_the_method_is_refused(make, parameter):
    """An option the method lacks, or any option beside a method object, names itself (as the
    command line does) instead of being dropped or overriding the method."""
    with pytest.raises(GflabInputError) as info:
        make()
    assert info.value.parameter == parameter


def test_key_holds_the_methods_hyper_parameters():
    assert LoRAConfig(**_FLOW, method=M.Adaptive(rtol=1e-6)).key() != LoRAConfig(**_FLOW).key()
    assert LoRAConfig(**_FLOW, method=M.Adaptive()).key() == LoRAConfig(**_FLOW).key()


def test_updates_match_numpy_formulas():
    rng = np.random.default_rng(0)
    g1, g2 = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    p = (jnp.zeros((5, 3)),)
    u, _ = M.GD(lr=0.3).update((jnp.asarray(g1),), (), p)
    np.testing.assert_allclose(u[0], -0.3 * g1, rtol=1e-15)
    U, _, Vt = np.linalg.svd(g1, full_matrices=False)
    u, _ = M.SpecGD(lr=0.3).update((jnp.asarray(g1),), (), p)
    np.testing.assert_allclose(u[0], -0.3 * U @ Vt, rtol=1e-12, atol=1e-14)  # SVD round-off
    # Muon without Newton–Schulz's effect isolated: two steps of the EMA + Nesterov direction,
    # checked through the float64 NS of the same direction (torch.optim.Muon's formula)
    mu, lr = 0.9, 0.05
    muon = M.Muon(lr=lr, momentum=mu)
    s = muon.init(p)
    _, s = muon.update((jnp.asarray(g1),), s, p)
    u, s = muon.update((jnp.asarray(g2),), s, p)
    buf = mu * ((1 - mu) * g1) + (1 - mu) * g2
    d = g2 + mu * (buf - g2)
    from gflab.theory.lora import newton_schulz

    np.testing.assert_allclose(s[0], buf, rtol=1e-14)
    np.testing.assert_allclose(u[0], -lr * np.asarray(newton_schulz(jnp.asarray(d))), rtol=1e-12)


def _decay(t, y, a):
    return -y


def _stats(t, y, a):
    return {"y": y}


def _mon(y, a):
    return jnp.max(jnp.abs(y))


def _grad(y, a):
    return y


def test_changing_a_methods_numbers_does_not_retrace():
    """Tolerances, steps and momenta are PyTree leaves: a second solve with other numbers reuses
    the trace (a name, a count or a dtype would retrace)."""
    flow = jax.jit(
        eqx.debug.assert_max_traces(engine.flow_solve_impl, max_traces=1),
        static_argnames=engine.FLOW_STATIC,
    )
    y0, ts = jnp.ones(3), jnp.linspace(0.0, 1.0, 5)
    finals = []
    for rtol in (1e-6, 1e-9):  # the second call must not trace again
        out = flow(
            M.Adaptive(rtol=rtol),
            _decay,
            _stats,
            _mon,
            y0,
            {},
            jnp.asarray(1.0),
            ts,
            jnp.asarray(1e-3),
            jnp.asarray(1e6),
            True,
        )
        finals.append(out["saved"]["y"][-1])
    np.testing.assert_allclose(finals, np.exp(-1.0) * np.ones((2, 3)), rtol=1e-5)
    it = jax.jit(
        eqx.debug.assert_max_traces(engine.iterate_impl, max_traces=1),
        static_argnames=engine.ITERATE_STATIC,
    )
    states = []
    for lr in (0.1, 0.2):
        out = it(
            M.GD(lr=lr),
            _grad,
            _stats,
            _mon,
            y0,
            {},
            jnp.asarray(0.0),
            jnp.asarray(1e6),
            jnp.asarray(4),
            n_blocks=2,
            block=2,
        )
        states.append(out["state"])
    # y ← (1 − lr) y, four steps
    np.testing.assert_allclose(
        states, [(1 - lr) ** 4 * np.ones(3) for lr in (0.1, 0.2)], rtol=1e-14
    )
