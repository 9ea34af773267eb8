"""Contract tests generated from the registry ``gflab.sims.models.MODELS`` (as optax tests every
optimiser of its list and diffrax every solver): each model × each method it accepts round-trips
through JSON and through its ``gflab simulate`` command to the same config and store key, refuses
options its method lacks naming them, has the same defaults in Python and on the command line,
and runs through the store, a sweep and ``gflab results``. A new model is covered by adding it to
the registry (its ``example`` gives the small config these tests use)."""

from __future__ import annotations

import dataclasses
import json

import equinox as eqx
import jax
import pytest

from gflab.cli import build_parser
from gflab.cli.simulate import config_of
from gflab.sims import engine
from gflab.sims import methods as M
from gflab.sims.models import MODELS, config_from_dict
from gflab.sims.schema import command_args, config_from_args, params
from gflab.sims.store import ResultStore
from gflab.sims.sweep import run_sweep, spec_from_dict
from gflab.sims.tables import results_records
from gflab.theory.errors import GflabInputError

# one instance of every method class, numbers away from the defaults (a round trip that drops a
# hyper-parameter shows); a method class missing here fails test_every_method_has_a_sample
SAMPLES = {
    M.Adaptive: M.Adaptive(rtol=1e-7, atol=1e-11, max_steps=40_000),
    M.Euler: M.Euler(dt=0.05, max_steps=1000),
    M.GD: M.GD(lr=0.1),
    M.SpecGD: M.SpecGD(lr=0.05),
    M.SmoothedSpecGD: M.SmoothedSpecGD(lr=0.05, beta=1e-3),
    M.NewtonSchulz: M.NewtonSchulz(lr=0.05, ns_steps=4, ns_dtype="float32"),
    M.Muon: M.Muon(lr=0.02, momentum=0.9, nesterov=False, shape_scale="original"),
}

# (model, method sample or None for a model without a method field)
CASES = [
    (name, SAMPLES[cls] if cls is not None else None)
    for name, model in MODELS.items()
    for cls in (model.methods or (None,))
]
IDS = [f"{name}-{m.name if m is not None else 'own'}" for name, m in CASES]


def _config(name, method):
    return MODELS[name].example(method)


def test_every_method_has_a_sample():
    accepted = {cls for model in MODELS.values() for cls in model.methods}
    assert accepted <= set(SAMPLES), accepted - set(SAMPLES)


@pytest.mark.parametrize(("name", "method"), CASES, ids=IDS)
def test_json_round_trip(name, method):
    cfg = _config(name, method)
    back = config_from_dict(json.loads(json.dumps(cfg.to_dict())))
    store = ResultStore()  # the key does not depend on the store's folder
    assert back == cfg and store.key(back) == store.key(cfg)


@pytest.mark.parametrize(("name", "method"), CASES, ids=IDS)
def test_command_round_trip_gives_the_same_store_key(name, method):
    """config → ``gflab simulate ...`` → the CLI's own parser → the same config and key."""
    cfg = _config(name, method)
    args = build_parser().parse_args(["simulate", *command_args(cfg)])
    back = config_of(args)
    assert back == cfg
    store = ResultStore()  # the key does not depend on the store's folder
    assert store.key(back) == store.key(cfg)


def _foreign(name, method):
    """(hyper-parameter, value) pairs of the model's other methods that ``method`` lacks."""
    have = {f.name for f in dataclasses.fields(method)}
    out = {}
    for cls in MODELS[name].methods:
        sample = SAMPLES[cls]
        for f in dataclasses.fields(cls):
            if f.name not in have and f.name not in ("lr", "dt"):
                out.setdefault(f.name, getattr(sample, f.name))
    return sorted(out.items())


FOREIGN = [
    (name, method, option, value)
    for name, method in CASES
    if method is not None
    for option, value in _foreign(name, method)
    if option not in {f.name for f in dataclasses.fields(MODELS[name].config)}
]


@pytest.mark.parametrize(
    ("name", "method", "option", "value"),
    FOREIGN,
    ids=[f"{n}-{m.name}-{o}" for n, m, o, _ in FOREIGN],
)
def test_an_option_the_method_lacks_is_refused_in_python_and_on_the_command_line(
    name, method, option, value
):
    cfg = _config(name, method)
    fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    with pytest.raises(GflabInputError) as py:
        type(cfg)(**fields, **{option: value})
    flags = {k: v for k, v in fields.items() if v is not None and k != "method"}
    flags = {k: v for k, v in flags.items() if not k.endswith("_file")}
    with pytest.raises(GflabInputError) as cli:
        config_from_args(name, {**flags, "method": method.spelling, option: value})
    assert (py.value.parameter, cli.value.parameter) == (option, option)


