"""A sweep's spec: the TOML document → validated configurations, counted and estimated."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gflab.sims.models import model_named
from gflab.sims.schema import config_from_fields, method_params
from gflab.sims.store import ResultStore
from gflab.theory.errors import GflabInputError

DEFAULT_RUNNER = "gflab.sims.sweep:simulate_config"
#: runners a spec may name without ``--allow-import`` (importing any other runs arbitrary code)
RUNNERS = (DEFAULT_RUNNER,)
MAX_CONFIGS = 1_000_000
FULL_CHECK = 20_000  # specs up to this size are validated config by config when parsed
WARN_CONFIGS = 100_000  # `gflab sweep` warns with an estimate before a grid this large
_SPEC_KEYS = ("model", "base", "grid", "list", "seeds", "runner")


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
        return _make_config(model_named(self.model).config, self.model, fields, self._label)

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

    Keys: ``model`` (a key of :data:`gflab.sims.models.MODELS`), ``[base]`` config fields, ``[grid]`` field → list of values
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
    cls = model_named(model).config
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
    """Rough size of one stored entry (the model's :meth:`~gflab.sims.models.Model.entry_bytes`)."""
    return model_named(cfg.model).entry_bytes(cfg)


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
        model = model_named(spec.model)
        unique = {store.key(c): c for c in spec.configs()}
        entries = (store.read(c, key=k) for k, c in unique.items())
        return sum(e.state == "ok" and model.holds(e.meta) for e in entries)
    if not store.keys():
        return 0
    hyper = set(method_params(spec.model)) - {
        f.name for f in dataclasses.fields(model_named(spec.model).config)
    }

    def flat(d: dict) -> dict:
        """A stored config with its method's hyper-parameters also as ``method.NAME``."""
        method = d.get("method") if isinstance(d.get("method"), dict) else {}
        return {**d, **{f"method.{k}": v for k, v in method.items()}}

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
        if e.state != "ok" or not model_named(spec.model).holds(e.meta) or set(c) != top:
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
