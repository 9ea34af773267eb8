"""A warm-start intervention at the switch of the DMF plasticity protocol (docs/theory.md §2.1, §2.4).

:func:`gflab.sims.plasticity.simulate_plasticity` runs phase 1 on Ω1, phase 2 on Ω2 resumed from phase
1's factors, and phase 2 from scratch. Here a fourth run resumes phase 2 from the pretrained factors
*after an intervention* (:mod:`gflab.theory.interventions`): DASH, shrink-and-perturb or a reset of the
last factor. The factors of a deep matrix factorisation are linear layers: W_l's row i is neuron
i's incoming weights, so DASH shrinks each row of each factor by its clamped cosine with the
averaged negative gradient.

DASH's batches are the observed entries in the order DASH's buffer presents them: the pretrain
entries Ω1 first, then the new ones Ω2 ∖ Ω1 (the authors' loader concatenates the chunks in arrival
order, unshuffled, one chunk per batch). The gradient of a batch is that of ½ Σ_batch R² (the run's
``sum`` normalisation), or with ``reduction="mean"`` of ½ Σ_batch R²/|batch|, the authors' mean. When phase 1 has converged, Ω1's gradient is ≈ 0, so g ≈ α·(−∇ℓ_{Ω2∖Ω1})
and α no longer changes any cosine; it matters after a GD phase 1 stopped at a finite switch.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gflab.sims.dmf import dmf_problem, package_dmf, solve_dmf_from
from gflab.sims.plasticity import (
    PlasticityConfig,
    PlasticityResult,
    phase_summary,
    simulate_plasticity,
)
from gflab.sims.result import SimResult, json_safe
from gflab.theory import dmf as T
from gflab.theory import interventions as I
from gflab.theory._validate import one_of, positive_int, positive_real, probability
from gflab.theory.errors import GflabInputError

__all__ = [
    "Intervention",
    "DashConfig",
    "DashPlasticityResult",
    "intervene",
    "simulate_dash_plasticity",
    "simulate_dash",
    "stored_dash",
]


# DASH's loss of one batch: ½Σ_batch R² or ½Σ_batch R²/|batch|
REDUCTIONS = ("sum", "mean")


@dataclass(frozen=True)
class Intervention:
    """One intervention at the switch and its parameters.

    ``kind``: ``none`` | ``dash`` | ``shrink-perturb`` | ``reset``. ``floor`` is DASH's λ (and the
    shrink factor λ of shrink-and-perturb), ``alpha`` DASH's averaging α, ``noise_std`` the σ of
    shrink-and-perturb (authors: λ = α = 0.3, σ = 0.01), ``seed`` the perturbation's seed.
    ``reset`` puts the last factor W_L back to its initial value. ``reduction`` is the loss of
    one DASH batch: ``sum`` ½Σ_batch R² (gflab's), ``mean`` ½Σ_batch R²/|batch| (the authors'
    ``dash()`` takes the gradient of their criterion, a mean over the batch).
    """

    kind: str = "dash"
    floor: float = 0.3
    alpha: float = 0.3
    noise_std: float = 0.01
    seed: int = 0
    reduction: str = "sum"

    def __post_init__(self):
        one_of("kind", self.kind, I.INTERVENTIONS)
        one_of("reduction", self.reduction, REDUCTIONS)
        probability("floor", self.floor)
        probability("alpha", self.alpha)
        positive_real("noise_std", self.noise_std, allow_zero=True)

    def to_dict(self) -> dict:
        """The intervention's fields as a JSON-ready dict."""
        return asdict(self)

    def label(self) -> str:
        """A short legend label, e.g. ``DASH(λ=0.3, α=0.3)``."""
        if self.kind == "dash":
            mean = ", batch mean" if self.reduction == "mean" else ""
            return f"DASH(λ={self.floor:g}, α={self.alpha:g}{mean})"
        if self.kind == "shrink-perturb":
            return f"S&P(λ={self.floor:g}, σ={self.noise_std:g})"
        return self.kind


