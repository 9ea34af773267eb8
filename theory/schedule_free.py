"""Schedule-Free averaging with SGD, AdamW and Muon base steps, and AMUSE (docs/theory.md §2.4).

**Schedule-Free** (Defazio, Yang, Mehta, Mishchenko, Khaled, Cutkosky, "The Road Less Scheduled",
NeurIPS 2024; reference: the ``schedulefree`` package, ``*_reference.py``), per parameter, step
k = 0, 1, …, with the gradient g_k evaluated at the current point y_k:

  lr_k = lr · min(1, (k+1)/warmup)                    (linear warmup; none if warmup = 0)
  w_k = (k+1)^r · (max_{j≤k} lr_j)^p,  c_k = w_k / Σ_{j≤k} w_j   (r = 0, p = 2: c_k = 1/(k+1))
  z ← z − lr_k · wd · y − lr_k · D_k(g_k)             (D: the base method's direction)
  x ← (1 − c_k) x + c_k z                             (the average: the anytime output)
  y ← (1 − β_k) z + β_k x                             (where the next gradient is taken)

z is the fast sequence, x the averaged one. Base directions D: SGD D(g) = g; AdamW
D(g) = g / (√(v/(1 − β2^{k+1})) + ε) with v ← β2 v + (1 − β2) g²; **Muon** D(g) = NS₅(g), Muon's
quintic Newton–Schulz orthogonalisation (:func:`gflab.theory.lora.newton_schulz`) of each matrix
parameter's raw gradient, the plain gradient for non-matrix ones. Schedule-Free has no separate
momentum buffer (β plays that role), so Schedule-Free Muon applies NS₅ to g itself; this choice is
ours (the package has no Muon). β_k = β is constant for Schedule-Free (package default 0.9).

**AMUSE** ("Anytime MUon with Stable gradient Evaluation"): no public code or full text was found.
RECONSTRUCTED from its abstract: Schedule-Free Muon whose interpolation coefficient varies with the
step, starting near the fast sequence (β ≈ 0: y ≈ z, Muon's speed) and moving to the averaged one
(β → β_end: y ≈ x, a stable evaluation point). Our schedule, an assumption:

  β_k = β_start + (β_end − β_start) · k / (k + τ)      (defaults β_start = 0, β_end = 0.9, τ = 100)

Everything else (weights c_k, output x) is Schedule-Free's. The schedule's form, its defaults and
Muon's direction without momentum are ours, not the authors'.

The optimisers are optax-like: ``init(params) -> state``, ``update(grads, state) -> (params,
state)`` where ``grads`` is the gradient at the point ``params`` the model holds (y) and the
returned params are the next y. Params are a tuple of arrays (NumPy, JAX or torch); no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from gflab.theory._validate import GflabInputError, one_of, positive_int, positive_real, probability
from gflab.theory._xp import namespace
from gflab.theory.lora import newton_schulz

__all__ = [
    "SFState",
    "ScheduleFree",
    "schedule_free_sgd",
    "schedule_free_adamw",
    "schedule_free_muon",
    "amuse",
    "MuonState",
    "Muon",
    "BASES",
]

BASES = ("sgd", "adamw", "muon")


class SFState(NamedTuple):
    """Schedule-Free state: fast z, average x, AdamW's second moment v (zeros otherwise), step k,
    the running weight sum Σw and the largest learning rate so far."""

    z: tuple
    x: tuple
    v: tuple
    k: int
    weight_sum: float
    lr_max: float


@dataclass(frozen=True)
class ScheduleFree:
    """Schedule-Free with base direction ``base`` (see the module docstring for the equations).

    ``beta_end``/``tau`` are AMUSE's: ``tau = None`` keeps β_k = ``beta`` constant; otherwise
    β_k = beta + (beta_end − beta)·k/(k + tau) (so ``beta`` is β_start).
    """

    base: str = "sgd"
    lr: float = 1e-3
    beta: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    warmup_steps: int = 0
    r: float = 0.0
    weight_lr_power: float = 2.0
    ns_steps: int = 5
    beta_end: float | None = None
    tau: float | None = None

    def __post_init__(self):
        one_of("base", self.base, BASES)
        positive_real("lr", self.lr)
        probability("beta", self.beta, open_low=False)
        probability("beta2", self.beta2, open_low=False)
        positive_real("eps", self.eps, allow_zero=True)
        positive_real("weight_decay", self.weight_decay, allow_zero=True)
        positive_int("warmup_steps", self.warmup_steps, minimum=0)
        positive_real("r", self.r, allow_zero=True)
        positive_real("weight_lr_power", self.weight_lr_power, allow_zero=True)
        positive_int("ns_steps", self.ns_steps)
        if (self.tau is None) != (self.beta_end is None):
            raise GflabInputError(
                "tau", "given together with beta_end (AMUSE) or neither", self.tau
            )
        if self.tau is not None:
            positive_real("tau", self.tau)
            probability("beta_end", self.beta_end, open_low=False)

    def beta_at(self, k: Any):
        """β_k: constant, or AMUSE's schedule from β_start = ``beta`` to ``beta_end``."""
        if self.tau is None:
            return self.beta
        return self.beta + (self.beta_end - self.beta) * k / (k + self.tau)

    def init(self, params: Sequence[Any]) -> SFState:
        """z = x = y = params, v = 0, k = 0."""
        p = tuple(params)
        return SFState(p, p, tuple(0.0 * q for q in p), 0, 0.0, -1.0)

    def _direction(self, g: Any, v: Any, k: int):
        if self.base == "sgd":
            return g, v
        if self.base == "adamw":
            xp = namespace(g)
            v = self.beta2 * v + (1 - self.beta2) * g * g
            return g / (xp.sqrt(v / (1 - self.beta2 ** (k + 1))) + self.eps), v
        return (newton_schulz(g, self.ns_steps) if g.ndim == 2 else g), v

    def update(self, grads: Sequence[Any], state: SFState, params: Sequence[Any] | None = None):
        """One step from the gradient at y (``params``, default the state's own y).

        Args:
          grads: ∇f(y_k), one per parameter.
          state: the :class:`SFState`.
          params: y_k (only read for weight decay; default recomputed from z, x and β_k).

        Returns:
          (y_{k+1}, new state): the point to take the next gradient at, and the state.
        """
        z, x, v, k, wsum, lr_max = state
        if len(grads) != len(z):
            raise GflabInputError("grads", f"{len(z)} arrays", len(grads))
        sched = (k + 1) / self.warmup_steps if k < self.warmup_steps else 1.0
        lr = self.lr * sched
        lr_max = max(lr, lr_max)
        w = (k + 1) ** self.r * lr_max**self.weight_lr_power
        wsum = wsum + w
        c = w / wsum if wsum > 0 else 0.0
        if params is None:
            b = self.beta_at(k)
            params = tuple((1 - b) * zi + b * xi for zi, xi in zip(z, x, strict=True))
        nz, nx, nv = [], [], []
        b1 = self.beta_at(k + 1)
        for zi, xi, vi, gi, yi in zip(z, x, v, grads, params, strict=True):
            d, vi = self._direction(gi, vi, k)
            if self.weight_decay:
                zi = zi - lr * self.weight_decay * yi
            zi = zi - lr * d
            xi = (1 - c) * xi + c * zi
            nz.append(zi)
            nx.append(xi)
            nv.append(vi)
        y = tuple((1 - b1) * zi + b1 * xi for zi, xi in zip(nz, nx, strict=True))
        return y, SFState(tuple(nz), tuple(nx), tuple(nv), k + 1, wsum, lr_max)

    @staticmethod
    def fast(state: SFState) -> tuple:
        """z: the fast sequence."""
        return state.z

    @staticmethod
    def average(state: SFState) -> tuple:
        """x: the averaged sequence (Schedule-Free's output, what is evaluated)."""
        return state.x

    def point(self, state: SFState) -> tuple:
        """y = (1 − β_k) z + β_k x: where the next gradient is taken."""
        b = self.beta_at(state.k)
        return tuple((1 - b) * zi + b * xi for zi, xi in zip(state.z, state.x, strict=True))


