"""Bad input raises GflabInputError naming the parameter, at every layer; configs round-trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gflab.sims import DMFConfig, LoRAConfig, config_from_dict
from gflab.sims.methods import GD, Adaptive, Euler, Muon, SmoothedSpecGD, SpecGD, parse_method
from gflab.theory import GflabInputError
from gflab.theory import _validate as V
from gflab.theory import closed_forms as CF
from gflab.theory import dmf as D
from gflab.theory import lora as LR


def _raises(parameter, fn, *args, **kw):
    with pytest.raises(GflabInputError) as info:
        fn(*args, **kw)
    err = info.value
    assert err.parameter == parameter, str(err)
    assert str(err).startswith(f"{parameter}: expected "), str(err)
    assert "\n" not in str(err)
    return err


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        (V.positive_int, ("n", 0)),
        (V.positive_int, ("n", 2.0)),
        (V.positive_int, ("n", True)),
        (V.positive_int, ("n", "3")),
        (V.finite_real, ("n", math.nan)),
        (V.finite_real, ("n", math.inf)),
        (V.finite_real, ("n", "1")),
        (V.positive_real, ("n", 0.0)),
        (V.positive_real, ("n", -1)),
        (V.positive_real, ("n", math.inf)),
        (V.positive_real, ("n", math.nan)),
        (V.probability, ("n", 0.0)),
        (V.probability, ("n", 1.5)),
        (V.one_of, ("n", "c", ("a", "b"))),
        (V.finite_array, ("n", np.array([1.0, np.nan]))),
        (V.finite_array, ("n", np.ones(3), 2)),
        (V.finite_array, ("n", np.array(["a"]))),
        (V.finite_array, ("n", np.ones((2, 2)), None, (3, 3))),
    ],
)
def test_validators_reject(fn, args):
    _raises("n", fn, *args)


def test_error_message_is_one_short_line():
    err = _raises("mask", DMFConfig, depth=3, n=4, mask=np.eye(50))
    assert "shape (50, 50)" in str(err)
    err = _raises("n", V.positive_int, "n", "x" * 500)
    assert len(str(err)) < 200


def test_validators_accept_and_convert():
    assert V.positive_int("n", np.int64(3)) == 3 and type(V.positive_int("n", np.int64(3))) is int
    assert V.positive_real("x", 0, allow_zero=True) == 0.0
    assert V.positive_real("x", math.inf, allow_inf=True) == math.inf
    assert V.probability("p", 0.0, open_low=False) == 0.0


def test_theory_constructors_name_their_parameter():
    _raises("m", D.mimic_init, 4, 3, 1e-3, 1.0)
    _raises("alpha", D.mimic_init, 4, 3, 0.0, 3.0)
    _raises("depth", CF.mimic_limit, 4, 1, 1e-3, 3.0)
    _raises("w_star", CF.mimic_limit, 4, 3, 1e-3, 3.0, -1.0)
    _raises("alpha", D.gaussian_init, 4, 3, -1.0, seed=0)
    _raises("blocks", D.block_diagonal_mask, 6, 4)
    _raises("p", D.bernoulli_mask, 4, 0.0, seed=0)
    _raises("init", D.make_init, "zeros", 4, 3, 1e-3)
    _raises("mask", D.make_mask, "stripes", 4)
    _raises("mask", D.make_mask, "block:x", 4)
    _raises("mask", D.make_mask, np.full((3, 3), 0.5), 3)
    _raises("mask", D.make_mask, np.zeros((3, 3)), 3)
    _raises("mask", D.make_mask, np.ones(3), 3)
    _raises("target", D.make_target, "const:inf", 3)
    _raises("target", D.make_target, "lowrank:0", 3)
    _raises("target", D.make_target, "lowrank:4", 3)
    _raises("target", D.make_target, "zeros", 3)
    _raises("target", D.make_target, np.array([[1.0, np.inf]]), 3)
    _raises("rank", D.lowrank_target, 3, 4, seed=0)
    _raises("rank", LR.lora_init, 3, 5, 4, 1e-3, seed=0)
    _raises("gamma", LR.gaussian_init, 3, 5, 2, 0.0, seed=0)
    _raises("init", LR.make_init, "zeros", 3, 5, 2, 1e-3, 0)
    _raises("target_svals", LR.spectral_target, 3, 5, [1.0, 1.0])
    _raises("target_svals", LR.spectral_target, 3, 5, [1.0, 0.0])
    _raises("target_svals", LR.spectral_target, 3, 5, [1.0, 2.0, 3.0, 4.0])
    _raises("target_svals", LR.spectral_target, 3, 5, [])
    _raises("target_svals", LR.spectral_target, 3, 5, [1.0, math.nan])
    _raises("fraction", CF.logistic_arrival_time, 1.0, 1e-3, 1.0)


@pytest.mark.parametrize(
    ("changes", "parameter"),
    [
        (dict(depth=1), "depth"),
        (dict(n=0), "n"),
        (dict(init="zeros"), "init"),
        (dict(m=0.5), "m"),
        (dict(alpha=math.nan), "alpha"),
        (dict(alpha=0.0), "alpha"),
        (dict(mask="x"), "mask"),
        (dict(mask=np.eye(3)), "mask"),
        (dict(target=np.ones((4, 4))), "target"),
        (dict(target="lowrank:5"), "target"),
        (dict(seed=-1), "seed"),
        (dict(seed=1.5), "seed"),
        (dict(t1=0.0), "t1"),
        (dict(t_max=math.inf), "t_max"),
        (dict(method=Euler(dt=0.1)), "method"),
        (dict(method="gd:0.1", steps=3), "method"),  # spellings are read by the CLI and JSON only
        (dict(method=GD(lr=0.1)), "steps"),
        (dict(method=GD(lr=0.1), steps=3, t1=1.0), "t1"),
        (dict(method=GD(lr=0.1), steps=3, rtol=1e-5), "rtol"),  # an option GD lacks
        (dict(method=Adaptive(rtol=1e-5), rtol=1e-9), "rtol"),  # never beside the method object
        (dict(steps=3), "steps"),
        (dict(normalisation="max"), "normalisation"),
        (dict(rtol=0.0), "rtol"),
        (dict(n_save=1), "n_save"),
        (dict(grid="cubic"), "grid"),
        (dict(max_steps=0), "max_steps"),
    ],
)
def test_dmf_config_rejects(changes, parameter):
    _raises(parameter, DMFConfig, **{"depth": 3, "n": 4, **changes})


@pytest.mark.parametrize(
    ("changes", "parameter"),
    [
        (dict(rank=61), "rank"),
        (dict(rows=0), "rows"),
        (dict(target_svals=(1.0, 1.0, 2.0, 3.0, 4.0)), "target_svals"),
        (dict(target_svals="1,2,3"), "target_svals"),
        (dict(target_svals=5.0), "target_svals"),
        (dict(flow="adam"), "flow"),
        (dict(beta=0.0), "beta"),
        (dict(beta=-1.0), "beta"),
        (dict(gamma=-1.0), "gamma"),
        (dict(l2=-1.0), "l2"),
        (dict(init="zeros"), "init"),
        (dict(t1=None), "t1"),
        (dict(steps=10), "steps"),
        (dict(method=SpecGD(lr=0.1)), "t1"),
        (dict(method=SpecGD(lr=0.1), t1=None), "steps"),
        (dict(flow="gf", method=Muon(lr=0.1), t1=None, steps=5), "flow"),
        (dict(method=GD(lr=0.1), t1=None, steps=5), "flow"),
        (dict(method=SmoothedSpecGD(lr=0.1, beta=1e-3), t1=None, steps=5), "beta"),  # two betas
        (dict(method="adaptive"), "method"),
        (dict(method=Euler(dt=0.1), beta="x"), "beta"),
        (dict(momentum=1.0), "momentum"),
        (dict(method=Muon(lr=0.1), t1=None, steps=5, momentum=0.9), "momentum"),
        (dict(shape_scale="x"), "shape_scale"),
        (dict(ns_dtype="float16"), "ns_dtype"),
        (dict(ns_steps=0), "ns_steps"),
        (dict(seed=-2), "seed"),
    ],
)
def test_lora_config_rejects(changes, parameter):
    _raises(parameter, LoRAConfig, **{"beta": 1e-6, "t1": 4.0, **changes})


def test_parse_method():
    assert parse_method("adaptive") == Adaptive()
    assert parse_method("muon:0.02") == Muon(lr=0.02)


@pytest.mark.parametrize("bad", ["adaptive:1", "gd", "gd:x", "gd:nan", "gd:inf", "rk4", 3])
def test_parse_method_refuses_naming_the_method(bad):
    _raises("method", parse_method, bad)


@pytest.mark.parametrize(
    "cfg",
    [
        DMFConfig(depth=3, n=4, m=math.inf, t1=2.0),
        DMFConfig(depth=2, n=6, mask="bernoulli:0.3", method=GD(lr=0.1), steps=5),
        LoRAConfig(beta=1e-6, t1=4.0, target_svals=[1, 2, 3, 4, 5]),
        LoRAConfig(flow="specgf", method=Muon(lr=0.01), steps=10),
    ],
    ids=["dmf-m-inf", "dmf-gd", "lora-beta", "lora-muon"],
)
def test_configs_round_trip_and_are_hashable(cfg):
    back = config_from_dict(cfg.to_dict())
    assert back == cfg and back.key() == cfg.key() and hash(back) == hash(cfg)


def test_config_from_dict_refuses_naming_the_parameter():
    _raises("model", config_from_dict, {"model": "cnn"})
    _raises("config", config_from_dict, {"model": "dmf", "depth": 3, "n": 4, "colour": "red"})


def test_batch_strategy_is_validated():
    from gflab.sims.engine import solve_flow_batch

    _raises(
        "strategy",
        solve_flow_batch,
        None,
        None,
        None,
        np.zeros((1, 1)),
        {},
        strategy="pmap",
        t1=1.0,
        save_ts=np.zeros(2),
    )
