"""Methods as objects: one small immutable class per integrator or optimiser (docs/theory.md §3).

As diffrax does for solvers and optax for optimisers, a method owns its hyper-parameters and
their validation, and the engine takes the object: no flags, no if-chains on names.

- Continuous methods integrate a flow: :class:`Adaptive` (an embedded Runge–Kutta pair with a
  PID controller; ``solver`` names a diffrax solver in :data:`SOLVERS`) and :class:`Euler`
  (fixed-step forward Euler, for the discontinuous β = 0 spectral field). Each gives the engine
  ``diffrax_solver()``, ``controller()`` and ``dt0()``.
- Discrete methods are optax-like: ``init(params) -> state`` and ``update(grads, state, params)
  -> (updates, state)``, with ``params ← params + updates``. :class:`GD`, :class:`SpecGD`
  (exact polar), :class:`SmoothedSpecGD` (T_β), :class:`NewtonSchulz` and :class:`Muon`.

Every method is an ``equinox.Module``: a frozen dataclass that is also a PyTree whose numbers
(step, tolerances, momentum) are leaves, so a compiled solve is reused when they change, while
names, counts and dtypes are static. ``to_dict`` / :func:`method_from_dict` round-trip through JSON;
:func:`parse_method` reads the old spellings (``"gd:0.2"``, ``"adaptive"``, ``"muon:0.01"``) once,
at the config boundary.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp

from gflab.sims import terms as _terms
from gflab.sims.lowp import newton_schulz_torch_bf16
from gflab.sims.rkc import RKC2, Tsit5RKC
from gflab.theory import lora as _lora
from gflab.theory import optim as _optim
from gflab.theory._validate import GflabInputError, one_of
from gflab.theory.optim import ShapeScale

__all__ = [
    "Method",
    "Adaptive",
    "Euler",
    "GD",
    "SpecGD",
    "SmoothedSpecGD",
    "NewtonSchulz",
    "Muon",
    "SOLVERS",
    "METHODS",
    "METHOD_SPELLINGS",
    "parse_method",
    "method_from_dict",
    "shape_scale",
    "newton_schulz_lowp",
]

# name -> diffrax solver class for :class:`Adaptive` (embedded pairs with an error estimate).
# "rkc2" is the stabilised Runge–Kutta–Chebyshev solver and "tsit5-rkc2" (the default) the per-step
# automatic Tsit5 → RKC2 hybrid of sims/rkc.py: gradient flows become stability-limited near a
# plateau or a minimum (real Jacobian spectrum), where RKC's stability interval ~0.65 s² pays
# (docs/performance.md).
SOLVERS: dict[str, Any] = {
    "tsit5": diffrax.Tsit5,
    "tsit5-rkc2": Tsit5RKC,
    "rkc2": RKC2,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
    "bosh3": diffrax.Bosh3,
}

NS_DTYPES = ("float64", "float32", "bfloat16")
SHAPE_SCALES = _optim.SHAPE_SCALES


def _positive(name: str, v: Any, *, allow_zero: bool = False) -> None:
    ok = isinstance(v, float) and math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise GflabInputError(name, "a finite number " + (">= 0" if allow_zero else "> 0"), v)


def _count(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise GflabInputError(name, "an integer >= 1", v)


def _num(v: Any) -> Any:
    """Python float for any real scalar typed by a user (int, NumPy); other values unchanged so
    validation can name them."""
    if isinstance(v, bool):
        return v
    try:
        return float(v) if isinstance(v, (int, float)) or hasattr(v, "__float__") else v
    except (TypeError, ValueError):
        return v


def _int(v: Any) -> Any:
    if isinstance(v, bool) or isinstance(v, int):
        return v
    if hasattr(v, "__index__"):
        return int(v)
    return v


def _shape_scale(v: Any) -> ShapeScale:
    return ShapeScale.parse(v, "shape_scale")


class Method(eqx.Module):
    """Base of every method: ``name`` (its spelling), ``discrete``, ``padded_exact`` and the JSON
    round trip.

    ``padded_exact``: a solve on zero-padded shapes equals the unpadded one bit for bit, so the
    method may run in a shape bucket (:func:`gflab.sims.buckets.paddable`; that module's docstring
    says why each method does or does not): true unless a method says otherwise (NewtonSchulz
    and Muon in low precision, Muon with a shape scale).
    """

    name: ClassVar[str] = ""
    discrete: ClassVar[bool] = False
    padded_exact: ClassVar[bool] = True

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., <hyper-parameters>}`` (inverse: :func:`method_from_dict`)."""
        out: dict[str, Any] = {"name": self.name}
        for f in dataclasses.fields(self):
            out[f.name] = getattr(self, f.name)
        return out

    @property
    def spelling(self) -> str:
        """The short form ``name[:value]`` (hyper-parameters other than the step are not in it)."""
        v = getattr(self, "lr", getattr(self, "dt", None))
        return self.name if v is None else f"{self.name}:{v!r}"


