"""Optimizers of the LoRA bridge: torch's Muon, an exact-polar twin of it, and AdamW.

``muon``       torch.optim.Muon on the 2-D LoRA matrices (momentum, Nesterov, five quintic
               Newton–Schulz steps; torch 2.13 runs Newton–Schulz in bfloat16, hard-coded),
               AdamW on every other trainable parameter (the classifier head).
``spec-exact`` :class:`SpecExact` in Muon's place: the same momentum, Nesterov, learning-rate
               adjustment and weight decay, but the exact polar factor U Vᵀ of the update from a
               float64 SVD (SpecGD with momentum, docs/theory.md §2.2) instead of Newton–Schulz.
``adamw``      torch.optim.AdamW on every trainable parameter.
``sf-adamw``   ``schedulefree.AdamWScheduleFree`` (the package, pinned) on every trainable parameter.
``sf-muon``    :class:`ScheduleFreeMuon` on the LoRA matrices (gflab's Schedule-Free with
               Newton–Schulz of the raw gradient as its base step, no momentum, constant β = 0.9;
               :mod:`gflab.theory.schedule_free`), AdamW on the head.
``amuse``      :class:`AMUSE`, the published optimizer (arXiv 2605.22432): one instance, the LoRA
               matrices in a ``use_muon`` group, the head in an AdamW-type group.
               Schedule-Free optimisers keep the parameters at the gradient point y while
               training: the probes and the final accuracy measure y, not the average x.

Every setting is explicit in :func:`optimizer_settings` and lands in the run's record.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from gflab.sims.bridge._torch import import_torch
from gflab.theory.errors import GflabInputError

__all__ = [  # noqa: F822  (SpecExact is built lazily by __getattr__)
    "OPTIMIZERS",
    "ADJUST_LR_FNS",
    "SpecExact",
    "spec_exact_class",
    "ScheduleFreeMuon",
    "schedule_free_muon_class",
    "AMUSE",
    "amuse_class",
    "pseudo_polar",
    "build_optimizers",
    "optimizer_settings",
]

OPTIMIZERS = ("muon", "adamw", "spec-exact", "sf-adamw", "sf-muon", "amuse")
SF_BETA = 0.9  # Schedule-Free's interpolation β (the package's default)
AMUSE_DEFAULTS = {  # the authors' language-model script's β₁, ρ; T₀ = 10 % of the run when unset
    "beta1": 0.6,
    "rho": 0.8,
    "warmup_steps": None,
    "r": 0.0,
    "weight_lr_power": 2.0,
    "aux_update_type": "adamw",
    "ns_dtype": "bfloat16",
}
AMUSE_GROUP_DEFAULTS = {  # AMUSE's per-update-type group defaults (the authors')
    "muon": dict(lr=0.02, momentum=0.95, aux_update_type="adamw"),
    "adamw": dict(lr=3e-4, beta2=0.999, eps=1e-10),
    "sgd": dict(lr=1.0),
}
ADJUST_LR_FNS = ("original", "match_rms_adamw")
MUON_NS_STEPS = 5
MUON_NS_DTYPE = "bfloat16"  # torch.optim.Muon 2.13: _zeropower_via_newtonschulz casts to bfloat16


def _adjust_lr(lr: float, adjust_lr_fn: str, shape) -> float:
    """torch.optim.Muon's learning-rate adjustment, reproduced so SpecExact matches it exactly."""
    rows, cols = shape[:2]
    if adjust_lr_fn == "original":
        return lr * math.sqrt(max(1.0, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    raise ValueError(f"adjust_lr_fn must be one of {ADJUST_LR_FNS}, got {adjust_lr_fn!r}")


def pseudo_polar(G: Any, rtol: float = 1e-7):
    """U Vᵀ over the singular pairs of G with σ_i > rtol·σ_1, in float64; 0 for G = 0.

    Computed from the eigendecomposition of the smaller Gram matrix (r×r for LoRA factors):
    for a wide G, U Vᵀ = (G Gᵀ)^{−1/2} G restricted to the kept eigenvalues; much cheaper than an
    SVD of G and exact up to rounding (σ_i² = eigenvalues, so ``rtol`` ≥ ~1e-7 keeps them above
    float64 round-off). The exact polar factor is discontinuous where σ → 0 (docs/theory.md §2.2): at
    LoRA's B = 0 start the gradient of A is exactly zero and a plain SVD would turn it into an
    arbitrary orthogonal step. Dropping numerically-zero directions matches Newton–Schulz, which
    maps 0 to 0.

    Args:
        G: a torch matrix.
        rtol: singular values below ``rtol``·σ_1 count as zero.

    Returns:
        The float64 polar factor (of G's shape).
    """
    torch = import_torch()
    G64 = G.to(torch.float64)
    tall = G64.shape[-2] > G64.shape[-1]
    X = G64.transpose(-2, -1) if tall else G64
    w, V = torch.linalg.eigh(X @ X.transpose(-2, -1))
    top = w[..., -1:].clamp(min=0)
    keep = (w > (rtol**2) * top) & (w > 0)
    inv_sqrt = torch.where(
        keep, w.clamp(min=torch.finfo(w.dtype).tiny).rsqrt(), torch.zeros_like(w)
    )
    out = (V * inv_sqrt[..., None, :]) @ (V.transpose(-2, -1) @ X)
    out = out.transpose(-2, -1) if tall else out
    return out.to(G.dtype)


@functools.cache
def _matrix_optimizer_base():
    """The base of the two optimizers below: 2-D parameters only, torch's ``step`` protocol."""
    torch = import_torch()

    class _MatrixOptimizer(torch.optim.Optimizer):
        def __init__(self, params, defaults: dict):
            if defaults["adjust_lr_fn"] not in ADJUST_LR_FNS:
                raise ValueError(f"adjust_lr_fn must be one of {ADJUST_LR_FNS}")
            super().__init__(params, defaults)
            for group in self.param_groups:
                for p in group["params"]:
                    if p.ndim != 2:
                        raise ValueError(f"{type(self).__name__} only takes 2-D parameters")

        @torch.no_grad()
        def step(self, closure=None):
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, group)
            return loss

        def _update(self, p, group: dict) -> None:
            """Move ``p`` (gradient ``p.grad``, hyperparameters ``group``) in place, no grad."""
            raise NotImplementedError

    return _MatrixOptimizer


def _make_spec_exact_class():
    class SpecExact(_matrix_optimizer_base()):
        """Muon with the exact polar factor: p ← p(1 − η λ) − η_adj · polar(nesterov-momentum(g)).

        Args:
            params: 2-D parameters.
            lr: η. weight_decay: λ (decoupled, as torch's Muon). momentum: EMA coefficient μ of
            the buffer m ← μ m + (1 − μ) g. nesterov: use g + μ(m − g) (torch's lerp form).
            adjust_lr_fn: ``original`` (η √max(1, rows/cols)) or ``match_rms_adamw``.
        """

        def __init__(
            self,
            params,
            lr: float = 1e-3,
            weight_decay: float = 0.0,
            momentum: float = 0.95,
            nesterov: bool = True,
            adjust_lr_fn: str = "original",
        ):
            defaults = dict(
                lr=lr,
                weight_decay=weight_decay,
                momentum=momentum,
                nesterov=nesterov,
                adjust_lr_fn=adjust_lr_fn,
            )
            super().__init__(params, defaults)

        def _update(self, p, group: dict) -> None:
            g, mu = p.grad, group["momentum"]
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = import_torch().zeros_like(g)
            buf = state["momentum_buffer"]
            buf.lerp_(g, 1 - mu)
            update = g.lerp(buf, mu) if group["nesterov"] else buf
            update = pseudo_polar(update)
            lr_adj = _adjust_lr(group["lr"], group["adjust_lr_fn"], p.shape)
            p.mul_(1 - group["lr"] * group["weight_decay"])
            p.add_(update, alpha=-lr_adj)

    return SpecExact


def _make_sf_muon_class():
    torch = import_torch()
    from gflab.theory.schedule_free import schedule_free_muon

    class ScheduleFreeMuon(_matrix_optimizer_base()):
        """gflab's Schedule-Free Muon on 2-D parameters, with :class:`gflab.theory.schedule_free.
        ScheduleFree` doing the arithmetic on the tensors (one state per parameter).

        Args:
            params: 2-D parameters. lr: η (times torch Muon's ``adjust_lr_fn`` shape factor).
            beta: the constant β. weight_decay: Schedule-Free's decay at y. ns_steps:
            Newton–Schulz steps. adjust_lr_fn: torch Muon's shape factor convention.
        """

        def __init__(
            self,
            params,
            lr: float = 0.02,
            beta: float = SF_BETA,
            weight_decay: float = 0.0,
            ns_steps: int = MUON_NS_STEPS,
            adjust_lr_fn: str = "original",
        ):
            defaults = dict(
                lr=lr,
                beta=beta,
                weight_decay=weight_decay,
                ns_steps=ns_steps,
                adjust_lr_fn=adjust_lr_fn,
            )
            super().__init__(params, defaults)

        def _update(self, p, group: dict) -> None:
            state = self.state[p]
            if "opt" not in state:
                state["opt"] = schedule_free_muon(
                    _adjust_lr(group["lr"], group["adjust_lr_fn"], p.shape),
                    beta=group["beta"],
                    weight_decay=group["weight_decay"],
                    ns_steps=group["ns_steps"],
                )
                state["sf"] = state["opt"].init((p.detach().clone(),))
            u, state["sf"] = state["opt"].update((p.grad,), state["sf"], (p.detach(),))
            p.add_(u[0])

        @torch.no_grad()
        def average(self) -> list:
            """The averaged sequence x of every parameter (``None`` before the first step)."""
            out = []
            for group in self.param_groups:
                for p in group["params"]:
                    st = self.state[p].get("sf")
                    out.append(None if st is None else st.x[0])
            return out

    return ScheduleFreeMuon


_NS_DTYPES = ("bfloat16", "float32", "float64")


def _make_amuse_class():
    torch = import_torch()
    from gflab.theory._validate import one_of
    from gflab.theory.errors import GflabInputError
    from gflab.theory.lora import NS_COEFFICIENTS
    from gflab.theory.schedule_free import AUX_UPDATE_TYPES, amuse_coefficients, amuse_muon

    # each group's update, parsed once from its keys: defaults and the z-update method
    group_defaults = AMUSE_GROUP_DEFAULTS
    z_updates = {"muon": "_muon_z", "adamw": "_adamw_z", "sgd": "_sgd_z"}

    def _ns(G, steps: int, dtype):
        """Muon's quintic Newton–Schulz in ``dtype`` (the authors': bfloat16), wide orientation."""
        a, b, c = NS_COEFFICIENTS
        X = G.to(dtype)
        tall = G.size(-2) > G.size(-1)
        if tall:
            X = X.mT
        X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
        for _ in range(steps):
            A = X @ X.mT
            B = b * A + c * (A @ A)
            X = a * X + B @ X
        return X.mT if tall else X

    class AMUSE(torch.optim.Optimizer):
        """AMUSE (arXiv 2605.22432) with the authors' constructor and param-group keywords.

        The schedule is :func:`gflab.theory.schedule_free.amuse_coefficients`; the update, per group,
        follows the authors' torch implementation operation for operation (docs/dash-amuse.md
        names the commit; the equations: :mod:`gflab.theory.schedule_free`). While training the
        parameters hold the gradient point y; :meth:`eval` replaces them by the average x,
        :meth:`train` back by y. Like the authors', it starts in eval mode: call :meth:`train`
        before the first :meth:`step`.

        Args:
          params: parameters or param groups. Group keys: ``use_muon`` (Newton–Schulz on a 2-D
            or 4-D parameter), ``lr`` (default 0.02 Muon, 3e-4 AdamW, 1.0 SGD), ``momentum``
            (Muon, 0.95), ``weight_decay`` (0), ``aux_update_type`` (Muon groups: the shape
            scale's convention, ``adamw`` 0.2·√max(m, n) or ``sgd`` √max(1, m/n)),
            ``update_type`` (other groups: ``adamw`` or ``sgd``), ``beta2`` (0.999), ``eps``
            (1e-10), ``warmup_steps``, ``ns_dtype``, ``ns_steps``.
          weight_decay_at_y: decay applied while the parameter holds y (0).
          beta1: β₁, the interpolation during the warmup (0.9). weight_lr_power: p (2).
          warmup_steps: T₀ > 0 (required, as in the authors' code). rho: ρ (1). r: weight
            power (0).
          lr, momentum, weight_decay, aux_update_type: defaults for groups that do not set them
            (``None``: the per-type defaults above).
          ns_dtype: Newton–Schulz precision, ``bfloat16`` (the authors'), ``float32`` or
            ``float64`` (a string or a torch dtype). ns_steps: Newton–Schulz steps (5).
        """

        def __init__(
            self,
            params,
            *,
            weight_decay_at_y: float = 0.0,
            beta1: float = 0.9,
            weight_lr_power: float = 2.0,
            warmup_steps: int = 0,
            rho: float = 1.0,
            r: float = 0.0,
            lr: float | None = None,
            momentum: float | None = None,
            weight_decay: float | None = None,
            aux_update_type: str | None = None,
            ns_dtype: Any = "bfloat16",
            ns_steps: int = MUON_NS_STEPS,
        ):
            if not (isinstance(warmup_steps, int) and warmup_steps > 0):
                raise GflabInputError("warmup_steps", "an integer > 0", warmup_steps)
            if not (0 < beta1 <= 1):
                raise GflabInputError("beta1", "a number in (0, 1]", beta1)
            if rho < 0:
                raise GflabInputError("rho", "a number >= 0", rho)
            self.weight_decay_at_y = float(weight_decay_at_y)
            self.beta1_init = float(beta1)
            self.beta1 = float(beta1)
            self.weight_lr_power = weight_lr_power
            self.warmup_steps = warmup_steps
            self.rho = float(rho)
            self.r = r
            self.ns_steps = int(ns_steps)
            self.ns_dtype = self._dtype(ns_dtype)
            self.train_mode = False
            super().__init__(params, defaults={})
            given = dict(lr=lr, momentum=momentum, weight_decay=weight_decay)
            if aux_update_type is not None:
                given.update(aux_update_type=aux_update_type, update_type=aux_update_type)
            given = [(k, v) for k, v in given.items() if v is not None]
            # the keywords given, then the state every group starts from: a group's own keys win
            start = dict(warmup_steps=self.warmup_steps, k=0, weight_sum=0.0, use_muon=False)
            start.update(weight_decay=0.0, beta1=self.beta1_init)
            for group in self.param_groups:
                for k, v in [*given, *start.items()]:
                    group.setdefault(k, v)
                if group["use_muon"]:
                    group["update_type"] = "muon"
                else:  # muon only with use_muon=True
                    group.setdefault("update_type", "adamw")
                    one_of("update_type", group["update_type"], AUX_UPDATE_TYPES)
                for k, v in group_defaults[group["update_type"]].items():
                    group.setdefault(k, v)
                if group["use_muon"]:
                    one_of("aux_update_type", group["aux_update_type"], AUX_UPDATE_TYPES)
                    for p in group["params"]:
                        if p.ndim not in (2, 4):
                            raise GflabInputError(
                                "use_muon", "2-D or 4-D parameters only", tuple(p.shape)
                            )
                    group["params"] = sorted(group["params"], key=lambda x: x.size(), reverse=True)
                group["ns_dtype"] = self._dtype(group.get("ns_dtype", self.ns_dtype))
                group["base_lr"] = group["lr"]

        @staticmethod
        def _dtype(d):
            if isinstance(d, str):
                one_of("ns_dtype", d, _NS_DTYPES)
                return getattr(torch, d)
            if d not in (torch.bfloat16, torch.float32, torch.float64):
                raise GflabInputError("ns_dtype", "one of " + ", ".join(_NS_DTYPES), d)
            return d

        def _z(self, p):
            state = self.state[p]
            if "z" not in state:
                state["z"] = torch.clone(p, memory_format=torch.preserve_format)
            return state["z"]

        @torch.no_grad()
        def eval(self):
            """Parameters y → x (the average), with each group's last β."""
            if self.train_mode:
                for group in self.param_groups:
                    for p in group["params"]:
                        if "z" in self.state[p]:
                            p.lerp_(end=self.state[p]["z"], weight=1.0 - 1.0 / group["beta1"])
            self.train_mode = False

        @torch.no_grad()
        def train(self):
            """Parameters x → y (the gradient point)."""
            if not self.train_mode:
                for group in self.param_groups:
                    for p in group["params"]:
                        if "z" in self.state[p]:
                            p.lerp_(end=self.state[p]["z"], weight=1.0 - group["beta1"])
            self.train_mode = True

        @torch.no_grad()
        def step(self, closure=None):
            if not self.train_mode:
                raise RuntimeError("AMUSE.step called in eval mode: call optimizer.train() first")
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                t = group["k"] + 1
                lr, c, beta, ws, cw = amuse_coefficients(
                    t,
                    group["weight_sum"],
                    group.get("c_warmup"),
                    lr=group["base_lr"],
                    warmup_steps=group["warmup_steps"],
                    beta1=self.beta1_init,
                    rho=self.rho,
                    r=self.r,
                    weight_lr_power=self.weight_lr_power,
                )
                group.update(lr=lr, ckp1=c, beta1=beta, weight_sum=ws)
                if cw is not None:
                    group["c_warmup"] = cw
                self.beta1 = beta
                z_update = getattr(self, z_updates[group["update_type"]])  # once per group
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, group, z_update, t, lr, c, beta)
                group["k"] = t
            return loss

        def _update(self, p, group, z_update, t, lr, c, beta):
            wdy, z = self.weight_decay_at_y, self._z(p)
            if wdy != 0.0:
                z.sub_(p, alpha=lr * wdy)
                p.sub_(p, alpha=lr * wdy * (1.0 - beta))
            p.lerp_(end=z, weight=1.0 - 1.0 / beta)  # y_t -> x_t
            z_update(p, group, z, t, lr, group["weight_decay"])
            p.lerp_(end=z, weight=c)  # x_{t+1}
            p.lerp_(end=z, weight=1.0 - beta)  # y_{t+1}

        def _muon_z(self, p, group, z, t, lr, wd):
            """z ← (1 − lr·wd) z − lr·D: D the one Muon direction (EMA, Nesterov, Newton–Schulz in
            ``ns_dtype``, AMUSE's shape scale) of the (rows, −1) view."""
            state, g = self.state[p], p.grad
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p)
            buf, flat = state["momentum_buffer"], (len(p), -1)  # a conv kernel as a matrix
            direction = amuse_muon(
                group["momentum"],
                self.ns_steps,
                group["aux_update_type"],
                ns=functools.partial(_ns, dtype=group["ns_dtype"]),
            )
            state0 = ((buf.reshape(flat),), (), ())
            (u,), ((new_buf,), (), ()) = direction.update((g.reshape(flat),), state0)
            buf.copy_(new_buf.reshape(buf.shape))
            if wd != 0.0:
                z.mul_(1.0 - lr * wd)
            z.add_(u.reshape(p.shape), alpha=-lr)

        def _adamw_z(self, p, group, z, t, lr, wd):
            """z ← z − lr·(g/(√(v/(1 − β₂^t)) + ε) + wd·z), v ← β₂ v + (1 − β₂) g²."""
            state, g = self.state[p], p.grad
            if "exp_avg_sq" not in state:
                state["exp_avg_sq"] = torch.zeros_like(p)
            v, beta2 = state["exp_avg_sq"], group["beta2"]
            v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
            d = g / v.div(1.0 - beta2**t).sqrt_().add_(group["eps"])
            if wd != 0.0:
                d = d.add(z, alpha=wd)
            z.add_(d, alpha=-lr)

        def _sgd_z(self, p, group, z, t, lr, wd):
            """z ← (1 − lr·wd) z − lr·g."""
            if wd != 0.0:
                z.mul_(1.0 - lr * wd)
            z.add_(p.grad, alpha=-lr)

    return AMUSE


