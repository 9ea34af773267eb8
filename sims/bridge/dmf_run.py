"""``gflab bridge dmf``: deep linear matrix completion trained by torch (docs/theory.md §2.1), probed.

Factors W_1..W_L (n×n, float64 ``nn.Parameter``), product W = W_L ⋯ W_1, loss
ℓ = (1/(2|Ω|)) Σ_{(i,j)∈Ω} (W_ij − W*_ij)² (``half-mean``: the authors' GD code uses a mean; under
gradient flow this only rescales time by |Ω|), minimised by ``torch.optim.SGD`` (plain GD,
full batch) through autograd. Target: a random rank-R matrix (:func:`gflab.theory.dmf.lowrank_target`);
Ω ~ Bernoulli(``observed``) (:func:`gflab.theory.dmf.bernoulli_mask`) or a named mask.

Plasticity switch (docs/theory.md §2.1 protocol): with ``pretrain_observed`` P < ``observed`` the first
``switch_step`` steps train on Ω1 ~ Bernoulli(P), then on Ω2 ~ Bernoulli(observed) ⊃ Ω1 (nested:
both masks threshold the same uniform draws).

Step size (issue 11): by default ``lr`` is derived from the problem, not fixed: ``1/λ`` with λ the
top eigenvalue of the loss's Gauss-Newton Hessian at the balanced factorisation of the target
(W_L = U Σ^{1/L}, W_i = Σ^{1/L}, W_1 = Σ^{1/L} Vᵀ), where the sharpness of the run is largest
(at a small init it is ~0). GD on a quadratic is stable for lr < 2/λ, so the default is half the
bound. It scales as n²/(L σ₁^{2−2/L}): the old fixed 20 was tuned for n = 100 (2/λ ≈ 23) and
diverged for n ≤ 30 (2/λ ≈ 6 at n = 30).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from gflab.sims.bridge._torch import import_torch, resolve_device, synchronize
from gflab.sims.bridge.probes import DeepLinearProbe
from gflab.sims.config import MAX_DEPTH
from gflab.sims.limits import require_fits
from gflab.theory import dmf as D
from gflab.theory._validate import positive_int, positive_real, probability
from gflab.theory.errors import GflabInputError

__all__ = ["BridgeDMFConfig", "run_dmf", "gauss_newton_top_eigenvalue"]

_STEP_BYTES = 256  # bytes kept per training step (one float64 loss tensor and its bookkeeping)


def gauss_newton_top_eigenvalue(
    target: np.ndarray, mask: np.ndarray, depth: int, iters: int = 60, seed: int = 0
) -> float:
    """Top eigenvalue of the Gauss-Newton Hessian of ℓ = Σ_Ω (W − W*)²/(2|Ω|) at the balanced
    factorisation of ``target`` (power iteration on J^T P_Ω J / |Ω|).

    Args:
      target: W*, shape (n, n).
      mask: Ω as 0/1, shape (n, n), not empty.
      depth: L ≥ 2 factors.
      iters: power iterations (converges geometrically; 60 is far past 1e-6 relative here).
      seed: seed of the start vector.

    Returns:
      λ > 0 (GD on the loss is stable near the solution for lr < 2/λ).
    """
    n = target.shape[0]
    U, s, Vt = np.linalg.svd(target)
    r = s ** (1.0 / depth)
    Ws = [np.diag(r) @ Vt] + [np.diag(r)] * (depth - 2) + [U @ np.diag(r)]
    pre, suf = [], []
    for i in range(depth):
        P = np.eye(n)
        for W in Ws[:i]:
            P = W @ P
        S = np.eye(n)
        for W in Ws[i + 1 :]:
            S = W @ S
        pre.append(P)
        suf.append(S)
    count = float(mask.sum())
    v = list(np.random.default_rng(seed).standard_normal((depth, n, n)))
    lam = 0.0
    for _ in range(iters):
        norm = math.sqrt(sum(float((x * x).sum()) for x in v))
        v = [x / norm for x in v]
        residual = mask * sum(suf[i] @ v[i] @ pre[i] for i in range(depth)) / count
        w = [suf[i].T @ residual @ pre[i].T for i in range(depth)]
        lam = sum(float((a * b).sum()) for a, b in zip(w, v, strict=True))
        v = w
    return lam


def _named_mask(spec) -> bool:
    """``diagonal``, ``superdiag`` or ``block:K`` (K ≥ 1): the named masks the bridge takes, checked
    when the config is made (before any training), not when the mask is first built."""
    if not isinstance(spec, str):
        return False
    kind, _, arg = spec.partition(":")
    if kind in ("diagonal", "superdiag"):
        return not arg
    return kind == "block" and arg.isdigit() and int(arg) >= 1


@dataclass(frozen=True)
class BridgeDMFConfig:
    """One deep-linear bridge run (defaults: Kleinman's n = 100, rank-5 truth, GD)."""

    depth: int = field(default=3, metadata={"help": "number of factors L"})
    n: int = field(default=100, metadata={"help": "the target is n × n"})
    rank: int = field(default=5, metadata={"help": "rank of the random target"})
    observed: float = field(
        default=0.2,
        metadata={
            "help": "Bernoulli probability of Ω2 (default 0.2; not with --mask)",
            "unset": True,
        },
    )
    alpha: float = field(default=1e-2, metadata={"help": "init scale alpha"})
    steps: int = field(default=2000, metadata={"help": "gradient-descent steps"})
    lr: float | None = field(
        default=None,
        metadata={
            "help": "GD step on the half-mean loss (default: half the stability bound 2/λ, λ the Gauss-Newton sharpness at the solution; ≈ 11.7 at n = 100, 3.0 at n = 30)"
        },
    )
    init: str = field(
        default="gaussian", metadata={"help": "gaussian | tied-gaussian | identity | orthogonal"}
    )
    mask: str | None = field(
        default=None, metadata={"help": "diagonal | block:K | superdiag (not Bernoulli)"}
    )
    pretrain_observed: float | None = field(
        default=None,
        metadata={"help": "Bernoulli probability of Ω1 ⊂ Ω2 trained before --switch-step"},
    )
    switch_step: int = field(
        default=0,
        metadata={"help": "last step on Ω1 (with --pretrain-observed; 0: no pretraining phase)"},
    )
    device: str = "auto"
    seed: int = 0
    every: int = 50
    coupling_entries: int = field(
        default=256, metadata={"help": "observed entries used for the tangent-kernel coupling"}
    )

    def __post_init__(self):
        positive_int("depth", self.depth, minimum=2)  # depth 1 has no factorisation to probe
        if self.depth > MAX_DEPTH:  # as `gflab simulate`: per-step cost and graph grow with L
            raise GflabInputError("depth", f"an integer in [2, {MAX_DEPTH}]", self.depth)
        positive_int("n", self.n, minimum=2)
        if self.mask is not None and not _named_mask(self.mask):
            raise GflabInputError(
                "mask", "diagonal, block:K or superdiag (Bernoulli: use observed)", self.mask
            )
        positive_int("rank", self.rank)
        if self.rank > self.n:
            raise GflabInputError("rank", f"an integer in [1, n={self.n}]", self.rank)
        probability("observed", self.observed)
        positive_real("alpha", self.alpha)
        positive_int("steps", self.steps)
        if self.lr is not None:
            positive_real("lr", self.lr)
        positive_int("every", self.every)
        positive_int("coupling_entries", self.coupling_entries)
        if self.init not in D.INIT_NAMES or self.init == "mimic":
            # mimic needs m; the bridge keeps to the seeded inits
            raise GflabInputError(
                "init", "gaussian, tied-gaussian, identity or orthogonal", self.init
            )
        if self.pretrain_observed is not None:
            probability("pretrain_observed", self.pretrain_observed)
            if self.mask is not None or not self.pretrain_observed < self.observed:
                raise GflabInputError(
                    "pretrain_observed",
                    f"a probability below observed={self.observed} (Bernoulli masks only)",
                    self.pretrain_observed,
                )
            if not 0 < self.switch_step < self.steps:
                raise GflabInputError(
                    "switch_step", f"an integer in (0, steps={self.steps})", self.switch_step
                )
        elif self.switch_step:
            raise GflabInputError("switch_step", "0 without --pretrain-observed", self.switch_step)

    def require_fits(self) -> None:
        """Refuse (before allocating) a run whose factors, probes or loss log cannot fit."""
        factors = 8.0 * self.n * self.n * self.depth * 4  # params, grads, product, temporaries
        logs = 8.0 * (self.steps / self.every + 1) * (self.n + 8)
        require_fits("n", factors + 8.0 * (self.n + 8), self.n)
        require_fits("steps", float(self.steps) * _STEP_BYTES + factors + logs, self.steps)

    def target(self) -> np.ndarray:
        """The rank-``rank`` target W* (n×n)."""
        return D.lowrank_target(self.n, self.rank, seed=self.seed + D.TARGET_SEED_OFFSET)

    @functools.cached_property
    def resolved_lr(self) -> float:
        """``lr``, or the derived default ``1/λ`` (half the GD stability bound; module doc)."""
        if self.lr is not None:
            return float(self.lr)
        lam = max(
            gauss_newton_top_eigenvalue(self.target(), M, self.depth)
            for M in self.masks()
            if M.sum() > 0
        )
        return 1.0 / lam

    def to_dict(self) -> dict:
        """The config as a JSON-ready dict (what the store keys and the record's metadata hold). The
        step ``lr`` is the resolved one.
        """
        d = asdict(self)
        d["lr"] = self.resolved_lr
        return {"model_kind": "bridge-dmf", "normalisation": "half-mean", **d}

    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        """(Ω1, Ω2) as 0/1 float64 arrays; Ω1 = Ω2 without a plasticity switch."""
        if self.mask is not None:
            M2 = D.make_mask(self.mask, self.n, seed=self.seed)
        else:
            M2 = D.bernoulli_mask(self.n, self.observed, seed=self.seed)
        if self.pretrain_observed is None:
            return M2, M2
        M1 = D.bernoulli_mask(self.n, self.pretrain_observed, seed=self.seed)
        if M1.sum() == 0:
            raise GflabInputError(
                "pretrain_observed", "a probability giving observed entries", self.pretrain_observed
            )
        return M1, M2


def _summary(arr: dict, loss_arr: np.ndarray, M1_np, M2_np, probe) -> dict:
    """The run's last measurements, its final loss (None when not finite) and its sizes."""
    last = {k: float(v[-1]) for k, v in arr.items() if v.ndim == 1}
    return {
        "effective_rank_final": last["effective_rank"],
        "stable_rank_final": last["stable_rank"],
        "test_error_final": last["test_error"],
        "cross_coupling_final": last["cross_coupling"],
        "balancedness_drift_final": last["balancedness_drift"],
        "loss_final": float(loss_arr[-1]) if math.isfinite(loss_arr[-1]) else None,
        "observed_entries": int(M2_np.sum()),
        "pretrain_observed_entries": int(M1_np.sum()),
        "coupling_groups": int(len(np.unique(probe.coupling_groups))),
        "coupling_entries": int(len(probe.coupling_rows)),
    }


def run_dmf(cfg: BridgeDMFConfig, progress=None) -> dict:
    """Train by GD in torch, probe every ``cfg.every`` steps; returns the bridge JSON contract.

    ``modules`` has one entry, ``product`` (W = W_L ⋯ W_1): ``singular_values`` (T×n),
    ``stable_rank``, ``effective_rank``, ``balancedness``, ``balancedness_drift``,
    ``cross_coupling`` and ``test_error`` (relative error on the entries outside Ω2).

    Args:
        cfg: the run.
        progress: a :class:`gflab.sims.progress.Progress` called every 1 % of the steps, or None.

    Returns:
        The run's JSON-ready dict (docs/bridge.md).
    """
    cfg.require_fits()
    torch = import_torch()
    device = resolve_device(cfg.device)
    M1_np, M2_np = cfg.masks()
    if M2_np.sum() == 0:
        raise GflabInputError("observed", "a probability giving observed entries", cfg.observed)
    target_np = cfg.target()
    init = D.make_init(cfg.init, cfg.n, cfg.depth, cfg.alpha, seed=cfg.seed)

    def t(a):
        return torch.as_tensor(a, dtype=torch.float64, device=device)

    M1, M2, target = t(M1_np), t(M2_np), t(target_np)
    hidden = 1.0 - M2
    hidden_norm = float(torch.linalg.matrix_norm(hidden * target)) or 1.0
    Ws = [torch.nn.Parameter(t(w)) for w in init]
    opt = torch.optim.SGD(Ws, lr=cfg.resolved_lr)
    probe = DeepLinearProbe(
        Ws, M2_np, every=cfg.every, coupling_entries=cfg.coupling_entries, seed=cfg.seed
    )
    test_error = []

    def log(step):
        probe.record(step)
        with torch.no_grad():
            W = D.product([w.detach() for w in Ws])
            test_error.append(float(torch.linalg.matrix_norm(hidden * (W - target))) / hidden_norm)

    losses = []
    diverged = False
    synchronize(device)
    t0 = time.perf_counter()
    log(0)
    for step in range(1, cfg.steps + 1):
        mask = M1 if step <= cfg.switch_step else M2
        loss = D.masked_loss(Ws, mask, target) / mask.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
        if step % cfg.every == 0:
            if not all(bool(torch.isfinite(w).all()) for w in Ws):
                diverged = True  # too large a step: stop before the probes see inf/NaN
                break
            log(step)
        if progress is not None and (step % max(1, cfg.steps // 100) == 0 or step == cfg.steps):
            # sims.progress.Progress: 1 % of the steps, so the loss's device sync costs nothing
            progress(step, cfg.steps, {"item": "step", "loss": float(loss.detach())})
    synchronize(device)
    wall = time.perf_counter() - t0
    loss_arr = torch.stack(losses).to(torch.float64).cpu().numpy()
    arr = probe.arrays()
    arr["test_error"] = np.asarray(test_error, dtype=np.float64)
    summary = _summary(arr, loss_arr, M1_np, M2_np, probe)
    summary["status"] = "diverged" if diverged or not math.isfinite(loss_arr[-1]) else "finished"
    return {
        "config": cfg.to_dict(),
        "device": device,
        "torch_version": torch.__version__,
        "dtype": {"model": "float64", "probes": "float64"},
        "optimizer": {
            "lora": None,
            "factors": {
                "class": "torch.optim.SGD",
                "lr": cfg.resolved_lr,
                "momentum": 0.0,
                "weight_decay": 0.0,
            },
        },
        "steps": np.asarray(probe.steps, dtype=np.int64),
        "modules": {"product": arr},
        "summary": summary,
        "loss": loss_arr,
        "timing": {"wall_seconds": wall},
    }
