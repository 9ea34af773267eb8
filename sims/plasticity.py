"""Loss of plasticity in deep matrix completion (docs/theory.md §2.1, plasticity protocol; claim DMC-5).

Phase 1 trains on the pretrain mask Ω1 (until converged, or up to a switch time T_c); phase 2
trains on Ω2 starting from phase 1's final factors ("resumed"), and, for comparison, from the same
initial factors ("scratch"). Both phases are gradient flow (or plain GD) on the same target, with
the same solver settings, so the only difference between "resumed" and "scratch" is where
phase 2 starts. Each phase reports the final measurements of :func:`gflab.sims.dmf.package_dmf` plus
``time_to_converge``: the flow time (or GD step count) at which the relative loss reached the
config's ``converge_tol`` (``inf`` when it did not within the horizon).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gflab.sims.config import DMFConfig, _Config
from gflab.sims.dmf import dmf_problem, package_dmf, solve_dmf_from
from gflab.sims.methods import Adaptive
from gflab.sims.result import SimResult, json_safe
from gflab.theory import dmf as T
from gflab.theory._validate import positive_real
from gflab.theory.errors import GflabInputError

__all__ = ["PlasticityConfig", "PlasticityResult", "simulate_plasticity", "phase_summary"]


# the fields both phases take as they are (each phase adds its mask and its length)
_PHASE_FIELDS = (
    "depth",
    "n",
    "init",
    "m",
    "alpha",
    "target",
    "seed",
    "t_max",
    "method",
    "normalisation",
    "converge_tol",
    "stop_loss",
    "n_save",
    "target_file",
    "init_file",
)


@dataclass(frozen=True)
class PlasticityConfig(_Config):
    """A plasticity experiment: ``base`` fields of a :class:`DMFConfig` plus the pretrain mask.

    ``switch`` is the end of phase 1: ``None`` runs phase 1 until converged (adaptive) — for GD
    (``method=GD(lr=ETA)``) it is a step count, required unless ``stop_loss`` is given. ``mask``
    is Ω2 and ``pretrain_mask`` Ω1; named masks are drawn from ``seed`` (Ω1 ⊂ Ω2 is *not*
    enforced: the protocol allows any pair, docs/theory.md §2.1 uses nested ones).
    ``mask_file``/``pretrain_mask_file``/``target_file`` read n×n .npy arrays and ``init_file``
    an .npz of the factors, as :class:`DMFConfig` does; ``stop_loss`` ends each phase when the
    loss in its normalisation falls to it (the [DMC] authors' plasticity protocol: phase 1 until
    the loss on Ω1 is below it, then phase 2 until the loss on Ω2 is).
    """

    depth: int
    n: int
    init: str = "mimic"
    m: float = math.inf
    alpha: float = 1e-3
    pretrain_mask: str = "diagonal"
    mask: str = "superdiag"
    target: str = "ones"
    seed: int = 0
    switch: float | None = None
    t_max: float = 1e7
    method: Any = Adaptive(**DMFConfig.ADAPTIVE_DEFAULTS)
    steps: int | None = None
    normalisation: str = "sum"
    converge_tol: float = 1e-16
    stop_loss: float | None = None
    n_save: int = 200
    mask_file: str | None = None
    pretrain_mask_file: str | None = None
    target_file: str | None = None
    init_file: str | None = None

    model = "dmf-plasticity"
    METHODS = DMFConfig.METHODS
    # 5 and 5.0 are one config, so one store key (the command line reads every float as float)
    _FLOATS = ("m", "alpha", "switch", "t_max", "converge_tol", "stop_loss")
    _INTS = ("depth", "n", "seed", "steps", "n_save")
    _OMIT_NONE = ("stop_loss", "mask_file", "pretrain_mask_file", "target_file", "init_file")

    def __post_init__(self):
        self._normalise_numbers()
        if self.switch is not None:  # before phase(1), which would name it "t1"
            positive_real("switch", self.switch)
        self._check_method()
        if self.method.discrete and self.switch is None and self.stop_loss is None:
            raise GflabInputError(
                "switch", "a phase-1 step count with --method gd:ETA (or a --stop-loss)", None
            )
        if self.method.discrete and self.switch is not None and float(self.switch) % 1 != 0:
            # a discrete run switches after a whole number of steps: 2.5 would silently be 2
            raise GflabInputError(
                "switch", "a whole phase-1 step count with --method gd:ETA", self.switch
            )
        # a file replaces the mask's name (the default name may stand next to it)
        for name, default in (("pretrain_mask", "diagonal"), ("mask", "superdiag")):
            if getattr(self, name + "_file") is None:
                continue
            if getattr(self, name) not in (default, "file"):
                flag = "--" + name.replace("_", "-") + "-file"
                raise GflabInputError(name, f"no mask name with {flag}", getattr(self, name))
            object.__setattr__(self, name, "file")
        # validates every shared field (and Ω2, named "mask") through DMFConfig; sets the names
        # of files given ("file") as DMFConfig does
        two = self.phase(2)
        for name in ("mask", "target", "init"):
            object.__setattr__(self, name, getattr(two, name))
        if not isinstance(self.pretrain_mask, str):
            raise GflabInputError(
                "pretrain_mask",
                "a mask name (diagonal, block:K, superdiag, bernoulli:P)",
                self.pretrain_mask,
            )
        # phase 1's DMFConfig would name Ω1 "mask": name the parameter the user typed
        if self.pretrain_mask_file is None:
            try:
                T.make_mask(self.pretrain_mask, self.n, seed=self.seed)
            except GflabInputError as e:
                raise GflabInputError("pretrain_mask", e.allowed, e.got) from None
        try:
            self.phase(1)
        except GflabInputError as e:
            if e.parameter not in ("mask", "mask_file"):
                raise
            raise GflabInputError("pretrain_" + e.parameter, e.allowed, e.got) from None

    def _extra_dict(self) -> dict:
        one, two = self.phase(1).to_dict(), self.phase(2).to_dict()
        out = {k: two[k] for k in ("mask_sha256", "target_sha256", "init_sha256") if k in two}
        if "mask_sha256" in one:
            out["pretrain_mask_sha256"] = one["mask_sha256"]
        return out

    def phase(self, which: int) -> DMFConfig:
        """The :class:`DMFConfig` of phase 1 (on Ω1) or phase 2 (on Ω2).

        Args:
            which: 1 or 2.

        Returns:
            The phase's config.
        """
        gd = self.method.discrete
        common = {name: getattr(self, name) for name in _PHASE_FIELDS}
        if which == 1:
            one = dict(mask=self.pretrain_mask, mask_file=self.pretrain_mask_file, **common)
            if gd:
                steps = None if self.switch is None else int(self.switch)
                return DMFConfig(steps=steps, **one)
            return DMFConfig(t1=self.switch, grid="log" if self.switch is not None else None, **one)
        return DMFConfig(
            mask=self.mask, mask_file=self.mask_file, steps=self.steps if gd else None, **common
        )


@dataclass
class PlasticityResult:
    """The three runs of a plasticity experiment (times of ``resumed`` start at 0 at the switch)."""

    config: dict
    pretrain: SimResult
    resumed: SimResult
    scratch: SimResult

    @property
    def switch_time(self) -> float:
        """The time (GD: step) at which phase 1 ended and Ω2 was revealed; NaN if unknown."""
        return float(self.pretrain.final.get("time", np.nan))

    def to_json(self) -> dict:
        """The config and each phase's final fields (:func:`phase_summary`), JSON-safe."""
        return json_safe(
            {
                "config": self.config,
                "pretrain": phase_summary(self.pretrain),
                "resumed": phase_summary(self.resumed),
                "scratch": phase_summary(self.scratch),
            }
        )


