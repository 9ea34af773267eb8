"""``gflab bridge warmstart``: DASH's warm-start protocol on scikit-learn's digits (docs/theory.md §2.4).

A small ReLU MLP (64 → width → width → 10) on ``sklearn.datasets.load_digits`` (1,797 8 × 8
images shipped inside scikit-learn: no download), pixels scaled to [0, 1], a fixed stratified-free
random split (``n_test`` images held out, drawn from ``seed``). Training as in the DASH authors'
``main.py``: SGD with momentum 0.9, cross-entropy, mini-batches of ``batch_size``, each phase until
the epoch's training accuracy reaches ``converge_acc`` (authors: 0.999) or ``max_epochs``.

For a pretrain fraction f:
- **cold**: a fresh network trained on all the training data;
- **warm**: trained on the first f of the training data, then on all of it;
- **warm+DASH**: warm, with DASH (:func:`gflab.theory.interventions.dash`, λ = α = 0.3) applied at the
  switch; its batches are the old data then the new data (the authors' buffer order), every
  Linear weight shrunk per neuron (rows) and every bias as one vector;
- **warm+S&P**: warm, with shrink-and-perturb (λ = 0.3, σ = 0.01) at the switch;
- **warm+reset**: warm, with the last layer put back to its initial weights at the switch;
- **warm+L2-init**: warm, with the authors' penalty λ (Σ_l ‖W_l − W_l(0)‖_F)² (λ = 1e-2, W(0) the
  initialisation before pretraining, weights only) added to the loss of the second phase. Not in
  the default ``kinds``: at λ = 1e-2 it never reaches 99.9 % training accuracy on digits, so every
  run goes to ``max_epochs`` (measured: ~6 min instead of ~35 s for the default grid).

The optimizer is rebuilt at the switch (the authors keep it; with fresh momentum the comparison
isolates the weights). Measured at the end of each run: test accuracy, epochs of the final phase,
and per layer the singular values, stable rank and effective rank (:mod:`gflab.theory.measures`, float64).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from gflab.sims.bridge._torch import import_torch, resolve_device
from gflab.sims.bridge.prune_data import shuffled_digits
from gflab.sims.limits import require_fits
from gflab.theory import interventions as I
from gflab.theory import measures as M
from gflab.theory._validate import positive_int, positive_real, probability
from gflab.theory.errors import GflabInputError

__all__ = ["WarmStartConfig", "run_warmstart", "load_digits_split", "RUN_KINDS"]

RUN_KINDS = ("cold", "warm", "warm+dash", "warm+sp", "warm+reset", "warm+l2init")


@dataclass(frozen=True)
class WarmStartConfig:
    """One warm-start experiment: every :data:`RUN_KINDS` run at every fraction and seed."""

    fractions: tuple = field(
        default=(0.1, 0.3, 0.5, 0.7, 0.9), metadata={"help": "pretrain fractions"}
    )
    seeds: tuple = field(default=(0, 1, 2, 3, 4), metadata={"help": "comma-separated seeds"})
    width: int = field(default=64, metadata={"help": "hidden width of the MLP"})
    lr: float = field(default=0.05, metadata={"help": "learning rate"})
    momentum: float = 0.9
    batch_size: int = 64
    converge_acc: float = 0.999
    max_epochs: int = field(default=300, metadata={"help": "epochs at most per training"})
    n_test: int = 497
    dash_floor: float = field(default=0.3, metadata={"help": "DASH's λ"})
    dash_alpha: float = field(default=0.3, metadata={"help": "DASH's α"})
    sp_shrink: float = 0.3
    sp_noise: float = 0.01
    l2_init: float = 1e-2
    kinds: tuple = field(
        default=("warm", "warm+dash", "warm+sp", "warm+reset"),
        metadata={
            "help": "warm runs (cold always runs): warm, warm+dash, warm+sp, warm+reset, warm+l2init"
        },
    )
    device: str = field(default="cpu", metadata={"help": "cpu | cuda | auto"})

    def __post_init__(self):
        if not self.fractions or not self.seeds:
            raise GflabInputError("fractions", "at least one fraction and one seed", self.fractions)
        for f in self.fractions:
            if not 0 < float(f) < 1:
                raise GflabInputError("fractions", "numbers in (0, 1)", f)
        for name in ("width", "batch_size", "max_epochs", "n_test"):
            positive_int(name, getattr(self, name))
        for name in ("fractions", "seeds", "kinds"):
            values = list(getattr(self, name))
            if len(set(values)) != len(values):
                raise GflabInputError(name, "distinct values (each run once)", values)
        for s in self.seeds:
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**32:
                raise GflabInputError("seeds", "integers in [0, 2**32)", s)
        w = float(self.width)
        # float32 weights of 64→w→w→10, their gradients, momentum, the anchor and DASH's
        # averages (5 copies), and a batch of activations
        require_fits(
            "width", 4.0 * (5 * (w * w + 76 * w + 10) + 4 * self.batch_size * w), self.width
        )
        if self.n_test >= 1797 - 20:
            raise GflabInputError("n_test", "fewer than 1777 (digits has 1797 images)", self.n_test)
        positive_real("lr", self.lr)
        probability("converge_acc", self.converge_acc)
        for name in ("dash_floor", "dash_alpha", "sp_shrink"):
            probability(name, getattr(self, name))
        positive_real("sp_noise", self.sp_noise, allow_zero=True)
        positive_real("l2_init", self.l2_init, allow_zero=True)
        for k in self.kinds:
            if k not in RUN_KINDS[1:]:
                raise GflabInputError("kinds", "warm runs among " + ", ".join(RUN_KINDS[1:]), k)
        if not 0 <= self.momentum < 1:
            raise GflabInputError("momentum", "a number in [0, 1)", self.momentum)

    def to_dict(self) -> dict:
        """The config as a JSON-ready dict (what the store keys and the record's metadata hold)."""
        d = asdict(self)
        d["fractions"] = list(self.fractions)
        d["seeds"] = list(self.seeds)
        d["kinds"] = list(self.kinds)
        return {"model": "bridge-warmstart", **d}


def load_digits_split(n_test: int, seed: int):
    """(x_train, y_train, x_test, y_test) NumPy arrays: digits scaled to [0, 1], shuffled by seed.

    Args:
        n_test: examples held out for testing (the first ``n_test`` after shuffling).
        seed: the shuffle's seed.
    """
    X, y = shuffled_digits(seed, parameter="bridge", got="none")
    X = X / 16.0
    return X[n_test:], y[n_test:], X[:n_test], y[:n_test]


def _mlp(torch, width: int, seed: int, device: str):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(64, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, 10),
    ).to(device=device, dtype=torch.float64)


