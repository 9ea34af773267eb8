"""Dataset pruning from training dynamics on real torch runs (docs/pruning.md): ``gflab simulate
prune``.

One configuration is one pruning method (a score and a selector) at one or more pruning ratios
for one seed: the flat view :class:`PruneRunConfig` of the bridge's
:class:`~gflab.sims.bridge.prune_run.PruneConfig`, whose fields it takes over (names, defaults,
help and validation are the bridge specs'; only ``TrainSpec.model`` is called ``net`` here, since
``model`` names the gflab model, and the list of seeds is one ``seed``, so that a sweep's
``seeds`` and ``gflab results``' rows are per seed). The run is
:func:`~gflab.sims.bridge.prune_run.run_prune`: its proxy and coreset runs are records of the
same result store under the same keys as ``gflab bridge prune``'s, so either command reads what
the other trained; the model's own entry holds the report (test accuracies, class counts, the
keys of those records, timings). torch is imported only when a run trains.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from gflab.sims.bridge.prune_data import DataSpec
from gflab.sims.bridge.prune_run import MethodSpec, PruneConfig, TrainSpec
from gflab.sims.models._base import Model
from gflab.sims.result import json_safe
from gflab.theory.errors import GflabInputError

__all__ = ["Prune", "PruneRunConfig", "PRUNE_HELP"]

# (spec class, flat field name, the spec's field name) of every field taken over: the spec's field
# gives the default, the annotation and the help (its metadata); the order is the command line's
_SPEC_FIELDS: tuple[tuple[type, str, str], ...] = (
    *((DataSpec, f.name, f.name) for f in dataclasses.fields(DataSpec)),
    *(
        (TrainSpec, "net" if f.name == "model" else f.name, f.name)
        for f in dataclasses.fields(TrainSpec)
    ),
    *((MethodSpec, f.name, f.name) for f in dataclasses.fields(MethodSpec)),
    (PruneConfig, "ratios", "ratios"),
    (PruneConfig, "labelled", "labelled"),
    (PruneConfig, "semi_method", "semi_method"),
)

#: help of every field of :class:`PruneRunConfig` (the bridge specs' metadata, and these where
#: a spec's field has none)
PRUNE_HELP: dict[str, str] = {
    **{
        flat: cls.__dataclass_fields__[own].metadata.get("help", "")
        for cls, flat, own in _SPEC_FIELDS
    },
    "net": "mlp (D-128-128-10) | cnn1d (three Conv1d layers, a linear head); default: mlp for"
    " digits, cnn1d for mnist1d",
    "data": "digits | mnist1d",
    "device": "cpu | cuda",
    "ratios": "pruning ratios r in (0, 1), the fraction removed (a comma list; a coreset each)",
    "semi_method": "SemiPrune's pseudo-labelling step: label_spreading | self_training | fixmatch",
    "momentum": "SGD momentum in [0, 1)",
    "weight_decay": "SGD weight decay >= 0",
    "score": "dual | dynunc | el2n | forgetting | aum | random (docs/pruning.md)",
    "select": "hard | beta | budget | stratified (random ignores it; aum: not beta)",
    "budget_descending": "budget selector: sort descending before dropping",
    "seed": "seed of the proxy and its coresets: initial weights, batch order, Beta sampling",
}


class _PruneFields:
    """What :class:`PruneRunConfig` adds to its generated fields: validation through the bridge's
    specs, normalised numbers, ``to_dict`` and the nested :class:`PruneConfig`."""

    model: ClassVar[str] = "prune"

    def __post_init__(self):
        if self.net is None:  # the bridge's default: the network made for the dataset
            object.__setattr__(self, "net", "cnn1d" if self.data == "mnist1d" else "mlp")
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if str(f.type).startswith("float") and isinstance(v, int) and not isinstance(v, bool):
                object.__setattr__(self, f.name, float(v))  # 1 and 1.0: one config, one key
        r = self.ratios
        if not isinstance(r, (tuple, list)) or not all(_real(x) for x in r):
            raise GflabInputError("ratios", "a list of numbers in (0, 1)", r)
        object.__setattr__(self, "ratios", tuple(float(x) for x in r))
        try:
            self.prune_config()  # every rule is the bridge specs'
        except GflabInputError as e:
            raise GflabInputError(_FLAT.get(e.parameter, e.parameter), e.allowed, e.got) from None

    def prune_config(self) -> PruneConfig:
        """The bridge's experiment of this configuration (one method, one seed).

        Returns:
          The validated :class:`~gflab.sims.bridge.prune_run.PruneConfig`.
        """
        parts = {cls: {} for cls in (DataSpec, TrainSpec, MethodSpec, PruneConfig)}
        for cls, flat, own in _SPEC_FIELDS:
            parts[cls][own] = getattr(self, flat)
        return PruneConfig(
            data=DataSpec(**parts[DataSpec]),
            train=TrainSpec(**parts[TrainSpec]),
            methods=(MethodSpec(**parts[MethodSpec]),),
            seeds=(self.seed,),
            **parts[PruneConfig],
        )

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON (``model`` first; what the store key covers).

        Returns:
          ``{"model": "prune", field: value, ...}``, ``ratios`` a list.
        """
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"model": self.model, **d, "ratios": list(d["ratios"])}