# ----------------------------------------------------------------------------- continuous


class Adaptive(Method):
    """Adaptive integration: ``solver`` (a name in :data:`SOLVERS`, default the Tsit5 → RKC2
    hybrid) with a PID controller at ``rtol``/``atol``; at most ``max_steps`` accepted + rejected
    steps.

    Args:
      rtol (float): the controller's relative tolerance, > 0. Default ``1e-8`` (the configs pass
        their own: ``DMFConfig.ADAPTIVE_DEFAULTS``).
      atol (float): the controller's absolute tolerance, > 0. Default ``1e-12``.
      solver (str): a key of :data:`SOLVERS`. Default ``"tsit5-rkc2"``: Tsit5 while steps are
        accuracy-limited, RKC2 once they are stability-limited (gradient flows near a plateau or
        a minimum); at the same tolerances its end error is within ≈ 1.5× of ``"tsit5"``'s, and
        it is 2.5–10× faster where a flow reaches a plateau or a minimum, the same cost where
        every step stays accuracy-limited (docs/performance.md). ``"tsit5"`` is plain Tsit5.
      max_steps (int): diffrax's step budget (reaching it is reported as the status
        ``max_steps``). Default ``500_000``.
    """

    rtol: float = eqx.field(default=1e-8, converter=_num)
    atol: float = eqx.field(default=1e-12, converter=_num)
    solver: str = eqx.field(default="tsit5-rkc2", static=True)
    max_steps: int = eqx.field(default=500_000, static=True, converter=_int)
    name: ClassVar[str] = "adaptive"

    def __check_init__(self):
        _positive("rtol", self.rtol)
        _positive("atol", self.atol)
        one_of("solver", self.solver, tuple(SOLVERS))
        _count("max_steps", self.max_steps)

    def diffrax_solver(self):
        """A new instance of the diffrax solver named by ``solver``."""
        return SOLVERS[self.solver]()

    def controller(self):
        """diffrax's PID step-size controller at ``rtol``/``atol``."""
        # PI coefficients for mildly stiff problems (diffrax docs): gradient flows near a minimum
        # are stiff, and the default I controller rejected ~20% of steps there (docs/performance.md)
        return diffrax.PIDController(rtol=self.rtol, atol=self.atol, pcoeff=0.4, icoeff=0.3)

    def dt0(self):
        """The first step: ``None`` (the controller picks it)."""
        return None


class Euler(Method):
    """Fixed-step forward Euler with step ``dt`` (the β = 0 spectral field is discontinuous).

    Args:
      dt (float): the time step, > 0. Required.
      max_steps (int): the step budget (reaching it is reported as the status ``max_steps``).
        Default ``500_000``.
    """

    dt: float = eqx.field(converter=_num)
    max_steps: int = eqx.field(default=500_000, static=True, converter=_int)
    name: ClassVar[str] = "euler"

    def __check_init__(self):
        _positive("dt", self.dt)
        _count("max_steps", self.max_steps)

    def diffrax_solver(self):
        """diffrax's forward Euler."""
        return diffrax.Euler()

    def controller(self):
        """A constant step size."""
        return diffrax.ConstantStepSize()

    def dt0(self):
        """The step ``dt``."""
        return self.dt


# ----------------------------------------------------------------------------- discrete


