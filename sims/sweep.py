"""Sweeps: many configurations through the result store, in one process, a pool, or on dask.

A sweep is a list of configs (the product of a ``[grid]``, an optional ``[[list]]`` of points and
``seeds`` over a ``[base]`` config, see :func:`spec_from_dict`). Each config is run at most once:
its result is stored under its content key (:class:`sims.store.ResultStore`), so a rerun skips
finished entries (resume) and recomputes missing or corrupt ones. The *workers* write results to
the store themselves (atomic writes make concurrent writers safe); the parent only collects small
status records. A configuration whose run raises is recorded as a failure (error type, message,
traceback tail) in the sweep's record in the store and does not abort the sweep.

Executors (:func:`parse_executor`):

- ``local:1``: serial, in this process (no start-up cost; the default for one core);
- ``local:N`` / ``local``: a spawn-based process pool of N (default: CPU count) workers;
- ``dask-local:N``: a dask ``LocalCluster`` on loopback, N worker processes with 1 thread each;
- ``dask://HOST:PORT``: an existing dask scheduler (its workers must see the store folder).

Solver outcomes (``converged``, ``t1_reached``, ``max_steps``, ``diverged``) are results, stored
like any other; only exceptions are failures.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import itertools
import json
import math
import os
import signal
import sys
import time
import tomllib
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sims.config import DMFConfig, LoRAConfig, config_from_dict
from sims.engine import STATUSES
from sims.schema import config_from_fields, method_params
from sims.store import ResultStore
from theory._validate import GflabInputError

__all__ = [
    "SweepSpec",
    "SweepSummary",
    "SweepInterrupted",
    "load_spec",
    "spec_from_dict",
    "parse_executor",
    "run_sweep",
    "simulate_config",
    "sweep_record",
    "bench_sweep",
    "DEFAULT_RUNNER",
    "RUNNERS",
    "estimate",
    "count_stored",
]

DEFAULT_RUNNER = "sims.sweep:simulate_config"
#: runners a spec may name without ``--allow-import`` (importing any other runs arbitrary code)
RUNNERS = (DEFAULT_RUNNER,)
MAX_CONFIGS = 1_000_000
FULL_CHECK = 20_000  # specs up to this size are validated config by config when parsed
WARN_CONFIGS = 100_000  # `gflab sweep` warns with an estimate before a grid this large
_MODELS = {"dmf": DMFConfig, "lora": LoRAConfig}
_SPEC_KEYS = ("model", "base", "grid", "list", "seeds", "runner")
MAX_LOCAL_WORKERS = 256


# ----------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep: model, base fields, grid axes, explicit points, seeds and the runner."""

    model: str
    base: dict
    grid: dict
    points: tuple
    seeds: tuple
    runner: str = DEFAULT_RUNNER

    @property
    def size(self) -> int:
        """The number of configurations (grid × list × seeds), without building them."""
        return (
            math.prod(len(v) for v in self.grid.values())
            * max(len(self.points), 1)
            * max(len(self.seeds), 1)
        )

    def check_axes(self) -> None:
        """Validate each axis value, point and seed against the base, and the first and last
        configuration: a cheap check for grids too large to build up front."""
        first = {a: v[0] for a, v in self.grid.items()}
        last = {a: v[-1] for a, v in self.grid.items()}
        for pt in self.points or ({},):
            for seed in self.seeds[:1] or (None,):
                extra = {} if seed is None else {"seed": seed}
                for axis, values in self.grid.items():
                    for v in values:
                        self._config({**self.base, **first, axis: v, **pt, **extra})
        for seed in self.seeds or (None,):
            extra = {} if seed is None else {"seed": seed}
            self._config({**self.base, **first, **extra})
        self._config({**self.base, **last, **(self.points or ({},))[-1]})

    def first_config(self):
        """The first configuration (grid row-major × list × seeds)."""
        fields = {
            **self.base,
            **{a: v[0] for a, v in self.grid.items()},
            **(self.points or ({},))[0],
        }
        if self.seeds:
            fields["seed"] = self.seeds[0]
        return self._config(fields)

    def _label(self, name: str) -> str:
        """Where a name comes from, for errors: ``grid.rtol``, ``list.m``, ``base.depth``."""
        if name in self.grid:
            return f"grid.{name}"
        return f"list.{name}" if any(name in p for p in self.points) else f"base.{name}"

    def _config(self, fields: dict):
        return _make_config(_MODELS[self.model], self.model, fields, self._label)

    def configs(self) -> list:
        """The configurations, in a fixed order: grid (row-major) × list × seeds."""
        axes = list(self.grid)
        combos = itertools.product(*(self.grid[a] for a in axes)) if axes else [()]
        out = []
        for combo in combos:
            for point in self.points or ({},):
                for seed in self.seeds or (None,):
                    fields = {**self.base, **dict(zip(axes, combo, strict=True)), **point}
                    if seed is not None:
                        fields["seed"] = seed
                    out.append(self._config(fields))
        return out