# the bridge specs' parameter names that the flat config calls otherwise
_FLAT = {"model": "net", "seeds": "seed"}

# PruneConfig's fields that one configuration of the registry cannot hold: a report over several
# seeds or methods is several configurations (a sweep's seeds, a grid over score), and the
# recording guard is not part of a result (its key): $GFLAB_DYNAMICS_BUDGET_GIB sets it
_BRIDGE_ONLY = {
    "seeds": "one seed per prune config: a sweep's seeds = [...] runs several",
    "methods": "one method per prune config (score, select): a sweep's grid over them runs several",
    "dynamics_budget_gib": "no field of a prune config: $GFLAB_DYNAMICS_BUDGET_GIB sets the budget",
}


def _real(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _flat_field(cls: type, flat: str, own: str) -> tuple[str, str, dataclasses.Field]:
    f = cls.__dataclass_fields__[own]
    default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
    if flat == "net":
        return flat, "str | None", dataclasses.field(default=None)
    return flat, f.type, dataclasses.field(default=default)


#: One ``gflab simulate prune`` configuration: the fields of DataSpec, TrainSpec (``model`` as
#: ``net``) and MethodSpec, PruneConfig's ``ratios``, ``labelled`` and ``semi_method``, and one
#: ``seed`` (frozen; validated by the bridge's specs, errors naming the flat field).
PruneRunConfig = dataclasses.make_dataclass(
    "PruneRunConfig",
    [*(_flat_field(*spec) for spec in _SPEC_FIELDS), ("seed", "int", dataclasses.field(default=0))],
    bases=(_PruneFields,),
    frozen=True,
    namespace={
        "__module__": __name__,
        "__doc__": "One pruning method at its ratios for one seed: a flat view of the bridge's "
        "PruneConfig (docs/pruning.md). ``prune_config()`` is the nested experiment; "
        "``to_dict()`` the JSON the store key covers.",
    },
)


class Prune(Model):
    """Dataset pruning (docs/pruning.md): a proxy trained once with its dynamics recorded, the
    examples scored and a coreset per ratio retrained from scratch; the model takes no method
    object (its method is the ``score`` and ``select`` fields). The result is the report of
    :func:`~gflab.sims.bridge.prune_run.run_prune`."""

    name: ClassVar[str] = "prune"
    config: ClassVar[type] = PruneRunConfig
    methods: ClassVar[tuple] = ()
    record: ClassVar[str] = "prune"
    requires: ClassVar[tuple[str, ...]] = ("torch", "sklearn")
    summary: ClassVar[str] = (
        "dataset pruning from training dynamics on digits or MNIST-1D (docs/pruning.md)"
    )
    field_help: ClassVar[dict[str, str]] = PRUNE_HELP
    columns: ClassVar[tuple[str, ...]] = (
        "key",
        "status",
        "data",
        "net",
        "epochs",
        "score",
        "select",
        "T",
        "seed",
        "ratios",
        "full_test_accuracy",
        "test_accuracy",
    )
    examples: ClassVar[str] = """examples:
  gflab simulate prune --score dual --select beta --ratios 0.5,0.9 --seed 1
  gflab simulate prune --data mnist1d --epochs 50 --T 15 --label-noise 0.2 --score el2n --json
  gflab simulate prune --labelled 0.1 --score aum --select budget
proxies and coresets are the records of gflab bridge prune (a run of either reads the other's);
results go through the result store ($GFLAB_STORE, default .gflab-cache/results): a rerun reads them
"""

    def from_dict(self, d: dict[str, Any]) -> PruneRunConfig:
        """The config of ``d`` (``to_dict()``'s form without ``model``); the bridge's names
        for several methods or seeds, and its recording guard, are refused, naming them.

        Args:
          d: ``{field: value}``.
        Returns:
          The validated config.
        """
        for name, allowed in _BRIDGE_ONLY.items():
            if name in d:
                raise GflabInputError(name, allowed, d[name])
        return super().from_dict(d)

    def run(self, config: PruneRunConfig, store=None) -> dict:
        """Train (or read) the proxy and the coresets of ``config``, serially.

        Args:
          config: the configuration.
          store: the result store of the proxy and coreset records (default: the default store,
            the one ``gflab bridge prune`` uses).
        Returns:
          The report of :func:`~gflab.sims.bridge.prune_run.run_prune`.
        """
        from gflab.sims.bridge._torch import resolve_device
        from gflab.sims.bridge.prune_run import run_prune
        from gflab.sims.store import ResultStore

        # refused here, naming the parameter, rather than as a failed run of the runner's sweep:
        # no torch (the bridge extra), or cuda without a GPU
        resolve_device(config.device)
        store = store if store is not None else ResultStore()
        return run_prune(config.prune_config(), store, executor="local:1")

    def run_into(self, config: PruneRunConfig, store) -> dict:
        return self.run(config, store)

    def status(self, result: dict) -> str:
        rows = [row for rows in result["methods"].values() for row in rows.values()]
        finished = all(s == "finished" for row in rows for s in row["status"])
        full = all(_real(a) for a in result["full"]["test_accuracy"])
        return "finished" if finished and full else "diverged"

    def ok(self, result: dict) -> bool:
        return self.status(result) == "finished"

    def seconds(self, result: dict) -> float:
        return float(result.get("wall_seconds", 0.0))

    def to_store(self, result: dict):
        from gflab.sims.store import bridge_code_hash

        return {}, {
            "record": self.record,
            "report": json_safe(result),
            "status": self.status(result),
            "bridge_code": bridge_code_hash(),
        }

    def holds(self, meta: dict | None) -> bool:
        """Whether ``meta`` holds a report computed by this checkout's bridge code.

        The store key covers ``theory/`` and ``sims/`` but the bridge; the proxies and coresets a
        report reads carry :func:`~gflab.sims.store.bridge_code_hash` in their own keys, so a
        report whose bridge code differs is stale: it is run again (and replaced), never served.

        Args:
          meta: the entry's sidecar.
        Returns:
          True when the entry is a report of the current bridge code.
        """
        from gflab.sims.store import bridge_code_hash

        return super().holds(meta) and meta.get("bridge_code") == bridge_code_hash()

    def stale(self, meta: dict | None) -> bool:
        """Whether ``meta`` is a report of this model computed by other bridge code.

        Args:
          meta: the entry's sidecar.
        Returns:
          True for a report of an older (or newer) bridge.
        """
        return super().holds(meta) and not self.holds(meta)

    def from_store(self, config, arrays, meta) -> dict:
        return meta["report"]

    def stored_status(self, meta: dict) -> str:
        return str(meta.get("status", self.record))

    def stored_scalars(self, meta: dict) -> dict[str, Any]:
        report = meta["report"]
        [rows] = report["methods"].values()
        accs = {r: row["test_accuracy"][0] for r, row in rows.items()}
        return {
            "full_test_accuracy": report["full"]["test_accuracy"][0],
            "test_accuracy": ",".join(f"{a:.4g}" if _real(a) else "nan" for a in accs.values()),
            **{f"test_accuracy_r{r}": a for r, a in accs.items()},
            "wall_seconds": report.get("wall_seconds"),
        }

    def to_json(self, result: dict) -> dict:
        """The report without its nested config (``gflab simulate`` prints the flat one), its
        timings and how its runs were obtained under ``stats``.

        Args:
          result: a report of :meth:`run`.
        Returns:
          ``status``, ``n_train``, ``full``, ``methods``, ``cost`` (epochs), ``pseudo_labels``
          (SemiPrune) and ``stats`` (``wall_seconds``, ``sweeps``, the seconds of ``full`` and
          ``cost``).
        """
        full = {k: v for k, v in result["full"].items() if k != "seconds_mean"}
        cost = {
            m: {k: v for k, v in c.items() if k.endswith("epochs")}
            for m, c in result["cost"].items()
        }
        stats = {
            "wall_seconds": result["wall_seconds"],
            "sweeps": result["sweeps"],
            "full_seconds_mean": result["full"]["seconds_mean"],
            "cost_seconds": {
                m: {k: v for k, v in c.items() if k.endswith("seconds")}
                for m, c in result["cost"].items()
            },
        }
        doc = {"status": self.status(result), "n_train": result["n_train"], "full": full}
        doc.update(methods=result["methods"], cost=cost, stats=stats)
        if "pseudo_labels" in result:
            doc["pseudo_labels"] = result["pseudo_labels"]
        return json_safe(doc)

    def describe(self, config: PruneRunConfig, result: dict) -> list[str]:
        c = config
        [(name, rows)] = result["methods"].items()
        scen = [f"{k} {getattr(c, k):g}" for k in ("label_noise", "corrupt") if getattr(c, k) > 0]
        scen += [f"long_tail {c.long_tail:g}"] if c.long_tail > 1 else []
        full = result["full"]
        lines = [
            f"model      prune  ({c.data}, N = {result['n_train']}, {c.net}, E = {c.epochs},"
            f" seed {c.seed}, {name}{', ' + ', '.join(scen) if scen else ''})",
            f"status     {self.status(result)}",
            f"full data  test accuracy {_pct(full['test_accuracy'][0])} %"
            f"  ({full['epochs']} epochs, {full['seconds_mean']:.3g} s)",
        ]
        if "pseudo_labels" in result:
            pl = result["pseudo_labels"]
            lines.append(
                f"pseudo     {pl['method']}, {100 * pl['labelled']:g} % labelled:"
                f" {_pct(pl['accuracy_mean'])} % correct"
            )
        for r, row in rows.items():
            counts = row["class_counts"][0]
            empty = row["empty_classes"][0]
            lines.append(
                f"r = {r:<6} test accuracy {_pct(row['test_accuracy'][0])} %  (kept {sum(counts)},"
                f" class counts {' '.join(map(str, counts))}"
                + (f", {empty} empty classes" if empty else "")
                + (f", {row['status'][0]})" if row["status"][0] != "finished" else ")")
            )
        cost = result["cost"][name]
        lines.append(
            f"scoring    {cost['score_epochs']}/{cost['full_epochs']} proxy epochs,"
            f" {cost['proxy_seconds'] + cost['score_seconds']:.3g} s"
        )
        sw = result["sweeps"]
        lines.append(
            f"runs       {sw['proxies']['done'] + sw['coresets']['done']} trained,"
            f" {sw['proxies']['read'] + sw['coresets']['read']} read from the store when computed;"
            f" wall {result['wall_seconds']:.3g} s"
        )
        return lines

    def entry_bytes(self, config: PruneRunConfig) -> int:
        # the report here; the proxy's logits E·N·C·4 bytes (npz compressed) and the coresets
        # are records of their own, shared with other configs
        return 4096 + 1024 * len(config.ratios)

    def example(self, method=None) -> PruneRunConfig:
        return PruneRunConfig(
            n_train=200, n_test=100, net="mlp", epochs=4, T=3, J=2, ratios=(0.5,), seed=0
        )


def _pct(x: Any) -> str:
    return f"{100 * x:.1f}" if _real(x) else "n/a"