def amuse_class():
    """The :class:`AMUSE` optimizer class (a ``torch.optim.Optimizer``)."""
    return __getattr__("AMUSE")


def schedule_free_muon_class():
    """The :class:`ScheduleFreeMuon` optimizer class (a ``torch.optim.Optimizer``)."""
    return __getattr__("ScheduleFreeMuon")


def __getattr__(name: str):
    # SpecExact subclasses torch.optim.Optimizer: built on first access so importing this
    # module does not import torch
    if name == "SpecExact":
        cls = _make_spec_exact_class()
        globals()["SpecExact"] = cls
        return cls
    if name == "AMUSE":
        cls = _make_amuse_class()
        globals()["AMUSE"] = cls
        return cls
    if name == "ScheduleFreeMuon":
        cls = _make_sf_muon_class()
        globals()["ScheduleFreeMuon"] = cls
        return cls
    raise AttributeError(name)


def spec_exact_class():
    """The :class:`SpecExact` optimizer class (a ``torch.optim.Optimizer``)."""
    return __getattr__("SpecExact")


def optimizer_settings(
    kind: str,
    lr: float,
    head_lr: float,
    weight_decay: float,
    head_weight_decay: float,
    momentum: float,
    nesterov: bool,
    adjust_lr_fn: str,
    amuse: dict | None = None,
) -> dict:
    """Every setting of the optimizers a run uses, as recorded in its JSON and store record.

    ``amuse``: AMUSE's hyper-parameters (keys of :data:`AMUSE_DEFAULTS`, ``warmup_steps``
    resolved), for ``kind = "amuse"`` only.

    Args:
        kind: the optimizer (``muon``, ``adamw``, ``spec-exact``, ``sf-adamw``, ``sf-muon``,
            ``amuse``).
        lr: the LoRA matrices' learning rate.
        head_lr: the head's AdamW learning rate.
        weight_decay: on the LoRA matrices.
        head_weight_decay: on the head.
        momentum: Muon's (and spec-exact's, AMUSE's) momentum.
        nesterov: Nesterov momentum.
        adjust_lr_fn: torch Muon's shape scaling.
        amuse: see above.

    Returns:
        The settings, JSON-ready.
    """
    if kind not in _SETTINGS:
        raise GflabInputError("optimizer", "one of " + ", ".join(OPTIMIZERS), kind)
    head = {
        "class": "torch.optim.AdamW",
        "lr": head_lr,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": head_weight_decay,
    }
    args = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov)
    args.update(adjust_lr_fn=adjust_lr_fn, head=head, amuse=amuse)
    return _SETTINGS[kind](**args)


