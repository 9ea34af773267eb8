"""Batched sweeps: the configurations of one compiled program solved as one vectorised solve.

With shape buckets (:mod:`gflab.sims.buckets`) the configurations of one program (their
:func:`gflab.sims.sweep._programs.program_key`) have flow problems of identical shapes. In
``batch="vmap"`` a worker runs each such group in three passes:

1. each configuration's runner runs until its first flow solve, which is captured instead of
   solved (:func:`gflab.sims.engine.capture_flow`); a run that never solves a flow (a discrete
   method, another model) simply finishes and is stored;
2. the captured problems are solved together (:func:`gflab.sims.engine.solve_flows`: one
   ``jax.vmap`` over the group, every member with its own step sizes and stop events);
3. each runner runs again and its first solve returns its member's result
   (:func:`gflab.sims.engine.replay_flow`): statistics, packaging and storing are the
   per-configuration code, so the stored entries (keys, arrays, metadata) are those of
   ``batch="loop"`` up to the rounding of the vectorised arithmetic.

A batched solve that raises (a shape the group does not share after all, memory) falls back to
running its configurations one by one; ``timeout`` then applies per configuration as usual, and
to the batched solve as ``timeout`` × the group size.

Which is faster depends on the backend: on CPU the members' arithmetic runs one after the other
anyway and the vectorised loop runs until its slowest member stops, so a loop over one compiled
single solve wins; on a GPU one batched solve runs the members in parallel. ``"auto"`` picks
``"loop"`` on the CPU backend and ``"vmap"`` on any other (docs/performance.md).
"""

from __future__ import annotations

import time

from gflab.sims.sweep import _task
from gflab.theory._validate import one_of

BATCHES = ("auto", "vmap", "loop")
"""``run_sweep(batch=...)`` / ``gflab sweep --batch``."""

MAX_BATCH = 1024
"""The most configurations of one program solved in one batched solve (larger groups are cut
into batches of this size)."""


def resolve_batch(batch: str) -> str:
    """``"vmap"`` or ``"loop"`` for a ``batch`` option (``"auto"``: by the JAX backend).

    Args:
        batch: one of :data:`BATCHES`.
    Returns:
        ``"loop"`` for ``"loop"``, and for ``"auto"`` on the CPU backend; else ``"vmap"``.
    """
    one_of("batch", batch, BATCHES)
    if batch != "auto":
        return batch
    return "loop" if backend() == "cpu" else "vmap"


def backend() -> str:
    """The JAX backend the workers will use, found without starting one here when none is
    running: starting a GPU backend in a sweep's parent would take (by JAX's default) most of
    the GPU's memory from its workers.

    Returns:
        ``jax.default_backend()`` when a backend is running; else the first of
        ``JAX_PLATFORMS``; else ``"gpu"`` when a CUDA or ROCm plugin of jax is installed,
        ``"cpu"`` otherwise.
    """
    import os
    from importlib.metadata import entry_points

    import jax

    try:
        from jax._src import xla_bridge

        running = xla_bridge.backends_are_initialized()
    except (ImportError, AttributeError):  # pragma: no cover  (another jax: ask it directly)
        running = True
    if running:
        return jax.default_backend()
    platforms = jax.config.jax_platforms or os.environ.get("JAX_PLATFORMS", "")
    if platforms.strip():
        first = platforms.split(",")[0].strip().lower()
        return "gpu" if first in ("cuda", "rocm") else first
    plugins = [e.name.lower() for e in entry_points(group="jax_plugins")]
    return "gpu" if any("cuda" in p or "rocm" in p for p in plugins) else "cpu"


def group_programs(indices: list[int], dicts: list[dict]) -> list[list[int]]:
    """``indices`` cut into runs of one compiled program (in order of first appearance), each at
    most :data:`MAX_BATCH` long.

    Args:
        indices: positions in ``dicts``.
        dicts: configuration dicts.
    Returns:
        The groups of indices.
    """
    from gflab.sims.sweep._programs import program_key

    groups: dict[str, list[int]] = {}
    for i in indices:
        groups.setdefault(program_key(dicts[i]), []).append(i)
    return [g[j : j + MAX_BATCH] for g in groups.values() for j in range(0, len(g), MAX_BATCH)]


def run_group(
    cfgs: list[dict],
    root: str,
    versions: dict,
    runner: str = _task.DEFAULT_RUNNER,
    force: bool = False,
    code: str | None = None,
    timeout: float | None = None,
) -> list[dict]:
    """:func:`gflab.sims.sweep._task.run_one` for every configuration of ``cfgs`` (one compiled
    program), their first flow solves as one batched solve.

    Args:
        cfgs: configuration dicts.
        root, versions, runner, force, code, timeout: as :func:`~gflab.sims.sweep._task.run_one`.
    Returns:
        One status record per configuration, in order (``batched``: the size of the batched
        solve it was part of, 0 when it ran alone).
    """
    from gflab.sims import engine

    job = (root, versions, runner, force, code, timeout)
    if len(cfgs) < 2 or _task.is_record_runner(_task.resolve_runner(runner)):
        return [_task.run_one(c, *job) for c in cfgs]
    records: list[dict | None] = [None] * len(cfgs)
    captured: dict[int, engine.FlowCall] = {}

    def capture(fn, config):
        with engine.capture_flow():
            return fn(config)

    for i, c in enumerate(cfgs):  # 1: up to the first flow solve (or to the end without one)
        try:
            records[i] = _task.run_one(c, *job, compute=capture)
        except engine.FlowCaptured as e:
            captured[i] = e.call
    raws = {}
    if len(captured) > 1:  # 2: the captured problems together
        order = list(captured)
        try:
            with _task._time_limit(timeout and timeout * len(order)):
                solved = engine.solve_flows([captured[i] for i in order])
            raws = dict(zip(order, solved, strict=True))
        except Exception:  # noqa: BLE001  (the configurations then run one by one)
            raws = {}
    for i in captured:  # 3: the rest of each run, its solve replayed
        raw = raws.get(i)
        if raw is None:
            records[i] = {**_task.run_one(cfgs[i], *job), "batched": 0}
            continue

        def replay(fn, config, call=captured[i], raw=raw):
            with engine.replay_flow(call, raw):
                return fn(config)

        t0 = time.perf_counter()
        rec = _task.run_one(cfgs[i], *job, compute=replay)
        records[i] = {**rec, "batched": len(raws), "replay_seconds": time.perf_counter() - t0}
    return [r for r in records if r is not None]