def _make_config(cls, model: str, fields: dict, label=str):
    for f in dataclasses.fields(cls):
        if f.name not in fields and f.default is dataclasses.MISSING:
            raise GflabInputError(
                f.name, f"a value in [base], [grid] or [[list]] (required by {cls.__name__})", None
            )
    try:
        return config_from_fields(model, fields, label)
    except GflabInputError:
        raise
    except (TypeError, ValueError, OverflowError) as e:
        # a value of a type no validator expected (e.g. a table where a number belongs)
        raise GflabInputError("spec", f"valid {cls.__name__} fields", f"{fields} ({e})") from None


def _axis_values(name: str, v: Any) -> list:
    """A grid axis: a non-empty list, or ``{linspace|logspace = [a, b, count]}``."""
    if isinstance(v, dict):
        if len(v) != 1 or next(iter(v)) not in ("linspace", "logspace"):
            raise GflabInputError(
                f"grid.{name}", "a list or {linspace|logspace = [a, b, count]}", v
            )
        kind, args = next(iter(v.items()))
        ok = isinstance(args, list) and len(args) == 3
        ok = ok and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in args)
        ok = ok and all(math.isfinite(x) for x in args[:2])
        ok = ok and isinstance(args[2], int) and 1 <= args[2] <= 100_000
        if not ok:
            raise GflabInputError(
                f"grid.{name}", f"{kind} = [start, stop, count] (finite, count >= 1)", args
            )
        a, b, c = float(args[0]), float(args[1]), int(args[2])
        if kind == "logspace" and max(abs(a), abs(b)) > 300:
            raise GflabInputError(
                f"grid.{name}", "logspace exponents within [-300, 300] (10**x must be finite)", args
            )
        vals = [a + (b - a) * i / (c - 1) for i in range(c)] if c > 1 else [a]
        return [10.0**x for x in vals] if kind == "logspace" else vals
    if not isinstance(v, list) or not v:
        raise GflabInputError(f"grid.{name}", "a non-empty list of values", v)
    return v