def _adamw_settings(lr, weight_decay, head, **_) -> dict:
    """AdamW on everything: the LoRA matrices with their lr and decay."""
    return {"lora": {**head, "lr": lr, "weight_decay": weight_decay}, "head": head}


def _sf_muon_settings(lr, weight_decay, adjust_lr_fn, head, **_) -> dict:
    """Schedule-Free Muon on the LoRA matrices, AdamW on the head."""
    lora = {
        "class": "gflab.sims.bridge.optim.ScheduleFreeMuon",
        "lr": lr,
        "weight_decay": weight_decay,
        "adjust_lr_fn": adjust_lr_fn,
        "ns_steps": MUON_NS_STEPS,
        "ns_dtype": "parameter dtype (float32)",
        "beta": SF_BETA,
        "schedule": "constant",
        "sequence_probed": "y (gradient point)",
    }
    return {"lora": lora, "head": head}


def _momentum_lora(lr, weight_decay, momentum, nesterov, adjust_lr_fn) -> dict:
    """The settings torch's Muon and SpecExact share."""
    return {
        "lr": lr,
        "weight_decay": weight_decay,
        "momentum": momentum,
        "nesterov": nesterov,
        "adjust_lr_fn": adjust_lr_fn,
    }


def _muon_settings(lr, weight_decay, momentum, nesterov, adjust_lr_fn, head, **_) -> dict:
    """torch.optim.Muon on the LoRA matrices, AdamW on the head."""
    torch = import_torch()
    lora = _momentum_lora(lr, weight_decay, momentum, nesterov, adjust_lr_fn)
    lora.update(
        {
            "class": "torch.optim.Muon",
            "ns_steps": MUON_NS_STEPS,
            "ns_coefficients": [3.4445, -4.775, 2.0315],
            "ns_eps": 1e-7,
            "ns_dtype": MUON_NS_DTYPE,
            "torch_version": torch.__version__,
        }
    )
    return {"lora": lora, "head": head}