def _train(torch, net, X, y, cfg: WarmStartConfig, seed: int, anchor=None) -> int:
    """SGD until an epoch's training accuracy ≥ converge_acc; returns the epochs used.

    ``anchor``: the initial Linear weights; adds the L2-to-init penalty (cfg.l2_init) if given.
    """
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    gen = np.random.default_rng(seed)
    lossf = torch.nn.CrossEntropyLoss()
    n = X.shape[0]
    for epoch in range(1, cfg.max_epochs + 1):
        perm = torch.as_tensor(gen.permutation(n), device=X.device)
        correct = 0
        for i in range(0, n, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            out = net(X[idx])
            loss = lossf(out, y[idx])
            if anchor is not None:
                ws = [m.weight for m in _linears(torch, net)]
                loss = loss + I.l2_init_penalty(ws, anchor, cfg.l2_init)
            opt.zero_grad()
            loss.backward()
            opt.step()
            correct += int((out.argmax(1) == y[idx]).sum())
        if correct / n >= cfg.converge_acc:
            return epoch
    return cfg.max_epochs


def _linears(torch, net):
    return [m for m in net if isinstance(m, torch.nn.Linear)]


def _apply_dash(torch, net, batches, cfg: WarmStartConfig) -> float:
    lossf = torch.nn.CrossEntropyLoss()
    lin = _linears(torch, net)
    grads = []
    for Xb, yb in batches:
        net.zero_grad()
        lossf(net(Xb), yb).backward()
        grads.append([-p.grad.detach().clone() for m in lin for p in (m.weight, m.bias)])
    params = [p.detach() for m in lin for p in (m.weight, m.bias)]
    direction = I.dash_direction(grads, cfg.dash_alpha)
    cos = torch.cat([I.neuron_cosine(p, d) for p, d in zip(params, direction, strict=True)])
    new = I.dash(params, direction, cfg.dash_floor)
    with torch.no_grad():
        for p, q in zip((p for m in lin for p in (m.weight, m.bias)), new, strict=True):
            p.copy_(q)
    net.zero_grad()
    return float((cos <= cfg.dash_floor).double().mean())


def _apply_sp(torch, net, cfg: WarmStartConfig, seed: int) -> None:
    ps = [p for m in _linears(torch, net) for p in (m.weight, m.bias)]
    new = I.shrink_perturb([p.detach() for p in ps], cfg.sp_shrink, cfg.sp_noise, seed)
    with torch.no_grad():
        for p, q in zip(ps, new, strict=True):
            p.copy_(q)


def _measure(torch, net, Xt, yt) -> dict:
    with torch.no_grad():
        acc = float((net(Xt).argmax(1) == yt).double().mean())
        layers = []
        for m in _linears(torch, net):
            W = m.weight.detach().cpu().double()
            s = M.singular_values(W)
            layers.append(
                {
                    "shape": list(W.shape),
                    "singular_values": s.numpy().tolist(),
                    "stable_rank": float(M.stable_rank(W, sigma=s)),
                    "effective_rank": float(M.effective_rank(W, sigma=s)),
                }
            )
    return {"test_accuracy": acc, "layers": layers}


def run_warmstart(cfg: WarmStartConfig, progress=None) -> dict:
    """Run the protocol; returns ``{"config", "runs": [...], "summary", "wall_seconds"}``.

    Each run: ``kind``, ``fraction`` (``None`` for cold), ``seed``, ``epochs_pretrain``,
    ``epochs``, ``test_accuracy``, ``layers`` (per Linear: singular values, stable and effective
    rank). ``summary[kind][fraction]`` has the mean and std over seeds of the accuracy and the
    first layer's effective rank.

    Args:
        cfg: the protocol's settings.
        progress: a :class:`gflab.sims.progress.Progress` called after each training, or None.
    """
    torch = import_torch()
    device = resolve_device(cfg.device)
    t0 = time.perf_counter()
    runs = []
    for seed in cfg.seeds:
        xtr, ytr, xte, yte = load_digits_split(cfg.n_test, seed)
        X = torch.as_tensor(xtr, dtype=torch.float64, device=device)
        Y = torch.as_tensor(ytr, dtype=torch.long, device=device)
        Xt = torch.as_tensor(xte, dtype=torch.float64, device=device)
        Yt = torch.as_tensor(yte, dtype=torch.long, device=device)
        net = _mlp(torch, cfg.width, seed, device)
        ep = _train(torch, net, X, Y, cfg, seed)
        runs.append(
            {
                "kind": "cold",
                "fraction": None,
                "seed": seed,
                "epochs": ep,
                **_measure(torch, net, Xt, Yt),
            }
        )
        for f in cfg.fractions:
            k = max(1, int(round(float(f) * X.shape[0])))
            base = _mlp(torch, cfg.width, seed, device)
            ep_pre = _train(torch, base, X[:k], Y[:k], cfg, seed + 1)
            state = {n: v.clone() for n, v in base.state_dict().items()}
            init = _mlp(torch, cfg.width, seed, device)  # the same seed: base's initial weights
            anchor = [m.weight.detach().clone() for m in _linears(torch, init)]
            for kind in cfg.kinds:
                net = _mlp(torch, cfg.width, seed, device)
                net.load_state_dict(state)
                extra = {}
                if kind == "warm+dash":
                    extra["dash_fraction_at_floor"] = _apply_dash(
                        torch, net, [(X[:k], Y[:k]), (X[k:], Y[k:])], cfg
                    )
                elif kind == "warm+sp":
                    _apply_sp(torch, net, cfg, seed)
                elif kind == "warm+reset":
                    net[-1].load_state_dict(init[-1].state_dict())
                ep = _train(
                    torch, net, X, Y, cfg, seed + 2, anchor if kind == "warm+l2init" else None
                )
                runs.append(
                    {
                        "kind": kind,
                        "fraction": float(f),
                        "seed": seed,
                        "epochs_pretrain": ep_pre,
                        "epochs": ep,
                        **extra,
                        **_measure(torch, net, Xt, Yt),
                    }
                )
                if progress is not None:  # sims.progress.Progress: runs of the protocol
                    total = len(cfg.seeds) * (1 + len(cfg.fractions) * len(cfg.kinds))
                    acc = runs[-1]["test_accuracy"]
                    progress(len(runs), total, {"item": "run", "accuracy": acc})
    return {
        "config": cfg.to_dict(),
        "device": device,
        "torch_version": torch.__version__,
        "runs": runs,
        "summary": _summary(runs),
        "wall_seconds": time.perf_counter() - t0,
    }


def _summary(runs: list[dict]) -> dict:
    out: dict = {}
    for kind in RUN_KINDS:
        sel = [r for r in runs if r["kind"] == kind]
        for f in sorted({r["fraction"] for r in sel}, key=lambda v: -1 if v is None else v):
            rs = [r for r in sel if r["fraction"] == f]
            acc = np.array([r["test_accuracy"] for r in rs])
            er = np.array([r["layers"][0]["effective_rank"] for r in rs])
            out.setdefault(kind, {})["all" if f is None else f"{f:g}"] = {
                "test_accuracy_mean": float(acc.mean()),
                "test_accuracy_std": float(acc.std()),
                "effective_rank_layer1_mean": float(er.mean()),
                "effective_rank_layer1_std": float(er.std()),
                "epochs_mean": float(np.mean([r["epochs"] for r in rs])),
                "seeds": len(rs),
            }
    return out