def spec_from_dict(d: Any, allow_import: bool = False) -> SweepSpec:
    """Validate a sweep spec (the TOML document as a dict).

    Keys: ``model`` ("dmf" | "lora"), ``[base]`` config fields, ``[grid]`` field → list of values
    (or ``{logspace = [a, b, count]}``), ``[[list]]`` explicit points (each a table of fields; the
    sweep is grid × list), ``seeds`` (list of integers ≥ 0), ``runner`` (a name of
    :data:`RUNNERS`, default :func:`simulate_config`; any "module:function" only with
    ``allow_import``, since importing it runs arbitrary code). Up to :data:`FULL_CHECK` configs,
    every configuration is built (and so validated) here; above that, every axis value is checked
    against the base (and the first and last configuration are built) so that counting a 10^6
    grid stays fast, and the rest are validated as they are built for running. Bad input fails
    before anything runs, with the offending parameter named.

    Args:
      d: the parsed TOML document.
      allow_import: accept a runner outside :data:`RUNNERS` (``gflab sweep --allow-import``).

    Returns:
      The :class:`SweepSpec`.
    """
    if not isinstance(d, dict):
        raise GflabInputError("spec", "a TOML table", type(d).__name__)
    unknown = sorted(set(d) - set(_SPEC_KEYS))
    if unknown:
        raise GflabInputError("spec", "keys " + ", ".join(_SPEC_KEYS), unknown)
    model = d.get("model")
    if model not in _MODELS:
        raise GflabInputError("model", "dmf or lora", model)
    cls = _MODELS[model]
    fields = {f.name for f in dataclasses.fields(cls)} | set(method_params(model))
    base = d.get("base", {})
    if not isinstance(base, dict):
        raise GflabInputError("base", "a table of config fields", base)
    grid = d.get("grid", {})
    if not isinstance(grid, dict):
        raise GflabInputError("grid", "a table of field = [values]", grid)
    points = d.get("list", [])
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise GflabInputError("list", "an array of tables ([[list]] entries)", points)
    for where, names in [("base", base), ("grid", grid)] + [("list", p) for p in points]:
        bad = sorted(set(names) - fields)
        if bad:
            raise GflabInputError(
                f"{where}.{bad[0]}",
                f"a field of {cls.__name__} or a hyper-parameter of its methods",
                bad[0],
            )
    grid = {k: _axis_values(k, v) for k, v in grid.items()}
    seeds = d.get("seeds")
    if seeds is not None:
        ok = (
            isinstance(seeds, list)
            and seeds
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
        )
        if not ok:
            raise GflabInputError("seeds", "a non-empty list of integers >= 0", seeds)
        if len(set(seeds)) != len(seeds):
            raise GflabInputError("seeds", "distinct integers", seeds)
        if "seed" in grid or any("seed" in p for p in points):
            raise GflabInputError(
                "seeds", "either seeds or a seed field in [grid]/[[list]], not both", seeds
            )
    runner = d.get("runner", DEFAULT_RUNNER)
    if not isinstance(runner, str) or runner.count(":") != 1 or not all(runner.split(":")):
        raise GflabInputError("runner", "an import path module:function", runner)
    if runner not in RUNNERS and not allow_import:
        raise GflabInputError(
            "runner",
            "a registered runner (" + ", ".join(RUNNERS) + "); others need --allow-import",
            runner,
        )
    spec = SweepSpec(
        model, dict(base), grid, tuple(dict(p) for p in points), tuple(seeds or ()), runner
    )
    n = spec.size
    if n > MAX_CONFIGS:
        raise GflabInputError("spec", f"at most {MAX_CONFIGS:,} configurations", n)
    if n <= FULL_CHECK:
        spec.configs()  # validates every configuration now
    else:
        spec.check_axes()
    return spec