def _spec_exact_settings(lr, weight_decay, momentum, nesterov, adjust_lr_fn, head, **_) -> dict:
    """SpecExact (exact polar factor) on the LoRA matrices, AdamW on the head."""
    lora = _momentum_lora(lr, weight_decay, momentum, nesterov, adjust_lr_fn)
    lora.update(
        {
            "class": "gflab.sims.bridge.optim.SpecExact",
            "orthogonaliser": (
                "pseudo-polar U V^T in float64 from the eigendecomposition of the r x r "
                "Gram matrix (directions with sigma_i <= 1e-7 sigma_1 dropped)"
            ),
        }
    )
    return {"lora": lora, "head": head}


def _sf_adamw_settings(lr: float, weight_decay: float, head: dict, **_) -> dict:
    """Schedule-Free AdamW's settings (one instance; the LoRA matrices and the head as groups)."""
    from importlib.metadata import version

    sf = {
        "class": "schedulefree.AdamWScheduleFree",
        "schedulefree_version": version("schedulefree"),
        "betas": [SF_BETA, 0.999],
        "eps": 1e-8,
        "warmup_steps": 0,
        "r": 0.0,
        "weight_lr_power": 2.0,
        "sequence_probed": "y (gradient point)",
    }
    return {
        "lora": {**sf, "lr": lr, "weight_decay": weight_decay},
        "head": {**sf, "lr": head["lr"], "weight_decay": head["weight_decay"]},
    }


