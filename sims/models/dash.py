"""The plasticity protocol with an intervention at the switch (DASH, shrink-and-perturb, reset;
docs/theory.md §2.4): ``gflab simulate dmf-dash``."""

from __future__ import annotations

from typing import ClassVar

from gflab.sims.dash import DashConfig, DashPlasticityResult
from gflab.sims.models._base import PhasesModel
from gflab.sims.models.plasticity import protocol_columns, small_protocol
from gflab.sims.plasticity import PlasticityResult
from gflab.sims.result import json_safe

__all__ = ["Dash"]


class Dash(PhasesModel):
    """Phase 1, phase 2 resumed, from scratch, and resumed after the intervention: four
    :class:`SimResult` and the intervention's info."""

    name: ClassVar[str] = "dmf-dash"
    config: ClassVar[type] = DashConfig
    methods: ClassVar[tuple] = DashConfig.METHODS
    phases: ClassVar[tuple[str, ...]] = ("pretrain", "resumed", "scratch", "intervened")
    summary: ClassVar[str] = (
        "plasticity protocol with an intervention (DASH...) at the switch (docs/theory.md §2.4)"
    )
    columns: ClassVar[tuple[str, ...]] = protocol_columns(
        ("intervention", "floor"), ("resumed", "intervened")
    )
    examples: ClassVar[str] = """examples:
  gflab simulate dmf-dash --depth 2 --n 6 --m inf --alpha 1e-3 --floor 1e-4 --dash-alpha 1.0
  gflab simulate dmf-dash --depth 2 --n 6 --intervention shrink-perturb --floor 0.3 --json
  gflab simulate dmf-dash --depth 2 --n 6 --method gd:0.2 --switch 2000 --steps 4000 --json
results go through the result store ($GFLAB_STORE, default .gflab-cache/results): a rerun reads them
"""

    def run(self, config: DashConfig) -> DashPlasticityResult:
        from gflab.sims.dash import simulate_dash

        return simulate_dash(config)

    def example(self, method=None) -> DashConfig:
        return small_protocol(self.config, method)

    def _extra_meta(self, result: DashPlasticityResult) -> dict:
        return {"info": json_safe(result.info)}

    def from_store(self, config: DashConfig, arrays, meta) -> DashPlasticityResult:
        runs = self._phase_runs(arrays, meta)
        base = PlasticityResult(
            config.to_dict(), runs["pretrain"], runs["resumed"], runs["scratch"]
        )
        return DashPlasticityResult(
            base, config.intervention_spec(), runs["intervened"], meta["info"]
        )

    def describe(self, config: DashConfig, result: DashPlasticityResult) -> list[str]:
        c = config
        lines = [
            f"model      dmf-dash  (depth={c.depth}, n={c.n}, m={c.m}, alpha={c.alpha}, "
            f"{c.pretrain_mask} -> {c.mask}; {result.intervention.label()} at the switch)",
            f"{'phase':<11} {'status':<11} {'stable rank':>12} {'test RMSE':>10}",
        ]
        for name in self.phases:
            r = getattr(result, name)
            f = r.final
            lines.append(
                f"{name:<11} {r.status:<11} {f['stable_rank']:>12.6g} {f['test_rmse']:>10.4g}"
            )
        return lines
