"""Optimizers of the LoRA bridge: torch's Muon, an exact-polar twin of it, and AdamW.

``muon``       torch.optim.Muon on the 2-D LoRA matrices (momentum, Nesterov, five quintic
               Newton–Schulz steps; torch 2.13 runs Newton–Schulz in bfloat16, hard-coded),
               AdamW on every other trainable parameter (the classifier head).
``spec-exact`` :class:`SpecExact` in Muon's place: the same momentum, Nesterov, learning-rate
               adjustment and weight decay, but the exact polar factor U Vᵀ of the update from a
               float64 SVD (SpecGD with momentum, docs/theory.md §2.2) instead of Newton–Schulz.
``adamw``      torch.optim.AdamW on every trainable parameter.
``sf-adamw``   ``schedulefree.AdamWScheduleFree`` (the package, pinned) on every trainable parameter.
``sf-muon``    :class:`ScheduleFreeMuon` on the LoRA matrices (Schedule-Free with Newton–Schulz of the
               raw gradient as its base step, constant β = 0.9; :mod:`gflab.theory.schedule_free`),
               AdamW on the head.
``amuse``      the same with AMUSE's RECONSTRUCTED schedule β_k = 0.9·k/(k + 100).
               Schedule-Free optimisers keep the parameters at the gradient point y while
               training: the probes and the final accuracy measure y, not the average x.

Every setting is explicit in :func:`optimizer_settings` and lands in the run's record.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from gflab.sims.bridge._torch import import_torch

__all__ = [  # noqa: F822  (SpecExact is built lazily by __getattr__)
    "OPTIMIZERS",
    "ADJUST_LR_FNS",
    "SpecExact",
    "spec_exact_class",
    "ScheduleFreeMuon",
    "schedule_free_muon_class",
    "pseudo_polar",
    "build_optimizers",
    "optimizer_settings",
]

OPTIMIZERS = ("muon", "adamw", "spec-exact", "sf-adamw", "sf-muon", "amuse")
SF_BETA = 0.9  # Schedule-Free's interpolation β (the package's default) and AMUSE's β_end
AMUSE_TAU = 100.0  # AMUSE's (reconstructed) time scale, theory.schedule_free.amuse's default
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
    from gflab.theory.schedule_free import ScheduleFree

    class ScheduleFreeMuon(_matrix_optimizer_base()):
        """Schedule-Free Muon / AMUSE on 2-D parameters, with :class:`gflab.theory.schedule_free.
        ScheduleFree` doing the arithmetic on the tensors (one state per parameter).

        Args:
            params: 2-D parameters. lr: η (times torch Muon's ``adjust_lr_fn`` shape factor).
            beta: β (constant) or β_start (AMUSE). beta_end, tau: AMUSE's schedule (``None``:
            constant β). weight_decay: Schedule-Free's decay at y. ns_steps: Newton–Schulz steps.
        """

        def __init__(
            self,
            params,
            lr: float = 0.02,
            beta: float = SF_BETA,
            beta_end: float | None = None,
            tau: float | None = None,
            weight_decay: float = 0.0,
            ns_steps: int = MUON_NS_STEPS,
            adjust_lr_fn: str = "original",
        ):
            defaults = dict(
                lr=lr,
                beta=beta,
                beta_end=beta_end,
                tau=tau,
                weight_decay=weight_decay,
                ns_steps=ns_steps,
                adjust_lr_fn=adjust_lr_fn,
            )
            super().__init__(params, defaults)

        def _update(self, p, group: dict) -> None:
            state = self.state[p]
            if "opt" not in state:
                state["opt"] = ScheduleFree(
                    base="muon",
                    lr=_adjust_lr(group["lr"], group["adjust_lr_fn"], p.shape),
                    beta=group["beta"],
                    beta_end=group["beta_end"],
                    tau=group["tau"],
                    weight_decay=group["weight_decay"],
                    ns_steps=group["ns_steps"],
                )
                state["sf"] = state["opt"].init((p.detach().clone(),))
            y, state["sf"] = state["opt"].update((p.grad,), state["sf"], (p.detach(),))
            p.copy_(y[0])

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
) -> dict:
    """Every setting of the optimizers a run uses, as recorded in its JSON and store record."""
    torch = import_torch()
    head = {
        "class": "torch.optim.AdamW",
        "lr": head_lr,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": head_weight_decay,
    }
    if kind == "adamw":
        return {"lora": {**head, "lr": lr, "weight_decay": weight_decay}, "head": head}
    if kind == "sf-adamw":
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
            "head": {**sf, "lr": head_lr, "weight_decay": head_weight_decay},
        }
    if kind in ("sf-muon", "amuse"):
        lora = {
            "class": "gflab.sims.bridge.optim.ScheduleFreeMuon",
            "lr": lr,
            "weight_decay": weight_decay,
            "adjust_lr_fn": adjust_lr_fn,
            "ns_steps": MUON_NS_STEPS,
            "ns_dtype": "parameter dtype (float32)",
            "beta": 0.0 if kind == "amuse" else SF_BETA,
            "beta_end": SF_BETA if kind == "amuse" else None,
            "tau": AMUSE_TAU if kind == "amuse" else None,
            "schedule": "RECONSTRUCTED beta_k = 0.9 k/(k + 100)" if kind == "amuse" else "constant",
            "sequence_probed": "y (gradient point)",
        }
        return {"lora": lora, "head": head}
    lora = {
        "lr": lr,
        "weight_decay": weight_decay,
        "momentum": momentum,
        "nesterov": nesterov,
        "adjust_lr_fn": adjust_lr_fn,
    }
    if kind == "muon":
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
    elif kind == "spec-exact":
        lora.update(
            {
                "class": "gflab.sims.bridge.optim.SpecExact",
                "orthogonaliser": (
                    "pseudo-polar U V^T in float64 from the eigendecomposition of the r x r "
                    "Gram matrix (directions with sigma_i <= 1e-7 sigma_1 dropped)"
                ),
            }
        )
    else:
        raise ValueError(kind)
    return {"lora": lora, "head": head}


def build_optimizers(kind: str, lora_params: list, other_params: list, settings: dict) -> list:
    """The optimizers of a run (one or two), from :func:`optimizer_settings`'s dict."""
    torch = import_torch()
    h = settings["head"]
    lo = settings["lora"]
    opts = []
    if kind == "adamw":
        groups = [{"params": lora_params, "lr": lo["lr"], "weight_decay": lo["weight_decay"]}]
        if other_params:
            groups.append(
                {"params": other_params, "lr": h["lr"], "weight_decay": h["weight_decay"]}
            )
        return [torch.optim.AdamW(groups, betas=tuple(h["betas"]), eps=h["eps"])]
    if kind == "sf-adamw":
        import schedulefree

        groups = [{"params": lora_params, "lr": lo["lr"], "weight_decay": lo["weight_decay"]}]
        if other_params:
            groups.append(
                {"params": other_params, "lr": h["lr"], "weight_decay": h["weight_decay"]}
            )
        opt = schedulefree.AdamWScheduleFree(
            groups, betas=tuple(lo["betas"]), eps=lo["eps"], warmup_steps=lo["warmup_steps"]
        )
        opt.train()  # parameters at y from the start (y = x = z there)
        return [opt]
    if kind in ("sf-muon", "amuse"):
        opts.append(
            schedule_free_muon_class()(
                lora_params,
                lr=lo["lr"],
                beta=lo["beta"],
                beta_end=lo["beta_end"],
                tau=lo["tau"],
                weight_decay=lo["weight_decay"],
                ns_steps=lo["ns_steps"],
                adjust_lr_fn=lo["adjust_lr_fn"],
            )
        )
        if other_params:
            opts.append(
                torch.optim.AdamW(
                    other_params,
                    lr=h["lr"],
                    betas=tuple(h["betas"]),
                    eps=h["eps"],
                    weight_decay=h["weight_decay"],
                )
            )
        return opts
    common = dict(
        lr=lo["lr"],
        weight_decay=lo["weight_decay"],
        momentum=lo["momentum"],
        nesterov=lo["nesterov"],
        adjust_lr_fn=lo["adjust_lr_fn"],
    )
    if kind == "muon":
        opts.append(torch.optim.Muon(lora_params, ns_steps=MUON_NS_STEPS, **common))
    else:
        opts.append(spec_exact_class()(lora_params, **common))
    if other_params:
        opts.append(
            torch.optim.AdamW(
                other_params,
                lr=h["lr"],
                betas=tuple(h["betas"]),
                eps=h["eps"],
                weight_decay=h["weight_decay"],
            )
        )
    return opts