def load_spec(path: str | os.PathLike, allow_import: bool = False) -> SweepSpec:
    """Read and validate a TOML sweep spec (see :func:`spec_from_dict`)."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise GflabInputError(
            "SPEC", "a readable UTF-8 TOML file", f"{path} ({e.__class__.__name__})"
        ) from None
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise GflabInputError("SPEC", "valid TOML", f"{path}: {e}") from None
    return spec_from_dict(d, allow_import=allow_import)


# ----------------------------------------------------------------------------- counting


#: serial seconds per configuration below which no sweep goes: the measured bookkeeping cost of a
#: tiny config (docs/sweeps.md, `bench_sweep`), so estimates are lower bounds
SECONDS_PER_CONFIG_FLOOR = 0.06


def _entry_bytes(cfg) -> int:
    """Rough size of one stored entry: saved series, final matrix and state, plus ~4 KiB."""
    if cfg.model == "dmf":
        n, depth = cfg.n, cfg.depth
        arrays = cfg.n_save * (n + 4) + n * n * (depth + 2)
    else:
        arrays = (
            cfg.n_save * (cfg.rank + 8) + cfg.rows * cfg.cols + 2 * cfg.rank * (cfg.rows + cfg.cols)
        )
    return 8 * arrays + 4096


def estimate(spec: SweepSpec) -> dict:
    """Lower-bound serial time and store size of a sweep, from its first configuration.

    Returns:
      ``{"configurations", "seconds_at_least", "store_bytes"}``.
    """
    first = spec.first_config()
    return {
        "configurations": spec.size,
        "seconds_at_least": spec.size * SECONDS_PER_CONFIG_FLOOR,
        "store_bytes": spec.size * _entry_bytes(first),
    }


def count_stored(spec: SweepSpec, store: ResultStore) -> int:
    """How many of the spec's configurations have a verified entry in ``store``.

    Small specs: by key. Specs above :data:`FULL_CHECK`: by matching the configs of the store's
    verified entries against the spec's axes (O(entries), not O(grid)), so counting a 10^6 grid
    against a store is fast.
    """
    if spec.size <= FULL_CHECK:
        unique = {store.key(c): c for c in spec.configs()}
        return sum(store.read(c, key=k).is_result for k, c in unique.items())
    if not store.keys():
        return 0
    hyper = set(method_params(spec.model)) - {
        f.name for f in dataclasses.fields(_MODELS[spec.model])
    }

    def flat(d: dict) -> dict:
        """A stored config with its method's hyper-parameters also as ``method.NAME``."""
        return {**d, **{f"method.{k}": v for k, v in d["method"].items()}}

    def name(a: str) -> str:
        return f"method.{a}" if a in hyper else a

    def norm(fields: dict) -> dict:
        return flat(json.loads(json.dumps(spec._config(fields).to_dict(), default=str)))

    first = {a: v[0] for a, v in spec.grid.items()}
    pts = spec.points or ({},)
    seed0 = {"seed": spec.seeds[0]} if spec.seeds else {}
    ref = norm({**spec.base, **first, **pts[0], **seed0})
    axes = {
        name(a): {
            json.dumps(norm({**spec.base, **first, a: v, **pts[0], **seed0})[name(a)]) for v in vals
        }
        for a, vals in spec.grid.items()
    }
    point_fields = sorted({name(k) for p in pts for k in p})
    point_sets = {
        tuple(json.dumps(norm({**spec.base, **first, **p, **seed0})[k]) for k in point_fields)
        for p in pts
    }
    seeds = {json.dumps(s) for s in spec.seeds}
    varying = set(axes) | set(point_fields) | ({"seed"} if spec.seeds else set())
    if any(k.startswith("method.") for k in varying):
        varying.add("method")  # the whole method varies with its hyper-parameters
    if "method" in varying:
        varying |= {k for k in ref if k.startswith("method.")}
    fixed = {k: v for k, v in ref.items() if k not in varying}
    top = {k for k in ref if not k.startswith("method.")}
    n = 0
    for e in store.iter_entries():
        c = e.meta["config"]
        if not e.is_result or set(c) != top or not isinstance(c.get("method"), dict):
            continue
        c = flat(c)
        if any(c.get(k) != v for k, v in fixed.items()):
            continue
        if any(json.dumps(c.get(a)) not in vals for a, vals in axes.items()):
            continue
        if tuple(json.dumps(c.get(k)) for k in point_fields) not in point_sets:
            continue
        if spec.seeds and json.dumps(c["seed"]) not in seeds:
            continue
        n += 1
    return n


# ----------------------------------------------------------------------------- executors


def parse_executor(text: Any) -> tuple[str, Any]:
    """``local`` / ``local:N`` / ``dask-local:N`` / ``dask://HOST:PORT`` → (kind, N or address)."""
    allowed = "local, local:N, dask-local:N or dask://HOST:PORT (N an integer in [1, 256])"
    if not isinstance(text, str):
        raise GflabInputError("executor", allowed, text)
    if text == "local":
        return "local", max(1, min(os.cpu_count() or 1, MAX_LOCAL_WORKERS))
    if text.startswith("dask://"):
        host, sep, port = text[len("dask://") :].rpartition(":")
        ok = bool(sep and host and port.isdigit() and port.isascii() and 0 < int(port) < 65536)
        ok = ok and all(c.isalnum() or c in ".-_[]:" for c in host) and host.isascii()
        if not ok:
            raise GflabInputError("executor", allowed, text)
        return "dask", f"tcp://{host}:{int(port)}"
    kind, sep, n = text.partition(":")
    if kind in ("local", "dask-local") and sep and n.isascii() and n.isdigit():
        if 1 <= int(n) <= MAX_LOCAL_WORKERS:
            return kind, int(n)
    raise GflabInputError("executor", allowed, text)


# ----------------------------------------------------------------------------- one task


def simulate_config(config):
    """The default runner: ``simulate_dmf`` or ``simulate_lora`` by the config's model."""
    if config.model == "dmf":
        from sims.dmf import simulate_dmf

        return simulate_dmf(config)
    from sims.lora import simulate_lora

    return simulate_lora(config)


def _resolve(runner: str) -> Callable:
    module, _, name = runner.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise GflabInputError(
            "runner", "an importable module:function", f"{runner} ({e})"
        ) from None