def _time_to_converge(res: SimResult) -> float:
    return float(res.final.get("time", math.inf)) if res.status == "converged" else math.inf


def phase_summary(res: SimResult) -> dict[str, Any]:
    """Final fields of one phase (singular values, ranks, loss, test RMSE, matrix for n ≤ 64).

    Args:
        res: one phase's result.

    Returns:
        The JSON-ready final fields.
    """
    keys = (
        "singular_values",
        "stable_rank",
        "effective_rank",
        "loss",
        "test_rmse",
        "time",
        "balancedness_drift",
        "matrix",
    )
    out = {k: res.final[k] for k in keys if k in res.final}
    out["time_to_converge"] = _time_to_converge(res)
    out["status"] = res.status
    out["time_unit"] = res.time_unit
    if res.message:
        out["message"] = res.message
    out["stats"] = res.stats
    return out


def simulate_plasticity(
    config: PlasticityConfig,
    run: Callable[[Any, Callable], SimResult] | None = None,
) -> PlasticityResult:
    """Run phase 1, then phase 2 resumed and from scratch.

    ``run(key, runner)`` lets a caller memoise each phase (e.g. ``FigureContext.run``): ``key`` is
    a config (phase 1, scratch) or a dict identifying the resumed run by the whole experiment.

    Args:
        config: the experiment.
        run: see above (default: compute each phase directly).

    Returns:
        The three runs.
    """
    run = run or (lambda key, runner: runner(key))
    c1, c2 = config.phase(1), config.phase(2)
    factors0, mask2, target = dmf_problem(c2)

    def run_phase1(cfg):
        f0, m1, tg = dmf_problem(cfg)
        return package_dmf(cfg, solve_dmf_from(cfg, f0, m1, tg), m1, tg)

    pre = run(c1, run_phase1)
    if pre.final_state is None:
        raise GflabInputError("pretrain", "a phase 1 that ends with finite factors", pre.status)

    def run_resumed(_key):
        raw = solve_dmf_from(c2, pre.final_state, mask2, target)
        return package_dmf(c2, raw, mask2, target)

    def run_scratch(cfg):
        return package_dmf(cfg, solve_dmf_from(cfg, factors0, mask2, target), mask2, target)

    resumed = run({"model": "dmf-plasticity-resumed", **config.to_dict()}, run_resumed)
    scratch = run(c2, run_scratch)
    return PlasticityResult(config.to_dict(), pre, resumed, scratch)
