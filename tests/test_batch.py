"""Batched sweeps (``run_sweep(batch="vmap")``, ``gflab sweep --batch``): the configurations of
one compiled program solved as one vectorised solve, stored as the one-by-one loop stores them;
and the programs a sweep's parent compiles so that no two workers do (warm_shared_programs).

Oracle: the same sweep with ``batch="loop"`` (each configuration's own compiled solve, the code
path every other test checks against closed forms and SciPy). Under ``jax.vmap`` each member
keeps its own step-size controller and stop events, so a member's solve is its own, computed with
batched arithmetic that may sum in another order: the two agree to rounding, amplified along the
trajectory (measured 8e-12 absolute on O(1) statistics, n ≤ 8, rtol 1e-8, t = 20), and with the
same accepted and rejected steps. They are compared at the solver's tolerance, 1e-7 relative to
each series' scale: a larger difference would be a different solve, not rounding.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gflab.sims.config import DMFConfig
from gflab.sims.methods import Adaptive
from gflab.sims.store import ResultStore
from gflab.sims.sweep import run_sweep
from gflab.sims.sweep._batch import resolve_batch
from gflab.theory.errors import GflabInputError

_METHOD = Adaptive(rtol=1e-8, atol=1e-12, solver="tsit5", max_steps=3000)
# n 5..8, depth 3: one shape bucket (8 × 8, depth 4), so one compiled program. α = 1e3 is so
# stiff that its solve stalls (status max_steps at 3000 steps; the others need < 700): a failing
# member while the others run on in the same batched loop
_CASES = [(5, 1e-2, 0), (6, 3e-2, 1), (7, 1e-1, 2), (8, 1e-2, 3), (6, 1e3, 4)]


def _configs():
    return [
        DMFConfig(
            depth=3,
            n=n,
            init="gaussian",
            alpha=a,
            mask="bernoulli:0.6",
            target="lowrank:2",
            seed=s,
            t1=20.0,
            n_save=12,
            method=_METHOD,
        )  # fmt: skip
        for n, a, s in _CASES
    ]


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    configs = _configs()
    out = {}
    for batch in ("loop", "vmap"):
        store = ResultStore(tmp_path_factory.mktemp(batch))
        out[batch] = (store, run_sweep(configs, store, "local:1", batch=batch))
    return configs, out


def test_vmap_sweep_batches_every_configuration(sweeps):
    _, out = sweeps
    loop, vmap = out["loop"][1], out["vmap"][1]
    assert (vmap.done, vmap.failed, vmap.batched, vmap.batch) == (
        len(_CASES),
        0,
        len(_CASES),
        "vmap",
    )
    assert (loop.batched, loop.batch) == (0, "loop")
    assert vmap.statuses == loop.statuses
    assert vmap.statuses == {"t1_reached": len(_CASES) - 1, "max_steps": 1}  # α = 1e3 alone


@pytest.mark.parametrize("i", range(len(_CASES)), ids=[f"n{n}-a{a:g}" for n, a, _ in _CASES])
def test_vmap_stores_what_the_loop_stores(sweeps, i):
    configs, out = sweeps
    a = out["loop"][0].get(configs[i])
    b = out["vmap"][0].get(configs[i])
    assert out["loop"][0].key(configs[i]) == out["vmap"][0].key(configs[i])
    assert (b.status, sorted(b.series), sorted(b.final)) == (
        a.status,
        sorted(a.series),
        sorted(a.final),
    )
    assert (b.stats["steps"], b.stats["rejected_steps"]) == (
        a.stats["steps"],
        a.stats["rejected_steps"],
    )
    # every saved series and final measurement, relative to its own scale
    pairs = {f"series.{k}": (v, b.series[k]) for k, v in a.series.items()}
    pairs |= {f"final.{k}": (v, b.final[k]) for k, v in a.final.items() if _numeric(v)}
    worst = {k: _relative(x, y) for k, (x, y) in pairs.items()}
    assert max(worst.values()) <= 1e-7, worst


def _numeric(v) -> bool:
    return np.asarray(v).dtype.kind in "fiu"


def _relative(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    both = np.isfinite(x) & np.isfinite(y)
    if not np.array_equal(np.isfinite(x), np.isfinite(y)):
        return np.inf
    scale = max(float(np.max(np.abs(x[both]), initial=0)), 1e-300)
    return float(np.max(np.abs(x[both] - y[both]), initial=0)) / scale


@pytest.mark.parametrize(
    "platforms, batch", [("cpu", "loop"), ("cuda", "vmap"), ("rocm,cpu", "vmap")]
)
def test_auto_reads_the_backend_without_starting_one(monkeypatch, platforms, batch):
    """Before any backend runs (a sweep's parent), ``auto`` follows JAX_PLATFORMS: starting a
    GPU backend there would take the GPU's memory from the workers."""
    from jax._src import xla_bridge

    monkeypatch.setattr(xla_bridge, "backends_are_initialized", lambda: False)
    old = jax.config.jax_platforms  # read when a backend starts: this one has started already
    jax.config.update("jax_platforms", platforms)
    try:
        assert resolve_batch("auto") == batch
    finally:
        jax.config.update("jax_platforms", old)


def test_auto_is_the_loop_on_cpu_and_bad_values_name_the_parameter():
    assert resolve_batch("auto") == ("loop" if jax.default_backend() == "cpu" else "vmap")
    with pytest.raises(GflabInputError, match="batch"):
        resolve_batch("vectorised")


# ----------------------------------------------------------------------------- engine level
# dy/dt = k y² (elementwise), y(t) = y0 / (1 − k y0 t): k > 0 blows up at t = 1/(k y0)


def _quadratic(t, y, args):
    return (args["k"] * y[0] ** 2,)


def _value(t, y, args):
    return {"y": y[0]}


def _size(y, args):
    return jnp.sum(y[0] ** 2)


_KS = (-1.0, -0.5, 0.3, 2.0)  # 2.0 blows up at t = 0.5 < t1 = 1: diverged, the others finish
_Y0 = np.array([1.0, 0.5])


@pytest.fixture(scope="module")
def quadratic():
    from gflab.sims import engine

    def call(k):
        return engine.FlowCall(
            Adaptive(rtol=1e-10, atol=1e-12, solver="tsit5"), _quadratic, _value, _size,
            (engine.put(_Y0),), {"k": engine.put(k)}, 1.0, np.linspace(0.0, 1.0, 5), 0.0, 1e6,
        )  # fmt: skip

    calls = [call(k) for k in _KS]
    return engine.solve_flows(calls), [c.solve() for c in calls]


@pytest.mark.parametrize("i", range(len(_KS)), ids=[f"k{k:g}" for k in _KS])
def test_batched_members_are_their_own_solves(quadratic, i):
    """Each member: the single solve's status, steps and saved values (to rounding: 1e-12
    relative, far below rtol 1e-10), and for the finite ones the closed form at t = 1 (within
    100 × rtol: the global error of a solve at rtol 1e-10 over one unit of time)."""
    batched, single = quadratic
    b, s = batched[i], single[i]
    assert (b.status, b.steps, b.rejected_steps) == (s.status, s.steps, s.rejected_steps)
    np.testing.assert_allclose(b.saved["y"], s.saved["y"], rtol=1e-12)
    np.testing.assert_allclose(b.times, s.times, rtol=1e-12)
    if _KS[i] < 1.0:
        assert b.status == "t1_reached"
        np.testing.assert_allclose(b.final_state[0], _Y0 / (1 - _KS[i] * _Y0), rtol=1e-8)
    else:  # stopped at the bound: Σy² > 1e6, just before the blow-up at t = 0.5
        assert b.status == "diverged"
        assert 0.49 < b.final_time < 0.5 and np.sum(b.final_state[0] ** 2) > 1e6


# ----------------------------------------------------------------------------- shared programs
# equinox evaluates its solver-outcome enumerations eagerly while a flow solve is traced (tiny
# `jit_stage` / `jit_convert_element_type` programs); a sweep's parent compiles them before its
# workers start (warm_shared_programs), so that no two workers compile them at the same moment

_PROBE = r"""
import functools, json, os, sys
import numpy as np
import jax, jax.numpy as jnp
from gflab.sims import engine
from gflab.sims._jaxsetup import compile_counts
from gflab.sims.methods import Adaptive
from gflab.sims.sweep._programs import warm_shared_programs

cache = sys.argv[1]
files = lambda: {f for f in os.listdir(cache) if f.startswith(("jit_stage", "jit_convert"))}
warm_shared_programs()
warmed = files()
jax.clear_caches()  # the eager programs are looked up again: from the persistent cache
before = compile_counts()["hits"]
solve = functools.partial(
    engine.flow_solve_impl, Adaptive(), lambda t, y, a: -y, lambda t, y, a: {"y": y},
    lambda y, a: jnp.sum(y ** 2), root_find=True,
)
put = engine.put  # device_put of NumPy values: no eager program of the test's own
args = (put(np.ones(2)), None, put(1.0), put(np.linspace(0, 1, 3)), put(1e-3), put(1e6))
jax.eval_shape(solve, *args)
print(json.dumps({"warmed": sorted(warmed), "new": sorted(files() - warmed),
                  "hits": compile_counts()["hits"] - before}))
"""


def test_the_parent_compiles_the_solves_eager_library_programs(tmp_path):
    """After warm_shared_programs, tracing a flow solve compiles none of the library's eager
    programs: each is a persistent-cache hit (a hit count of 0 would mean the trace did not
    look them up at all, and the test would prove nothing)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "GFLAB_JAX_CACHE": str(tmp_path), "GFLAB_EXPORT": "0"}
    out = subprocess.run(
        [sys.executable, "-P", "-c", _PROBE, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(got["warmed"]) == 4  # two offset tables (stage), bool and index conversions
    assert got["new"] == []
    assert got["hits"] >= 4


@pytest.mark.parametrize("as_json", [False, True])
def test_cli_batch_other_than_auto_vmap_loop_is_one_line_exit_2(tmp_path, capsys, as_json):
    from gflab.cli import main

    spec = tmp_path / "s.toml"
    spec.write_text('model = "dmf"\n[base]\nn = 4\ndepth = 2\n')
    argv = ["sweep", str(spec), "--batch", "vectorised", *(["--json"] if as_json else [])]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    out, err = capsys.readouterr()
    if as_json:
        e = json.loads(out)["error"]
        assert e["parameter"] == "batch" and "vmap" in e["message"], e
    else:
        assert "--batch" in err.strip().splitlines()[-1] and "vmap" in err, err
