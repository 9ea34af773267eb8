"""Loss of plasticity in deep matrix completion (docs/theory.md §2.1): ``gflab simulate
dmf-plasticity``."""

from __future__ import annotations

from typing import ClassVar

from gflab.sims.models._base import PhasesModel
from gflab.sims.plasticity import PlasticityConfig, PlasticityResult

__all__ = ["Plasticity", "phase_lines", "protocol_columns", "small_protocol"]


def phase_lines(names, runs) -> list[str]:
    """One line per phase: status, stable and effective rank, loss, test RMSE, convergence time.

    Args:
      names: the phases' names.
      runs: their :class:`gflab.sims.result.SimResult`.
    Returns:
      The header line and one line per phase.
    """
    unit = "step k" if runs[0].time_unit == "k" else "time t"
    w = max(9, *(len(n) for n in names))
    lines = [
        f"{'phase':<{w}} {'status':<11} {'stable rank':>12} {'eff. rank':>10} {'loss':>10} "
        f"{'test RMSE':>10} {'converged at ' + unit:>20}"
    ]
    for name, r in zip(names, runs, strict=True):
        f = r.final
        ttc = f.get("time", float("nan")) if r.status == "converged" else float("inf")
        lines.append(
            f"{name:<{w}} {r.status:<11} {f['stable_rank']:>12.6g} {f['effective_rank']:>10.5g} "
            f"{f['loss']:>10.3g} {f['test_rmse']:>10.4g} {ttc:>20.6g}"
        )
    return lines


def protocol_columns(fields: tuple[str, ...], phases: tuple[str, ...]) -> tuple[str, ...]:
    """The ``gflab results`` columns of a two-phase protocol model: key, status, the problem's
    size and scale, the protocol's own ``fields``, then the stable rank and the test RMSE of each
    compared phase.

    Args:
      fields: config fields that tell the protocol's runs apart.
      phases: the phases compared (their stored scalars ``PHASE_stable_rank`` ...).

    Returns:
      The column names.
    """
    stats = ("stable_rank", "test_rmse")
    head = ("key", "status", "depth", "n", "m", "alpha")
    return (*head, *fields, *(f"{p}_{s}" for s in stats for p in phases))


def small_protocol(config: type, method=None):
    """A small, fast config of the two-phase protocol (depth 2, n = 4), switching at t = 2 or,
    under a discrete method, after 5 of 10 steps.

    Args:
      config: :class:`PlasticityConfig` or a subclass (``DashConfig``).
      method: a method object, or None for the config's default.

    Returns:
      The config.
    """
    small = dict(depth=2, n=4, alpha=1e-2, n_save=4)
    if method is None:
        return config(**small, switch=2.0)
    if method.discrete:
        return config(**small, method=method, switch=5, steps=10)
    return config(**small, method=method, switch=2.0)


class Plasticity(PhasesModel):
    """Phase 1 on Ω1, then phase 2 on Ω2 resumed and from scratch: three :class:`SimResult`."""

    name: ClassVar[str] = "dmf-plasticity"
    config: ClassVar[type] = PlasticityConfig
    methods: ClassVar[tuple] = PlasticityConfig.METHODS
    phases: ClassVar[tuple[str, ...]] = ("pretrain", "resumed", "scratch")
    summary: ClassVar[str] = (
        "pretrain on one mask, resume vs scratch on another (docs/theory.md §2.1)"
    )
    columns: ClassVar[tuple[str, ...]] = protocol_columns(
        ("pretrain_mask", "mask"), ("resumed", "scratch")
    )
    examples: ClassVar[str] = """examples:
  gflab simulate dmf-plasticity --depth 2 --n 4 --init mimic --m 3 --alpha 1e-3 --pretrain-mask diagonal --mask superdiag --target ones
  gflab simulate dmf-plasticity --depth 3 --n 6 --m inf --alpha 1e-3 --json
  gflab simulate dmf-plasticity --depth 2 --n 4 --switch 5 --json   (phase 1 stops at t = 5)
results go through the result store ($GFLAB_STORE, default .gflab-cache/results): a rerun reads them
"""

    def run(self, config: PlasticityConfig) -> PlasticityResult:
        from gflab.sims.plasticity import simulate_plasticity

        return simulate_plasticity(config)

    def example(self, method=None) -> PlasticityConfig:
        return small_protocol(self.config, method)

    def from_store(self, config, arrays, meta) -> PlasticityResult:
        runs = self._phase_runs(arrays, meta)
        return PlasticityResult(config.to_dict(), *(runs[p] for p in self.phases))

    def describe(self, config: PlasticityConfig, result: PlasticityResult) -> list[str]:
        c = config
        head = (
            f"model      dmf-plasticity  (depth={c.depth}, n={c.n}, init={c.init}, m={c.m}, "
            f"alpha={c.alpha}, {c.pretrain_mask} -> {c.mask}, target={c.target})"
        )
        return [head, *phase_lines(self.phases, [getattr(result, p) for p in self.phases])]
