"""The CLI under generated bad arguments: exit code 2, one line naming the parameter, no traceback.

Every generated command line is invalid by construction (a known-good base plus one bad value, an
unknown name, or two conflicting flags), so nothing is simulated: each example costs milliseconds.
``gflab.cli.main`` runs in-process; argparse's own errors arrive as SystemExit(2).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, example, given, settings, target
from hypothesis import strategies as st

from gflab.cli import main

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

DMF = ["simulate", "dmf", "--depth", "2", "--n", "2"]
LORA = ["simulate", "lora", "--rows", "6", "--cols", "7", "--rank", "2", "--target-svals", "1,2"]


def _run(argv, capsys) -> tuple[int, str]:
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    captured = capsys.readouterr()
    return rc, captured.err


def _check(argv, names, capsys):
    rc, err = _run(argv, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, (argv, err)
    assert len(lines) == 1, (argv, err)
    assert "Traceback" not in err
    assert any(n in lines[0] for n in names), (argv, lines[0], names)


_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
)
_nonpos = st.one_of(
    st.floats(max_value=0.0, allow_nan=False, allow_infinity=False),
    st.just(float("nan")),
    st.just(float("-inf")),
)
_not_number = _text.filter(lambda s: _nan_or_not_float(s))


def _nan_or_not_float(s: str) -> bool:
    try:
        return math.isnan(float(s))
    except ValueError:
        return True


def _num(x: float) -> str:
    return repr(x) if math.isfinite(x) else str(x)


# (flag, strategy of bad values as strings, names the error line may use)
DMF_BAD = [
    (
        "--depth",
        st.one_of(st.integers(max_value=1).map(str), _not_number, st.just("2.5")),
        ("depth",),
    ),
    ("--n", st.one_of(st.integers(max_value=0).map(str), _not_number), ("--n", "n:")),
    (
        "--m",
        st.one_of(st.floats(max_value=1.0, allow_nan=False).map(_num), _not_number),
        ("--m", "m:"),
    ),
    ("--alpha", st.one_of(_nonpos.map(_num), st.just("inf"), _not_number), ("alpha",)),
    (
        "--init",
        _text.filter(
            lambda s: s not in ("mimic", "gaussian", "tied-gaussian", "identity", "orthogonal")
        ),
        ("init",),
    ),
    (
        "--mask",
        st.one_of(
            _text.filter(lambda s: s not in ("diagonal", "superdiag")),
            st.sampled_from(
                ["block:0", "block:3", "bernoulli:0", "bernoulli:1.5", "bernoulli:nan"]
            ),
        ),
        ("mask", "blocks", "p:"),
    ),
    (
        "--target",
        st.one_of(
            _text.filter(lambda s: s != "ones"),
            st.sampled_from(["lowrank:0", "lowrank:3", "const:nan", "const:inf"]),
        ),
        ("target", "rank"),
    ),
    (
        "--method",
        st.one_of(
            _text.filter(lambda s: s != "adaptive"),
            st.sampled_from(["gd:0", "gd:-1", "gd:nan", "muon:0.1", "euler:0.1"]),
        ),
        ("method", "steps"),
    ),
    ("--normalisation", _text.filter(lambda s: s not in ("sum", "mean")), ("normalisation",)),
    ("--rtol", st.one_of(_nonpos.map(_num), _not_number), ("rtol",)),
    ("--atol", st.one_of(_nonpos.map(_num), _not_number), ("atol",)),
    ("--t1", st.one_of(_nonpos.map(_num), _not_number, st.just("inf")), ("t1",)),
    ("--t-max", st.one_of(_nonpos.map(_num), _not_number), ("t_max", "t-max")),
    ("--n-save", st.one_of(st.integers(max_value=1).map(str), _not_number), ("n_save", "n-save")),
    ("--steps", st.one_of(st.integers(max_value=0).map(str), _not_number), ("steps",)),
    ("--seed", st.one_of(st.integers(max_value=-1).map(str), _not_number), ("seed",)),
]

LORA_BAD = [
    ("--rank", st.sampled_from(["0", "7", "x", "-1"]), ("rank",)),
    (
        "--target-svals",
        st.one_of(
            _not_number.filter(lambda s: "," not in s),
            st.sampled_from(["1,nan", "1,-2", "1,inf", ",", "1,x"]),
        ),
        ("target-svals", "target_svals", "svals"),
    ),
    ("--flow", _text.filter(lambda s: s not in ("gf", "specgf")), ("flow",)),
    (
        "--beta",
        st.one_of(
            st.floats(max_value=0.0, allow_nan=False, allow_infinity=False).map(_num), _not_number
        ),
        ("beta",),
    ),
    ("--gamma", st.one_of(_nonpos.map(_num), _not_number), ("gamma",)),
    ("--init", _text.filter(lambda s: s not in ("lora", "gaussian")), ("init",)),
    (
        "--l2",
        st.one_of(st.floats(max_value=-1e-300, allow_nan=False).map(_num), _not_number),
        ("l2",),
    ),
    (
        "--method",
        st.one_of(
            _text.filter(lambda s: s != "adaptive"),
            st.sampled_from(["muon:0", "ns:-1", "gd:nan", "specgd-smooth:x"]),
        ),
        ("method", "steps", "flow", "t1"),
    ),
    (
        "--momentum",
        st.one_of(st.sampled_from(["1", "1.5", "-0.1", "inf"]), _not_number),
        ("momentum",),
    ),
    (
        "--shape-scale",
        _text.filter(lambda s: s not in ("none", "original", "match_rms_adamw")),
        ("shape_scale", "shape-scale"),
    ),
    (
        "--ns-dtype",
        _text.filter(lambda s: s not in ("float64", "float32", "bfloat16")),
        ("ns_dtype", "ns-dtype"),
    ),
    ("--n-save", st.sampled_from(["1", "0", "x"]), ("n_save", "n-save")),
]


def _case(table):
    return st.sampled_from(table).flatmap(
        lambda row: st.tuples(st.just(row[0]), row[1], st.just(row[2]))
    )


@SETTINGS
@given(case=_case(DMF_BAD))
def test_simulate_dmf_bad_values(case, capsys):
    flag, value, names = case
    argv = DMF + [flag, value]
    if flag == "--steps":
        argv += ["--method", "gd:0.1"]
    _check(argv, names + (flag,), capsys)


@SETTINGS
@given(case=_case(LORA_BAD))
def test_simulate_lora_bad_values(case, capsys):
    flag, value, names = case
    argv = LORA + ["--t1", "1"] + [flag, value]
    if flag == "--method":
        argv = LORA + [flag, value]  # discrete methods then lack --steps: also a named error
    _check(argv, names + (flag,), capsys)


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (DMF + ["--t1", "1", "--until-converged"], ("--until-converged", "--t1")),
        (LORA + ["--t1", "1", "--steps", "3"], ("--steps", "--t1")),
        (LORA + ["--flow", "gf", "--method", "muon:0.1", "--steps", "3"], ("flow",)),
        (LORA + ["--flow", "specgf", "--beta", "0", "--t1", "1"], ("beta",)),
        (LORA + ["--method", "gd:0.1", "--flow", "gf", "--t1", "1"], ("t1",)),
        (DMF + ["--bogus", "1"], ("--bogus",)),
        (["simulate", "cnn"], ("cnn",)),
        (["simulate", "dmf", "--n", "2"], ("--depth",)),
    ],
)
def test_conflicting_and_unknown_flags(argv, names, capsys):
    _check(argv, names, capsys)


# ----------------------------------------------------------------------------- gflab sweep


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return (
            "nan"
            if math.isnan(v)
            else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
        )
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def _spec_text(model, base: dict, grid: dict, top: dict) -> str:
    lines = [f"model = {_toml_value(model)}"] + [
        f"{json.dumps(k)} = {_toml_value(v)}" for k, v in top.items()
    ]
    lines += ["[base]"] + [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in base.items()]
    lines += ["[grid]"] + [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in grid.items()]
    return "\n".join(lines) + "\n"


BASE = {"n": 2, "m": 3.0, "t1": 1.0, "n_save": 4}
_junk = st.one_of(
    _text.filter(lambda s: s not in ("inf", "-inf")),
    st.booleans(),
    st.just(float("nan")),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(_text, st.integers(), max_size=1),
)
# fields of DMFConfig and values each rejects, whatever else is in the spec
SPEC_BAD = [
    (
        "depth",
        st.one_of(st.integers(max_value=1), _junk.filter(lambda v: not isinstance(v, list))),
        "depth",
    ),
    (
        "n",
        st.one_of(st.integers(max_value=0), _junk.filter(lambda v: not isinstance(v, list))),
        "n",
    ),
    (
        "alpha",
        st.one_of(_nonpos, st.just(math.inf), _junk.filter(lambda v: not isinstance(v, list))),
        "alpha",
    ),
    (
        "init",
        _junk.filter(
            lambda v: v not in ("mimic", "gaussian", "tied-gaussian", "identity", "orthogonal")
        ),
        "init",
    ),
    ("mask", _junk.filter(lambda v: v not in ("diagonal", "superdiag")), "mask"),
    ("target", _junk.filter(lambda v: v != "ones"), "target"),
    ("method", _junk.filter(lambda v: v != "adaptive"), "method"),
    ("seed", st.one_of(st.integers(max_value=-1), _junk), "seed"),
    ("rtol", st.one_of(_nonpos, _junk), "rtol"),
    ("max_steps", st.one_of(st.integers(max_value=0), _junk), "max_steps"),
]


@SETTINGS
@given(
    row=st.sampled_from(SPEC_BAD).flatmap(lambda r: st.tuples(st.just(r[0]), r[1], st.just(r[2]))),
    where=st.sampled_from(["base", "grid"]),
)
def test_sweep_bad_spec_values(row, where, tmp_path, capsys):
    field, value, name = row
    base, grid = dict(BASE), {"depth": [2]}
    if where == "base":
        base[field] = value
        if field == "depth":
            grid = {"alpha": [0.1]}
    else:
        grid[field] = [value]
    spec = tmp_path / "bad.toml"
    spec.write_text(_spec_text("dmf", base, grid, {}))
    _check(
        ["sweep", str(spec), "--store", str(tmp_path / "s"), "--quiet"],
        (name, "grid", "base", "spec", "mask", "p:", "blocks", "rank"),
        capsys,
    )


# executors that name a known kind with a bad value (the rest of the bad ones are random text)
BAD_EXECUTORS = (
    "local:0",
    "local:-1",
    "dask-local:0",
    "dask://x",
    "dask://h:0",
    "local:1.5",
    "dask-local:257",
)


@SETTINGS
@given(
    executor=st.one_of(_text, st.sampled_from(BAD_EXECUTORS)).filter(
        lambda s: (
            s not in ("local",)
            and not s.startswith(("local:", "dask-local:", "dask://"))
            or s in BAD_EXECUTORS
        )
    )
)
def test_sweep_bad_executor(executor, tmp_path, capsys):
    spec = tmp_path / "ok.toml"
    spec.write_text(_spec_text("dmf", BASE, {"depth": [2]}, {}))
    _check(
        ["sweep", str(spec), "--executor", executor, "--store", str(tmp_path / "s")],
        ("executor",),
        capsys,
    )


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("model = 'cnn'\n", ("model",)),
        ("model = 'dmf'\n[grid]\ndepth = [\n", ("SPEC", "TOML")),
        ("model = 'dmf'\nseeds = [1, 1]\n[base]\ndepth = 2\nn = 2\n", ("seeds",)),
        (
            "model = 'dmf'\nseeds = [1]\n[base]\ndepth = 2\nn = 2\n[grid]\nseed = [1, 2]\n",
            ("seeds",),
        ),
        ("model = 'dmf'\nrunner = 'os:nope'\n[base]\ndepth = 2\nn = 2\n", ("runner",)),
        ("model = 'dmf'\ncolour = 1\n", ("spec",)),
        ("model = 'lora'\n[base]\nrank = 80\nt1 = 1.0\nbeta = 1e-6\n", ("rank",)),
        ("\xff\xfe", ("SPEC",)),
    ],
)
def test_sweep_bad_spec_documents(text, names, tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_bytes(text.encode("latin-1"))
    _check(["sweep", str(spec), "--store", str(tmp_path / "s")], names, capsys)


def test_sweep_bad_paths_and_conflicting_flags(tmp_path, capsys):
    spec = tmp_path / "ok.toml"
    spec.write_text(_spec_text("dmf", BASE, {"depth": [2]}, {}))
    _check(["sweep", str(tmp_path / "missing.toml")], ("SPEC",), capsys)
    _check(["sweep", str(tmp_path)], ("SPEC",), capsys)  # a folder
    _check(["sweep", str(spec), "--store", str(spec)], ("store",), capsys)  # a file, not a folder
    _check(["sweep", str(spec), "--force", "--dry-run"], ("--dry-run", "--force"), capsys)
    _check(["sweep"], ("SPEC",), capsys)
    _check(["sweep", str(spec), "--executor"], ("--executor",), capsys)


# ============================================================================ the schema fuzz
# Random options of every subcommand (read from the parser itself, so a new flag is fuzzed the day
# it is added) with edge values: huge, tiny, NaN, negative, empty, duplicated lists, junk text.
# The work each command would start (a simulation, training, rendering, a sweep, claims) is
# replaced by a sentinel: a command line either reaches its work (every check passed) or is
# refused with exit 2 and one line naming a parameter. Validation runs under tracemalloc with a
# 64 MiB budget (GFLAB_MAX_MEMORY): nothing the size of the input may be allocated before the
# check that refuses it.

BUDGET = 64 * 2**20
# what Python and NumPy may allocate beyond the budget while parsing and validating (the parser,
# imports already done, small arrays): a re-introduced n×n temporary is far above it
SLACK = 32 * 2**20
EDGE = [
    "0", "-1", "1", "2", "2.5", "1e308", "-1e308", "1e-320", "nan", "inf", "-inf", "1e999",
    "1000000000000", "9223372036854775808", "", " ", "x", "é", "1,1", "0,0", "a,a", "1,,2",
    ",", "1,2,3,4,5,6,7,8,9", "-0", "0x10", "1_000",
]  # fmt: skip


class _Reached(BaseException):
    """The command passed every check and started its work."""


def _reached(*args, **kwargs):
    raise _Reached


class _Bench:
    run_bench = staticmethod(_reached)


@pytest.fixture
def no_work(monkeypatch, tmp_path):
    """Every command's work replaced by :class:`_Reached`; store and outputs under tmp_path."""
    import gflab.figures.demos  # noqa: F401  (the submodules patched below, by attribute)
    import gflab.figures.registry  # noqa: F401
    import gflab.proofs_checks.runner  # noqa: F401
    import gflab.sims.bridge.bench  # noqa: F401
    import gflab.sims.bridge.dmf_run  # noqa: F401
    import gflab.sims.bridge.lora_run  # noqa: F401
    import gflab.sims.bridge.warmstart  # noqa: F401
    import gflab.sims.dash  # noqa: F401
    import gflab.sims.plasticity  # noqa: F401
    import gflab.sims.river  # noqa: F401
    import gflab.sims.sweep  # noqa: F401
    from gflab import figures, proofs_checks, sims

    for mod, name in [
        (sims, "simulate_dmf"),
        (sims, "simulate_lora"),
        (sims.plasticity, "simulate_plasticity"),
        (sims.dash, "stored_dash"),
        (sims.river, "stored_river"),
        (sims.bridge.dmf_run, "import_torch"),  # after the run's own budget check
        (sims.bridge.lora_run, "import_torch"),
        (sims.bridge.warmstart, "import_torch"),
        (sims.bridge.bench, "probe_overhead"),
        (sys.modules["gflab.figures.registry"], "render"),  # the package's `registry` is a function
        (proofs_checks.runner, "run_claims"),
        (sims.sweep, "run_sweep"),
        (figures.demos, "render"),
        (figures.demos, "warm"),
        (figures.demos, "open_window"),
    ]:
        monkeypatch.setattr(mod, name, _reached)
    from gflab.sims.models import MODELS

    for model in MODELS.values():  # `gflab simulate MODEL` runs model.run (through the store)
        monkeypatch.setattr(type(model), "run", _reached)
    monkeypatch.setattr("gflab.figures.demos.web.write_html", _reached)
    monkeypatch.setattr("gflab.cli.bench.load_benchmarks", lambda: _Bench)
    import dataclasses

    import gflab.proofs_checks.registry as registry

    every = registry.claims()
    monkeypatch.setattr(
        registry,
        "claims",
        lambda: {
            k: dataclasses.replace(c, beyond=_reached if c.beyond else None)
            for k, c in every.items()
        },
    )
    monkeypatch.setenv("GFLAB_MAX_MEMORY", str(BUDGET))
    monkeypatch.setenv("GFLAB_STORE", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "spec.toml"
    spec.write_text('model = "dmf"\n[base]\ndepth = 2\nn = 2\nt1 = 1.0\n[grid]\nalpha = [0.1]\n')
    return tmp_path


def _parsers():
    """(subcommand words, parser) of every leaf command of ``gflab``."""
    from gflab.cli import build_parser

    def walk(words, parser):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield words, parser
            return
        for name, sub in subs[0].choices.items():
            yield from walk(words + (name,), sub)

    return dict(walk((), build_parser()))


# leaf commands, and a positional argument each needs (the spec file, a demo name)
_COMMANDS = sorted(_parsers())
_POSITIONAL = {("sweep",): ["spec.toml"], ("demo",): ["depth"]}


def _options(words):
    parser = _parsers()[words]
    return [
        a
        for a in parser._actions
        if a.option_strings and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))
    ]


