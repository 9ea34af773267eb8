"""Optimisers by composition: directions, transforms and their chain (docs/theory.md §2.2, §2.4).

optax's pattern (``GradientTransformation``, ``chain``) on tuples of arrays of any namespace
(NumPy, JAX, torch): every piece has ``init(params) -> state`` and ``update(updates, state,
params) -> (updates, state)``; a step is ``params + updates``. The pieces:

- directions (applied to every matrix, i.e. every array with ndim ≥ 2; vectors pass through):
  :class:`Identity` (GD), :class:`Polar` (SpecGD's exact polar factor T), :class:`SmoothedPolar`
  (T_β), :class:`NewtonSchulz` (Muon's quintic iteration; its precision variants come in as
  ``fn``), :class:`AdamDirection` (Schedule-Free AdamW's g/(√v̂ + ε));
- transforms: :class:`EmaMomentum` (torch.optim.Muon's EMA buffer, with or without Nesterov),
  :class:`ScaleByShape` (Muon's shape scale), :class:`ScaleByLr` (the step −η);
- :func:`chain`, and :func:`muon_direction`, the one Muon: momentum → Newton–Schulz → shape scale.
  ``gflab.sims.methods.Muon`` is ``chain(muon_direction(...), ScaleByLr(lr))``; AMUSE's matrix
  step (:mod:`gflab.theory.schedule_free`) applies its own scheduled lr to the same direction.

Scalar transforms (:class:`Scale` subclasses) that follow each other in a chain are multiplied
together first and applied once, as ``(s·(−η))·NS(u)``: the product torch.optim.Muon forms
(``adjusted_lr``), so the composition rounds exactly as the monolithic step did. Interpolations
use torch's two-branch ``lerp`` (:func:`lerp`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, no_type_check

from gflab.theory._validate import Choice
from gflab.theory._xp import namespace
from gflab.theory.lora import newton_schulz, polar, smoothed_polar

__all__ = [
    "GradientTransformation",
    "Chain",
    "chain",
    "Scale",
    "Identity",
    "Polar",
    "SmoothedPolar",
    "NewtonSchulz",
    "AdamDirection",
    "EmaMomentum",
    "ScaleByShape",
    "ScaleByLr",
    "muon_direction",
    "shape_scale",
    "ShapeScale",
    "lerp",
    "apply_updates",
    "SHAPE_SCALES",
    "MUON_MOMENTUM",
]

MUON_MOMENTUM = 0.95
"""Muon's momentum μ by default (torch.optim.Muon's and the AMUSE authors')."""


class ShapeScale(Choice):
    """Muon's shape scale (torch's ``adjust_lr_fn``): how a rows×cols matrix scales the lr.

    A spelling is parsed into a member once, where it enters (a method's field converter, the
    CLI, the JSON reader); inside, the member's :meth:`factor` is used. Members are strings, so
    configs and store keys hold the spelling.
    """

    NONE = "none"
    ORIGINAL = "original"
    MATCH_RMS_ADAMW = "match_rms_adamw"

    def factor(self, rows: int, cols: int) -> float:
        """The lr factor for a rows×cols matrix: 1 (``none``), √max(1, rows/cols)
        (``original``) or 0.2·√max(rows, cols) (``match_rms_adamw``).

        Args:
          rows: the matrix's rows.
          cols: its columns.

        Returns:
          The factor, a Python float.
        """
        return _SHAPE_FACTORS[self](rows, cols)


_SHAPE_FACTORS = {
    ShapeScale.NONE: lambda rows, cols: 1.0,
    ShapeScale.ORIGINAL: lambda rows, cols: math.sqrt(max(1.0, rows / cols)),
    ShapeScale.MATCH_RMS_ADAMW: lambda rows, cols: 0.2 * math.sqrt(max(rows, cols)),
}

SHAPE_SCALES = tuple(ShapeScale)
"""Muon's shape scales (torch's ``adjust_lr_fn``; :class:`ShapeScale`), as their spellings."""