def _amuse_settings(lr, weight_decay, momentum, head, amuse: dict | None, **_) -> dict:
    """AMUSE's settings: its hyper-parameters (defaults :data:`AMUSE_DEFAULTS`) and each group's."""
    hp = {**AMUSE_DEFAULTS, **(amuse or {})}
    common = {
        "class": "gflab.sims.bridge.optim.AMUSE (one instance, two groups)",
        **hp,
        "ns_steps": MUON_NS_STEPS,
        "sequence_probed": "y (gradient point)",
    }
    lora = {
        **common,
        "use_muon": True,
        "lr": lr,
        "momentum": momentum,
        "weight_decay": weight_decay,
    }
    aux = {"use_muon": False, "update_type": hp["aux_update_type"], "lr": head["lr"]}
    aux["weight_decay"] = head["weight_decay"]
    defaults = AMUSE_GROUP_DEFAULTS[hp["aux_update_type"]]  # AdamW's β₂ and ε, none for SGD
    aux.update({k: v for k, v in defaults.items() if k != "lr"})
    return {"lora": lora, "head": {**common, **aux}}


_SETTINGS = {  # the bridge's --optimizer spellings (OPTIMIZERS) -> their settings
    "muon": _muon_settings,
    "adamw": _adamw_settings,
    "spec-exact": _spec_exact_settings,
    "sf-adamw": _sf_adamw_settings,
    "sf-muon": _sf_muon_settings,
    "amuse": _amuse_settings,
}