class _Discrete(Method):
    """A discrete method with step ``lr`` > 0 (checked here for every subclass): a composition of
    :mod:`gflab.theory.optim` pieces (:meth:`transform`), run on the leaves of a PyTree.

    The state is ``()`` for the stateless methods and Muon's momentum buffers (one per parameter,
    in the parameters' PyTree) for :class:`Muon`.
    """

    lr: float = eqx.field(converter=_num)
    discrete: ClassVar[bool] = True

    def __check_init__(self):
        _positive("lr", self.lr)

    def transform(self) -> _optim.Chain:
        """The composition: this method's direction, then the step ``ScaleByLr(lr)``."""
        return _optim.chain(self.direction(), _optim.ScaleByLr(self.lr))

    def direction(self) -> _optim.GradientTransformation:
        """The direction D (a :mod:`gflab.theory.optim` piece); the update is −lr·D(∇ℓ)."""
        raise NotImplementedError

    def init(self, params):
        """Optimiser state for ``params`` (a PyTree of matrices); stateless methods: ``()``."""
        return ()

    def update(self, grads, state, params):
        """(updates, new state): ``params + updates`` is the next iterate.

        Args:
          grads: ∇ℓ at ``params``, a PyTree of matrices.
          state: from :meth:`init` or the previous update.
          params: the current iterate (same PyTree).

        Returns:
          (updates, state).
        """
        leaves, tree = jax.tree_util.tree_flatten(grads)
        t = self.transform()
        updates, _ = t.update(tuple(leaves), t.init(()), tree.flatten_up_to(params))
        return tree.unflatten(updates), state


class GD(_Discrete):
    """Plain gradient descent, step ``lr``: W ← W − lr ∇ℓ (direction :class:`~gflab.theory.optim.Identity`).

    Args:
      lr (float): the step η, > 0. Required.
    """

    name: ClassVar[str] = "gd"

    def direction(self):
        """The identity."""
        return _optim.Identity()


class SpecGD(_Discrete):
    """Spectral GD with the exact polar factor: W ← W − lr T(∇ℓ) (forward Euler of SpecGF, β = 0).

    Args:
      lr (float): the step η, > 0. Required.
    """

    name: ClassVar[str] = "specgd"

    def direction(self):
        """The polar factor T."""
        return _optim.Polar()


class SmoothedSpecGD(_Discrete):
    """Spectral GD with the smoothed operator: W ← W − lr T_β(∇ℓ), β > 0.

    Args:
      lr (float): the step η, > 0. Required.
      beta (float): the smoothing β > 0 of T_β(G) = G(GᵀG + βI)^(−1/2). Default ``1e-06``
        (:data:`gflab.sims.terms.DEFAULT_BETA`, SpecGF's: one default, converter and check).
    """

    beta: float = eqx.field(default=_terms.DEFAULT_BETA, converter=_terms.smoothing)
    name: ClassVar[str] = "specgd-smooth"

    def __check_init__(self):
        _terms.check_smoothing(self.beta)

    def direction(self):
        """T_β."""
        return _optim.SmoothedPolar(self.beta)


def _ns(G, dtype: str, steps: int):
    """NS(G) in ``dtype`` (16-bit: torch's bf16 kernel, :func:`newton_schulz_lowp`), cast back."""
    dt = jnp.dtype(dtype)
    if dt.itemsize < 4:
        return newton_schulz_lowp(G, dt, steps).astype(G.dtype)
    return _lora.newton_schulz(G.astype(dt), steps=steps).astype(G.dtype)


def _ns_in(dtype: str):
    """``fn(G, steps)`` for :class:`gflab.theory.optim.NewtonSchulz`: NS in ``dtype``."""
    return lambda G, steps: _ns(G, dtype, steps)


