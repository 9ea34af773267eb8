"""Schedule-Free averaging with SGD, AdamW and Muon base steps, and AMUSE (docs/theory.md §2.4).

**Schedule-Free** (Defazio, Yang, Mehta, Mishchenko, Khaled, Cutkosky, "The Road Less Scheduled",
NeurIPS 2024; reference: the ``schedulefree`` package, ``*_reference.py``), per parameter, step
k = 0, 1, …, with the gradient g_k evaluated at the current point y_k:

  lr_k = lr · min(1, (k+1)/warmup)                    (linear warmup; none if warmup = 0)
  w_k = (k+1)^r · (max_{j≤k} lr_j)^p,  c_k = w_k / Σ_{j≤k} w_j   (r = 0, p = 2: c_k = 1/(k+1))
  z ← z − lr_k · wd · y − lr_k · D_k(g_k)             (D: the base method's direction)
  x ← (1 − c_k) x + c_k z                             (the average: the anytime output)
  y ← (1 − β_k) z + β_k x                             (where the next gradient is taken)

z is the fast sequence, x the averaged one. The base direction D is an object of
:mod:`gflab.theory.optim` (:class:`ScheduleFree`'s ``base``): SGD D(g) = g (``Identity``); AdamW
D(g) = g / (√(v/(1 − β2^{k+1})) + ε) with v ← β2 v + (1 − β2) g² (``AdamDirection``); **Muon**
D(g) = NS₅(g) (``NewtonSchulz``), Muon's quintic Newton–Schulz orthogonalisation
(:func:`gflab.theory.lora.newton_schulz`) of each matrix parameter's raw gradient, the plain
gradient for non-matrix ones. Schedule-Free has no separate
momentum buffer (β plays that role), so Schedule-Free Muon applies NS₅ to g itself; this choice is
ours (the package has no Muon). β_k = β is constant for Schedule-Free (package default 0.9).

**AMUSE** (Kim, Shin, Yun, Baek, Song, Yun, "AMUSE: Anytime Muon with Stable Gradient
Evaluation", arXiv 2605.22432; the authors' torch ``AMUSE``, docs/dash-amuse.md names the commit):
Schedule-Free iterates whose base step is Muon's, with a time-varying interpolation. Per parameter
group, step t = 1, 2, … (the gradient g_t taken at y_t, the point the model holds):

  lr_t = lr · min(1, t/T₀)                            (linear warmup over T₀ ≥ 1 steps)
  w_t = t^r · lr_t^p,  c_t = w_t / Σ_{j≤t} w_j        (p = weight_lr_power = 2; lr_t, not its max)
  β_t = β₁ for t ≤ T₀;  β_t = 1 − S_t^ρ (1 − β₁),  S_t = c_t (1 − c_w) / (c_w (1 − c_t)),  t > T₀
        (c_w = c_{T₀}, the last warmup weight: β rises from β₁ towards 1 as c_t falls)
  x_t = (y_t − (1 − β_t) z_t) / β_t                   (the average, recovered from y with β_t)
  Muon matrices: m ← μ m + (1 − μ) g (EMA), u = g + μ (m − g) (Nesterov),
        D = s · NS₅(u),  s = 0.2 √max(rows, cols) ("adamw" aux type) or √max(1, rows/cols) ("sgd")
        (the one Muon direction, :func:`gflab.theory.optim.muon_direction`: :func:`amuse_muon`)
  other parameters: D = g / (√(v/(1 − β₂^t)) + ε) + wd·z, v ← β₂ v + (1 − β₂) g²  ("adamw"),
        or D = g with z ← (1 − lr_t wd) z first ("sgd")
  z ← (1 − lr_t wd) z − lr_t D                        (Muon: decoupled decay on z)
  x ← (1 − c_t) x + c_t z,  y ← (1 − β_t) z + β_t x   (the next gradient point)

x_t is recovered with the current β_t although y_t was built with β_{t−1} (the authors' order;
the two differ only after the warmup). ``eval`` is x = (y − (1 − β) z)/β with the last β,
``train`` its inverse. The optional ``weight_decay_at_y`` (default 0) first moves z by
−lr_t·wd_y·y and y by −lr_t·wd_y·(1 − β_t)·y. The schedule is :func:`amuse_coefficients` (plain
floats, shared by :class:`AMUSE` here and the torch optimizer ``gflab.sims.bridge.optim.AMUSE``); the
array step :func:`amuse_param_step` takes the coefficients as arguments, so it runs under
``jax.jit``/``lax.scan`` with a precomputed :func:`amuse_schedule`. Interpolations use torch's
two-branch ``lerp`` formula so the float64 arithmetic follows the authors' operation for operation.

The optimisers follow the one contract of :mod:`gflab.theory.optim` (optax's):
``init(params) -> state``, ``update(grads, state, params) -> (updates, state)`` where ``grads``
is the gradient at the point ``params`` the model holds (y) and ``params + updates`` is the next
y (:func:`gflab.theory.optim.apply_updates`). Params are a tuple of arrays (NumPy, JAX or torch);
no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, no_type_check

from gflab.theory._validate import GflabInputError, one_of, positive_int, positive_real, probability
from gflab.theory.optim import (
    MUON_MOMENTUM,
    AdamDirection,
    GradientTransformation,
    Identity,
    NewtonSchulz,
    lerp,
    muon_direction,
)

__all__ = [
    "SFState",
    "ScheduleFree",
    "schedule_free_sgd",
    "schedule_free_adamw",
    "schedule_free_muon",
    "AMUSE",
    "AMUSEState",
    "AUX_UPDATE_TYPES",
    "amuse_coefficients",
    "amuse_schedule",
    "amuse_param_step",
    "amuse_scale",
    "amuse_muon",
    "AmuseUpdate",
    "MuonUpdate",
    "AdamWUpdate",
    "SGDUpdate",
]


class SFState(NamedTuple):
    """Schedule-Free state: fast z, average x, the base direction's state, step k, the running
    weight sum Σw and the largest learning rate so far."""

    z: tuple
    x: tuple
    base: Any
    k: int
    weight_sum: float
    lr_max: float


@dataclass(frozen=True)
class ScheduleFree:
    """Schedule-Free around a base direction D (module docstring's equations), constant β.

    Args:
      base: the direction, a :class:`gflab.theory.optim.GradientTransformation` whose updates are
        D(g) (no step: Schedule-Free applies its own lr): :class:`~gflab.theory.optim.Identity`
        (SGD), :class:`~gflab.theory.optim.AdamDirection` (AdamW),
        :class:`~gflab.theory.optim.NewtonSchulz` (Muon's orthogonalisation) or any other.
      lr: the base learning rate > 0. beta: β ∈ [0, 1]. weight_decay: decay at y, ≥ 0.
      warmup_steps: linear warmup length ≥ 0. r: polynomial weight power ≥ 0.
      weight_lr_power: p ≥ 0.
    """

    base: Any = Identity()
    lr: float = 1e-3
    beta: float = 0.9
    weight_decay: float = 0.0
    warmup_steps: int = 0
    r: float = 0.0
    weight_lr_power: float = 2.0

    def __post_init__(self):
        if not isinstance(self.base, GradientTransformation):
            raise GflabInputError(
                "base",
                "a direction object (gflab.theory.optim: Identity, AdamDirection, ...)",
                self.base,
            )
        positive_real("lr", self.lr)
        probability("beta", self.beta, open_low=False)
        positive_real("weight_decay", self.weight_decay, allow_zero=True)
        positive_int("warmup_steps", self.warmup_steps, minimum=0)
        positive_real("r", self.r, allow_zero=True)
        positive_real("weight_lr_power", self.weight_lr_power, allow_zero=True)

    def beta_at(self, k: Any):
        """β_k = β (constant for Schedule-Free).

        Args:
          k: the step index (unused).

        Returns:
          beta (float): β.
        """
        return self.beta

    def init(self, params: Sequence[Any]) -> SFState:
        """z = x = y = params, the base's state, k = 0.

        Args:
          params: the initial parameters, one array per parameter.

        Returns:
          The initial :class:`SFState` (weight sum 0, no learning rate seen yet).
        """
        p = tuple(params)
        return SFState(p, p, self.base.init(p), 0, 0.0, -1.0)

    def update(self, grads: Sequence[Any], state: SFState, params: Sequence[Any] | None = None):
        """One step from the gradient at y (``params``, default the state's own y).

        Args:
          grads: ∇f(y_k), one per parameter.
          state: the :class:`SFState`.
          params: y_k, as the caller holds it (default recomputed from z, x and β_k).

        Returns:
          (updates, new state): ``y_k + updates`` is y_{k+1}, the next gradient point.
        """
        z, x, bstate, k, wsum, lr_max = state
        if len(grads) != len(z):
            raise GflabInputError("grads", f"{len(z)} arrays", len(grads))
        sched = (k + 1) / self.warmup_steps if k < self.warmup_steps else 1.0
        lr = self.lr * sched
        lr_max = max(lr, lr_max)
        w = (k + 1) ** self.r * lr_max**self.weight_lr_power
        wsum = wsum + w
        c = w / wsum if wsum > 0 else 0.0
        params = self.point(state) if params is None else tuple(params)
        ds, bstate = self.base.update(tuple(grads), bstate, params)
        nz, nx = [], []
        b1 = self.beta_at(k + 1)
        for zi, xi, d, yi in zip(z, x, ds, params, strict=True):
            if self.weight_decay:
                zi = zi - lr * self.weight_decay * yi
            zi = zi - lr * d
            xi = (1 - c) * xi + c * zi
            nz.append(zi)
            nx.append(xi)
        y = tuple((1 - b1) * zi + b1 * xi for zi, xi in zip(nz, nx, strict=True))
        updates = tuple(yn - yi for yn, yi in zip(y, params, strict=True))
        return updates, SFState(tuple(nz), tuple(nx), bstate, k + 1, wsum, lr_max)

    @staticmethod
    def fast(state: SFState) -> tuple:
        """z: the fast sequence.

        Args:
          state: the :class:`SFState`.

        Returns:
          z, one array per parameter.
        """
        return state.z

    @staticmethod
    def average(state: SFState) -> tuple:
        """x: the averaged sequence (Schedule-Free's output, what is evaluated).

        Args:
          state: the :class:`SFState`.

        Returns:
          x, one array per parameter.
        """
        return state.x

    def point(self, state: SFState) -> tuple:
        """y = (1 − β_k) z + β_k x: where the next gradient is taken.

        Args:
          state: the :class:`SFState` (its k sets β_k).

        Returns:
          y, one array per parameter.
        """
        b = self.beta_at(state.k)
        return tuple((1 - b) * zi + b * xi for zi, xi in zip(state.z, state.x, strict=True))


def schedule_free_sgd(lr: float, beta: float = 0.9, **kw: Any) -> ScheduleFree:
    """Schedule-Free SGD (the package's ``SGDScheduleFree``: β = momentum = 0.9).

    Args:
      lr: the learning rate. beta: β. **kw: :class:`ScheduleFree`'s other fields.

    Returns:
      ``ScheduleFree(base=Identity(), ...)``.
    """
    return ScheduleFree(base=Identity(), lr=lr, beta=beta, **kw)


def schedule_free_adamw(
    lr: float = 0.0025,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    **kw: Any,
) -> ScheduleFree:
    """Schedule-Free AdamW (the package's ``AdamWScheduleFree``; its defaults).

    Args:
      lr: the learning rate. betas: (β, β₂). eps: ε. **kw: :class:`ScheduleFree`'s other fields.

    Returns:
      ``ScheduleFree(base=AdamDirection(β₂, ε), ...)``.
    """
    probability("beta2", betas[1], open_low=False)
    positive_real("eps", eps, allow_zero=True)
    return ScheduleFree(base=AdamDirection(betas[1], eps), lr=lr, beta=betas[0], **kw)


def schedule_free_muon(lr: float, beta: float = 0.9, ns_steps: int = 5, **kw: Any) -> ScheduleFree:
    """Schedule-Free Muon: constant β, Newton–Schulz of the raw gradient as the base direction
    (Schedule-Free's β plays the momentum's role).

    Args:
      lr: the learning rate. beta: β. ns_steps: Newton–Schulz iterations.
      **kw: :class:`ScheduleFree`'s other fields.

    Returns:
      ``ScheduleFree(base=NewtonSchulz(ns_steps), ...)``.
    """
    positive_int("ns_steps", ns_steps)
    return ScheduleFree(base=NewtonSchulz(ns_steps), lr=lr, beta=beta, **kw)


# ----------------------------------------------------------------------------- AMUSE (published)

AUX_UPDATE_TYPES = ("adamw", "sgd")
"""AMUSE's auxiliary update types: the update of non-matrix parameters and, for the matrices, the
convention of Muon's shape scale (module docstring)."""


_lerp = lerp  # torch's two-branch lerp (one implementation: gflab.theory.optim.lerp)


def amuse_muon(
    momentum: Any = MUON_MOMENTUM,
    ns_steps: int = 5,
    aux_update_type: str = "adamw",
    ns: Callable | None = None,
):
    """AMUSE's matrix direction: the one Muon (:func:`gflab.theory.optim.muon_direction`: EMA
    momentum, Nesterov, Newton–Schulz) with the authors' shape scale :func:`amuse_scale`; AMUSE
    applies its scheduled −lr_t and the decay on z.

    Args:
      momentum: μ. ns_steps: Newton–Schulz iterations. aux_update_type: the scale's convention.
      ns: ``fn(g, steps)``, a low-precision Newton–Schulz (the torch optimizer's bfloat16 one).

    Returns:
      A :class:`gflab.theory.optim.Chain`; its state is ``((buffer per matrix), (), ())``.
    """
    return muon_direction(
        momentum,
        True,
        ns_steps,
        ns=ns,
        scale=functools.partial(amuse_scale, aux_update_type=aux_update_type),
    )


def _scale_match_rms_adamw(rows: int, cols: int) -> float:
    """0.2·√max(rows, cols): the "adamw" convention (``** 0.5``, as the authors round it)."""
    return 0.2 * max(rows, cols) ** 0.5


def _scale_original(rows: int, cols: int) -> float:
    """√max(1, rows/cols): the "sgd" convention."""
    return max(1, rows / cols) ** 0.5


_AMUSE_SCALES = {"adamw": _scale_match_rms_adamw, "sgd": _scale_original}


def amuse_scale(shape: Sequence[int], aux_update_type: str = "adamw") -> float:
    """Muon's shape scale in AMUSE: 0.2·√max(rows, cols) ("adamw") or √max(1, rows/cols) ("sgd").

    Args:
      shape: the parameter's shape (rows, then the remaining axes flattened into columns).
      aux_update_type: ``"adamw"`` or ``"sgd"``.

    Returns:
      The factor that multiplies NS₅(u).
    """
    if aux_update_type not in _AMUSE_SCALES:
        one_of("aux_update_type", aux_update_type, AUX_UPDATE_TYPES)  # raises, naming the choices
    rows = int(shape[0])
    cols = 1
    for n in shape[1:]:
        cols *= int(n)
    return _AMUSE_SCALES[aux_update_type](rows, cols)


class AmuseUpdate:
    """AMUSE's base update of one parameter's fast sequence z (module docstring): a direction of
    :mod:`gflab.theory.optim` and its weight decay. Chosen once per parameter group
    (:meth:`AMUSE.update_for`); :func:`amuse_param_step` calls :meth:`step`."""

    def step(self, z: Any, g: Any, buf: Any, *, lr: Any, t: Any, weight_decay: float):
        """z ← z − lr_t·D(g) with the decay (the subclass's convention).

        Args:
          z: the fast sequence. g: ∇f(y_t). buf: this update's buffer (same shape as z).
          lr: lr_t. t: the step 1, 2, … (AdamW's bias correction). weight_decay: the group's.

        Returns:
          (z_{t+1}, buf_{t+1}).
        """
        raise NotImplementedError


@dataclass(frozen=True)
class MuonUpdate(AmuseUpdate):
    """Matrices: ``direction`` is the one Muon (:func:`amuse_muon`: EMA momentum, Nesterov,
    Newton–Schulz, AMUSE's shape scale) on the (rows, −1) view; decoupled decay on z; ``buf``
    is the momentum buffer."""

    direction: Any

    def step(self, z, g, buf, *, lr, t, weight_decay):  # noqa: D102 (AmuseUpdate.step)
        shape = g.shape
        flat = (shape[0], -1)  # the authors' matrix view of a conv kernel
        state = ((buf.reshape(flat),), (), ())
        (d,), ((buf,), (), ()) = self.direction.update((g.reshape(flat),), state)
        if weight_decay:
            z = z * (1.0 - lr * weight_decay)
        return z + (-lr) * d.reshape(shape), buf.reshape(shape)


@dataclass(frozen=True)
class AdamWUpdate(AmuseUpdate):
    """Other parameters, "adamw": ``direction`` an :class:`~gflab.theory.optim.AdamDirection`
    (``buf`` its second moment v, bias-corrected at t) plus the coupled decay wd·z."""

    direction: AdamDirection

    def step(self, z, g, buf, *, lr, t, weight_decay):  # noqa: D102 (AmuseUpdate.step)
        (d,), ((buf,), _) = self.direction.update((g,), ((buf,), t - 1))
        if weight_decay:
            d = d + weight_decay * z
        return z + (-lr) * d, buf


@dataclass(frozen=True)
class SGDUpdate(AmuseUpdate):
    """Other parameters, "sgd": ``direction`` (default :class:`~gflab.theory.optim.Identity`,
    D(g) = g) after the decoupled decay; ``buf`` is unused."""

    direction: Any = Identity()

    def step(self, z, g, buf, *, lr, t, weight_decay):  # noqa: D102 (AmuseUpdate.step)
        if weight_decay:
            z = z * (1.0 - lr * weight_decay)
        (d,), _ = self.direction.update((g,), ())
        return z + (-lr) * d, buf


def amuse_coefficients(
    t: int,
    weight_sum: float,
    c_warmup: float | None,
    *,
    lr: float,
    warmup_steps: int,
    beta1: float,
    rho: float,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
) -> tuple[float, float, float, float, float | None]:
    """AMUSE's schedule at step t (module docstring): the one implementation of it.

    Args:
      t: the step being taken, 1, 2, ….
      weight_sum: Σ_{j<t} w_j (0 before the first step).
      c_warmup: c_{T₀} once t > T₀ (``None`` before; 1/T₀ is used if it is missing then).
      lr: the base learning rate. warmup_steps: T₀ ≥ 1. beta1: β₁ ∈ (0, 1]. rho: ρ ≥ 0.
      r: polynomial weight power. weight_lr_power: p.

    Returns:
      (lr_t, c_t, β_t, Σ_{j≤t} w_j, c_warmup after this step), plain floats.
    """
    sched = min(1.0, t / warmup_steps)
    lr_t = lr * sched
    weight = (t**r) * (lr_t**weight_lr_power)
    weight_sum = weight_sum + weight
    c = weight / weight_sum if weight_sum > 0 else 1.0
    if t <= warmup_steps:
        if t == warmup_steps:
            c_warmup = c
        return lr_t, c, beta1, weight_sum, c_warmup
    cw = c_warmup if c_warmup is not None else 1.0 / warmup_steps
    s = (c * (1.0 - cw)) / (cw * (1.0 - c))
    return lr_t, c, 1.0 - (s**rho) * (1.0 - beta1), weight_sum, c_warmup


def amuse_schedule(steps: int, **kw: Any) -> dict:
    """:func:`amuse_coefficients` for t = 1 … ``steps`` as NumPy arrays.

    Args:
      steps: number of steps.
      **kw: :func:`amuse_coefficients`' keywords (lr, warmup_steps, beta1, rho, r, weight_lr_power).

    Returns:
      ``{"lr": (steps,), "c": (steps,), "beta": (steps,)}``, float64.
    """
    import numpy as np

    positive_int("steps", steps)
    out = {"lr": np.empty(steps), "c": np.empty(steps), "beta": np.empty(steps)}
    ws, cw = 0.0, None
    for i in range(steps):
        lr_t, c, b, ws, cw = amuse_coefficients(i + 1, ws, cw, **kw)
        out["lr"][i], out["c"][i], out["beta"][i] = lr_t, c, b
    return out


@no_type_check  # arrays of any namespace (Any): the test-time checker would only add overhead
def amuse_param_step(
    y: Any,
    g: Any,
    z: Any,
    buf: Any,
    *,
    update: AmuseUpdate,
    lr: Any,
    c: Any,
    beta: Any,
    t: Any,
    weight_decay: float = 0.0,
    weight_decay_at_y: float = 0.0,
):
    """One AMUSE step of one parameter (module docstring), in the authors' operation order.

    Args:
      y: the parameter as the model holds it (the gradient point y_t).
      g: ∇f(y_t). z: the fast sequence. buf: ``update``'s buffer (Muon's momentum, AdamW's
        second moment; unused by SGD).
      update: the group's base update, an :class:`AmuseUpdate` (:meth:`AMUSE.update_for`).
      lr, c, beta: lr_t, c_t, β_t from :func:`amuse_coefficients` (floats or traced scalars).
      t: the step (AdamW's bias correction).
      weight_decay, weight_decay_at_y: the group's decays.

    Returns:
      (y_{t+1}, z_{t+1}, buf_{t+1}).
    """
    if weight_decay_at_y:
        z = z - (lr * weight_decay_at_y) * y
        y = y - (lr * weight_decay_at_y * (1.0 - beta)) * y
    x = _lerp(y, z, 1.0 - 1.0 / beta)
    z, buf = update.step(z, g, buf, lr=lr, t=t, weight_decay=weight_decay)
    x = _lerp(x, z, c)
    return _lerp(x, z, 1.0 - beta), z, buf


_AUX_UPDATES = {  # aux_update_type -> the other parameters' base update, built from an AMUSE
    "adamw": lambda o: AdamWUpdate(AdamDirection(o.beta2, o.eps)),
    "sgd": lambda o: SGDUpdate(),
}


class AMUSEState(NamedTuple):
    """AMUSE's state: the fast z and the buffers (Muon's momentum or AdamW's v) per parameter,
    the steps taken, and per group (matrices, other parameters) Σw, c_warmup and the β that the
    held y was built with (β₁ before the first step)."""

    z: tuple
    buf: tuple
    t: int
    weight_sum: tuple
    c_warmup: tuple
    beta: tuple


@dataclass(frozen=True)
class AMUSE:
    """AMUSE as published (module docstring): Muon on the 2-D parameters, the auxiliary update on
    the others, the two groups with their own schedule (as two torch param groups).

    Defaults are the authors' (β₁ = 0.9, ρ = 1, r = 0, p = 2, momentum 0.95, β₂ = 0.999,
    ε = 1e-10, "adamw" aux type) except ``warmup_steps``, which the authors require to be given
    (> 0; their scripts use 5 % to 37.5 % of the run) and ``aux_lr``, which defaults to ``lr``.

    Params are the gradient points y (what the model holds while training); :meth:`average` gives
    the averaged x (what ``eval()`` puts in the model), :meth:`point` maps x back to y.
    """

    lr: float = 0.02
    aux_lr: float | None = None
    momentum: float = MUON_MOMENTUM
    beta1: float = 0.9
    rho: float = 1.0
    warmup_steps: int = 100
    r: float = 0.0
    weight_lr_power: float = 2.0
    weight_decay: float = 0.0
    aux_weight_decay: float | None = None
    weight_decay_at_y: float = 0.0
    aux_update_type: str = "adamw"
    beta2: float = 0.999
    eps: float = 1e-10
    ns_steps: int = 5

    def __post_init__(self):
        positive_real("lr", self.lr)
        if self.aux_lr is not None:
            positive_real("aux_lr", self.aux_lr)
        if not (0 <= self.momentum < 1):
            raise GflabInputError("momentum", "a number in [0, 1)", self.momentum)
        probability("beta1", self.beta1)
        positive_real("rho", self.rho, allow_zero=True)
        positive_int("warmup_steps", self.warmup_steps)
        positive_real("r", self.r, allow_zero=True)
        positive_real("weight_lr_power", self.weight_lr_power, allow_zero=True)
        positive_real("weight_decay", self.weight_decay, allow_zero=True)
        if self.aux_weight_decay is not None:
            positive_real("aux_weight_decay", self.aux_weight_decay, allow_zero=True)
        positive_real("weight_decay_at_y", self.weight_decay_at_y, allow_zero=True)
        one_of("aux_update_type", self.aux_update_type, AUX_UPDATE_TYPES)
        probability("beta2", self.beta2, open_low=False)
        positive_real("eps", self.eps, allow_zero=True)
        positive_int("ns_steps", self.ns_steps)
        # the spelling parsed once into the two groups' base updates (not a dataclass field:
        # equality, hashing and asdict see the public ``aux_update_type`` only)
        matrices = MuonUpdate(amuse_muon(self.momentum, self.ns_steps, self.aux_update_type))
        self.__dict__["_updates"] = (matrices, _AUX_UPDATES[self.aux_update_type](self))

    @staticmethod
    def group(p: Any) -> int:
        """The parameter group of ``p``: 0 for a 2-D parameter (Muon's), 1 for the others.

        Args:
          p (Any): a parameter (an array with ``ndim``).

        Returns:
          int: 0 or 1.
        """
        return 0 if p.ndim == 2 else 1

    @property
    def updates(self) -> tuple[AmuseUpdate, AmuseUpdate]:
        """The base updates of group 0 (:class:`MuonUpdate`) and group 1 (:class:`AdamWUpdate`
        or :class:`SGDUpdate`, from ``aux_update_type``)."""
        return self.__dict__["_updates"]

    def update_for(self, p: Any) -> AmuseUpdate:
        """The base update of ``p``'s group (:meth:`group`).

        Args:
          p (Any): a parameter (an array with ``ndim``).

        Returns:
          AmuseUpdate: the group's :class:`MuonUpdate`, :class:`AdamWUpdate` or :class:`SGDUpdate`.
        """
        return self.updates[self.group(p)]

    def schedule(self, steps: int, group: int = 0) -> dict:
        """The schedule of group 0 (matrices) or 1 (other parameters): :func:`amuse_schedule`.

        Args:
          steps (int): the number of steps, >= 1.
          group (int): 0 (matrices, ``lr``) or 1 (other parameters, ``aux_lr``).

        Returns:
          dict: ``{"lr", "c", "beta"}``, arrays of length ``steps``.
        """
        return amuse_schedule(steps, **self._sched_kw(group))

    def _sched_kw(self, group: int) -> dict:
        lr = self.lr if group == 0 or self.aux_lr is None else self.aux_lr
        return dict(
            lr=lr,
            warmup_steps=self.warmup_steps,
            beta1=self.beta1,
            rho=self.rho,
            r=self.r,
            weight_lr_power=self.weight_lr_power,
        )

    def init(self, params: Sequence[Any]) -> AMUSEState:
        """The initial state: z = y = params, zero buffers, t = 0, β = β₁.

        Args:
          params (Sequence[Any]): y₀, one array per parameter.

        Returns:
          AMUSEState: the state before the first step.
        """
        p = tuple(params)
        return AMUSEState(
            p, tuple(0.0 * q for q in p), 0, (0.0, 0.0), (None, None), (self.beta1,) * 2
        )

    def update(
        self,
        grads: Sequence[Any],
        state: AMUSEState,
        params: Sequence[Any],
        averaging: bool = True,
    ):
        """One step from the gradients at the held point y.

        Args:
          grads: ∇f(y_t), one per parameter.
          state: the :class:`AMUSEState`.
          params: y_t, as the model holds it.
          averaging: ``False`` runs AMUSE's base step alone (c_t = β_t = 1, so y = x = z: Muon
            with AMUSE's momentum, shape scale, warmup and decay on the matrices, the auxiliary
            update on the others), the baseline that isolates the Schedule-Free part.

        Returns:
          (updates, new state): ``y_t + updates`` is y_{t+1} (the contract of
          :mod:`gflab.theory.optim`).
        """
        if not (len(grads) == len(state.z) == len(params)):
            raise GflabInputError(
                "grads", f"{len(state.z)} arrays (and as many params)", len(grads)
            )
        t = state.t + 1
        coef, ws, cws = [], [], []
        for group in (0, 1):
            lr_t, c, b, w, cw = amuse_coefficients(
                t, state.weight_sum[group], state.c_warmup[group], **self._sched_kw(group)
            )
            coef.append((lr_t, c, b) if averaging else (lr_t, 1.0, 1.0))
            ws.append(w)
            cws.append(cw)
        ny, nz, nb = [], [], []
        for y, g, z, buf in zip(params, grads, state.z, state.buf, strict=True):
            group = self.group(y)
            lr_t, c, b = coef[group]
            wd = self.weight_decay
            if group == 1 and self.aux_weight_decay is not None:
                wd = self.aux_weight_decay
            y, z, buf = amuse_param_step(
                y,
                g,
                z,
                buf,
                update=self.updates[group],
                lr=lr_t,
                c=c,
                beta=b,
                t=t,
                weight_decay=wd,
                weight_decay_at_y=self.weight_decay_at_y,
            )
            ny.append(y)
            nz.append(z)
            nb.append(buf)
        beta = (coef[0][2], coef[1][2])
        updates = tuple(yn - y for yn, y in zip(ny, params, strict=True))
        return updates, AMUSEState(tuple(nz), tuple(nb), t, tuple(ws), tuple(cws), beta)

    def average(self, params: Sequence[Any], state: AMUSEState) -> tuple:
        """x = (y − (1 − β) z)/β with the last β (``eval()``): the averaged sequence.

        Args:
          params (Sequence[Any]): y, as the model holds it while training.
          state (AMUSEState): the optimiser state.

        Returns:
          tuple: x, one array per parameter.
        """
        return tuple(
            _lerp(y, z, 1.0 - 1.0 / state.beta[self.group(y)])
            for y, z in zip(params, state.z, strict=True)
        )

    def point(self, x: Sequence[Any], state: AMUSEState) -> tuple:
        """y = (1 − β) z + β x (``train()``): the gradient point from the average.

        Args:
          x (Sequence[Any]): the averaged sequence (:meth:`average`).
          state (AMUSEState): the optimiser state.

        Returns:
          tuple: y, one array per parameter.
        """
        return tuple(
            _lerp(xi, z, 1.0 - state.beta[self.group(xi)]) for xi, z in zip(x, state.z, strict=True)
        )
