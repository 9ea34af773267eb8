"""Flows as terms: the vector fields of the LoRA factorisation as small objects (docs/theory.md §2.2).

As diffrax's ``ODETerm`` wraps a vector field, a flow term owns what defines its flow and nothing
else: :class:`GF` (the gradient flow, Ȧ = −∇_A ℒ), :class:`SpecGF` (the smoothed spectral flow,
Ȧ = −T_β(∇_A ℒ), β > 0) and :class:`PolarFlow` (β = 0: the exact polar factor, discontinuous where
a singular value of the gradient crosses the rank threshold, so it is only integrated with
fixed-step methods). The smoothing β lives here, on :class:`SpecGF`'s field, with its one default
:data:`DEFAULT_BETA`, its one converter :func:`smoothing` and its one check :func:`check_smoothing`
(the discrete :class:`gflab.sims.methods.SmoothedSpecGD` reuses both).

A term is an ``equinox.Module``: β is a leaf, so a compiled solve is reused when it changes (the
engine passes the term in ``args``; :func:`term_field` is the static vector field that reads it).
The same objects drive ``gflab.sims.lora``'s flows and ``gflab.sims.dense``'s dense solves.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import diffrax
import equinox as eqx

from gflab.theory import lora as _lora
from gflab.theory.errors import GflabInputError

__all__ = [
    "DEFAULT_BETA",
    "FlowTerm",
    "GF",
    "SpecGF",
    "PolarFlow",
    "flow_term",
    "term_field",
    "smoothing",
    "check_smoothing",
    "FLOWS",
]

DEFAULT_BETA = 1e-6
"""SpecGF's smoothing β when none is given (Python and the command line alike)."""

FLOWS = ("gf", "specgf")
"""The flow spellings of a config (``specgf`` with β = 0 is :class:`PolarFlow`)."""


def smoothing(v: Any) -> Any:
    """Converter of β: a Python float for any real scalar (int, NumPy); other values unchanged so
    that :func:`check_smoothing` can name them.

    Args:
      v: the value given for β.

    Returns:
      ``float(v)`` for a real number, else ``v``.
    """
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    try:
        return float(v) if hasattr(v, "__float__") else v
    except (TypeError, ValueError):
        return v


def check_smoothing(v: Any, *, allow_zero: bool = False, what: str = "") -> None:
    """Refuse a β that is not a finite number > 0 (≥ 0 with ``allow_zero``), naming ``beta``.

    Args:
      v: the converted β.
      allow_zero: accept 0 (the exact polar flow).
      what: extra words for the message (where the rule comes from).

    Raises:
      GflabInputError: naming the parameter ``beta``.
    """
    ok = isinstance(v, float) and math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        expected = "a finite number " + (">= 0" if allow_zero else "> 0")
        raise GflabInputError("beta", expected + (f" ({what})" if what else ""), v)


class FlowTerm(eqx.Module):
    """A flow of the LoRA factors (A, B): ``(Ȧ, Ḃ) = (−D(∇_A ℒ), −D(∇_B ℒ))`` with the term's
    direction D (identity, T_β or the polar factor).

    Subclasses set ``flow`` (the config's spelling) and ``fixed_step_only``, and define
    :meth:`direction`.
    """

    flow: ClassVar[str] = ""
    fixed_step_only: ClassVar[bool] = False

    def direction(self, g):
        """D(g) for one gradient matrix (or a batch of them).

        Args:
          g (jax.Array): a gradient matrix (m, n), or a batch (…, m, n).

        Returns:
          d (jax.Array): D(g), shaped as ``g``.
        """
        raise NotImplementedError

    def vector_field(self, t: Any, y: tuple, args: dict) -> tuple:
        """``(Ȧ, Ḃ)`` at ``y = (A, B)``; ``args`` holds the target ``Y`` and the ℓ2 weight ``l2``.

        Args:
          t: time (unused: the flows are autonomous).
          y: (A, B), (rows, rank) and (rank, cols).
          args: a dict with ``"Y"`` and ``"l2"``.

        Returns:
          (Ȧ, Ḃ), shaped as A and B.
        """
        gA, gB = _lora.gradients(y[0], y[1], args["Y"], args["l2"])
        return -self.direction(gA), -self.direction(gB)

    def check_method(self, method: Any) -> None:
        """The type rule: a term that is only defined with fixed steps refuses any other method.

        Args:
          method: a continuous method of :mod:`gflab.sims.methods` (``controller()``).

        Raises:
          GflabInputError: naming ``beta`` (β = 0 with an adaptive method).
        """
        if self.fixed_step_only and not isinstance(method.controller(), diffrax.ConstantStepSize):
            raise GflabInputError(
                "beta",
                "a number > 0 with the adaptive solver (the exact polar field is discontinuous;"
                " use --method euler:DT for beta = 0)",
                0.0,
            )


