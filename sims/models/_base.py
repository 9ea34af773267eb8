"""The model contract: what every entry of :data:`gflab.sims.models.MODELS` owns (docs/theory.md §3).

A model is a small immutable object (an ``equinox.Module`` with abstract class variables, as
diffrax writes its solvers): its name, its config class, the methods its config accepts, how it
runs a config, and how its result is stored in the result store and read back. Everything that
serves every model (``gflab simulate``, ``gflab sweep``, ``gflab results``, the schema of flags)
iterates the registry instead of switching on model names, so a new model is one new file.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

import equinox as eqx
import numpy as np

from gflab.sims import methods as M
from gflab.sims.result import SimResult, json_safe
from gflab.theory.errors import GflabInputError

if TYPE_CHECKING:  # the store imports the models: a type-only import keeps the graph one-way
    from gflab.sims.store import ResultStore

__all__ = ["Model", "SimResultModel", "PhasesModel", "OK_STATUSES", "HELP"]

# the statuses of a run that ended as asked (anything else exits 1 on the command line)
OK_STATUSES = ("converged", "t1_reached")

_INITS = (
    "mimic | gaussian (independent factors, gflab's) | tied-gaussian (one draw for every factor:"
    " the [DMC] authors' 'gaussian') | identity | orthogonal"
)
_MASKS = "diagonal | block:K | superdiag | bernoulli:P"

#: help of a config field or method hyper-parameter, shared by the models that have it (a model
#: overrides entries in its own ``field_help``)
HELP: dict[str, str] = {
    "depth": "number of factors L >= 2",
    "n": "matrix size n",
    "init": _INITS,
    "m": "mimic parameter m > 1 (inf: diagonal)",
    "alpha": "init scale alpha > 0 (W(0) ~ alpha)",
    "mask": _MASKS,
    "pretrain_mask": "phase-1 mask Ω1: " + _MASKS,
    "target": "ones | const:W | lowrank:R (U Vᵀ/√R)",
    "seed": "seed of every random draw (init, mask, target)",
    "t1": "horizon: integrate to flow time t1 (flows)",
    "t_max": "horizon of a flow run until converged",
    "method": "adaptive | euler:DT | gd:ETA | specgd:ETA | specgd-smooth:ETA | ns:ETA | muon:ETA",
    "steps": "number of steps of a discrete method",
    "normalisation": (
        "loss: sum = ½Σ_Ω R² | mean = ½Σ_Ω R²/|Ω| (Kleinman et al.) | full-mean = Σ_Ω R²/n²"
        " (the [DMC] authors' ((mask*W - mask*W*)**2).mean()); a flow's time or GD's step scales"
    ),
    "converge_tol": "stop when the loss / its value at W = 0 falls to this",
    "stop_loss": (
        "stop when the loss, in its normalisation, falls to this (GD: checked before each step,"
        " as the authors do; flows: at the root-found crossing); replaces --converge-tol; with"
        " gd, --steps becomes optional (default cap 1e6 steps, status max_steps if reached)"
    ),
    "n_save": "number of saved time points",
    "grid": "save grid of a flow: linear | log (default: linear with --t1, else log)",
    "coupling": "also save the tangent-kernel cross coupling",
    "mask_file": "observation mask from an n×n 0/1 .npy file (instead of --mask)",
    "target_file": "target from an n×n .npy file (instead of --target)",
    "pretrain_mask_file": "phase-1 mask Ω1 from an n×n 0/1 .npy file (instead of --pretrain-mask)",
    "init_file": (
        "initial factors from an .npz file holding W1 … WL, each n×n (W = W_L ⋯ W_1; instead of"
        " --init); its content enters the store key"
    ),
    "switch": "end of phase 1 (flow time; GD: steps); default: until converged",
    "rows": "rows of Y and A",
    "cols": "columns of Y and B",
    "rank": "inner dimension r",
    "target_svals": "comma-separated target singular values (distinct, > 0)",
    "flow": "gf | specgf",
    "beta": "smoothing beta of T_beta(G) = G(GᵀG + beta I)^(-1/2), beta > 0",
    "gamma": "init scale gamma > 0",
    "l2": "l2 regularisation lambda >= 0",
    "aligned": "target singular vectors = coordinate axes",
    "rtol": "adaptive: relative tolerance",
    "atol": "adaptive: absolute tolerance",
    "solver": "adaptive: diffrax solver (" + " | ".join(M.SOLVERS) + ")",
    "max_steps": "adaptive, euler: step budget of the solver",
    "momentum": "muon: momentum",
    "nesterov": "muon: Nesterov momentum; --no-nesterov turns it off",
    "ns_steps": "ns, muon: Newton-Schulz iterations",
    "ns_dtype": "ns, muon: Newton-Schulz precision (" + " | ".join(M.NS_DTYPES) + ")",
    "shape_scale": "muon: lr scaling (" + " | ".join(M.SHAPE_SCALES) + ")",
    "intervention": "at the switch: dash | shrink-perturb | reset (W_L to its init) | none",
    "floor": "DASH's floor λ, shrink-and-perturb's shrink factor (0 < λ ≤ 1)",
    "dash_alpha": "DASH's gradient averaging α (0 < α ≤ 1)",
    "dash_reduction": (
        "DASH's loss of one batch: sum = ½Σ_batch R² (gflab's) | mean = ½Σ_batch R²/|batch|"
        " (the authors' dash(): their criterion's mean)"
    ),
    "noise_std": "shrink-and-perturb: σ of the perturbation",
    "intervention_seed": "shrink-and-perturb: seed of the perturbation",
}


class Model(eqx.Module):
    """One model of docs/theory.md §2: its config, methods, runner and stored form.

    Subclasses are final and set the class variables; instances carry no data (the registry
    holds one of each).

    Class variables:
      name: the spelling on the command line and in ``config.to_dict()["model"]``.
      config: the config class (frozen, validated, ``to_dict()`` and a ``model`` attribute).
      methods: the method classes its config's ``method`` accepts (empty: no method field).
      record: the ``record`` kind written in the store's sidecar (default: ``name``).
      summary: one line for ``gflab simulate --help``.
      examples: the epilog of ``gflab simulate NAME --help``.
      field_help: help of each field (overrides of :data:`HELP`).
      columns: the columns ``gflab results`` shows in its terminal table.
      requires: the optional packages its runs import (an extra's: ``torch``...); none for the
        core models.
    """

    name: eqx.AbstractClassVar[str]
    config: eqx.AbstractClassVar[type]
    methods: eqx.AbstractClassVar[tuple]
    summary: eqx.AbstractClassVar[str]
    examples: ClassVar[str] = ""
    field_help: ClassVar[dict[str, str]] = HELP
    columns: ClassVar[tuple[str, ...]] = ("key", "status", "created")
    until_converged_flag: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ()

    @property
    def record(self) -> str:
        """The ``record`` kind of the store's sidecar: the model's :attr:`name` unless a subclass
        sets another (one-run models store a ``"result"``)."""
        return self.name

    # ------------------------------------------------------------------ running

    @abc.abstractmethod
    def run(self, config: Any) -> Any:
        """Run ``config`` (an instance of :attr:`config`).

        Args:
          config: the validated config.
        Returns:
          The model's result object.
        """

    def run_into(self, config: Any, store: ResultStore) -> Any:
        """Run ``config`` where the records its run stores along the way go to ``store`` (the
        pruning runs' proxies and coresets); a model that stores nothing but its result runs
        :meth:`run`.

        Args:
          config: the validated config.
          store: the result store that :meth:`stored` or a sweep writes the result to.
        Returns:
          The model's result object.
        """
        return self.run(config)

    @abc.abstractmethod
    def status(self, result: Any) -> str:
        """The run's status.

        Args:
          result: a result of :meth:`run`.
        Returns:
          ``converged``, ``t1_reached``, ``max_steps``, ``diverged``, ``finished``...
        """

    def ok(self, result: Any) -> bool:
        """Whether the run ended as asked (the command line then exits 0).

        Args:
          result: a result of :meth:`run`.
        Returns:
          True for a status of :data:`OK_STATUSES`.
        """
        return self.status(result) in OK_STATUSES

    def seconds(self, result: Any) -> float:
        """The seconds the run's solves took.

        Args:
          result: a result of :meth:`run`.
        Returns:
          Seconds (0 when unknown).
        """
        return 0.0

    # ------------------------------------------------------------------ storing

    @abc.abstractmethod
    def to_store(self, result: Any) -> tuple[dict[str, np.ndarray], dict]:
        """The stored form of ``result``.

        Args:
          result: a result of :meth:`run`.
        Returns:
          (arrays, JSON-able sidecar fields); the sidecar names :attr:`record`.
        """

    @abc.abstractmethod
    def from_store(self, config: Any, arrays: dict[str, np.ndarray], meta: dict) -> Any:
        """The result :meth:`to_store` wrote, rebuilt from the entry of ``config``.

        Args:
          config: the config the entry is stored under.
          arrays: the entry's arrays.
          meta: the entry's sidecar.
        Returns:
          A result equal to the one stored.
        """

    def storable(self, result: Any) -> bool:
        """Whether ``result`` is stored (a non-finite river run is a status only, never stored).

        Args:
          result: a result of :meth:`run`.
        Returns:
          True to store it.
        """
        return True

    def holds(self, meta: dict | None) -> bool:
        """Whether a verified entry holds this model's result.

        Args:
          meta: the entry's sidecar.
        Returns:
          True when :meth:`from_store` can read it.
        """
        return isinstance(meta, dict) and meta.get("record") == self.record

    def stale(self, meta: dict | None) -> bool:
        """Whether a verified entry of this model was computed by code its key does not cover
        and that has changed since (listed as ``stale`` by ``gflab results``, never served).

        Args:
          meta: the entry's sidecar.
        Returns:
          False here; a model whose results depend on code outside the store key overrides it.
        """
        return False

    def stored_status(self, meta: dict) -> str:
        """The status of a stored result, without reading its arrays.

        Args:
          meta: the entry's sidecar.
        Returns:
          The status, as :meth:`status` gives it.
        """
        return str(meta.get("status", self.record))

    def stored_scalars(self, meta: dict) -> dict[str, Any]:
        """The final scalar measurements of a stored result (columns of ``gflab results``).

        Args:
          meta: the entry's sidecar.
        Returns:
          ``{column: number or text}``.
        """
        return {}

    def put(self, store: ResultStore, config: Any, result: Any, **meta: Any) -> str:
        """Store ``result`` under ``config``'s key.

        Args:
          store: a :class:`gflab.sims.store.ResultStore`.
          config: the run's config.
          result: a result of :meth:`run`.
          **meta: more sidecar fields (``sweep_runner``...).
        Returns:
          The entry's key.
        """
        arrays, side = self.to_store(result)
        return store.put_record(config, arrays, {**side, **meta})

    def stored(self, config: Any, store: ResultStore | None = None) -> tuple[Any, str]:
        """The stored result of ``config``, or a new run stored first.

        Args:
          config: the validated config.
          store: a :class:`gflab.sims.store.ResultStore` (default: the default store).
        Returns:
          (the result, ``"hit"``, ``"computed"``, ``"computed (not stored)"`` for a store that
          cannot be written, or ``"diverged"`` for a result that is a status only).
        """
        from gflab.sims.store import ResultStore

        store = store if store is not None else ResultStore()
        entry = store.read(config)
        if entry.state == "ok" and self.holds(entry.meta):
            return self.from_store(config, entry.arrays, entry.meta), "hit"
        result = self.run_into(config, store)
        if not self.storable(result):
            return result, "diverged"
        try:
            self.put(store, config, result)
        except OSError:  # a read-only store: the run still stands
            return result, "computed (not stored)"
        return result, "computed"

    # ------------------------------------------------------------------ reading and writing

    def from_dict(self, d: dict[str, Any]) -> Any:
        """The config of ``d``: ``to_dict()``'s form without ``model`` (the JSON reader).

        Also reads the flat form of older files: ``method`` as a spelling (``"gd:0.1"``,
        ``"adaptive"``: this config's default method) with its hyper-parameters beside it
        (``rtol``, ``momentum``...). Digests of files (``mask_sha256``...) must match the files.

        Args:
          d: ``{field: value}``; unknown names are refused, naming them.
        Returns:
          The validated config.
        """
        d = dict(d)
        digests = {k: d.pop(k) for k in list(d) if k.endswith("_sha256")}
        names = {f.name for f in dataclasses.fields(self.config)}
        hyper_names = {f.name for m in self.methods for f in dataclasses.fields(m)}
        options = {k: d.pop(k) for k in list(d) if k not in names and k in hyper_names}
        unknown = set(d) - names
        if unknown:
            raise GflabInputError("config", f"fields of {self.config.__name__}", sorted(unknown))
        d = {k: tuple(v) if isinstance(v, list) else _float(v) for k, v in d.items()}
        if "method" in d or options:
            d["method"] = self.parse_method(d.get("method"), options)
        cfg = self.config(**d)
        now = cfg.to_dict()
        for k, v in digests.items():
            if now.get(k) != v:
                raise GflabInputError(
                    k.replace("_sha256", "_file"), f"a file with sha256 {v}", now.get(k)
                )
        return cfg

    def default_method(self) -> M.Method | None:
        """The method a config of this model runs when it names none.

        Returns:
          The ``method`` field's default object (None for a model without one).
        """
        for f in dataclasses.fields(self.config):
            if f.name == "method":
                return f.default
        return None

    def method_class(self, spec: Any) -> type | None:
        """The method class a spelling, dict or object names (None: this model's default).

        Args:
          spec: as for :meth:`parse_method`.
        Returns:
          A class of :data:`gflab.sims.methods.METHODS`, or None for no spelling.
        """
        from gflab.sims import methods as M

        if spec is None:
            return None
        if isinstance(spec, M.Method):
            return type(spec)
        name = spec.get("name") if isinstance(spec, dict) else spec
        cls = M.METHODS.get(name.partition(":")[0]) if isinstance(name, str) else None
        if cls is None:
            if isinstance(spec, dict):
                M.method_from_dict(spec)  # raises, naming the allowed names
            M.parse_method(spec)  # raises, naming the allowed spellings
        return cls

    def parse_method(self, spec: Any, options: dict[str, Any] | None = None):
        """A method object of this model from a spelling, a ``to_dict`` dict or an object, with
        ``options`` (hyper-parameters given beside it) applied: the one place where the command
        line's, a sweep spec's and old JSON files' spellings become objects.

        ``"adaptive"`` (or no spelling) is this model's default method, so a default tolerance
        lives only on the config's field; a bare discrete name (``"gd"``) takes its step from
        ``options`` (``lr``). A hyper-parameter the method lacks is refused, naming it.

        Args:
          spec: ``None``, a spelling of :data:`gflab.sims.methods.METHOD_SPELLINGS`, a bare name,
            a dict with ``name``, or a method object.
          options: ``{hyper-parameter: value}`` (``None`` values ignored).
        Returns:
          The validated method object.
        """
        from gflab.sims import methods as M

        cls = self.method_class(spec)
        default = self.default_method()
        if cls is None:
            cls, spec = type(default), default
        opts = {k: v for k, v in (options or {}).items() if v is not None}
        have = {f.name for f in dataclasses.fields(cls)}
        for k, v in opts.items():
            if k not in have:
                owners = [
                    m.name for m in self.methods if k in {f.name for f in dataclasses.fields(m)}
                ]
                raise GflabInputError(
                    k,
                    f"a method that has it: {'/'.join(owners) or 'none'} (not {cls.name},"
                    f" whose hyper-parameters are {', '.join(sorted(have)) or 'none'})",
                    v,
                )
        if self.methods and not issubclass(cls, self.methods):
            allowed = ", ".join(m.name for m in self.methods)
            raise GflabInputError("method", f"one of {allowed} for the {self.name} model", spec)
        if isinstance(spec, M.Method):
            return dataclasses.replace(spec, **opts) if opts else spec
        if isinstance(spec, dict):
            return M.method_from_dict({**{k: _float(v) for k, v in spec.items()}, **opts})
        step = "dt" if cls is M.Euler else "lr"
        if cls is M.Adaptive:
            base = default if isinstance(default, M.Adaptive) else M.Adaptive()
            return dataclasses.replace(base, **opts) if opts else base
        if ":" in spec and step in opts:
            raise GflabInputError(
                step, f"one step: either in method {spec!r} or as {step}", opts[step]
            )
        if ":" not in spec and step not in opts:
            raise GflabInputError(step, f"a value with method {spec}", None)
        needed = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.name != step and f.name not in opts
        ]
        if needed:  # a required hyper-parameter beside the spelling (specgd-smooth's beta)
            raise GflabInputError(needed[0], f"a value with method {cls.name}", None)
        return cls(**opts) if ":" not in spec else M.parse_method(spec, **opts)

    def to_json(self, result: Any) -> dict:
        """The ``--json`` document of a result.

        Args:
          result: a result of :meth:`run`.
        Returns:
          A JSON-ready dict.
        """
        return json_safe(result.to_json())

    def describe(self, config: Any, result: Any) -> list[str]:
        """Readable lines of a result (``gflab simulate`` without ``--json``).

        Args:
          config: the run's config.
          result: a result of :meth:`run`.
        Returns:
          The lines, without the store key's.
        """
        return [f"model      {self.name}", f"status     {self.status(result)}"]

    def entry_bytes(self, config: Any) -> int:
        """A rough size of one stored entry (a sweep's estimate).

        Args:
          config: the run's config.
        Returns:
          Bytes: ~4 KiB and the arrays.
        """
        return 4096

    @abc.abstractmethod
    def example(self, method: Any = None) -> Any:
        """A small config of this model that runs in seconds (docs, contract tests).

        Args:
          method: a method object of :attr:`methods` (None: the config's default method).
        Returns:
          The config, with the fields ``method`` needs (``steps`` for discrete methods...).
        """

    def cli_defaults(self, values: dict[str, Any], method_cls: type | None) -> dict[str, Any]:
        """Flag values the command line fills in when not given (none by default).

        Args:
          values: ``{field: value}`` of the flags given.
          method_cls: the method class the flags name (None: the default).
        Returns:
          The values with the fill-ins.
        """
        return values


def _float(v: Any) -> Any:
    """JSON's spellings of non-finite floats back to floats."""
    if isinstance(v, str) and v in ("inf", "-inf", "nan"):
        return float(v)
    return v


# ----------------------------------------------------------------------------- shared forms


class SimResultModel(Model):
    """A model whose run is one :class:`gflab.sims.result.SimResult` (stored as ``result``, the
    form :meth:`gflab.sims.store.ResultStore.put` writes).

    Class variables (besides :class:`Model`'s):
      problem: the config fields that define the problem; :meth:`describe`'s first line shows
        them, the method and the seed (in the config's order).
    """

    problem: ClassVar[tuple[str, ...]] = ()

    record: ClassVar[str] = "result"

    def status(self, result: SimResult) -> str:
        return result.status

    def seconds(self, result: SimResult) -> float:
        return float(result.stats.get("wall_seconds", 0.0))

    def to_store(self, result: SimResult) -> tuple[dict[str, np.ndarray], dict]:
        arrays, header = result.to_arrays()
        return arrays, {"result": header, "record": self.record}

    def from_store(self, config, arrays, meta) -> SimResult:
        return SimResult.from_arrays(arrays, meta["result"])

    def holds(self, meta) -> bool:
        return isinstance(meta, dict) and isinstance(meta.get("result"), dict)

    def stored_status(self, meta: dict) -> str:
        return str(meta["result"].get("status"))

    def stored_scalars(self, meta: dict) -> dict[str, Any]:
        final = meta["result"].get("final", {})
        out = {k: v for k, v in final.items() if _scalar(v)} if isinstance(final, dict) else {}
        stats = meta["result"].get("stats", {})
        if isinstance(stats, dict):
            out.update({c: stats[s] for s, c in _STATS.items() if s in stats and _scalar(stats[s])})
        return out

    def to_json(self, result: SimResult) -> dict:
        return result.to_json()

    def describe(self, config, result: SimResult) -> list[str]:
        c = result.config
        keys = (*self.problem, "method", "seed")
        shown = ", ".join(f"{k}={_brief(v)}" for k, v in c.items() if k in keys)
        lines = [
            f"model      {c['model']}  ({shown})",
            f"status     {result.status}" + (f"  ({result.message})" if result.message else ""),
        ]
        unit = "step k" if result.time_unit == "k" else "time t"
        f = result.final
        if f:
            sv = np.asarray(f["singular_values"])
            lines += [
                f"final {unit:<6} {f['time']:.6g}",
                f"loss       {f['loss']:.6g}",
                "sing. vals "
                + " ".join(f"{v:.5g}" for v in sv[:8])
                + (" ..." if len(sv) > 8 else ""),
                f"stable rank {f['stable_rank']:.6g}   effective rank {f['effective_rank']:.6g}",
            ]
            if "proxies" in f:
                lines.append(
                    "proxies d_i " + " ".join(f"{v:.5g}" for v in np.asarray(f["proxies"]))
                )
        s = result.stats
        lines.append(
            f"solver     {s['solver']}: {s['steps']} steps, {s['wall_seconds']:.3g} s"
            f" (+{s['compile_seconds']:.3g} s compile)"
        )
        return lines


# solver statistics worth a column of ``gflab results``
_STATS = {"solver": "solver", "steps": "solver_steps", "wall_seconds": "wall_seconds"}


def _scalar(v: Any) -> bool:
    return isinstance(v, (int, float, str)) and not isinstance(v, bool)


def _brief(v) -> str:
    """A method dict as ``muon(lr=0.01, momentum=0.95, ...)``; other values as they are."""
    if isinstance(v, dict) and "name" in v:
        return v["name"] + "(" + ", ".join(f"{k}={x}" for k, x in v.items() if k != "name") + ")"
    return str(v)


class PhasesModel(Model):
    """A model whose result is several :class:`SimResult` phases (the plasticity protocols):
    stored as one record, each phase's arrays prefixed ``PHASE/`` and its header in ``phases``."""

    phases: eqx.AbstractClassVar[tuple[str, ...]]

    def _runs(self, result) -> dict[str, SimResult]:
        return {name: getattr(result, name) for name in self.phases}

    def status(self, result) -> str:
        runs = list(self._runs(result).values())
        bad = [r.status for r in runs if r.status not in OK_STATUSES]
        return bad[0] if bad else runs[-1].status

    def seconds(self, result) -> float:
        return sum(float(r.stats.get("wall_seconds", 0.0)) for r in self._runs(result).values())

    def _extra_meta(self, result) -> dict:
        return {}

    def to_store(self, result) -> tuple[dict[str, np.ndarray], dict]:
        arrays, headers = {}, {}
        for name, run in self._runs(result).items():
            a, headers[name] = run.to_arrays()
            arrays.update({f"{name}/{k}": v for k, v in a.items()})
        meta = {"record": self.record, "phases": headers, "status": self.status(result)}
        return arrays, {**meta, **self._extra_meta(result)}

    def _phase_runs(self, arrays, meta) -> dict[str, SimResult]:
        runs = {}
        for name in self.phases:
            pre = name + "/"
            mine = {k[len(pre) :]: v for k, v in arrays.items() if k.startswith(pre)}
            runs[name] = SimResult.from_arrays(mine, meta["phases"][name])
        return runs

    def stored_status(self, meta: dict) -> str:
        if "status" in meta:
            return str(meta["status"])
        statuses = [meta["phases"][p].get("status") for p in self.phases]
        bad = [s for s in statuses if s not in OK_STATUSES]
        return str(bad[0] if bad else statuses[-1])

    def stored_scalars(self, meta: dict) -> dict[str, Any]:
        out = {}
        for name in self.phases:
            final = meta["phases"][name].get("final", {})
            for k in ("stable_rank", "effective_rank", "loss", "test_rmse"):
                if _scalar(final.get(k)):
                    out[f"{name}_{k}"] = final[k]
        return out

    def entry_bytes(self, config) -> int:
        n, depth = config.n, config.depth
        return len(self.phases) * (8 * (config.n_save * (n + 4) + n * n * (depth + 2)) + 4096)

    def to_json(self, result) -> dict:
        return json_safe(result.to_json())
