"""Deep matrix completion (docs/theory.md §2.1): ``gflab simulate dmf``."""

from __future__ import annotations

from typing import ClassVar

from gflab.sims.config import DMFConfig
from gflab.sims.models._base import SimResultModel

__all__ = ["DMF"]


class DMF(SimResultModel):
    """W = W_L ⋯ W_1 fitted on a mask Ω by a flow (adaptive) or GD: one :class:`SimResult`."""

    name: ClassVar[str] = "dmf"
    config: ClassVar[type] = DMFConfig
    methods: ClassVar[tuple] = DMFConfig.METHODS
    summary: ClassVar[str] = "deep matrix completion (docs/theory.md §2.1)"
    until_converged_flag: ClassVar[bool] = True
    problem: ClassVar[tuple[str, ...]] = ("depth", "n", "init", "m", "alpha", "mask", "target")
    columns: ClassVar[tuple[str, ...]] = (
        "key",
        "status",
        *problem,
        "seed",
        "loss",
        "stable_rank",
        "effective_rank",
        "time",
    )
    examples: ClassVar[str] = """examples:
  gflab simulate dmf --depth 3 --n 4 --init mimic --m 3 --alpha 1e-3 --mask diagonal --target ones --until-converged
  gflab simulate dmf --depth 2 --n 4 --m inf --alpha 1e-2 --mask block:2 --t1 100 --json
  gflab simulate dmf --depth 3 --n 30 --init gaussian --mask bernoulli:0.3 --target lowrank:2 --t1 200
results go through the result store ($GFLAB_STORE, default .gflab-cache/results): a rerun reads them
"""

    def run(self, config: DMFConfig):
        from gflab.sims.dmf import simulate_dmf

        return simulate_dmf(config)

    def entry_bytes(self, config: DMFConfig) -> int:
        n, depth = config.n, config.depth
        return 8 * (config.n_save * (n + 4) + n * n * (depth + 2)) + 4096

    def example(self, method=None) -> DMFConfig:
        small = dict(depth=2, n=3, alpha=0.1, n_save=4)
        if method is None:
            return DMFConfig(**small, t1=2.0)
        if method.discrete:
            return DMFConfig(**small, method=method, steps=5)
        return DMFConfig(**small, method=method, t1=2.0)