class GF(FlowTerm):
    """The gradient flow: Ȧ = −∇_A ℒ, Ḃ = −∇_B ℒ."""

    flow: ClassVar[str] = "gf"
    beta: ClassVar[None] = None  # as a config records it: no β

    def direction(self, g):
        """The identity.

        Args:
          g (jax.Array): a gradient matrix (or a batch).

        Returns:
          g (jax.Array): ``g`` itself.
        """
        return g


class SpecGF(FlowTerm):
    """The smoothed spectral flow: Ȧ = −T_β(∇_A ℒ), T_β(G) = G(GᵀG + βI)^(−1/2).

    Args:
      beta (float): the smoothing β > 0. Default ``1e-06`` (:data:`DEFAULT_BETA`).
    """

    beta: float = eqx.field(default=DEFAULT_BETA, converter=smoothing)
    flow: ClassVar[str] = "specgf"

    def __check_init__(self):
        check_smoothing(self.beta)

    def direction(self, g):
        """T_β(g) = g(gᵀg + βI)^(−1/2) (:func:`gflab.theory.lora.smoothed_polar`; docs/theory.md
        §2.2).

        Args:
          g (jax.Array): a gradient matrix (or a batch).

        Returns:
          d (jax.Array): T_β(g), shaped as ``g``.
        """
        return _lora.smoothed_polar(g, self.beta)


class PolarFlow(FlowTerm):
    """The exact spectral flow (β = 0): Ȧ = −T(∇_A ℒ), T the polar factor. Discontinuous: fixed
    steps only (:meth:`FlowTerm.check_method`)."""

    flow: ClassVar[str] = "specgf"
    fixed_step_only: ClassVar[bool] = True
    beta: ClassVar[float] = 0.0  # the β → 0 limit of SpecGF

    def direction(self, g):
        """T(g), the polar factor of g (:func:`gflab.theory.lora.polar`; docs/theory.md §2.2).

        Args:
          g (jax.Array): a gradient matrix (or a batch).

        Returns:
          d (jax.Array): T(g), shaped as ``g``.
        """
        return _lora.polar(g)


def flow_term(flow: str, beta: Any = None) -> FlowTerm:
    """The term of a config's spelling: ``gf`` (no β), ``specgf`` with β > 0 (default
    :data:`DEFAULT_BETA`) or β = 0 (the polar flow). The one place the spelling is parsed.

    Args:
      flow: ``"gf"`` or ``"specgf"``.
      beta: the smoothing, or ``None`` for the default.

    Returns:
      :class:`GF`, :class:`SpecGF` or :class:`PolarFlow`.

    Raises:
      GflabInputError: naming ``flow`` or ``beta``.
    """
    if flow not in FLOWS:
        raise GflabInputError("flow", "one of " + ", ".join(FLOWS), flow)
    if flow == "gf":
        if beta is not None:
            raise GflabInputError(
                "beta", "no beta with --flow gf (only SpecGF flows and specgd-smooth use it)", beta
            )
        return GF()
    if beta is None:
        return SpecGF()
    beta = smoothing(beta)
    check_smoothing(beta, allow_zero=True)
    return PolarFlow() if beta == 0.0 else SpecGF(beta)


def term_field(t: Any, y: tuple, args: dict) -> tuple:
    """The static vector field the engine compiles: ``args["term"].vector_field(t, y, args)``.

    Args:
      t: time.
      y: the state (A, B).
      args: a dict holding the :class:`FlowTerm` under ``"term"``.

    Returns:
      (Ȧ, Ḃ).
    """
    return args["term"].vector_field(t, y, args)