class NewtonSchulz(_Discrete):
    """W ← W − lr NS(∇ℓ): ``ns_steps`` quintic Newton–Schulz steps in ``ns_dtype``, no momentum.

    Args:
      lr (float): the step η, > 0. Required.
      ns_steps (int): Newton–Schulz iterations, ≥ 1. Default ``5``.
      ns_dtype (str): their precision, one of :data:`NS_DTYPES`. Default ``"float64"``.
    """

    ns_steps: int = eqx.field(default=5, static=True, converter=_int)
    ns_dtype: str = eqx.field(default="float64", static=True)
    name: ClassVar[str] = "ns"

    def __check_init__(self):
        _count("ns_steps", self.ns_steps)
        one_of("ns_dtype", self.ns_dtype, NS_DTYPES)

    @property
    def padded_exact(self) -> bool:
        """Only in float64 (:class:`Method`; low-precision sums round differently when the padded
        reduction is longer)."""
        return self.ns_dtype == "float64"

    def direction(self):
        """NS in ``ns_dtype``."""
        return _optim.NewtonSchulz(self.ns_steps, _ns_in(self.ns_dtype))


class Muon(_Discrete):
    """Muon, EMA form as in ``torch.optim.Muon``: buf ← μ buf + (1−μ) g; the update direction is
    lerp(g, buf, μ) with Nesterov (else buf); W ← W − lr · scale(shape) · NS(direction).

    The composition ``chain(muon_direction(...), ScaleByLr(lr))`` of :mod:`gflab.theory.optim`
    (:func:`~gflab.theory.optim.muon_direction` is also AMUSE's matrix step); the state is the
    momentum buffers, one per parameter.

    Args:
      lr (float): the step η, > 0. Required.
      momentum (float): μ ∈ [0, 1). Default ``0.95``.
      nesterov (bool): Nesterov look-ahead. Default ``True``.
      ns_steps (int): Newton–Schulz iterations, ≥ 1. Default ``5``.
      ns_dtype (str): their precision, one of :data:`NS_DTYPES`. Default ``"float64"``.
      shape_scale (ShapeScale): torch's ``adjust_lr_fn``, a
        :class:`~gflab.theory.optim.ShapeScale` (a spelling of :data:`SHAPE_SCALES`, none |
        original | match_rms_adamw, is parsed on construction). Default ``"none"``.
    """

    momentum: float = eqx.field(default=_optim.MUON_MOMENTUM, converter=_num)
    nesterov: bool = eqx.field(default=True, static=True)
    ns_steps: int = eqx.field(default=5, static=True, converter=_int)
    ns_dtype: str = eqx.field(default="float64", static=True)
    shape_scale: ShapeScale = eqx.field(
        default=ShapeScale.NONE, static=True, converter=_shape_scale
    )
    name: ClassVar[str] = "muon"

    def __check_init__(self):
        if not (isinstance(self.momentum, float) and 0 <= self.momentum < 1):
            raise GflabInputError("momentum", "a number in [0, 1)", self.momentum)
        if not isinstance(self.nesterov, bool):
            raise GflabInputError("nesterov", "true or false", self.nesterov)
        _count("ns_steps", self.ns_steps)
        one_of("ns_dtype", self.ns_dtype, NS_DTYPES)

    @property
    def padded_exact(self) -> bool:
        """In float64 and without a shape scale (:class:`Method`; the scale reads the padded
        shape)."""
        return self.ns_dtype == "float64" and self.shape_scale is ShapeScale.NONE

    def direction(self):
        """Momentum → Newton–Schulz in ``ns_dtype`` → shape scale."""
        return _optim.muon_direction(
            self.momentum,
            self.nesterov,
            self.ns_steps,
            self.shape_scale,
            _ns_in(self.ns_dtype),
        )

    def init(self, params):
        """Zero momentum buffers, one per parameter.

        Args:
          params (PyTree): the initial iterate, a PyTree of matrices.

        Returns:
          buffers (PyTree): zeros shaped as ``params`` (the momentum buffers).
        """
        return jax.tree_util.tree_map(jnp.zeros_like, params)

    def update(self, grads, state, params):
        """(updates, new buffers): ``params + updates`` is the next iterate.

        Args:
          grads (PyTree): ∇ℓ at ``params``, a PyTree of matrices.
          state (PyTree): the momentum buffers, from :meth:`init` or the previous update.
          params (PyTree): the current iterate (same PyTree).

        Returns:
          updates_and_state (tuple): (updates, new momentum buffers), each a PyTree shaped as
            ``params``.
        """
        leaves, tree = jax.tree_util.tree_flatten(grads)
        t = self.transform()
        inner = t.init(())  # stateless pieces: () each; the momentum's buffers from ``state``
        inner = (tuple(tree.flatten_up_to(state)), *inner[1:])
        updates, inner = t.update(tuple(leaves), inner, tree.flatten_up_to(params))
        return tree.unflatten(updates), tree.unflatten(inner[0])