@st.composite
def _command_lines(draw, commands=tuple(_COMMANDS)):
    words = draw(st.sampled_from(commands))
    actions = _options(words)
    argv = list(words) + _POSITIONAL.get(words, [])
    for a in draw(st.lists(st.sampled_from(actions), min_size=1, max_size=4)) if actions else []:
        argv.append(draw(st.sampled_from(a.option_strings)))
        if a.nargs == 0:
            continue
        choices = [str(c) for c in a.choices] if a.choices else []
        value = draw(st.one_of(st.sampled_from(EDGE + choices), _text))
        argv.append(value)
    return argv


def _run_validation(argv) -> tuple[str, int, str, float]:
    """(outcome, peak bytes, the error text, seconds) of ``gflab argv`` with the work replaced
    (the error text: stderr, or stdout's JSON error object with ``--json``)."""
    out, err = io.StringIO(), io.StringIO()
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
                outcome = f"exit {code}"
            except SystemExit as e:
                outcome = f"exit {e.code}"
            except _Reached:
                outcome = "reached"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    text = err.getvalue()
    if "--json" in argv and outcome == "exit 2":
        doc = json.loads(out.getvalue())  # one JSON object, nothing else
        text += "gflab: error: " + doc["error"]["parameter"] + ": " + doc["error"]["message"]
    return outcome, peak, text, time.perf_counter() - t0