def schedule_free_sgd(lr: float, beta: float = 0.9, **kw: Any) -> ScheduleFree:
    """Schedule-Free SGD (the package's ``SGDScheduleFree``: β = momentum = 0.9)."""
    return ScheduleFree(base="sgd", lr=lr, beta=beta, **kw)


def schedule_free_adamw(
    lr: float = 0.0025, betas: tuple[float, float] = (0.9, 0.999), **kw: Any
) -> ScheduleFree:
    """Schedule-Free AdamW (the package's ``AdamWScheduleFree``; its defaults)."""
    return ScheduleFree(base="adamw", lr=lr, beta=betas[0], beta2=betas[1], **kw)


def schedule_free_muon(lr: float, beta: float = 0.9, **kw: Any) -> ScheduleFree:
    """Schedule-Free Muon: constant β, Newton–Schulz of the raw gradient as the base step."""
    return ScheduleFree(base="muon", lr=lr, beta=beta, **kw)


def amuse(
    lr: float, beta_start: float = 0.0, beta_end: float = 0.9, tau: float = 100.0, **kw: Any
) -> ScheduleFree:
    """AMUSE (RECONSTRUCTED, see the module docstring): Schedule-Free Muon with
    β_k = β_start + (β_end − β_start)·k/(k + τ)."""
    return ScheduleFree(base="muon", lr=lr, beta=beta_start, beta_end=beta_end, tau=tau, **kw)


class MuonState(NamedTuple):
    buf: tuple


@dataclass(frozen=True)
class Muon:
    """Muon as in docs/theory.md §2.2 (torch.optim.Muon's EMA form): buf ← μ buf + (1 − μ) g, update =
    g + μ (buf − g) with Nesterov (else buf), W ← W − lr · NS₅(update) (matrices; raw update for
    other shapes). No shape scaling."""

    lr: float = 1e-3
    momentum: float = 0.95
    nesterov: bool = True
    ns_steps: int = 5

    def init(self, params: Sequence[Any]) -> MuonState:
        return MuonState(tuple(0.0 * p for p in params))

    def update(self, grads: Sequence[Any], state: MuonState, params: Sequence[Any]):
        """Returns (new params, new state)."""
        mu = self.momentum
        out, bufs = [], []
        for p, g, b in zip(params, grads, state.buf, strict=True):
            b = mu * b + (1 - mu) * g
            u = g + mu * (b - g) if self.nesterov else b
            d = newton_schulz(u, self.ns_steps) if u.ndim == 2 else u
            out.append(p - self.lr * d)
            bufs.append(b)
        return tuple(out), MuonState(tuple(bufs))
