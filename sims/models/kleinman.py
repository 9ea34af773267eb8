"""Kleinman et al.'s critical period in matrix completion (docs/reproduce-the-authors.md):
``gflab simulate kleinman``."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from gflab.sims.kleinman import Draw, KleinmanConfig
from gflab.sims.models._base import HELP, Model
from gflab.sims.result import json_safe

__all__ = ["Kleinman"]

# the per-switch lists of the result (stored as arrays)
_LISTS = ("t_c", "phase1_steps", "test_error", "singular_values")


class Kleinman(Model):
    """Their protocol at one depth, seed and N2, phase 2 from every switch step T_c (GD with
    their step, a config field: the model takes no method object)."""

    name: ClassVar[str] = "kleinman"
    config: ClassVar[type] = KleinmanConfig
    methods: ClassVar[tuple] = ()
    summary: ClassVar[str] = (
        "Kleinman et al.'s critical period in matrix completion (docs/reproduce-the-authors.md)"
    )
    field_help: ClassVar[dict[str, str]] = {
        **HELP,
        "depth": "number of factors L >= 1 (1: a single matrix, their convex baseline)",
        "seed": "their seed: the truth, the observations and the init (default: their config's 1)",
        "n": "matrix size n",
        "rank": "rank r of the truth W* = U Vᵀ/√r, rescaled to ‖W*‖_F = n",
        "n1": "entries observed in phase 1 (Ω1: the first N1 of the observation order)",
        "n2": "entries observed in phase 2 (Ω2: the first N2; Ω1 ⊂ Ω2)",
        "t_c": "comma-separated switch steps T_c (phase 2 starts from each)",
        "post_steps": "steps after the switch (their epoch_continue)",
        "lr": "GD step on the mean loss ½ mean_Ω (W − W*)²",
        "init_scale": "init scale: Gaussian factors with std init^{1/L}/√n",
        "draw": (
            "the problem's random draw: kleinman (their script's NumPy and torch generators,"
            " seeded as they seed them) | gflab (NumPy default_rng)"
        ),
        "schedule": (
            "kleinman (their loop: T_c + 1 steps on Ω1, the test error after post − 2 on Ω2) |"
            " gflab (T_c and post)"
        ),
        "problem_file": (
            "the problem from an .npz file: target (n×n), order (flat indices of the observed"
            " entries, in order), W1 … WL (W = W_L ⋯ W_1); replaces --draw"
        ),
    }
    columns: ClassVar[tuple[str, ...]] = (
        "key",
        "status",
        "depth",
        "seed",
        "n",
        "rank",
        "n1",
        "n2",
        "t_c",
        "lr",
        "wall_seconds",
    )
    examples: ClassVar[str] = """examples:
  gflab simulate kleinman --depth 3 --seed 1 --n2 1250          (their protocol: about 4e5 GD steps)
  gflab simulate kleinman --depth 2 --n 30 --rank 2 --n1 135 --n2 270 --t-c 0,1000 --post-steps 3000
  gflab simulate kleinman --depth 3 --problem-file problem.npz --schedule gflab --json
results go through the result store ($GFLAB_STORE, default .gflab-cache/results): a rerun reads them
"""

    def run(self, config: KleinmanConfig) -> dict:
        from gflab.sims.kleinman import simulate_kleinman

        return simulate_kleinman(config)

    def example(self, method=None) -> KleinmanConfig:
        return KleinmanConfig(
            depth=2, n=10, rank=2, n1=30, n2=50, t_c=(0, 10), post_steps=30, draw=Draw.GFLAB
        )

    def status(self, result: dict) -> str:
        return "finished" if np.all(np.isfinite(result["test_error"])) else "diverged"

    def ok(self, result: dict) -> bool:
        return True  # a diverged test error is their measurement, reported as it is

    def seconds(self, result: dict) -> float:
        return float(result["wall_seconds"])

    def to_store(self, result: dict):
        arrays = {k: np.asarray(result[k], dtype=np.float64) for k in _LISTS}
        rest = {k: v for k, v in result.items() if k not in _LISTS}
        return arrays, {
            "record": self.record,
            "doc": json_safe(rest),
            "status": self.status(result),
        }

    def from_store(self, config, arrays, meta) -> dict:
        out = dict(meta["doc"])
        out["t_c"] = [int(t) for t in arrays["t_c"]]
        out["phase1_steps"] = [int(k) for k in arrays["phase1_steps"]]
        out["test_error"] = arrays["test_error"].tolist()
        out["singular_values"] = arrays["singular_values"].tolist()
        return {
            k: out[k] for k in ("config", *_LISTS[:2], "phase2_steps", *_LISTS[2:], "wall_seconds")
        }

    def stored_scalars(self, meta: dict) -> dict:
        return {"wall_seconds": meta.get("doc", {}).get("wall_seconds")}

    def to_json(self, result: dict) -> dict:
        return json_safe(result)

    def describe(self, config: KleinmanConfig, result: dict) -> list[str]:
        c = result["config"]
        lines = [
            f"model      kleinman  (depth={c['depth']}, seed={c['seed']}, n={c['n']},"
            f" rank={c['rank']}, N1={c['n1']} -> N2={c['n2']}, lr={c['lr']:g},"
            f" init={c['init_scale']:g},"
            f" draw={c['draw'] if 'problem_sha256' not in c else 'file'},"
            f" schedule={c['schedule']})",
            f"{'T_c':>8} {'Ω1 steps':>9} {'Ω2 steps':>9} {'test error':>12}  top singular values",
        ]
        for tc, k1, err, sv in zip(
            result["t_c"],
            result["phase1_steps"],
            result["test_error"],
            result["singular_values"],
            strict=True,
        ):
            lines.append(
                f"{tc:>8} {k1:>9} {result['phase2_steps']:>9} {err:>12.6g}  "
                + " ".join(f"{v:.4g}" for v in sv[:6])
            )
        lines.append(f"wall       {result['wall_seconds']:.3g} s")
        return lines
