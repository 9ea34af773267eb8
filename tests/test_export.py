"""Saved executables (gflab.sims._export): the engine's solves kept on disk with jax.export.

Oracles: the same solve jitted as before (``GFLAB_EXPORT=0``): a saved program must give the
same accepted and rejected steps, status, saved statistics and final state, bit for bit (it is
the same StableHLO, compiled by the same XLA); jax's own accounting (jax.monitoring trace and
compile events, :func:`gflab.sims._jaxsetup.compile_counts`) for "a later process neither traces
nor compiles"; and the file itself (a damaged, truncated or foreign entry is ignored, rebuilt
and replaced by one that loads).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gflab.sims import _export, _jaxsetup
from gflab.sims._jaxsetup import compile_counts
from gflab.sims.config import DMFConfig, LoRAConfig
from gflab.sims.dmf import dmf_problem, solve_dmf_from
from gflab.sims.engine import iterate, solve_flow_batch
from gflab.sims.lora import lora_problem, solve_lora_from
from gflab.sims.methods import GD, SpecGD

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def saved_dir(tmp_path, monkeypatch):
    """Saved executables on, in a folder of this test's own; nothing held in memory before."""
    folder = tmp_path / "exported"
    monkeypatch.setenv("GFLAB_EXPORT", "1")
    monkeypatch.setenv("GFLAB_EXPORT_DIR", str(folder))
    _export.forget()
    yield folder
    _export.forget()


def _delta(before: dict) -> dict:
    after = compile_counts()
    return {k: after[k] - before[k] for k in before if k.startswith("export_")}


# ----------------------------------------------------------------------------- small problems

_TARGET = jnp.asarray(np.diag([3.0, 2.0, 1.0]) + 0.1)


def _field(t, y, a):
    return -(y - a["target"]) * (1.0 + jnp.sum(y * y))


def _stats(t, y, a):  # an SVD: the LAPACK custom call an export must allow
    return {"sv": jnp.linalg.svd(y, compute_uv=False), "loss": _monitor(y, a)}


def _monitor(y, a):
    return 0.5 * jnp.sum((y - a["target"]) ** 2)


def _gradient(y, a):
    return y - a["target"]


def _tiny_gd(method=None, steps=20):
    """A few GD steps on ½‖Y − target‖²: the cheapest program to export (no diffrax)."""
    method = method if method is not None else GD(lr=0.1)
    y0, args = jnp.eye(3) * 0.5, {"target": _TARGET}
    return iterate(method, _gradient, _stats, _monitor, y0, args, steps=steps, save_every=5)


def _tiny_gd_float32():
    """float32 parameters, a Python-number learning rate: the rate must stay weakly typed in the
    saved program, as in the jitted one (a float64 rate would promote the update to float64)."""
    y0, args = jnp.eye(3, dtype=jnp.float32) * 0.5, {"target": _TARGET.astype(jnp.float32)}
    with jax.numpy_dtype_promotion("standard"):  # the engine compares a float32 loss with tol
        out = iterate(GD(lr=0.1), _gradient, _stats, _monitor, y0, args, steps=20, save_every=5)
    assert out.final_state.dtype == np.float32
    return out


def _dmf_flow():
    cfg = DMFConfig(
        depth=3, n=4, init="mimic", alpha=1e-2, m=10.0, mask="diagonal", target="ones", t1=5.0
    )
    return solve_dmf_from(cfg, *dmf_problem(cfg))


def _dmf_gd():
    base = dict(depth=3, n=4, init="gaussian", alpha=0.5, mask="superdiag", target="lowrank:1")
    cfg = DMFConfig(**base, method="gd:0.05", steps=60)
    return solve_dmf_from(cfg, *dmf_problem(cfg))


def _lora_flow():
    cfg = LoRAConfig(
        rows=6, cols=7, rank=3, target_svals=(1.0, 4.0, 9.0), gamma=1e-3, flow="gf", t1=2.0
    )
    return solve_lora_from(cfg, *lora_problem(cfg))


def _batch():
    y0 = jnp.stack([jnp.eye(3) * 0.5, jnp.eye(3) * 0.25])
    ts = np.linspace(0.0, 2.0, 5)
    args = {"target": _TARGET}
    return solve_flow_batch(_field, _stats, _monitor, y0, args, strategy="vmap", t1=2.0, save_ts=ts)