def build_optimizers(kind: str, lora_params: list, other_params: list, settings: dict) -> list:
    """The optimizers of a run (one or two), from :func:`optimizer_settings`'s dict.

    Args:
        kind: the optimizer (as in :func:`optimizer_settings`).
        lora_params: the LoRA matrices.
        other_params: the head's parameters.
        settings: what :func:`optimizer_settings` returned.

    Returns:
        The torch optimizers.
    """
    if kind not in _BUILDERS:
        raise GflabInputError("optimizer", "one of " + ", ".join(OPTIMIZERS), kind)
    return _BUILDERS[kind](lora_params, other_params, settings["lora"], settings["head"])


def _build_adamw(lora_params: list, other_params: list, lo: dict, h: dict) -> list:
    torch = import_torch()
    groups = _adamw_groups(lora_params, other_params, lo, h)
    return [torch.optim.AdamW(groups, betas=tuple(h["betas"]), eps=h["eps"])]


def _build_sf_adamw(lora_params: list, other_params: list, lo: dict, h: dict) -> list:
    import schedulefree

    opt = schedulefree.AdamWScheduleFree(
        _adamw_groups(lora_params, other_params, lo, h),
        betas=tuple(lo["betas"]),
        eps=lo["eps"],
        warmup_steps=lo["warmup_steps"],
    )
    opt.train()  # parameters at y from the start (y = x = z there)
    return [opt]