def _assert_answer(argv, outcome, peak, err, seconds):
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, (argv, err)
    assert peak < BUDGET + SLACK, (argv, outcome, f"{peak / 2**20:.0f} MiB allocated")
    assert seconds < 20, (argv, outcome, seconds)
    if outcome == "exit 2":
        assert len(lines) == 1, (argv, err)
        assert lines[0].startswith("gflab") and ": error: " in lines[0], (argv, lines[0])
    else:
        assert outcome in ("reached", "exit 0", "exit 1"), (argv, outcome, err)


def _fuzz(settings_):
    @settings_
    @given(argv=_command_lines())
    def check(argv, no_work):
        _assert_answer(argv, *_run_validation(argv))

    return check


FUZZ_FAST = settings(SETTINGS, max_examples=60)
FUZZ_SLOW = settings(SETTINGS, max_examples=1500, derandomize=False)

test_schema_fuzz_every_command = _fuzz(FUZZ_FAST)
test_schema_fuzz_every_command_thorough = pytest.mark.slow(_fuzz(FUZZ_SLOW))


# ----------------------------------------------------------------------------- sizes

_SIZE = st.one_of(
    st.floats(0, 7).map(lambda x: int(10**x)),  # log-uniform in [1, 1e7]: what fits and what not
    st.integers(-2, 3),
    st.sampled_from([10**9, 10**12, 2**63, 10**30]),
)
# the flags that size memory or time, per model (a base that is valid at small sizes)
SIZE_FLAGS = {
    "dmf": (["--t1", "1"], ["--depth", "--n", "--n-save"]),
    "lora": (["--target-svals", "1", "--rank", "1", "--t1", "1"], ["--rows", "--cols", "--n-save"]),
    "river": ([], ["--rows", "--cols", "--bulk", "--steps"]),
    "dmf-dash": ([], ["--depth", "--n", "--n-save"]),
}


