"""LoRA-style factorisation (docs/theory.md §2.2): ``gflab simulate lora``."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from gflab.sims import methods as M
from gflab.sims import terms as _terms
from gflab.sims.config import LoRAConfig
from gflab.sims.models._base import HELP, SimResultModel

__all__ = ["LoRA", "DEFAULT_BETA", "default_lora_horizon"]

# SpecGF's smoothing when none is given (recorded in the config): its field's default
DEFAULT_BETA = _terms.DEFAULT_BETA


def default_lora_horizon(flow: str, target_svals) -> float:
    """The command line's horizon when no ``--t1`` is given.

    Args:
      flow: ``gf`` or ``specgf``.
      target_svals: the target's singular values.
    Returns:
      SpecGF: 2.5 √s_max + 2 (every mode arrives near √s_i); GF: 20.
    """
    if flow != "specgf":
        return 20.0
    # a negative value is refused by the config's validation, not here (no math domain error)
    return 2.5 * math.sqrt(max(0.0, *(float(s) for s in target_svals))) + 2.0


# the problem's fields (:attr:`LoRA.problem`)
_PROBLEM = ("rows", "cols", "rank", "target_svals", "flow", "beta", "gamma", "init", "l2")


def _default(name: str) -> Any:
    return LoRAConfig.__dataclass_fields__[name].default


class LoRA(SimResultModel):
    """Y ≈ A B by GF/SpecGF flows or discrete steps (GD, SpecGD, Muon...): one :class:`SimResult`."""

    name: ClassVar[str] = "lora"
    config: ClassVar[type] = LoRAConfig
    methods: ClassVar[tuple] = LoRAConfig.METHODS
    summary: ClassVar[str] = "LoRA-style factorisation (docs/theory.md §2.2)"
    field_help: ClassVar[dict[str, str]] = {
        **HELP,
        "init": "lora (A = 0, B with gamma·N(0, 1) entries) | gaussian (A and B both gamma·N(0, 1))",
        "seed": "seed of the init and target draws",
        "beta": (
            "smoothing beta of T_beta: SpecGF flows and specgd-smooth (default"
            f" {DEFAULT_BETA!r}; 0 = the exact polar flow, euler:DT only); refused with --flow gf"
        ),
        "init_file": (
            "initial factors from an .npz file holding A (rows×rank) and B (rank×cols) (instead"
            " of --init); its content enters the store key"
        ),
    }
    problem: ClassVar[tuple[str, ...]] = _PROBLEM
    columns: ClassVar[tuple[str, ...]] = (
        "key",
        "status",
        "rows",
        "cols",
        "rank",
        "target_svals",
        "flow",
        "method",
        "beta",
        "gamma",
        "init",
        "seed",
        "loss",
        "stable_rank",
        "time",
    )
    examples: ClassVar[str] = """examples:
  gflab simulate lora --rows 60 --cols 70 --rank 5 --target-svals 1,2,4,8,16 --flow specgf --beta 1e-6 --gamma 1e-3 --t1 6
  gflab simulate lora --flow gf --gamma 1e-3 --t1 12 --json
  gflab simulate lora --flow specgf --gamma 1e-3 --method muon:0.01 --steps 600
results go through the result store ($GFLAB_STORE, default .gflab-cache/results): a rerun reads them
"""

    def run(self, config: LoRAConfig):
        from gflab.sims.lora import simulate_lora

        return simulate_lora(config)

    def entry_bytes(self, config: LoRAConfig) -> int:
        c = config
        arrays = c.n_save * (c.rank + 8) + c.rows * c.cols + 2 * c.rank * (c.rows + c.cols)
        return 8 * arrays + 4096

    def cli_defaults(self, values: dict[str, Any], method_cls: type | None) -> dict[str, Any]:
        values = dict(values)
        flow = values.get("flow", _default("flow"))
        flowing = method_cls is None or not method_cls.discrete
        if "t1" not in values and "steps" not in values and flowing:
            values["t1"] = default_lora_horizon(
                flow, values.get("target_svals", _default("target_svals"))
            )
        return values

    def example(self, method=None) -> LoRAConfig:
        small = dict(rows=6, cols=5, rank=2, target_svals=(1.0, 2.0), gamma=0.1, n_save=4)
        if method is None:
            return LoRAConfig(**small, beta=DEFAULT_BETA, t1=1.0)
        if method.discrete:
            flow = "gf" if isinstance(method, M.GD) else "specgf"
            return LoRAConfig(**small, flow=flow, method=method, steps=5)
        beta = DEFAULT_BETA if isinstance(method, M.Adaptive) else 0.0  # Euler: the exact polar
        return LoRAConfig(**small, beta=beta, method=method, t1=1.0)
