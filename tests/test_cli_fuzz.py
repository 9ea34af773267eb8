"""The CLI under generated bad arguments: exit code 2, one line naming the parameter, no traceback.

Every generated command line is invalid by construction (a known-good base plus one bad value, an
unknown name, or two conflicting flags), so nothing is simulated: each example costs milliseconds.
``gflab.cli.main`` runs in-process; argparse's own errors arrive as SystemExit(2).
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
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