def _size_fuzz(settings_):
    @settings_
    @given(data=st.data())
    @example(data=None)  # below: a 8192 × 7 LoRA problem, within budget (the attack's shape)
    def check(model, data, no_work):
        base, flags = SIZE_FLAGS[model]
        argv = ["simulate", model, *base]
        if data is None:
            argv += {"lora": ["--rows", "8192", "--cols", "7"]}.get(model, [])
        else:
            for flag in flags:  # every size at once: products overflow, budgets must not
                argv += [flag, str(data.draw(_SIZE, label=flag))]
        outcome, peak, err, seconds = _run_validation(argv)
        target(float(peak), label="bytes allocated")  # search toward the largest allocation
        _assert_answer(argv, outcome, peak, err, seconds)

    return pytest.mark.parametrize("model", sorted(SIZE_FLAGS))(check)


test_size_fuzz_validation_stays_within_budget = _size_fuzz(settings(SETTINGS, max_examples=12))
test_size_fuzz_thorough = pytest.mark.slow(
    _size_fuzz(settings(SETTINGS, max_examples=300, derandomize=False))
)


def test_size_fuzz_catches_an_identity_allocated_before_the_size_check(no_work, monkeypatch):
    """Re-introduce the bug the attack found (``np.eye(rows)`` in the LoRA target's validation,
    before any size check): the size fuzz must fail on it."""
    import numpy as np

    from gflab import theory

    real = theory.lora.spectral_target

    def with_identity(rows, cols, svals, seed=None):
        np.eye(rows)  # the rows × rows identity of the old code
        return real(rows, cols, svals, seed)

    monkeypatch.setattr(theory.lora, "spectral_target", with_identity)
    monkeypatch.setattr("gflab.sims.config._lora.spectral_target", with_identity)
    with pytest.raises(AssertionError, match="MiB allocated"):
        test_size_fuzz_validation_stays_within_budget(model="lora", no_work=no_work)