def run_one(
    cfg: dict,
    root: str,
    versions: dict,
    runner: str = DEFAULT_RUNNER,
    force: bool = False,
    code: str | None = None,
    timeout: float | None = None,
) -> dict:
    """Run one configuration into the store (a worker's task); returns a small status record.

    ``outcome`` is ``done`` (computed and stored now), ``skipped`` (already stored) or ``failed``
    (the run raised: ``error`` holds its type and message, ``traceback`` its last frames). With
    ``timeout`` (seconds) a run still going after that long raises ``TimeoutError`` (a failure);
    the limit needs the main thread (serial and pool executors), dask worker threads ignore it.
    """
    t0 = time.perf_counter()
    store = ResultStore(root, versions=versions, code=code)
    key = store.key(cfg)
    rec = {"key": key, "config": cfg}
    try:
        entry = store.read(cfg, key=key)
        if entry.is_result and not force:
            return {
                **rec,
                "outcome": "skipped",
                "status": entry.meta["result"]["status"],
                "seconds": time.perf_counter() - t0,
            }
        config = config_from_dict(cfg)
        with _time_limit(timeout):
            result = _resolve(runner)(config)
        store.put(config, result, sweep_runner=runner)
        return {
            **rec,
            "outcome": "done",
            "status": result.status,
            "corrupt_before": entry.state == "corrupt" or (entry.state == "ok" and not force),
            "seconds": time.perf_counter() - t0,
            "solve_seconds": float(result.stats.get("wall_seconds", 0.0)),
        }
    except Exception as e:  # noqa: BLE001  (a failing configuration must not abort the sweep)
        return {
            **rec,
            "outcome": "failed",
            "status": None,
            "error": f"{type(e).__name__}: {_one_line(str(e))}",
            "traceback": "".join(traceback.format_exception(e)[-3:])[-2000:],
            "seconds": time.perf_counter() - t0,
        }