@no_type_check  # Any in, Any out, several calls a step: nothing for the test-time checker
def lerp(start: Any, end: Any, weight: Any) -> Any:
    """``torch.lerp(start, end, weight)`` as ATen writes it: ``start + w·(end − start)`` for
    |w| < 0.5, else ``end + (w − 1)·(end − start)``. Algebraically ``(1 − w)·start + w·end``; the
    two forms round differently, and torch.optim.Muon's EMA and Nesterov steps and the AMUSE
    authors' interpolations use them.

    On torch tensors it is ``torch.lerp`` itself: torch's vectorised kernel fuses the
    multiply-add, which the formula cannot reproduce (measured: the two differ in 5–30 % of the
    entries of float32/float64 vectors of 1000 entries and more; they agree on short ones).

    Args:
      start: an array (any namespace).
      end: an array of the same shape.
      weight: a Python float (picks the branch) or a traced scalar (selects element-wise).

    Returns:
      The interpolated array.
    """
    native = getattr(start, "lerp", None)  # torch tensors: their own kernel (NumPy/JAX: none)
    if native is not None:
        return native(end, weight)
    diff = end - start
    if isinstance(weight, (int, float)):
        return start + weight * diff if abs(weight) < 0.5 else end + (weight - 1) * diff
    xp = namespace(start)
    return xp.where(abs(weight) < 0.5, start + weight * diff, end + (weight - 1) * diff)


def apply_updates(params: Sequence[Any], updates: Sequence[Any]) -> tuple:
    """``params + updates``, array by array (optax's ``apply_updates``).

    Args:
      params: the current parameters. updates: from an ``update`` call.

    Returns:
      The next parameters, a tuple.
    """
    return tuple(p + u for p, u in zip(params, updates, strict=True))


def shape_scale(kind: ShapeScale | str, rows: int, cols: int) -> float:
    """Muon's learning-rate factor for a rows×cols matrix (torch's ``adjust_lr_fn``).

    Args:
      kind: a :class:`ShapeScale` (or its spelling: ``"none"``, ``"original"``,
        ``"match_rms_adamw"``).
      rows: the matrix's rows.
      cols: its columns.

    Returns:
      The factor, a Python float (:meth:`ShapeScale.factor`).
    """
    return ShapeScale.parse(kind, "shape_scale").factor(rows, cols)


class GradientTransformation:
    """Base of every piece: stateless identity by default.

    ``init(params)`` gives the state for a tuple of arrays; ``update(updates, state, params)``
    maps the incoming updates (the gradients, for the first piece of a chain) to new ones.
    """

    def init(self, params: Sequence[Any]) -> Any:
        """The state for ``params`` (a tuple of arrays); ``()`` when stateless.

        Args:
          params: the parameters.

        Returns:
          The state.
        """
        return ()

    def update(
        self, updates: Sequence[Any], state: Any, params: Sequence[Any] | None = None
    ) -> tuple:
        """(new updates, new state).

        Args:
          updates: one array per parameter.
          state: this piece's state.
          params: the parameters (read by pieces that need them; may be ``None`` otherwise).

        Returns:
          (updates, state).
        """
        return tuple(self.leaf(u) for u in updates), state

    def leaf(self, u: Any) -> Any:
        """A stateless piece's map of one array (default: unchanged).

        Args:
          u: one incoming update.

        Returns:
          The outgoing update, shaped as ``u``.
        """
        return u


class _Direction(GradientTransformation):
    """A direction D applied to each matrix (ndim ≥ 2); other arrays pass through."""

    def leaf(self, u: Any) -> Any:
        return self.direction(u) if u.ndim >= 2 else u

    def direction(self, g: Any) -> Any:
        """D(g), the subclass's direction (its class docstring says which; docs/theory.md §2.2).

        Args:
          g: one gradient matrix (or a batch of them, matrices on the last two axes).

        Returns:
          D(g), shaped as ``g`` and in its dtype.
        """
        raise NotImplementedError


@dataclass(frozen=True)
class Identity(_Direction):
    """GD's direction: D(g) = g."""

    def direction(self, g: Any) -> Any:  # noqa: D102 (_Direction.direction)
        return g


@dataclass(frozen=True)
class Polar(_Direction):
    """SpecGD's direction: the exact polar factor T(g) (:func:`gflab.theory.lora.polar`)."""

    def direction(self, g: Any) -> Any:  # noqa: D102 (_Direction.direction)
        return polar(g)