# ----------------------------------------------------------------------------- whole runs

# a second budget bounds what an accepted run may cost: GFLAB_MAX_SECONDS
_RIVER_FLAGS = ["--rows", "--cols", "--bulk", "--h-bulk", "--h-wall", "--noise", "--lr",
                "--lr-gd", "--steps", "--beta", "--tau", "--seed"]  # fmt: skip


@st.composite
def _river_lines(draw):
    argv = ["simulate", "river", "--json"]
    for flag in draw(st.lists(st.sampled_from(_RIVER_FLAGS), min_size=1, max_size=4)):
        argv += [flag, draw(st.one_of(st.sampled_from(EDGE), _SIZE.map(str)))]
    return argv


def _river_fuzz(settings_, seconds):
    @settings_
    @given(argv=_river_lines())
    def check(argv, tmp_path, monkeypatch):
        """Whole river runs (no sentinel): exit 0 with finite numbers, 1 with status diverged,
        or 2 with one JSON error; the time budget bounds every accepted run."""
        monkeypatch.setenv("GFLAB_MAX_SECONDS", seconds)
        monkeypatch.setenv("GFLAB_STORE", str(tmp_path / "store"))
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code
        assert "Traceback" not in err.getvalue()
        doc = json.loads(out.getvalue())  # allow_nan=False printing: no NaN can pass
        expected = {0: "finished", 1: "diverged"}.get(code)
        assert doc.get("status") == expected if expected else "parameter" in doc["error"], argv

    return check


test_river_runs_fuzz = _river_fuzz(settings(SETTINGS, max_examples=20), "0.05")
test_river_runs_fuzz_thorough = pytest.mark.slow(
    _river_fuzz(settings(SETTINGS, max_examples=300, derandomize=False), "2")
)
