"""The persistent compilation cache works across processes (sims._jaxsetup).

Oracle: JAX's own accounting (jax.monitoring cache-hit/miss and compile events, through
:func:`gflab.sims._jaxsetup.compile_counts`) and the cache directory's entries. Two fresh processes
run the same small solves (gflab's DMF flow through the engine, and the Tsit5 → RKC2 hybrid)
with a temporary cache: the second must load every executable from the cache and build none.
The control with ``EQX_ON_ERROR=raise`` shows the cause and that the check can fail: equinox's
runtime-error host callback makes the flow solve uncacheable, so that second process compiles.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gflab

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json
from gflab.sims._jaxsetup import compile_counts, EQX_MODE  # first: before equinox is imported
import diffrax, jax.numpy as jnp
from gflab.sims.config import DMFConfig
from gflab.sims.dmf import simulate_dmf
from gflab.sims.rkc import Tsit5RKC
res = simulate_dmf(DMFConfig(depth=3, n=4, init="mimic", alpha=1e-2, m=10.0, mask="diagonal",
                             target="ones", t1=5.0))
sol = diffrax.diffeqsolve(diffrax.ODETerm(lambda t, y, a: -jnp.arange(1.0, 4.0) * y), Tsit5RKC(),
                          0.0, 1.0, None, jnp.ones(3),
                          stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-9))
print(json.dumps({**compile_counts(), "status": res.status, "eqx": EQX_MODE}))
"""


def _probe(cache: Path, eqx: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("EQX_ON_ERROR", "XLA_FLAGS")}
    # this checkout's gflab (the folder holding the package this test imported), run outside
    # the checkout (its gflab/ folder, first on a `-c` path, would shadow PYTHONPATH)
    path = os.pathsep.join([str(Path(gflab.__file__).parents[1]), str(ROOT)])
    env.update(GFLAB_JAX_CACHE=str(cache), PYTHONPATH=path, JAX_PLATFORMS="cpu")
    if eqx is not None:
        env["EQX_ON_ERROR"] = eqx
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        cwd=cache.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _entries(cache: Path) -> set[str]:
    return {p.name for p in cache.iterdir()}


def test_second_process_compiles_nothing(tmp_path):
    cache = tmp_path / "jax"
    first = _probe(cache, None)
    assert first["eqx"] == "nan"  # gflab's default when the user sets nothing
    assert first["status"] == "t1_reached"
    assert first["misses"] >= 2 and first["compiled"] >= 2  # it did compile, and wrote entries
    written = _entries(cache)
    assert len(written) >= first["misses"]
    second = _probe(cache, None)
    assert second["status"] == "t1_reached"
    assert second["misses"] == 0
    # every lookup of the second process came from the cache, among what the first compiled and
    # wrote or read back; fewer when the first traced the solve (its eager operations while
    # tracing compile too) and the second loaded it saved (gflab.sims._export)
    assert second["hits"] == second["requests"]
    assert second["hits"] <= first["misses"] + first["hits"]
    assert second["compiled"] == 0  # and nothing uncacheable was built either
    assert _entries(cache) == written  # nothing new written


@pytest.mark.slow  # a diagnosis of the cause (two more fresh processes), not a regression guard
def test_control_host_callback_blocks_the_cache(tmp_path):
    mode = "raise"
    cache = tmp_path / "jax"
    _probe(cache, mode)
    second = _probe(cache, mode)
    assert second["eqx"] == mode
    # the flow solves carry equinox's error callback: built again in the second process
    assert second["compiled"] >= 1


FLAGS_PROBE = "import os, sims; print('flags:', os.environ['XLA_FLAGS'])"


def _xla_flags(**env_changes) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "GFLAB_XLA_THREADS")}
    env.update(GFLAB_JAX_CACHE="off", PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu", **env_changes)
    out = subprocess.run(
        [sys.executable, "-c", FLAGS_PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1].split()[1:]


def test_xla_flags_default_and_a_users_own_setting_wins():
    assert _xla_flags() == [
        "--xla_cpu_multi_thread_eigen=false",
        "--xla_cpu_use_fusion_emitters=false",
    ]
    own = _xla_flags(XLA_FLAGS="--xla_cpu_use_fusion_emitters=true")
    assert own == ["--xla_cpu_use_fusion_emitters=true", "--xla_cpu_multi_thread_eigen=false"]
    assert _xla_flags(GFLAB_XLA_FUSION_EMITTERS="on", GFLAB_XLA_THREADS="multi") == []