@contextlib.contextmanager
def _time_limit(seconds: float | None):
    """Raise ``TimeoutError`` in the main thread after ``seconds`` (no-op elsewhere or if None)."""
    import threading

    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise TimeoutError(f"configuration exceeded the time limit of {seconds:g} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _one_line(s: str, limit: int = 300) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _worker_init(parent_pid: int | None = None) -> None:
    """Pool worker set-up: ignore Ctrl-C (the parent shuts the pool down) and die with the parent.

    On Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` makes the kernel kill the worker when its parent
    dies (even by SIGKILL); elsewhere, or if that call fails, a daemon thread polls the parent
    and exits the worker once it is gone. (XLA flags are left alone: they are part of the
    persistent compilation cache's key, and changing them would recompile every solve.)
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent_pid is None:
        return
    ok = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            ok = libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            ok = False
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    if not ok:
        import threading

        def watch():
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="gflab-parent-watch").start()


# ----------------------------------------------------------------------------- the sweep


class SweepInterrupted(KeyboardInterrupt):
    """The sweep was stopped by SIGTERM or Ctrl-C; finished entries are in the store."""

    def __init__(self, signum: int, summary: SweepSummary | None = None):
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum
        self.summary = summary


@dataclass
class SweepSummary:
    """What a sweep did: counts, per-status counts over stored results, failures, seconds."""

    total: int
    executor: str
    store: str
    done: int = 0
    skipped: int = 0
    failed: int = 0
    recomputed_corrupt: int = 0
    statuses: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    seconds: float = 0.0
    startup_seconds: float = 0.0
    solve_seconds: float = 0.0
    interrupted: bool = False
    requeued: int = 0
    warnings: list = field(default_factory=list)
    keys: list = field(default_factory=list)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("keys")
        return d

    def table(self) -> str:
        rows = [
            ("configurations", self.total),
            ("done", self.done),
            ("skipped (stored)", self.skipped),
            ("failed", self.failed),
        ]
        if self.recomputed_corrupt:
            rows.append(("recomputed (corrupt)", self.recomputed_corrupt))
        rows += [(f"status {s}", self.statuses.get(s, 0)) for s in STATUSES]
        rows += [
            ("seconds", f"{self.seconds:.2f}"),
            ("executor", self.executor),
            ("store", self.store),
        ]
        if self.requeued:
            rows.append(("re-queued (worker died)", self.requeued))
        if self.interrupted:
            rows.append(("interrupted", "yes: rerun the same command to resume"))
        w = max(len(r[0]) for r in rows)
        lines = [f"{k:<{w}}  {v}" for k, v in rows]
        for f in self.failures[:10]:
            lines.append(f"failed {f['key'][:12]}  {f['error']}")
        if len(self.failures) > 10:
            lines.append(f"... {len(self.failures) - 10} more failures (see --json)")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def sweep_key(configs: Iterable) -> str:
    """Identity of a sweep: the hash of its configurations' canonical JSON, in order."""
    blob = json.dumps(
        [c.to_dict() if hasattr(c, "to_dict") else c for c in configs],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def sweep_record(store: ResultStore, configs: Iterable) -> dict | None:
    """The sweep's record from the store (summary and ``failures``), or None if never finished."""
    rec = store.get_record({"sweep": sweep_key(configs)})
    return None if rec is None else rec[1]


@contextlib.contextmanager
def _sigterm_raises():
    """SIGTERM → :class:`SweepInterrupted` in the main thread, so pools and clusters shut down."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SweepInterrupted(signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_sweep(
    configs: list,
    store: ResultStore,
    executor: str = "local:1",
    *,
    runner: str = DEFAULT_RUNNER,
    force: bool = False,
    progress: Callable[[int, int, Counter], None] | None = None,
    timeout: float | None = None,
) -> SweepSummary:
    """Run ``configs`` into ``store`` on ``executor``; returns the summary (also stored).

    Already stored entries are skipped (unless ``force``); corrupt ones are recomputed. Failures
    are collected, never raised. ``timeout`` (seconds) limits each configuration (serial and pool
    executors). A ``local:N`` worker that dies re-queues the unfinished configurations on a fresh
    pool (at most :data:`MAX_ATTEMPTS` tries each). SIGTERM or Ctrl-C raise
    :class:`SweepInterrupted` (carrying the partial summary) after the executor has been shut
    down cleanly. A store that cannot be written is refused (``GflabInputError``) only if there
    is something to run; a finished read-only store reruns fine (nothing is written).
    """
    kind, arg = parse_executor(executor)
    _resolve(runner)  # fail early, in the parent, on a bad runner path
    if timeout is not None and not (isinstance(timeout, (int, float)) and 0 < timeout < 1e9):
        raise GflabInputError("timeout", "a number of seconds > 0", timeout)
    t0 = time.perf_counter()
    root = str(Path(store.root).resolve())
    # duplicates (e.g. a grid listing 1 and 1.0) are one entry: run once
    unique = {store.key(c): c.to_dict() for c in configs}
    dicts = list(unique.values())
    summary = SweepSummary(total=len(dicts), executor=executor, store=root)
    counts: Counter = Counter()
    todo = []
    for key, d in unique.items():
        summary.keys.append(key)
        entry = store.read(d, key=key)
        if entry.is_result and not force:
            _collect(
                summary,
                counts,
                {
                    "key": key,
                    "config": d,
                    "outcome": "skipped",
                    "status": entry.meta["result"]["status"],
                },
            )
        else:
            todo.append(d)
    if todo:
        store.require_writable()
        store.clean_orphans()
    if progress:
        progress(len(dicts) - len(todo), len(dicts), counts)

    def collect(rec):
        _collect(summary, counts, rec)
        if progress:
            progress(summary.done + summary.skipped + summary.failed, len(dicts), counts)

    job = (root, store.versions, runner, force, store.code, timeout)
    try:
        with _sigterm_raises():
            if todo:
                if kind == "local" and arg == 1:
                    for d in todo:
                        collect(run_one(d, *job))
                elif kind == "local":
                    _run_pool(todo, job, arg, collect, summary)
                else:
                    _run_dask(kind, arg, todo, job, collect, summary)
    except KeyboardInterrupt as e:
        summary.interrupted = True
        summary.seconds = time.perf_counter() - t0
        raise SweepInterrupted(getattr(e, "signum", signal.SIGINT), summary) from None
    summary.seconds = time.perf_counter() - t0
    record = {"summary": summary.to_json(), "failures": summary.failures}
    rkey = {"sweep": sweep_key(dicts)}
    if todo or not store.contains(rkey):
        try:
            store.put_record(rkey, {}, record)
        except OSError as e:  # disk full, read-only: the results are stored, only this is lost
            summary.warnings.append(
                f"the sweep record could not be written ({e.strerror or type(e).__name__}); "
                "results are stored, rerun to retry"
            )
    return summary


def _collect(summary: SweepSummary, counts: Counter, rec: dict) -> None:
    outcome = rec["outcome"]
    counts[outcome] += 1
    if outcome == "failed":
        summary.failed += 1
        summary.failures.append({k: rec.get(k) for k in ("key", "config", "error", "traceback")})
        return
    if outcome == "done":
        summary.done += 1
        summary.recomputed_corrupt += bool(rec.get("corrupt_before"))
        summary.solve_seconds += rec.get("solve_seconds", 0.0)
    else:
        summary.skipped += 1
    summary.statuses[rec["status"]] = summary.statuses.get(rec["status"], 0) + 1


def _lost(d: dict, job: tuple, exc: BaseException, attempts: int = 1) -> dict:
    root, versions, _, _, code, _ = job
    key = ResultStore(root, versions=versions, code=code).key(d)
    return {
        "key": key,
        "config": d,
        "outcome": "failed",
        "status": None,
        "error": f"{type(exc).__name__}: worker lost {attempts}x ({_one_line(str(exc))})",
        "traceback": "",
    }


MAX_ATTEMPTS = 3  # tries per configuration when its worker dies (pool re-queue)


def _run_pool(todo, job, workers, collect, summary) -> None:
    """``local:N``: a spawn pool; when a worker dies, unfinished configs go to a fresh pool."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    attempts = {i: 0 for i in range(len(todo))}
    queue = list(range(len(todo)))
    first = True
    while queue:
        t0 = time.perf_counter()
        # spawn, never fork: JAX is multithreaded and forking it can deadlock
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(queue)),
            mp_context=mp.get_context("spawn"),
            initializer=_worker_init,
            initargs=(os.getpid(),),
        )
        if first:
            summary.startup_seconds = time.perf_counter() - t0
            first = False
        broken: BaseException | None = None
        requeue = []
        try:
            pending = {}
            for i in queue:
                try:
                    pending[pool.submit(run_one, todo[i], *job)] = i
                except BrokenProcessPool as e:  # a worker died before everything was queued
                    broken = e
                    requeue.append(i)
                    attempts[i] -= 1  # never tried
                attempts[i] += 1
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    i = pending.pop(fut)
                    try:
                        rec = fut.result()
                    except BrokenProcessPool as e:
                        broken = e
                        requeue.append(i)
                        continue
                    if rec["outcome"] == "skipped" and attempts[i] > 1:
                        # stored by this sweep's earlier try, whose report died with its pool
                        rec = {**rec, "outcome": "done"}
                    collect(rec)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        queue = []
        for i in sorted(requeue):
            if attempts[i] < MAX_ATTEMPTS:
                queue.append(i)
            else:
                collect(_lost(todo[i], job, broken, attempts[i]))
        if queue:
            summary.requeued += len(queue)


