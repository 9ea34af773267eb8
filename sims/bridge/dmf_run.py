"""``gflab bridge dmf``: deep linear matrix completion trained by torch (DESIGN §2.1), probed.

Factors W_1..W_L (n×n, float64 ``nn.Parameter``), product W = W_L ⋯ W_1, loss
ℓ = (1/(2|Ω|)) Σ_{(i,j)∈Ω} (W_ij − W*_ij)² (``half-mean``: the authors' GD code uses a mean; under
gradient flow this only rescales time by |Ω|), minimised by ``torch.optim.SGD`` (plain GD,
full batch) through autograd. Target: a random rank-R matrix (:func:`theory.dmf.lowrank_target`);
Ω ~ Bernoulli(``observed``) (:func:`theory.dmf.bernoulli_mask`) or a named mask.

Plasticity switch (DESIGN §2.1 protocol): with ``pretrain_observed`` P < ``observed`` the first
``switch_step`` steps train on Ω1 ~ Bernoulli(P), then on Ω2 ~ Bernoulli(observed) ⊃ Ω1 (nested:
both masks threshold the same uniform draws).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from sims.bridge._torch import import_torch, resolve_device, synchronize
from sims.bridge.probes import DeepLinearProbe
from theory import dmf as D
from theory._validate import GflabInputError, positive_int, positive_real, probability

__all__ = ["BridgeDMFConfig", "run_dmf"]


@dataclass(frozen=True)
class BridgeDMFConfig:
    """One deep-linear bridge run (defaults: Kleinman's n = 100, rank-5 truth, GD)."""

    depth: int = 3
    n: int = 100
    rank: int = 5
    observed: float = 0.2
    alpha: float = 1e-2
    steps: int = 2000
    lr: float = 20.0
    init: str = "gaussian"
    mask: str | None = None
    pretrain_observed: float | None = None
    switch_step: int = 0
    device: str = "auto"
    seed: int = 0
    every: int = 50
    coupling_entries: int = 256

    def __post_init__(self):
        positive_int("depth", self.depth)
        positive_int("n", self.n, minimum=2)
        positive_int("rank", self.rank)
        if self.rank > self.n:
            raise GflabInputError("rank", f"an integer in [1, n={self.n}]", self.rank)
        probability("observed", self.observed)
        positive_real("alpha", self.alpha)
        positive_int("steps", self.steps)
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

    def to_dict(self) -> dict:
        return {"model_kind": "bridge-dmf", "normalisation": "half-mean", **asdict(self)}

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


def run_dmf(cfg: BridgeDMFConfig, progress=None) -> dict:
    """Train by GD in torch, probe every ``cfg.every`` steps; returns the bridge JSON contract.

    ``modules`` has one entry, ``product`` (W = W_L ⋯ W_1): ``singular_values`` (T×n),
    ``stable_rank``, ``effective_rank``, ``balancedness``, ``balancedness_drift``,
    ``cross_coupling`` and ``test_error`` (relative error on the entries outside Ω2).
    """
    torch = import_torch()
    device = resolve_device(cfg.device)
    M1_np, M2_np = cfg.masks()
    if M2_np.sum() == 0:
        raise GflabInputError("observed", "a probability giving observed entries", cfg.observed)
    target_np = D.lowrank_target(cfg.n, cfg.rank, seed=cfg.seed + 7919)
    init = D.make_init(cfg.init, cfg.n, cfg.depth, cfg.alpha, seed=cfg.seed)

    def t(a):
        return torch.as_tensor(a, dtype=torch.float64, device=device)

    M1, M2, target = t(M1_np), t(M2_np), t(target_np)
    hidden = 1.0 - M2
    hidden_norm = float(torch.linalg.matrix_norm(hidden * target)) or 1.0
    Ws = [torch.nn.Parameter(t(w)) for w in init]
    opt = torch.optim.SGD(Ws, lr=cfg.lr)
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
        if progress is not None and step % max(1, cfg.steps // 10) == 0:
            progress(f"step {step}/{cfg.steps} loss {float(loss):.3e}")
    synchronize(device)
    wall = time.perf_counter() - t0
    loss_arr = torch.stack(losses).to(torch.float64).cpu().numpy()
    arr = probe.arrays()
    arr["test_error"] = np.asarray(test_error, dtype=np.float64)
    last = {k: float(v[-1]) for k, v in arr.items() if v.ndim == 1}
    summary = {
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
                "lr": cfg.lr,
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