@dataclass(frozen=True)
class SmoothedPolar(_Direction):
    """The smoothed direction T_β(g) = g(gᵀg + βI)^(−1/2), β > 0 (checked by its owner;
    :func:`gflab.theory.lora.smoothed_polar`)."""

    beta: Any

    def direction(self, g: Any) -> Any:  # noqa: D102 (_Direction.direction)
        return smoothed_polar(g, self.beta)


@dataclass(frozen=True)
class NewtonSchulz(_Direction):
    """Muon's quintic Newton–Schulz NS(g), ``steps`` iterations; ``fn(g, steps)`` replaces the
    float iteration of :func:`gflab.theory.lora.newton_schulz` (the low-precision variants of
    ``gflab.sims.methods``)."""

    steps: int = 5
    fn: Callable | None = None

    def direction(self, g: Any) -> Any:  # noqa: D102 (_Direction.direction)
        if self.fn is not None:
            return self.fn(g, self.steps)
        return newton_schulz(g, self.steps)


@dataclass(frozen=True)
class AdamDirection(GradientTransformation):
    """Adam's normalised direction without momentum: v ← β₂ v + (1 − β₂) g²,
    D = g / (√(v/(1 − β₂^{k+1})) + ε) at step k = 0, 1, … (Schedule-Free AdamW's base).

    State: (v per parameter, k).
    """

    beta2: Any = 0.999
    eps: Any = 1e-8

    def init(self, params: Sequence[Any]) -> tuple:
        """v = 0, k = 0.

        Args:
          params: the parameters.

        Returns:
          state (tuple): (v, k), one zero array per parameter and 0.
        """
        return tuple(0.0 * p for p in params), 0

    def update(self, updates: Sequence[Any], state: tuple, params: Sequence[Any] | None = None):
        """(D per parameter, (v, k + 1)).

        Args:
          updates: the gradients, one array per parameter.
          state: (v, k) from :meth:`init` or the previous update.
          params: unused.

        Returns:
          updates_and_state (tuple): (D per parameter, (new v, k + 1)).
        """
        vs, k = state
        out, nv = [], []
        for g, v in zip(updates, vs, strict=True):
            xp = namespace(g)
            v = self.beta2 * v + (1 - self.beta2) * g * g
            out.append(g / (xp.sqrt(v / (1 - self.beta2 ** (k + 1))) + self.eps))
            nv.append(v)
        return tuple(out), (tuple(nv), k + 1)


@dataclass(frozen=True)
class EmaMomentum(GradientTransformation):
    """torch.optim.Muon's momentum: buf ← lerp(buf, g, 1 − μ) (the EMA μ buf + (1 − μ) g); the
    output is lerp(g, buf, μ) with Nesterov, else buf. State: one buffer per parameter.
    """

    momentum: Any = MUON_MOMENTUM
    nesterov: bool = True

    def init(self, params: Sequence[Any]) -> tuple:
        """Zero buffers.

        Args:
          params: the parameters.

        Returns:
          One zero buffer per parameter, shaped as it.
        """
        return tuple(namespace(p).zeros_like(p) for p in params)

    def update(self, updates: Sequence[Any], state: tuple, params: Sequence[Any] | None = None):
        """(momentum directions, new buffers).

        Args:
          updates: the gradients, one array per parameter.
          state: the buffers, from :meth:`init` or the previous update.
          params: unused.

        Returns:
          updates_and_state (tuple): (lerp(g, buf, μ) per parameter with Nesterov, else the
            buffers; the new buffers).
        """
        mu = self.momentum
        bufs = tuple(lerp(b, g, 1 - mu) for b, g in zip(state, updates, strict=True))
        if not self.nesterov:
            return bufs, bufs
        return tuple(lerp(g, b, mu) for g, b in zip(updates, bufs, strict=True)), bufs


class Scale(GradientTransformation):
    """A scalar factor per array (a function of its shape); consecutive ones are fused by
    :class:`Chain` and applied once."""

    def factor(self, shape: tuple) -> Any:
        """The factor for an array of ``shape``.

        Args:
          shape: the array's shape.

        Returns:
          A scalar.
        """
        raise NotImplementedError

    def leaf(self, u: Any) -> Any:
        return self.factor(tuple(u.shape)) * u