class ExecutorLost(GflabInputError):
    """The dask scheduler went away or never had workers (one line on the command line)."""


def _run_dask(kind, arg, todo, job, collect, summary) -> None:
    import logging

    from distributed import Client, LocalCluster, as_completed

    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if kind == "dask-local":
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=min(arg, len(todo)),
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                    worker_class="distributed.Nanny",
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(arg, timeout="10s"))
            except (OSError, TimeoutError) as e:
                raise GflabInputError(
                    "executor", "a reachable dask scheduler", f"{arg} ({e})"
                ) from None
            wait_s = float(os.environ.get("GFLAB_DASK_WORKER_TIMEOUT", "60"))
            try:
                client.wait_for_workers(1, timeout=wait_s)
            except (TimeoutError, OSError) as e:
                raise ExecutorLost(
                    "executor",
                    f"a dask scheduler with workers (none joined {arg} within {wait_s:g} s; "
                    "set GFLAB_DASK_WORKER_TIMEOUT to wait longer)",
                    type(e).__name__,
                ) from None
        summary.startup_seconds = time.perf_counter() - t0
        futures = {}
        for d in todo:
            futures[client.submit(run_one, d, *job, pure=False)] = d
        lost = ExecutorLost(
            "executor",
            "a dask scheduler that stays reachable (finished results are stored; rerun to resume)",
            f"{arg} lost",
        )
        try:
            for fut in as_completed(futures):
                try:
                    collect(fut.result())
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as e:  # noqa: BLE001  (KilledWorker, lost connection, ...)
                    if client.status not in ("running", "connecting") or _is_comm_loss(e):
                        raise lost from None
                    collect(_lost(futures[fut], job, e))
                fut.release()
        except (KeyboardInterrupt, SystemExit, ExecutorLost):
            with contextlib.suppress(BaseException):
                client.cancel(list(futures))
            raise
        except BaseException as e:  # the scheduler went away under as_completed itself
            if _is_comm_loss(e) or client.status not in ("running", "connecting"):
                raise lost from None
            raise