@pytest.mark.parametrize("name", [n for n, m in MODELS.items() if m.methods])
def test_a_spelling_is_read_only_at_the_door(name):
    """Inside, a method is an object: a spelling given to a config names ``method``; the JSON
    reader (and the command line) parse it."""
    cfg = MODELS[name].example()
    fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    with pytest.raises(GflabInputError) as e:
        type(cfg)(**{**fields, "method": "adaptive"})
    assert e.value.parameter == "method"
    assert config_from_dict({**cfg.to_dict(), "method": "adaptive"}) == cfg


@pytest.mark.parametrize("name", list(MODELS))
def test_python_and_command_line_defaults_are_equal(name):
    """Every flag's default is the config field's default; a method's is the config's default
    method's (one definition: rtol of DMF is 1e-9, of LoRA 1e-8, each in its default object)."""
    model = MODELS[name]
    fields = {f.name: f.default for f in dataclasses.fields(model.config)}
    default_method = model.default_method()
    shown = {p.name: p.default for p in params(name)}
    want = {
        **{k: (None if v is dataclasses.MISSING else v) for k, v in fields.items()},
        **{
            p.name: getattr(default_method, p.name)
            for p in params(name)
            if p.methods and hasattr(default_method, p.name)
        },
    }
    assert {k: shown[k] for k in want} == want


@pytest.mark.parametrize("name", list(MODELS))
def test_the_command_line_builds_the_python_default(name):
    """No flag given (but the required ones) is the Python config of the same fields plus the
    command line's documented fill-ins (LoRA's horizon and SpecGF's β)."""
    model = MODELS[name]
    required = {p.name: getattr(model.example(), p.name) for p in params(name) if p.required}
    python = model.config(**model.cli_defaults(required, None))
    assert config_from_args(name, required) == python


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_runs_through_a_sweep_the_store_and_results(name, tmp_path):
    """One small config per model: a sweep stores it, ``gflab results`` lists it with its model
    and status, and the model's stored() then reads it back equal to a fresh run's JSON."""
    model = MODELS[name]
    for package in model.requires:  # an extra's model (the bridge's torch) where it is installed
        pytest.importorskip(package)
    cfg = model.example()
    fields = {k: v for k, v in cfg.to_dict().items() if k != "model"}
    spec = spec_from_dict({"model": name, "base": json.loads(json.dumps(fields))})
    [swept] = spec.configs()
    assert swept == cfg
    store = ResultStore(tmp_path)
    summary = run_sweep([swept], store)
    assert (summary.done, summary.failed) == (1, 0), summary.failures
    [row] = results_records(store, model=name)
    fresh = model.run(cfg)
    assert row["status"] == model.status(fresh)
    got, how = model.stored(cfg, store)
    assert how == "hit"
    assert _comparable(model.to_json(got)) == _comparable(model.to_json(fresh))


def _comparable(doc):
    """A result's JSON without the run's timings (wall and compile seconds differ run to run);
    the numbers are compared exactly (the same program on the same inputs, stored in float64)."""
    if isinstance(doc, dict):
        return {
            k: _comparable(v)
            for k, v in doc.items()
            if k not in ("stats", "wall_seconds", "compile_seconds")
        }
    if isinstance(doc, list):
        return [_comparable(v) for v in doc]
    return doc


@pytest.mark.parametrize("name", [n for n, m in MODELS.items() if M.Adaptive in m.methods][:2])
def test_a_methods_numbers_do_not_retrace_a_models_solve(name, monkeypatch):
    """Two runs of the model that differ only in the method's tolerances share one trace of the
    engine's solve (a tolerance is a PyTree leaf; a name, count or dtype is static)."""
    counted = jax.jit(
        eqx.debug.assert_max_traces(engine.flow_solve_impl, max_traces=1),
        static_argnames=engine.FLOW_STATIC,
    )
    monkeypatch.setattr(engine, "_flow_solve", counted)
    model = MODELS[name]
    for rtol in (1e-7, 1e-8):
        model.run(model.example(M.Adaptive(rtol=rtol, atol=1e-11)))
