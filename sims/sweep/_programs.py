"""One worker per compiled program: group a sweep's configurations by the program they compile to
and hand each group to one worker, so that no two workers trace and compile the same solve.

Which configurations share a compiled program is decided by their *shape*: every field except
the numeric values a solve takes as data (the seed, the init scale, the smoothing, step sizes,
horizons...), and the number of targets rather than their values. The grouping is conservative
(an unknown field splits groups, it never merges them), so at worst two groups share a program
and are compiled twice, as before.

The groups go to workers longest first onto the least loaded (LPT scheduling). A group larger
than a fair share (total/workers) is split into fair-share chunks when it would otherwise leave a
worker idle: that is the only case where a program is compiled by two workers, and the summary
counts it (``programs_split``).
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["VALUE_FIELDS", "program_key", "assign_programs", "warm_shared_programs"]

# numeric data of a solve (not its shape): configurations differing only here share a program
VALUE_FIELDS = frozenset(
    {
        "seed",
        "alpha",
        "m",
        "gamma",
        "beta",
        "l2",
        "lr",
        "noise",
        "h_bulk",
        "h_wall",
        "floor",
        "dash_alpha",
        "t1",
        "t_max",
        "stop_loss",
        "converge_tol",
        "switch",
    }
)


# sizes that solves run padded to a bucket (gflab.sims.buckets): configurations whose sizes share
# a bucket compile to one program, so they must share a worker too
_BUCKETED = frozenset({"n", "rows", "cols", "rank"})


def program_key(config: dict[str, Any]) -> str:
    """A string equal for configurations that compile to the same program (conservatively).

    Args:
        config: a configuration's dict (``to_dict()``).
    Returns:
        Its fields except the numeric data, with sizes and DMF depth replaced by their buckets
        when solves run on bucket shapes (``GFLAB_BUCKETS``, :mod:`gflab.sims.buckets`).
    """
    from gflab.sims import buckets as B

    padded = B.use_buckets()

    def shape(k: str, v: Any) -> Any:
        if k == "target_svals" and isinstance(v, (list, tuple)):
            return len(v)
        if padded and isinstance(v, int) and not isinstance(v, bool) and v >= 1:
            if k in _BUCKETED:
                return B.bucket(v)
            if k == "depth":
                return B.depth_bucket(v)
        if isinstance(v, dict):
            return {kk: shape(kk, vv) for kk, vv in v.items() if kk not in VALUE_FIELDS}
        return v

    kept = {k: shape(k, v) for k, v in config.items() if k not in VALUE_FIELDS}
    return json.dumps(kept, sort_keys=True, default=repr)


def assign_programs(
    items: Sequence[Any], workers: int, key: Callable[[Any], str] = program_key
) -> tuple[list[list[int]], dict[str, int]]:
    """Split ``items`` (indices 0..len-1) into ``workers`` lists, each program on one worker.

    Returns:
        ``(lanes, stats)``: ``lanes[w]`` the indices worker ``w`` runs, in order (a program's
        items together, larger programs first); ``stats`` = ``{"programs", "programs_split"}``.
    """
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(key(it), []).append(i)
    workers = max(1, min(workers, len(items)))
    share = math.ceil(len(items) / workers)
    chunks: list[list[int]] = []
    split = 0
    ordered = sorted(groups.values(), key=len, reverse=True)
    # split only what would leave a worker idle: fewer groups than workers, or one too big
    for g in ordered:
        if len(g) > share and (len(groups) < workers or len(g) > 2 * share):
            parts = [g[j : j + share] for j in range(0, len(g), share)]
            split += 1
            chunks.extend(parts)
        else:
            chunks.append(g)
    chunks.sort(key=len, reverse=True)
    heap = [(0, w) for w in range(workers)]
    lanes: list[list[int]] = [[] for _ in range(workers)]
    for c in chunks:
        load, w = heapq.heappop(heap)
        lanes[w].extend(c)
        heapq.heappush(heap, (load + len(c), w))
    return [lane for lane in lanes if lane], {"programs": len(groups), "programs_split": split}


# models whose run goes straight to its flow solve (no other solve first): their first solve can
# be captured in the parent cheaply (:func:`warm_shared_programs`)
_CAPTURABLE = frozenset({"dmf", "lora"})


def warm_shared_programs(configs: Sequence[dict] = (), lanes: Sequence[list] = ()) -> None:
    """Compile here, before workers start on ``configs``, the programs that several of them
    would otherwise compile at the same moment (none finding the other's cache entry).

    1. The one-operation programs that equinox evaluates eagerly
       (``jax.ensure_compile_time_eval``) while any flow solve is traced: comparing two concrete
       solver outcomes (``!=`` in optimistix's Newton, ``==`` in lineax: a boolean
       ``convert_element_type``) and ``promote`` of a traced outcome into a subclass enumeration
       (optimistix's Newton step, diffrax's event root-find: ``jnp.asarray`` of the offset
       table, a ``stage`` program per table, and the index conversion of the slice into it). The
       same operations run here on the same types under :func:`jax.eval_shape` (the outcome
       values traced as in a solve), which compiles those programs and nothing else.
    2. A solve's start monitor (:func:`gflab.sims.engine.monitor_value`, which decides whether
       it root-finds its stop) is a program of its own, keyed by the state's shapes, so solve
       programs of one state shape share it. Where such programs go to different workers
       (``lanes``), the first configuration of one of them (DMF and LoRA flows,
       whose runs go straight to their solve) is taken here up to its solve
       (:func:`gflab.sims.engine.capture_flow`) and the monitor evaluated. A configuration
       that fails here is left to its worker, which reports it.

    Without a persistent cache (``GFLAB_JAX_CACHE=off``), and on a GPU (whose backend is not
    started in the parent, :func:`gflab.sims.sweep._batch.backend`), it does nothing.

    Args:
        configs: the configuration dicts the workers will run with the default runner.
        lanes: the indices of ``configs`` each worker runs (:func:`assign_programs`).
    """
    from gflab.sims import _jaxsetup
    from gflab.sims.sweep._batch import backend

    if _jaxsetup.CACHE_DIR is None or backend() != "cpu":  # a GPU is not started in the parent
        return
    import diffrax
    import jax
    import lineax as lx
    import optimistix as optx

    def ops(lin, root):
        optx.RESULTS.successful != optx.RESULTS.successful  # noqa: B015  (concrete: eager)
        optx.RESULTS.promote(lin)
        diffrax.RESULTS.promote(root)
        return lin == lx.RESULTS.successful

    jax.eval_shape(ops, lx.RESULTS.successful, optx.RESULTS.successful)
    if len(lanes) > 1 and len(configs) > 1:
        for call in _shared_monitors(list(configs), lanes):
            call.root_find()


def _shared_monitors(configs: list, lanes: Sequence[list]) -> list:
    """One captured flow problem per (monitor, state shapes) that programs on two or more
    workers share."""
    import jax
    import numpy as np

    from gflab.sims import engine
    from gflab.sims.models import config_from_dict, model_of

    lane_of = {i: w for w, lane in enumerate(lanes) for i in lane}
    programs: dict[str, list[int]] = {}
    for i, c in enumerate(configs):
        if isinstance(c, dict) and c.get("model") in _CAPTURABLE:
            programs.setdefault(program_key(c), []).append(i)
    states: dict = {}
    for idx in programs.values():
        try:
            config = config_from_dict(configs[idx[0]])
            if config.method.discrete:
                continue
            with engine.capture_flow():
                model_of(config).run(config)
            continue  # no flow solve
        except engine.FlowCaptured as e:
            call = e.call
        except Exception:  # noqa: BLE001, S112  (its worker runs it again and reports the error)
            continue
        leaves = jax.tree_util.tree_leaves(call.y0)
        key = (call.monitor, tuple((np.shape(x), str(np.asarray(x).dtype)) for x in leaves))
        entry = states.setdefault(key, [set(), call])
        entry[0].update(lane_of[i] for i in idx)
    return [call for used, call in states.values() if len(used) > 1]