def _is_comm_loss(e: BaseException) -> bool:
    import asyncio
    from concurrent.futures import CancelledError

    try:
        from distributed.comm.core import CommClosedError
    except ImportError:  # pragma: no cover
        CommClosedError = OSError  # noqa: N806
    return isinstance(e, (CancelledError, asyncio.CancelledError, CommClosedError, OSError))


# ----------------------------------------------------------------------------- progress


def progress_bar(stream=None) -> Callable[[int, int, Counter], None]:
    """A one-line progress bar on ``stream`` (stderr), redrawn in place."""
    stream = stream or sys.stderr
    t0 = time.perf_counter()

    def show(k: int, n: int, counts: Counter) -> None:
        width = 30
        filled = int(width * k / max(n, 1))
        el = time.perf_counter() - t0
        stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {k}/{n}  done {counts['done']}"
            f"  skipped {counts['skipped']}  failed {counts['failed']}  {el:.0f} s"
        )
        if k >= n:
            stream.write("\n")
        stream.flush()

    return show


# ----------------------------------------------------------------------------- benchmark


def bench_configs(n_configs: int = 200) -> list:
    """``n_configs`` tiny DMF configs (depth 2, n = 2, distinct α): per-config cost is overhead."""
    return [
        DMFConfig(
            depth=2,
            n=2,
            init="mimic",
            m=3.0,
            alpha=10.0 ** (-3 + 2 * i / max(n_configs - 1, 1)),
            t1=5.0,
            n_save=8,
        )
        for i in range(n_configs)
    ]


def bench_sweep(
    n_configs: int = 200, executors: tuple = ("local:1", "local:2", "dask-local:2")
) -> dict:
    """The same ``n_configs``-configuration sweep on each executor, each into a fresh store.

    Returns, per executor: wall ``seconds`` (including pool/cluster start-up), ``startup_seconds``,
    ``speedup`` (first executor's seconds / this one's), ``overhead_per_config`` (seconds of worker
    time per configuration not spent in the solver: (seconds × workers − Σ solve time) / n) and
    ``per_config`` (seconds / n). The persistent compilation cache is warmed first.
    """
    import tempfile

    configs = bench_configs(n_configs)
    with tempfile.TemporaryDirectory(prefix="gflab-bench-") as tmp:
        run_sweep(configs[:1], ResultStore(Path(tmp) / "warm"), "local:1")  # warm the JIT cache
        out: dict[str, Any] = {"n_configs": n_configs, "cpu_count": os.cpu_count(), "executors": {}}
        base = None
        for ex in executors:
            kind, arg = parse_executor(ex)
            workers = arg if isinstance(arg, int) else 1
            s = run_sweep(
                configs, ResultStore(Path(tmp) / ex.replace(":", "_").replace("/", "_")), ex
            )
            if s.failed:
                raise RuntimeError(
                    f"bench sweep on {ex} had {s.failed} failures: {s.failures[0]['error']}"
                )
            base = base or s.seconds
            out["executors"][ex] = {
                "seconds": s.seconds,
                "startup_seconds": s.startup_seconds,
                "speedup": base / s.seconds,
                "per_config": s.seconds / n_configs,
                "overhead_per_config": (s.seconds * workers - s.solve_seconds) / n_configs,
                "solve_seconds": s.solve_seconds,
                "workers": workers,
            }
    return out