def _assert_same(a, b) -> None:
    """Bit-equal: same status, steps, grid, statistics and state."""
    for ra, rb in zip(
        a if isinstance(a, list) else [a], b if isinstance(b, list) else [b], strict=True
    ):
        assert (ra.status, ra.steps, ra.rejected_steps) == (rb.status, rb.steps, rb.rejected_steps)
        assert ra.final_time == rb.final_time
        np.testing.assert_array_equal(ra.times, rb.times)
        assert sorted(ra.saved) == sorted(rb.saved)
        for k in ra.saved:
            np.testing.assert_array_equal(ra.saved[k], rb.saved[k], err_msg=k)
        for x, y in zip(
            jax.tree_util.tree_leaves(ra.final_state),
            jax.tree_util.tree_leaves(rb.final_state),
            strict=True,
        ):
            np.testing.assert_array_equal(x, y)


SOLVES = {
    "dmf_flow": _dmf_flow,
    "dmf_gd": _dmf_gd,
    "gd_float32": _tiny_gd_float32,
    "lora_flow": _lora_flow,
    "vmap_batch": _batch,
}
# the DMF flow (diffrax, events, an SVD) and GD (the discrete loop) by default; the rest is the
# same code path with other fields (slow: each costs two traces and two compiles)
_SLOW = {"lora_flow", "vmap_batch"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in _SLOW else n for n in sorted(SOLVES)]
)
def test_saved_solve_equals_the_jitted_one(name, saved_dir, monkeypatch):
    solve = SOLVES[name]
    before = compile_counts()
    got = solve()  # exported, written, and run from the exported program
    assert _delta(before)["export_misses"] == 1
    assert len(list(saved_dir.glob("*.jaxexport"))) == 1
    _export.forget()
    before = compile_counts()
    again = solve()  # read back: the file, not a trace
    d = _delta(before)
    assert (d["export_hits"], d["export_misses"]) == (1, 0)
    monkeypatch.setenv("GFLAB_EXPORT", "0")
    before = compile_counts()
    plain = solve()
    assert set(_delta(before).values()) == {0}  # nothing saved or read with the switch off
    _assert_same(got, plain)
    _assert_same(again, plain)


def _header(blob: bytes) -> tuple[dict, bytes]:
    """(key, payload) of a saved file (the layout sims/_export.py writes)."""
    pos = len(_export._MAGIC)
    n = int.from_bytes(blob[pos : pos + 8], "little")
    return json.loads(blob[pos + 8 : pos + 8 + n]), blob[pos + 8 + n + 32 :]


def _key_json(blob: bytes) -> bytes:
    return json.dumps(_header(blob)[0], sort_keys=True).encode()


def _other_version(blob: bytes) -> bytes:
    key, payload = _header(blob)
    key["versions"]["jax"] = "0.0.1"  # a file copied from another installation
    return _export._encode(json.dumps(key, sort_keys=True).encode(), payload)