def _build_amuse(lora_params: list, other_params: list, lo: dict, h: dict) -> list:
    return [_amuse_optimizer(lora_params, other_params, lo, h)]


def _build_sf_muon(lora_params: list, other_params: list, lo: dict, h: dict) -> list:
    lora_opt = schedule_free_muon_class()(
        lora_params,
        lr=lo["lr"],
        beta=lo["beta"],
        weight_decay=lo["weight_decay"],
        ns_steps=lo["ns_steps"],
        adjust_lr_fn=lo["adjust_lr_fn"],
    )
    return [lora_opt, *_head_adamw(other_params, h)]


def _momentum_common(lo: dict) -> dict:
    keys = ("lr", "weight_decay", "momentum", "nesterov", "adjust_lr_fn")
    return {k: lo[k] for k in keys}


def _build_muon(lora_params: list, other_params: list, lo: dict, h: dict) -> list:
    torch = import_torch()
    lora_opt = torch.optim.Muon(lora_params, ns_steps=MUON_NS_STEPS, **_momentum_common(lo))
    return [lora_opt, *_head_adamw(other_params, h)]


def _build_spec_exact(lora_params: list, other_params: list, lo: dict, h: dict) -> list:
    lora_opt = spec_exact_class()(lora_params, **_momentum_common(lo))
    return [lora_opt, *_head_adamw(other_params, h)]