@dataclass(frozen=True)
class ScaleByShape(Scale):
    """Muon's shape scale :func:`shape_scale` of the last two axes (1 for vectors), or
    ``fn(shape)`` when given (AMUSE's convention, :func:`gflab.theory.schedule_free.amuse_scale`).
    """

    kind: ShapeScale = ShapeScale.NONE
    fn: Callable | None = None

    def factor(self, shape: tuple) -> Any:
        """The shape scale of ``shape``.

        Args:
          shape: the array's shape (the last two axes are rows, cols).

        Returns:
          ``fn(shape)`` when given, else :func:`shape_scale` of the last two axes (1.0 for
          fewer than two axes).
        """
        if self.fn is not None:
            return self.fn(shape)
        return self.kind.factor(*shape[-2:]) if len(shape) >= 2 else 1.0

    def leaf(self, u: Any) -> Any:
        f = self.factor(tuple(u.shape))
        return u if f == 1.0 else f * u


@dataclass(frozen=True)
class ScaleByLr(Scale):
    """The step: updates ← −lr · updates."""

    lr: Any

    def factor(self, shape: tuple) -> Any:
        """−lr, whatever the shape.

        Args:
          shape: the array's shape (unused).

        Returns:
          −lr.
        """
        return -self.lr


@dataclass(frozen=True)
class Chain(GradientTransformation):
    """The pieces in order; the state is the tuple of their states."""

    transforms: tuple

    def init(self, params: Sequence[Any]) -> tuple:
        """One state per piece.

        Args:
          params: the parameters.

        Returns:
          The tuple of the pieces' ``init(params)``.
        """
        return tuple(t.init(params) for t in self.transforms)

    def update(self, updates: Sequence[Any], state: tuple, params: Sequence[Any] | None = None):
        """Each piece in turn; consecutive :class:`Scale` pieces multiply their factors first
        (in chain order) and scale once.

        Args:
          updates: the gradients, one array per parameter.
          state: one state per piece, from :meth:`init` or the previous update.
          params: the parameters, passed to every piece.

        Returns:
          updates_and_state (tuple): (the chain's updates, the pieces' new states).
        """
        updates = tuple(updates)
        pending: list | None = None
        out = []
        for t, s in zip(self.transforms, state, strict=True):
            if isinstance(t, Scale):
                f = [t.factor(tuple(u.shape)) for u in updates]
                pending = f if pending is None else [a * b for a, b in zip(pending, f, strict=True)]
                out.append(s)
                continue
            if pending is not None:
                updates = tuple(f * u for f, u in zip(pending, updates, strict=True))
                pending = None
            updates, s = t.update(updates, s, params)
            out.append(s)
        if pending is not None:
            updates = tuple(f * u for f, u in zip(pending, updates, strict=True))
        return updates, tuple(out)


def chain(*transforms: GradientTransformation) -> Chain:
    """The composition of ``transforms`` (optax's ``chain``); a chain given as a piece is
    flattened into its pieces, so scalar factors next to each other fuse across the boundary
    (``chain(muon_direction(...), ScaleByLr(lr))`` scales once by s·(−lr)).

    Args:
      *transforms: pieces applied in order.

    Returns:
      A :class:`Chain` of the flattened pieces.
    """
    flat: list = []
    for t in transforms:
        flat.extend(t.transforms if isinstance(t, Chain) else (t,))
    return Chain(tuple(flat))


def muon_direction(
    momentum: Any = MUON_MOMENTUM,
    nesterov: bool = True,
    ns_steps: int = 5,
    shape: ShapeScale = ShapeScale.NONE,
    ns: Callable | None = None,
    scale: Callable | None = None,
) -> Chain:
    """Muon's direction (docs/theory.md §2.2): EMA momentum (Nesterov or not), Newton–Schulz of the
    result, Muon's shape scale. The step −η is applied by the owner (``ScaleByLr`` for Muon
    itself, the scheduled lr for AMUSE).

    Args:
      momentum: μ ∈ [0, 1). nesterov: Nesterov's look-ahead. ns_steps: Newton–Schulz iterations.
      shape: a :class:`ShapeScale`. ns: ``fn(g, steps)`` for a low-precision iteration.
      scale: ``fn(shape)``, another shape scale convention (replaces ``shape``).

    Returns:
      ``chain(EmaMomentum, NewtonSchulz, ScaleByShape)``; its state is ``(buffers, (), ())``.
    """
    return chain(
        EmaMomentum(momentum, nesterov), NewtonSchulz(ns_steps, ns), ScaleByShape(shape, scale)
    )
