"""The river valley of Muon and AMUSE (docs/dash-amuse.md): ``gflab simulate river``."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from gflab.sims.models._base import Model
from gflab.sims.result import json_safe
from gflab.sims.river import RiverConfig

__all__ = ["River", "RIVER_HELP"]

# the per-step series of each method and sequence (arrays of the stored entry)
_SERIES = ("bulk_progress_series", "wall_series")
# the scalars of each method and sequence that the command line prints
_SCALARS = ("steps_to_bulk_90", "wall_amplitude", "bulk_progress")

#: the river valley's own help (its field names are shared with other models: rows, beta, lr...)
RIVER_HELP: dict[str, str] = {
    "rows": "rows of W (at most 4096)",
    "cols": "columns of W (at most rows)",
    "bulk": "flat (bulk) columns, fewer than cols",
    "h_bulk": "curvature of the bulk columns",
    "h_wall": "curvature of the wall columns",
    "noise": "σ of the Gaussian gradient noise (0: deterministic)",
    "lr": "base learning rate of Muon (AMUSE's base step), Schedule-Free Muon and AMUSE",
    "lr_gd": "GD's step (default 1/h_wall)",
    "beta1": "AMUSE's β₁ in (0, 1]: the interpolation during the warmup",
    "rho": "AMUSE's ρ >= 0: how fast β rises to 1 after the warmup (0: β stays β₁)",
    "warmup_steps": "AMUSE's warmup T₀ >= 1 (linear lr warmup; fewer than steps; default: steps // 10)",
    "momentum": "Muon momentum μ in [0, 1) (Nesterov)",
    "r": "AMUSE's weight power r >= 0 (weights t^r·lr_t^p)",
    "weight_lr_power": "AMUSE's p >= 0 (weights t^r·lr_t^p)",
    "weight_decay": "decoupled weight decay on z (AMUSE) and W (Muon), >= 0",
    "aux_update_type": "adamw | sgd: Muon's shape scale 0.2·√max(m,n) or √max(1,m/n)",
    "steps": "number of steps (>= 8; steps × rows × cols within $GFLAB_MAX_MEMORY and"
    " $GFLAB_MAX_SECONDS)",
    "seed": "seed of the gradient noise",
}


class River(Model):
    """One run of every optimiser of :data:`gflab.sims.river.METHODS` (their steps are config
    fields, so the model takes no method object): ``{method: {sequence: measurements}}``."""

    name: ClassVar[str] = "river"
    config: ClassVar[type] = RiverConfig
    methods: ClassVar[tuple] = ()
    summary: ClassVar[str] = (
        "river valley: GD, Muon, Schedule-Free Muon, AMUSE as published (docs/dash-amuse.md)"
    )
    field_help: ClassVar[dict[str, str]] = RIVER_HELP
    columns: ClassVar[tuple[str, ...]] = (
        "key",
        "status",
        "rows",
        "cols",
        "bulk",
        "h_bulk",
        "noise",
        "lr",
        "steps",
        "gd.W.steps_to_bulk_90",
        "muon.W.steps_to_bulk_90",
        "amuse.x.steps_to_bulk_90",
    )
    examples: ClassVar[str] = """examples:
  gflab simulate river --lr 0.03 --beta1 0.6 --rho 0.3 --warmup-steps 300 --noise 1e-4
  gflab simulate river --h-bulk 0.003 --noise 1e-4 --seed 1 --json
methods: GD, Muon (AMUSE's base step alone), sf-muon (AMUSE with rho = 0), AMUSE as published
results go through the result store ($GFLAB_STORE, default .gflab-cache/results): a rerun reads them
"""

    def run(self, config: RiverConfig) -> dict:
        from gflab.sims.river import simulate_river

        with np.errstate(over="ignore", invalid="ignore"):
            return simulate_river(config)

    def status(self, result: dict) -> str:
        return "finished" if self.storable(result) else "diverged"

    def ok(self, result: dict) -> bool:
        return self.storable(result)

    def storable(self, result: dict) -> bool:
        return all(
            np.all(np.isfinite(np.asarray(s[name], dtype=np.float64)))
            for seqs in result.values()
            for s in seqs.values()
            for name in _SERIES
        )

    def to_store(self, result: dict):
        arrays = {
            f"{m}.{q}.{name}": np.asarray(s[name], dtype=np.float64)
            for m, seqs in result.items()
            for q, s in seqs.items()
            for name in _SERIES
        }
        summary = {
            m: {q: {k: v for k, v in s.items() if k not in _SERIES} for q, s in seqs.items()}
            for m, seqs in result.items()
        }
        return arrays, {"record": self.record, "summary": summary, "status": "finished"}

    def from_store(self, config, arrays, meta) -> dict:
        out: dict = {}
        for m, seqs in meta["summary"].items():
            out[m] = {}
            for q, scalars in seqs.items():
                s = {k: float(v) for k, v in scalars.items()}
                for name in _SERIES:
                    s[name] = arrays[f"{m}.{q}.{name}"].tolist()
                out[m][q] = s
        return out

    def stored_status(self, meta: dict) -> str:
        return str(meta.get("status", "finished"))

    def stored_scalars(self, meta: dict) -> dict:
        return {
            f"{m}.{q}.{k}": v
            for m, seqs in meta.get("summary", {}).items()
            for q, s in seqs.items()
            for k, v in s.items()
            if k in _SCALARS
        }

    def _summary(self, result: dict) -> dict:
        return {
            m: {q: {k: s[k] for k in _SCALARS} for q, s in seqs.items()}
            for m, seqs in result.items()
        }

    def to_json(self, result: dict) -> dict:
        return json_safe({"results": self._summary(result), "status": self.status(result)})

    def entry_bytes(self, config: RiverConfig) -> int:
        return 8 * 2 * 7 * config.steps + 4096

    def example(self, method=None) -> RiverConfig:
        return RiverConfig(steps=20)

    def describe(self, config: RiverConfig, result: dict) -> list[str]:
        c = config
        lines = [
            f"model      river  ({c.rows}x{c.cols}, bulk={c.bulk}, h_bulk={c.h_bulk:g}, "
            f"h_wall={c.h_wall:g}, noise={c.noise:g}, lr={c.lr:g}, steps={c.steps})",
            f"AMUSE      beta1={c.beta1:g}, rho={c.rho:g}, warmup_steps={c.warmup_steps}, "
            f"momentum={c.momentum:g}, aux_update_type={c.aux_update_type} (sf-muon: rho=0)",
            f"{'method':<12} {'k90 (bulk)':>11} {'wall ampl.':>11} {'bulk progress':>14}",
        ]
        for m, seqs in self._summary(result).items():
            for q, s in seqs.items():
                lines.append(
                    f"{m + '.' + q:<12} {s['steps_to_bulk_90']:>11.6g}"
                    f" {s['wall_amplitude']:>11.4g} {s['bulk_progress']:>14.6g}"
                )
        if not self.storable(result):
            lines.append("status     diverged (a non-finite value: not stored)")
        return lines