shape_scale = _optim.shape_scale


def newton_schulz_lowp(G, dtype=jnp.bfloat16, steps: int = 5, eps: float = 1e-7) -> jax.Array:
    """Newton–Schulz in a 16-bit storage dtype exactly as torch.optim.Muon runs it on bfloat16
    (bit for bit: bf16-rounded Frobenius norm, float32 products summed in torch's order; see
    :mod:`gflab.sims.lowp`).

    Args:
      G (jax.Array): the (..., rows, cols) gradient.
      dtype (numpy dtype): the 16-bit storage dtype (bfloat16 or float16). Default bfloat16.
      steps (int): Newton–Schulz iterations. Default ``5``.
      eps (float): floor of the Frobenius norm (torch's ``eps``). Default ``1e-7``.

    Returns:
      (..., rows, cols) in ``dtype``.
    """
    return newton_schulz_torch_bf16(G, steps=steps, eps=eps, dtype=dtype)


# ----------------------------------------------------------------------------- names and spellings

METHODS: dict[str, type[Method]] = {
    cls.name: cls for cls in (Adaptive, Euler, GD, SpecGD, SmoothedSpecGD, NewtonSchulz, Muon)
}

METHOD_SPELLINGS = (
    "adaptive",
    "euler:DT",
    "gd:ETA",
    "specgd:ETA",
    "specgd-smooth:ETA",
    "ns:ETA",
    "muon:ETA",
)


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def parse_method(spec: Any, **options: Any) -> Method:
    """A method object from an old spelling (``"gd:0.2"``, ``"adaptive"``, ``"muon:0.01"``), a
    ``to_dict`` dict or a method object.

    ``options`` are hyper-parameters given next to the spelling (``rtol``, ``momentum``...);
    ``None`` values and the ones this method does not have are dropped: they are not its
    hyper-parameters and never enter a key.

    Args:
      spec: a method object, a dict with ``name``, or a spelling of :data:`METHOD_SPELLINGS`.
    Returns:
      The validated method object.
    """
    if isinstance(spec, Method):
        opts = {k: v for k, v in options.items() if v is not None and k in _fields(type(spec))}
        return dataclasses.replace(spec, **opts) if opts else spec
    if isinstance(spec, dict):
        return method_from_dict({**{k: v for k, v in options.items() if v is not None}, **spec})
    if not isinstance(spec, str):
        raise GflabInputError("method", "one of " + ", ".join(METHOD_SPELLINGS), spec)
    kind, _, arg = spec.partition(":")
    cls = METHODS.get(kind)
    if cls is None or (cls is Adaptive) == bool(arg):
        raise GflabInputError("method", "one of " + ", ".join(METHOD_SPELLINGS), spec)
    kw = {k: v for k, v in options.items() if v is not None and k in _fields(cls)}
    if arg:
        try:
            v = float(arg)
        except ValueError:
            v = float("nan")
        what = "DT" if cls is Euler else "ETA"
        if not (math.isfinite(v) and v > 0):
            raise GflabInputError("method", f"{kind}:{what} with {what} a finite number > 0", spec)
        kw["dt" if cls is Euler else "lr"] = v
    return cls(**kw)


def method_from_dict(d: dict[str, Any]) -> Method:
    """Inverse of :meth:`Method.to_dict` (unknown keys are refused, naming them).

    Args:
        d: ``{"name": <method name>, <field>: <value>, …}``.

    Returns:
        The method object (its own checks run).

    Raises:
        GflabInputError: an unknown name, or fields the method does not have (parameter
            ``method``).
    """
    d = dict(d)
    cls = METHODS.get(d.pop("name", None))
    if cls is None:
        raise GflabInputError("method", "a method name: " + ", ".join(METHODS), d)
    unknown = set(d) - _fields(cls)
    if unknown:
        raise GflabInputError("method", f"fields of {cls.__name__}", sorted(unknown))
    return cls(**d)