DAMAGE = {
    "garbage": lambda b: os.urandom(len(b)),
    "empty": lambda b: b"",
    "truncated": lambda b: b[: len(b) // 2],
    "flipped_byte": lambda b: b[:-100] + bytes([b[-100] ^ 0xFF]) + b[-99:],
    "other_version": _other_version,
    # the right key and a valid checksum over bytes that are no program
    "not_a_program": lambda b: _export._encode(_key_json(b), b"\x00" * 64),
}


@pytest.fixture(scope="module")
def good_entry(tmp_path_factory):
    """One saved GD program (its file's bytes) and its result, shared by the damage cases."""
    folder = tmp_path_factory.mktemp("exported")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GFLAB_EXPORT", "1")
        mp.setenv("GFLAB_EXPORT_DIR", str(folder))
        _export.forget()
        reference = _tiny_gd()
        _export.forget()
    (path,) = folder.glob("*.jaxexport")
    return path.name, path.read_bytes(), reference


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_entry_is_rebuilt_not_fatal(damage, good_entry, saved_dir):
    name, good, reference = good_entry
    path = saved_dir / name
    saved_dir.mkdir()
    path.write_bytes(DAMAGE[damage](good))
    before = compile_counts()
    res = _tiny_gd()
    d = _delta(before)
    assert (d["export_rejected"], d["export_misses"], d["export_hits"]) == (1, 1, 0)
    _assert_same(res, reference)
    # the entry was replaced by a complete one of this key that deserialises
    jax.export.deserialize(bytearray(_export._decode(path.read_bytes(), _key_json(good))))


def test_a_changed_method_is_another_program(saved_dir):
    """The key follows what the program computes: another method (a static field, a class) or
    another step count is another file; another learning rate (a leaf) reuses the file."""
    _tiny_gd(GD(lr=0.1))
    _tiny_gd(GD(lr=0.2))
    assert len(list(saved_dir.glob("*.jaxexport"))) == 1
    _tiny_gd(SpecGD(lr=0.1))
    _tiny_gd(GD(lr=0.1), steps=30)
    assert len(list(saved_dir.glob("*.jaxexport"))) == 3


def _make_scaled(c):
    def f(t, y, a):
        return -c * y

    return f


def test_describe_follows_closures_and_code():
    d = _export.describe
    assert d(_make_scaled(2.0)) == d(_make_scaled(2.0))
    assert d(_make_scaled(2.0)) != d(_make_scaled(3.0))
    assert d(_make_scaled(np.ones(2))) != d(_make_scaled(np.array([1.0, 2.0])))
    assert d(lambda t, y, a: y) != d(lambda t, y, a: -y)
    assert d(_field) != d(_monitor)


class _Opaque:
    def __call__(self, y, a):
        return _monitor(y, a)


def test_an_undescribable_static_argument_is_jitted(saved_dir, monkeypatch):
    y0, args = jnp.eye(3) * 0.5, {"target": _TARGET}
    before = compile_counts()
    got = iterate(GD(lr=0.1), _gradient, _stats, _Opaque(), y0, args, steps=20, save_every=5)
    assert _delta(before)["export_unkeyed"] == 1
    assert not saved_dir.exists()
    monkeypatch.setenv("GFLAB_EXPORT", "0")
    _assert_same(got, _tiny_gd())


PROBE = """
import json
from gflab.sims._jaxsetup import compile_counts
from gflab.sims.config import DMFConfig
from gflab.sims.dmf import simulate_dmf
res = simulate_dmf(DMFConfig(depth=3, n=4, init="mimic", alpha=1e-2, m=10.0, mask="diagonal",
                             target="ones", t1=5.0))
print(json.dumps({**compile_counts(), "steps": res.stats["steps"],
                  "sv": res.final["singular_values"].tolist()}))
"""


def test_a_later_process_neither_traces_nor_compiles_the_solve(tmp_path):
    import gflab

    drop = ("EQX_ON_ERROR", "XLA_FLAGS", "GFLAB_EXPORT")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    # this checkout's gflab (the folder holding the package this test imported)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(gflab.__file__).parents[1]), str(ROOT)])
    env.update(GFLAB_EXPORT_DIR=str(tmp_path / "exported"), JAX_PLATFORMS="cpu")
    if _jaxsetup.CACHE_DIR is None:  # the suite's persistent cache, else one of this test's own
        env["GFLAB_JAX_CACHE"] = str(tmp_path / "jax")

    def probe() -> dict:
        out = subprocess.run(
            [sys.executable, "-c", PROBE],
            env=env,
            cwd=tmp_path,  # not the checkout: its gflab/ folder would shadow PYTHONPATH
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    first, second = probe(), probe()
    assert first["export_misses"] == 1 and first["export_hits"] == 0
    assert second["export_hits"] == 1 and second["export_misses"] == 0
    assert second["compiled"] == 0  # every executable came from the persistent cache
    # the solve's trace (seconds in the first process) is gone: what is left is the call of the
    # saved program and a few eager operations
    assert second["trace_seconds"] < 0.25 * first["trace_seconds"]
    assert (second["steps"], second["sv"]) == (first["steps"], first["sv"])


def test_an_entry_is_never_visible_half_written(saved_dir, monkeypatch):
    """Written under a private name, complete, then renamed onto the entry's name (atomic on
    POSIX): at the rename the entry's name does not exist yet and the private file decodes."""
    seen = []
    real_replace = os.replace

    def replace(src, dst):
        blob = Path(src).read_bytes()
        seen.append((Path(src).name, Path(dst).exists(), _export._decode(blob, _key_json(blob))))
        return real_replace(src, dst)

    monkeypatch.setattr(_export.os, "replace", replace)
    _tiny_gd()
    ((tmp_name, existed, payload),) = seen
    (path,) = saved_dir.glob("*.jaxexport")
    assert tmp_name.startswith(".") and tmp_name != path.name and not existed
    assert path.read_bytes().endswith(payload)
    assert not [p for p in saved_dir.iterdir() if p.name.startswith(".")]  # nothing left behind