def intervene(
    intervention: Intervention,
    factors: list[np.ndarray],
    init_factors: list[np.ndarray],
    pretrain_mask: np.ndarray,
    mask: np.ndarray,
    target: np.ndarray,
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Apply ``intervention`` to pretrained DMF factors (W_1..W_L, ``n × n``).

    Args:
      intervention: what to apply.
      factors: the factors at the switch.
      init_factors: the initial factors (the anchor of ``reset``).
      pretrain_mask, mask: Ω1 and Ω2 (``n × n`` 0/1); DASH's batches are Ω1, then Ω2 ∖ Ω1.
      target: W* (``n × n``).

    Returns:
      (new factors, info): info has, for DASH, the per-factor cosines (``cosines``, L lists of n)
      and the fraction of neurons clamped at the floor; for every kind the Frobenius norm of the
      product before and after.
    """
    fs = [np.asarray(f, dtype=np.float64) for f in factors]
    info: dict[str, Any] = {"product_norm_before": float(np.linalg.norm(T.product(fs)))}
    k = intervention.kind
    if k == "none":
        new = fs
    elif k == "dash":
        new_entries = mask * (1 - pretrain_mask)
        batches = [b for b in (pretrain_mask * mask, new_entries) if b.sum() > 0]
        weights = [1.0 / b.sum() if intervention.reduction == "mean" else 1.0 for b in batches]
        grads = [
            [w * np.asarray(g) for g in T.gradient_field(fs, b, target)]
            for b, w in zip(batches, weights, strict=True)
        ]
        g = I.dash_direction(grads, intervention.alpha)  # gradient_field is already −∇
        cos = [np.asarray(I.neuron_cosine(f, d)) for f, d in zip(fs, g, strict=True)]
        new = [np.asarray(x) for x in I.dash(fs, g, intervention.floor)]
        info["cosines"] = [c.tolist() for c in cos]
        info["fraction_at_floor"] = float(
            np.mean(np.concatenate([c <= intervention.floor for c in cos]))
        )
    elif k == "shrink-perturb":
        new = [
            np.asarray(x)
            for x in I.shrink_perturb(
                fs, intervention.floor, intervention.noise_std, intervention.seed
            )
        ]
    else:
        new = [np.asarray(x) for x in I.reset(fs, [np.asarray(f) for f in init_factors])]
    info["product_norm_after"] = float(np.linalg.norm(T.product(new)))
    return new, info


@dataclass
class DashPlasticityResult:
    """:class:`PlasticityResult` plus the run resumed after the intervention."""

    base: PlasticityResult
    intervention: Intervention
    intervened: SimResult
    info: dict[str, Any]

    @property
    def pretrain(self) -> SimResult:
        """Phase 1 on Ω1 (the base experiment's run)."""
        return self.base.pretrain

    @property
    def resumed(self) -> SimResult:
        """Phase 2 on Ω2 resumed from phase 1 without the intervention."""
        return self.base.resumed

    @property
    def scratch(self) -> SimResult:
        """Phase 2 on Ω2 from a fresh init."""
        return self.base.scratch

    def to_json(self) -> dict:
        """The base experiment's summary plus the intervention, its info and the intervened run's
        final fields, JSON-safe.
        """
        out = self.base.to_json()
        out["intervention"] = self.intervention.to_dict()
        out["intervened"] = phase_summary(self.intervened)
        out["intervention_info"] = self.info
        return json_safe(out)


# Intervention's parameter names → DashConfig's (errors name the flag the user typed)
_IV_NAMES = {
    "kind": "intervention",
    "alpha": "dash_alpha",
    "seed": "intervention_seed",
    "reduction": "dash_reduction",
}
# the DashConfig fields each intervention uses; the others must keep their defaults
_IV_USES = {
    "dash": ("floor", "dash_alpha", "dash_reduction"),
    "shrink-perturb": ("floor", "noise_std", "intervention_seed"),
    "reset": (),
    "none": (),
}


@dataclass(frozen=True)
class DashConfig(PlasticityConfig):
    """A plasticity experiment with an :class:`Intervention` at the switch (``gflab simulate
    dmf-dash``): the fields of :class:`PlasticityConfig` plus the intervention's, named
    ``intervention`` (its kind), ``floor``, ``dash_alpha``, ``noise_std``, ``intervention_seed``
    and ``dash_reduction``.
    """

    intervention: str = "dash"
    floor: float = 0.3
    dash_alpha: float = 0.3
    noise_std: float = 0.01
    intervention_seed: int = 0
    dash_reduction: str = "sum"

    model = "dmf-dash"

    def __post_init__(self, rtol, atol, max_steps):
        super().__post_init__(rtol, atol, max_steps)
        for name in ("floor", "dash_alpha", "noise_std"):
            v = getattr(self, name)
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                object.__setattr__(self, name, float(v))
        positive_int("intervention_seed", self.intervention_seed, minimum=0)
        uses = _IV_USES.get(self.intervention, ())
        for f in dataclasses.fields(DashConfig):
            if f.name in _IV_USES["shrink-perturb"] + _IV_USES["dash"] and f.name not in uses:
                if getattr(self, f.name) != f.default:
                    raise GflabInputError(
                        f.name,
                        f"no --{f.name.replace('_', '-')} with --intervention {self.intervention}"
                        f" (it uses {', '.join(uses) or 'none of floor, dash_alpha, noise_std'})",
                        getattr(self, f.name),
                    )
        try:
            self.intervention_spec()
        except GflabInputError as e:
            raise GflabInputError(
                _IV_NAMES.get(e.parameter, e.parameter), e.allowed, e.got
            ) from None

    def intervention_spec(self) -> Intervention:
        """The :class:`Intervention` this config applies at the switch."""
        fields = dataclasses.fields(Intervention)
        return Intervention(
            **{f.name: getattr(self, _IV_NAMES.get(f.name, f.name)) for f in fields}
        )

    @classmethod
    def from_intervention(cls, base: PlasticityConfig, iv: Intervention) -> DashConfig:
        """The experiment ``base`` with ``iv`` applied at its switch.

        Args:
            base: the plasticity experiment.
            iv: the intervention.

        Returns:
            The config whose :meth:`intervention_spec` is ``iv``.
        """
        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
        for f in dataclasses.fields(Intervention):
            fields[_IV_NAMES.get(f.name, f.name)] = getattr(iv, f.name)
        return cls(**fields)

    def plasticity(self) -> PlasticityConfig:
        """The plain plasticity experiment (phase 1, resumed, scratch) under the intervention."""
        names = [f.name for f in dataclasses.fields(PlasticityConfig)]
        return PlasticityConfig(**{k: getattr(self, k) for k in names})


@functools.lru_cache(maxsize=128)
def _base(config: PlasticityConfig) -> PlasticityResult:
    return simulate_plasticity(config)


def simulate_dash_plasticity(
    config: PlasticityConfig, intervention: Intervention
) -> DashPlasticityResult:
    """Phase 1, phase 2 resumed, from scratch, and resumed after ``intervention`` at the switch.

    Phase 1 and the two plain phase-2 runs are memoised in-process per config (every intervention
    on one config shares them).

    Args:
      config: the plasticity experiment (flow or ``gd:ETA``; see :class:`PlasticityConfig`).
      intervention: applied to phase 1's final factors before phase 2.

    Returns:
      A :class:`DashPlasticityResult`.
    """
    if not isinstance(intervention, Intervention):
        raise GflabInputError("intervention", "an Intervention", intervention)
    base = _base(config)
    if base.pretrain.final_state is None:
        raise GflabInputError("pretrain", "a phase 1 that ends with finite factors", "diverged")
    c2 = config.phase(2)
    factors0, mask2, target = dmf_problem(c2)
    _, mask1, _ = dmf_problem(config.phase(1))
    new, info = intervene(intervention, base.pretrain.final_state, factors0, mask1, mask2, target)
    if intervention.kind == "none":
        res = base.resumed
    else:
        res = package_dmf(c2, solve_dmf_from(c2, new, mask2, target), mask2, target)
    return DashPlasticityResult(base, intervention, res, info)


def simulate_dash(config: DashConfig) -> DashPlasticityResult:
    """:func:`simulate_dash_plasticity` of a :class:`DashConfig`; its ``config`` is the whole
    config (``to_dict()``, intervention included).

    Args:
        config: the experiment.

    Returns:
        Its :class:`DashPlasticityResult`.
    """
    if not isinstance(config, DashConfig):
        raise GflabInputError("config", "a DashConfig", config)
    res = simulate_dash_plasticity(config.plasticity(), config.intervention_spec())
    base = dataclasses.replace(res.base, config=config.to_dict())
    return dataclasses.replace(res, base=base)


_PHASES = ("pretrain", "resumed", "scratch", "intervened")


def stored_dash(config: DashConfig, store=None) -> tuple[DashPlasticityResult, str]:
    """:func:`simulate_dash` through the result store (:class:`gflab.sims.store.ResultStore`).

    One record under ``config``'s key holds the four runs (each :meth:`SimResult.to_arrays`, the
    arrays prefixed ``pretrain/``...) and the intervention's info.

    Args:
        config: the experiment.
        store: the result store (None: the default :class:`gflab.sims.store.ResultStore`).

    Returns:
      (the result, ``"hit"`` or ``"computed"``).
    """
    from gflab.sims.store import ResultStore

    store = store if store is not None else ResultStore()
    got = store.get_record(config)
    if got is not None and got[1].get("record") == "dmf-dash":
        arrays, meta = got
        runs = {}
        for name in _PHASES:
            pre = name + "/"
            mine = {k[len(pre) :]: v for k, v in arrays.items() if k.startswith(pre)}
            runs[name] = SimResult.from_arrays(mine, meta["phases"][name])
        base = PlasticityResult(
            config.to_dict(), runs["pretrain"], runs["resumed"], runs["scratch"]
        )
        return (
            DashPlasticityResult(
                base, config.intervention_spec(), runs["intervened"], meta["info"]
            ),
            "hit",
        )
    res = simulate_dash(config)
    arrays, headers = {}, {}
    for name in _PHASES:
        a, headers[name] = getattr(res, name).to_arrays()
        arrays.update({f"{name}/{k}": v for k, v in a.items()})
    try:
        store.put_record(
            config, arrays, {"record": "dmf-dash", "phases": headers, "info": json_safe(res.info)}
        )
    except OSError:  # a read-only store: the run still stands
        return res, "computed (not stored)"
    return res, "computed"
