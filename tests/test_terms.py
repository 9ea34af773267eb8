"""Flows as terms (sims/terms.py): β's one home and default, the polar flow's fixed-step rule, the
terms' fields against SVD definitions, and the dense solve driven by the config's method object."""

from __future__ import annotations

import numpy as np
import pytest
from shared_cases import lora_case

from gflab.sims import methods as M
from gflab.sims import terms as TM
from gflab.sims.config import LoRAConfig
from gflab.sims.dense import solve_lora_dense
from gflab.sims.lora import solve_lora_from
from gflab.sims.schema import config_from_args
from gflab.theory.errors import GflabInputError


def test_beta_default_lives_on_the_field_and_equals_the_cli_default():
    """``LoRAConfig(t1=5.0)`` runs SpecGF at SpecGF's default β, recorded in the config, and is the
    same run (same store key) as the command line's default and as β given explicitly."""
    cfg = LoRAConfig(t1=5.0)
    cli = config_from_args("lora", {"t1": 5.0})
    assert cfg.beta == TM.SpecGF().beta == TM.DEFAULT_BETA == cli.beta
    assert cfg.term == TM.SpecGF(TM.DEFAULT_BETA)
    assert cfg.key() == cli.key() == LoRAConfig(t1=5.0, beta=TM.DEFAULT_BETA).key()


@pytest.mark.parametrize(
    ("flow", "beta", "term"),
    [
        ("gf", None, TM.GF()),
        ("specgf", None, TM.SpecGF()),
        ("specgf", 1e-3, TM.SpecGF(1e-3)),
        ("specgf", np.float32(0.25), TM.SpecGF(0.25)),
        ("specgf", 0, TM.PolarFlow()),
    ],
)
def test_flow_spelling_is_parsed_once_into_a_term(flow, beta, term):
    assert TM.flow_term(flow, beta) == term


@pytest.mark.parametrize(
    ("flow", "beta", "parameter"),
    [
        ("adam", None, "flow"),
        ("gf", 1e-6, "beta"),
        ("specgf", -1.0, "beta"),
        ("specgf", float("nan"), "beta"),
        ("specgf", "x", "beta"),
    ],
)
def test_flow_term_refuses_naming_the_parameter(flow, beta, parameter):
    with pytest.raises(GflabInputError) as info:
        TM.flow_term(flow, beta)
    assert info.value.parameter == parameter


@pytest.mark.parametrize(
    ("method", "ok"),
    [(M.Adaptive(), False), (M.Adaptive(solver="bosh3"), False), (M.Euler(dt=0.01), True)],
    ids=["tsit5", "bosh3", "euler"],
)
def test_polar_flow_is_fixed_step_only(method, ok):
    """β = 0 is a type rule of the term: only a constant-step method integrates it."""
    if ok:
        TM.PolarFlow().check_method(method)
        assert LoRAConfig(beta=0.0, method=method, t1=1.0).term == TM.PolarFlow()
        return
    with pytest.raises(GflabInputError) as info:
        LoRAConfig(beta=0.0, method=method, t1=1.0)
    assert info.value.parameter == "beta"


def _np_direction(term, G):
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    if isinstance(term, TM.GF):
        return G
    if isinstance(term, TM.PolarFlow):
        return U @ Vt
    return (U * (s / np.sqrt(s * s + term.beta))) @ Vt


@pytest.mark.parametrize("term", [TM.GF(), TM.SpecGF(1e-2), TM.PolarFlow()], ids=str)
def test_term_fields_match_svd_definitions(term):
    """(Ȧ, Ḃ) = −D(∇ℒ) with D from an SVD (T_β = U diag(σ/√(σ² + β)) Vᵀ, T = U Vᵀ): the term's
    eigh/SVD route agrees to rounding (1e-12 on entries of size ~1)."""
    rng = np.random.default_rng(0)
    A, B, Y = rng.standard_normal((6, 2)), rng.standard_normal((2, 7)), rng.standard_normal((6, 7))
    l2 = 0.1
    E = A @ B - Y
    gA, gB = E @ B.T + l2 * A, A.T @ E + l2 * B
    dA, dB = term.vector_field(0.0, (A, B), {"Y": Y, "l2": l2})
    np.testing.assert_allclose(np.asarray(dA), -_np_direction(term, gA), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(dB), -_np_direction(term, gB), rtol=0, atol=1e-12)


def _dense_and_engine(method, beta=1e-3, t1=0.6):
    cfg, prob = lora_case(method=method, beta=beta, t1=t1, n_save=2, steps=None)
    dense = solve_lora_dense(cfg, *prob)
    raw = solve_lora_from(cfg, *prob)
    return dense, raw


@pytest.mark.parametrize(
    "method",
    [
        pytest.param(M.Adaptive(rtol=1e-9, atol=1e-12, solver="bosh3"), marks=pytest.mark.slow),
        M.Euler(dt=0.05),
    ],
    ids=["bosh3", "euler"],
)
def test_dense_solve_uses_the_configs_method(method):
    """The dense solve integrates with the config's method object (not a hard-coded Tsit5): its
    mode proxies at t1 equal the engine's with the same method (the same steps: 1e-12), and with
    Euler its nodes are the multiples of dt (before, Euler was refused and every dense solve ran
    Tsit5 at the legacy tolerances). Bosh3 compiles for 13 s: slow suite only."""
    dense, raw = _dense_and_engine(method)
    d, _ = dense.modes([dense.t_end])
    assert dense.status == raw.status == "t1_reached"
    np.testing.assert_allclose(d[0], raw.saved["proxies"][-1], rtol=0, atol=1e-12)
    if isinstance(method, M.Euler):
        np.testing.assert_allclose(dense.nodes, 0.05 * np.arange(13), rtol=0, atol=1e-14)