_BUILDERS = {  # the bridge's --optimizer spellings (OPTIMIZERS) -> their optimizers
    "muon": _build_muon,
    "adamw": _build_adamw,
    "spec-exact": _build_spec_exact,
    "sf-adamw": _build_sf_adamw,
    "sf-muon": _build_sf_muon,
    "amuse": _build_amuse,
}


def _adamw_groups(lora_params: list, other_params: list, lo: dict, h: dict) -> list[dict]:
    """One AdamW's parameter groups: the LoRA matrices with their lr and decay, the head with its."""
    groups = [{"params": lora_params, "lr": lo["lr"], "weight_decay": lo["weight_decay"]}]
    if other_params:
        groups.append({"params": other_params, "lr": h["lr"], "weight_decay": h["weight_decay"]})
    return groups


def _head_adamw(other_params: list, h: dict) -> list:
    """The head's own AdamW (none when nothing else trains)."""
    if not other_params:
        return []
    torch = import_torch()
    betas, eps, wd = tuple(h["betas"]), h["eps"], h["weight_decay"]
    return [torch.optim.AdamW(other_params, lr=h["lr"], betas=betas, eps=eps, weight_decay=wd)]


def _amuse_optimizer(lora_params: list, other_params: list, lo: dict, h: dict):
    """AMUSE on the LoRA matrices (Muon updates) and the head (its ``update_type``), in train mode."""
    groups = [
        {
            "params": lora_params,
            "use_muon": True,
            "lr": lo["lr"],
            "momentum": lo["momentum"],
            "weight_decay": lo["weight_decay"],
            "aux_update_type": lo["aux_update_type"],
        }
    ]
    if other_params:
        g = {"params": other_params, "use_muon": False, "update_type": h["update_type"]}
        g.update({k: h[k] for k in ("lr", "weight_decay", "beta2", "eps") if k in h})
        groups.append(g)
    opt = amuse_class()(
        groups,
        beta1=lo["beta1"],
        rho=lo["rho"],
        warmup_steps=lo["warmup_steps"],
        r=lo["r"],
        weight_lr_power=lo["weight_lr_power"],
        ns_dtype=lo["ns_dtype"],
        ns_steps=lo["ns_steps"],
    )
    opt.train()  # parameters at y from the start (y = x = z there)
    return opt
