"""``gflab bridge prune``: dataset pruning from training dynamics on real runs (docs/pruning.md).

The protocol, per seed:

1. **proxy**: train the classifier once on the whole training split (or, with ``labelled < 1``,
   on SemiPrune's pseudo-labels) for E epochs and record the *training dynamics*: the logits of
   every example in every epoch's training forward pass, [E, N, C] float32, keyed by example
   index (:class:`DynamicsRecorder`). The run is stored (npz compressed) in the result store.
2. **coreset**: for each method (score + selector) and pruning ratio r, recompute the scores from
   the stored dynamics (:mod:`gflab.theory.pruning`; any T, J without retraining), select
   int((1 − r) N) examples, and train a fresh network on them (the dataset's labels, never the
   pseudo-labels) for the same E epochs; stored too.

Training: minibatch SGD (learning rate 0.01 constant, momentum 0.9, weight decay 5e-4, batches of 64,
cross-entropy) in float32, one torch thread; the seed sets the initial weights
(``torch.manual_seed``) and the batch order (NumPy ``default_rng([seed, 7])``). Coresets are
trained with the proxy's seed. The full-data baseline is the true-label proxy itself.

Both stages run through the sweep executor (:func:`gflab.sims.sweep.run_sweep` with record runners),
so they are parallel, resumable and skip what the store holds: a rerun only reads.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from gflab.sims.bridge.prune_data import N_CLASSES, DataSpec, load_data
from gflab.theory._validate import positive_int, positive_real
from gflab.theory.errors import GflabInputError

__all__ = [
    "MODELS",
    "SCORES",
    "SELECTS",
    "TrainSpec",
    "MethodSpec",
    "PruneConfig",
    "DynamicsRecorder",
    "dynamics_bytes",
    "check_dynamics_budget",
    "dynamics_budget_bytes",
    "train_classifier",
    "proxy_key",
    "coreset_key",
    "proxy_record",
    "coreset_record",
    "method_scores",
    "select_coreset",
    "run_prune",
    "recording_overhead",
]

MODELS = ("mlp", "cnn1d")
SCORES = ("dual", "dynunc", "el2n", "forgetting", "aum", "random")
SELECTS = ("hard", "beta", "budget", "stratified")
EXPONENTS = ("c_d", "2+c_d")
SEMI_METHODS = ("label_spreading", "self_training", "fixmatch")  # sims.bridge.semi.METHODS
DEFAULT_BUDGET_GIB = 2.0
BUDGET_ENV = "GFLAB_DYNAMICS_BUDGET_GIB"
PROXY_MODEL, CORESET_MODEL = "bridge-prune-proxy", "bridge-prune-coreset"


# ----------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class TrainSpec:
    """How a classifier is trained (proxy and coresets alike).

    Attributes:
      model: ``mlp`` (D-128-128-C, ReLU) or ``cnn1d`` (three Conv1d layers of 32 channels, ReLU,
        a linear head).
      epochs: E.
      batch_size: minibatch size (the last batch of an epoch may be smaller).
      lr, momentum, weight_decay: SGD's.
      device: ``cpu`` or ``cuda``.
    """

    model: str = field(
        default="mlp",
        metadata={
            "help": "mlp (D-128-128-10) or cnn1d (default: mlp for digits, cnn1d for mnist1d)",
            "choices": ("mlp", "cnn1d"),
            "unset": True,
        },
    )
    epochs: int = field(default=100, metadata={"help": "epochs E of proxy and coresets"})
    batch_size: int = field(default=64, metadata={"help": "minibatch size"})
    lr: float = field(default=0.01, metadata={"help": "SGD learning rate"})
    momentum: float = 0.9
    weight_decay: float = 5e-4
    device: str = field(
        default="cpu", metadata={"help": "training device", "choices": ("cpu", "cuda")}
    )

    def __post_init__(self):
        if self.model not in MODELS:
            raise GflabInputError("model", "one of " + ", ".join(MODELS), self.model)
        positive_int("epochs", self.epochs)
        positive_int("batch_size", self.batch_size)
        positive_real("lr", self.lr)
        positive_real("weight_decay", self.weight_decay, allow_zero=True)
        if not 0 <= self.momentum < 1:
            raise GflabInputError("momentum", "a number in [0, 1)", self.momentum)
        if self.device not in ("cpu", "cuda"):
            raise GflabInputError("device", "cpu or cuda", self.device)


@dataclass(frozen=True)
class MethodSpec:
    """A pruning method: a score of the dynamics and a selector (docs/pruning.md).

    Attributes:
      score: one of :data:`SCORES` (``random`` ignores the selector).
      select: one of :data:`SELECTS`.
      T: epochs of the proxy the early scores use (DUAL's window end, EL2N's epoch, Beta's μ).
      J: DUAL / Dyn-Unc window length.
      c_d: the Beta sampling's exponent parameter.
      beta_exponent: ``c_d`` (the authors' CIFAR code) or ``2+c_d`` (their ImageNet code).
      budget_drop: the budget selector's dropped fraction at the sorted end (SemiPrune's "mis").
      budget_descending: sort descending before dropping (default False: SemiPrune sorts AUM
        ascending, drops the lowest margins, keeps the next window).
    """

    score: str = "dual"
    select: str = "hard"
    T: int = field(default=15, metadata={"help": "early epochs T of DUAL and EL2N"})
    J: int = field(default=10, metadata={"help": "DUAL / Dyn-Unc window J"})
    c_d: float = field(default=4.0, metadata={"help": "Beta sampling's c_d"})
    beta_exponent: str = field(
        default="c_d",
        metadata={
            "help": "c_d (the authors' CIFAR code) or 2+c_d (their ImageNet code)",
            "choices": ("c_d", "2+c_d"),
        },
    )
    budget_drop: float = field(
        default=0.1,
        metadata={"help": "budget selector: fraction dropped at the low end of the sort"},
    )
    budget_descending: bool = False

    def __post_init__(self):
        if self.score not in SCORES:
            raise GflabInputError("score", "one of " + ", ".join(SCORES), self.score)
        if self.select not in SELECTS:
            raise GflabInputError("select", "one of " + ", ".join(SELECTS), self.select)
        if self.beta_exponent not in EXPONENTS:
            raise GflabInputError("beta_exponent", "c_d or 2+c_d", self.beta_exponent)
        positive_int("J", self.J, minimum=2)
        positive_int("T", self.T)
        if self.T < self.J:
            raise GflabInputError("T", f"T >= J ({self.J}) (one full window)", self.T)
        positive_real("c_d", self.c_d)
        if not 0 <= self.budget_drop < 1:
            raise GflabInputError("budget_drop", "a number in [0, 1)", self.budget_drop)
        if self.select == "beta" and self.score == "aum":
            raise GflabInputError(
                "select",
                "hard, budget or stratified with aum (AUM can be negative: no Beta weights)",
                "beta",
            )

    @property
    def name(self) -> str:
        """``score+select`` (``random`` alone)."""
        return "random" if self.score == "random" else f"{self.score}+{self.select}"

    def score_epochs(self, epochs: int) -> int:
        """Proxy epochs the score reads: T (dual, el2n), E (dynunc, forgetting, aum), 0 (random).

        Args:
            epochs: the proxy's epochs E.

        Returns:
            The number of epochs of dynamics the score needs.
        """
        if self.score == "random":
            return 0
        return min(self.T, epochs) if self.score in ("dual", "el2n") else epochs

    def to_dict(self) -> dict:
        """The config as a JSON-ready dict (what the store keys and the record's metadata hold)."""
        return asdict(self)


@dataclass(frozen=True)
class PruneConfig:
    """One ``gflab bridge prune`` experiment: data, training, methods × ratios × seeds.

    Attributes:
      data: the dataset and its scenario.
      train: how every network is trained.
      methods: the pruning methods.
      ratios: pruning ratios r in (0, 1) (fraction removed).
      seeds: proxy seeds (each a proxy run and its coresets).
      labelled: fraction of true labels for SemiPrune (1: plain supervised pruning).
      semi_method: the pseudo-labelling step (``gflab.sims.bridge.semi.pseudo_label``'s ``method``).
      dynamics_budget_gib: refuse a proxy whose recorded logits exceed this (E·N·C·4 bytes).
    """

    data: DataSpec = field(default_factory=DataSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    methods: tuple = (MethodSpec(),)
    ratios: tuple = field(
        default=(0.3, 0.5, 0.7, 0.9),
        metadata={"help": "pruning ratios in (0, 1) (default 0.3,0.5,0.7,0.9)"},
    )
    seeds: tuple = field(default=(0, 1, 2), metadata={"help": "seeds (default 0,1,2)"})
    labelled: float = field(
        default=1.0,
        metadata={
            "help": "SemiPrune: fraction with true labels; the rest pseudo-labelled (1: off)"
        },
    )
    semi_method: str = field(
        default="label_spreading",
        metadata={"help": "SemiPrune's pseudo-labelling step (sims.bridge.semi)"},
    )
    dynamics_budget_gib: float | None = field(
        default=None,
        metadata={
            "help": "largest recorded logits E·N·C·4 bytes in GiB (default $GFLAB_DYNAMICS_BUDGET_GIB or 2)",
            "flag": "--dynamics-budget",
            "metavar": "GIB",
        },
    )

    def __post_init__(self):
        if not self.methods:
            raise GflabInputError("score", "at least one method", self.methods)
        if not self.ratios:
            raise GflabInputError("ratios", "at least one ratio", self.ratios)
        for r in self.ratios:
            if not 0 < float(r) < 1:
                raise GflabInputError("ratios", "numbers in (0, 1)", r)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise GflabInputError("seeds", "distinct integers >= 0", self.seeds)
        for s in self.seeds:
            positive_int("seeds", s, minimum=0)
        if not 0 < self.labelled <= 1:
            raise GflabInputError("labelled", "a fraction in (0, 1]", self.labelled)
        if self.labelled < 1 and self.semi_method not in SEMI_METHODS:
            raise GflabInputError(
                "semi_method", "one of " + ", ".join(SEMI_METHODS), self.semi_method
            )
        n = self.data.sizes[0]
        for m in self.methods:
            if m.score_epochs(self.train.epochs) > self.train.epochs or m.T > self.train.epochs:
                raise GflabInputError("T", f"T <= epochs ({self.train.epochs})", m.T)
            if m.J > self.train.epochs:
                raise GflabInputError("J", f"J <= epochs ({self.train.epochs})", m.J)
        for r in self.ratios:
            if int((1 - float(r)) * n) < 1:
                raise GflabInputError("ratios", f"ratios that keep at least one of {n} examples", r)
        check_dynamics_budget(self.train.epochs, n, N_CLASSES, self.dynamics_budget_gib)


# ----------------------------------------------------------------------------- memory


def dynamics_bytes(epochs: int, n: int, n_classes: int) -> int:
    """Bytes of the recorded logits [E, N, C] in float32: E·N·C·4.

    Args:
        epochs: E.
        n: the training examples N.
        n_classes: C.

    Returns:
        The size in bytes.
    """
    return int(epochs) * int(n) * int(n_classes) * 4


def dynamics_budget_bytes(budget_gib: float | None = None) -> int:
    """The recording budget: ``budget_gib``, else ``$GFLAB_DYNAMICS_BUDGET_GIB``, else 2 GiB.

    Args:
        budget_gib: the budget in GiB, or None for the environment's or the default.

    Returns:
        The budget in bytes.
    """
    if budget_gib is None:
        text = os.environ.get(BUDGET_ENV, "")
        try:
            budget_gib = float(text) if text else DEFAULT_BUDGET_GIB
        except ValueError:
            raise GflabInputError(BUDGET_ENV, "a number of GiB > 0", text) from None
    if not (isinstance(budget_gib, (int, float)) and math.isfinite(budget_gib) and budget_gib > 0):
        raise GflabInputError("dynamics_budget", "a number of GiB > 0", budget_gib)
    return int(budget_gib * 2**30)


def check_dynamics_budget(epochs: int, n: int, n_classes: int, budget_gib=None) -> int:
    """Refuse (before anything is allocated) a recording larger than the budget; returns bytes.

    Args:
        epochs: E.
        n: the training examples N.
        n_classes: C.
        budget_gib: the budget in GiB (None: :func:`dynamics_budget_bytes`'s default).

    Returns:
        The recording's size in bytes.

    Raises:
      GflabInputError: naming ``epochs`` when E·N·C·4 bytes exceeds the budget, with the largest
        E that fits and how to raise the budget.
    """
    need = dynamics_bytes(epochs, n, n_classes)
    budget = dynamics_budget_bytes(budget_gib)
    if need > budget:
        e_max = budget // (n * n_classes * 4)
        raise GflabInputError(
            "epochs",
            f"E·N·C·4 bytes of recorded logits <= the budget {budget / 2**30:.3g} GiB "
            f"(E <= {e_max} at N = {n}, C = {n_classes}; raise it with --dynamics-budget or "
            f"${BUDGET_ENV})",
            f"{epochs} ({need / 2**30:.3g} GiB)",
        )
    return need


# ----------------------------------------------------------------------------- training


class DynamicsRecorder:
    """Per-epoch, per-example logits of the training forward passes: [E, N, C] float32.

    Preallocated on the training device after :func:`check_dynamics_budget`; ``record(epoch,
    index, logits)`` copies a batch's detached logits into their examples' rows (no extra
    forward pass). ``array()`` is the NumPy copy.
    """

    def __init__(self, torch, epochs: int, n: int, n_classes: int, device: str, budget_gib=None):
        check_dynamics_budget(epochs, n, n_classes, budget_gib)
        self.logits = torch.full(
            (epochs, n, n_classes), float("nan"), dtype=torch.float32, device=device
        )

    def record(self, epoch: int, index, logits) -> None:
        """Copy one batch's logits into its examples' rows of epoch ``epoch``.

        Args:
            epoch: the epoch (row block) being trained.
            index: the batch's example indices (a tensor on the recorder's device).
            logits: the batch's logits from the training forward pass (detached, stored as float32).
        """
        self.logits[epoch].index_copy_(0, index, logits.detach().float())

    def array(self) -> np.ndarray:
        """The recorded logits as a NumPy array [E, N, C] (NaN where nothing was recorded)."""
        return self.logits.cpu().numpy()


def _build(torch, model: str, in_dim: int, n_classes: int):
    nn = torch.nn
    if model == "mlp":
        return nn.Sequential(
            nn.Linear(in_dim, 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, n_classes),
        )
    length = in_dim
    for _ in range(2):
        length = (length + 2 - 3) // 2 + 1  # stride-2 convolutions, kernel 3, padding 1
    return nn.Sequential(
        nn.Unflatten(1, (1, in_dim)),
        nn.Conv1d(1, 32, 5, padding=2),
        nn.ReLU(),
        nn.Conv1d(32, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv1d(32, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * length, n_classes),
    )


def train_classifier(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    train: TrainSpec,
    seed: int,
    record: bool = False,
    n_classes: int = N_CLASSES,
    budget_gib: float | None = None,
) -> dict:
    """Train a fresh network (the module docstring's protocol); optionally record its dynamics.

    Args:
      x, y: training inputs [N, D] and labels [N].
      x_test, y_test: the test split.
      train: model and optimiser.
      seed: initial weights and batch order.
      record: keep the training-pass logits [E, N, C] (refused beyond the budget).
      n_classes: C.
      budget_gib: the recording budget (:func:`dynamics_budget_bytes`).

    Returns:
      ``logits`` ([E, N, C] float32, or None), ``epoch_seconds`` [E], ``test_accuracy``,
      ``train_accuracy`` (last epoch's training passes), ``status`` (``finished`` or ``diverged``:
      a non-finite loss stops the run), ``epochs_run``.
    """
    from gflab.sims.bridge._torch import import_torch, resolve_device, synchronize

    torch = import_torch()
    device = resolve_device(train.device)
    n, E = len(y), train.epochs
    recorder = DynamicsRecorder(torch, E, n, n_classes, device, budget_gib) if record else None
    torch.manual_seed(seed)
    net = _build(torch, train.model, x.shape[1], n_classes).to(device=device, dtype=torch.float32)
    opt = torch.optim.SGD(
        net.parameters(), lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay
    )
    X = torch.tensor(
        np.asarray(x), dtype=torch.float32, device=device
    )  # a copy: x may be read-only
    Y = torch.tensor(np.asarray(y), dtype=torch.long, device=device)
    order = np.random.default_rng([seed, 7])
    lossf = torch.nn.functional.cross_entropy
    epoch_seconds = np.zeros(E)
    status, correct, epochs_run = "finished", 0, 0
    for epoch in range(E):
        t0 = time.perf_counter()
        perm = torch.as_tensor(order.permutation(n), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        losses = []
        for i in range(0, n, train.batch_size):
            idx = perm[i : i + train.batch_size]
            out = net(X[idx])
            loss = lossf(out, Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if recorder is not None:
                recorder.record(epoch, idx, out)
            correct += (out.argmax(1) == Y[idx]).sum()
            losses.append(loss.detach())
        synchronize(device)
        epoch_seconds[epoch] = time.perf_counter() - t0
        epochs_run = epoch + 1
        if not bool(torch.isfinite(torch.stack(losses)).all()):
            status = "diverged"
            break
    net.eval()
    with torch.no_grad():
        Xt = torch.tensor(np.asarray(x_test), dtype=torch.float32, device=device)
        pred = net(Xt).argmax(1).cpu().numpy()
    return {
        "logits": recorder.array() if recorder is not None else None,
        "epoch_seconds": epoch_seconds,
        "test_accuracy": float((pred == np.asarray(y_test)).mean())
        if status == "finished"
        else float("nan"),
        "train_accuracy": float(correct) / n,
        "status": status,
        "epochs_run": epochs_run,
    }


# ----------------------------------------------------------------------------- store records


def _torch_release() -> str:
    from gflab.sims.bridge._torch import import_torch

    return import_torch().__version__.split("+", 1)[0]


def proxy_key(cfg: PruneConfig, seed: int, labelled: float | None = None) -> dict:
    """The store key of a proxy run (its config as a dict; the record runner reads it back).

    Args:
        cfg: the experiment.
        seed: the proxy's seed.
        labelled: SemiPrune's fraction of true labels (None: ``cfg``'s).

    Returns:
        The key as a dict.
    """
    from gflab.sims.store import bridge_code_hash

    lab = cfg.labelled if labelled is None else labelled
    return {
        "model": PROXY_MODEL,
        "data": cfg.data.to_dict(),
        "train": asdict(cfg.train),
        "seed": int(seed),
        "labelled": float(lab),
        "semi_method": cfg.semi_method if lab < 1 else None,
        "torch_release": _torch_release(),
        # the store key covers theory/ and sims/ but the bridge: the trainer's code is added here
        "bridge_code": bridge_code_hash(),
    }


def coreset_key(proxy: dict, method: MethodSpec, ratio: float) -> dict:
    """The store key of a coreset run: its proxy's key, the method and the ratio.

    Args:
        proxy: the proxy's key (:func:`proxy_key`).
        method: the score and selector.
        ratio: the pruning ratio r.

    Returns:
        The key as a dict.
    """
    return {
        "model": CORESET_MODEL,
        "proxy": proxy,
        "method": method.to_dict(),
        "ratio": float(ratio),
        "seed": proxy["seed"],
    }


def _specs(key: dict) -> tuple[DataSpec, TrainSpec]:
    return DataSpec(**key["data"]), TrainSpec(**key["train"])


def proxy_labels(key: dict) -> tuple[np.ndarray, dict]:
    """The labels a proxy trains on: the dataset's, or SemiPrune's pseudo-labels.

    Args:
        key: a proxy's key (:func:`proxy_key`).

    Returns:
      (labels [N], info) with ``pseudo_label_accuracy`` (against the dataset's labels) and the
      labelled indices' count when pseudo-labelling.
    """
    data = load_data(_specs(key)[0])
    if key["labelled"] >= 1:
        return np.asarray(data.y_train), {}
    from gflab.sims.bridge import semi

    n = data.y_train.size
    mask = semi.labelled_subset(n, key["labelled"], key["seed"])
    got = semi.pseudo_label(
        data.x_train, data.y_train, mask, method=key["semi_method"], seed=key["seed"]
    )
    pseudo = np.asarray(got.labels, dtype=np.int64)
    return pseudo, {
        "pseudo_label_accuracy": float((pseudo == data.y_train).mean()),
        "pseudo_label_accuracy_unlabelled": float(got.accuracy),
        "n_labelled": int(mask.sum()),
    }


def proxy_record(config: dict, store) -> tuple[dict, dict]:
    """Record runner (:func:`gflab.sims.sweep._task.is_record_runner`): train and record one proxy.

    Arrays: ``logits`` [E, N, C] float32, ``labels`` [N] (what it trained on), ``epoch_seconds``.

    Args:
        config: the proxy's key (:func:`proxy_key`).
        store: the result store (unused: a proxy needs no other record).

    Returns:
        (arrays, meta) to store.
    """
    data_spec, train = _specs(config)
    data = load_data(data_spec)
    labels, info = proxy_labels(config)
    t0 = time.perf_counter()
    out = train_classifier(
        data.x_train, labels, data.x_test, data.y_test, train, config["seed"], record=True
    )
    meta = {
        "status": out["status"],
        "test_accuracy": out["test_accuracy"],
        "train_accuracy": out["train_accuracy"],
        "wall_seconds": time.perf_counter() - t0,
        "epochs_run": out["epochs_run"],
        **info,
    }
    arrays = {"logits": out["logits"], "labels": labels, "epoch_seconds": out["epoch_seconds"]}
    return arrays, meta


proxy_record.gflab_record = True
proxy_record.gflab_compress = True


def method_scores(method: MethodSpec, logits: np.ndarray, labels: np.ndarray, seed: int):
    """Scores of every example from stored dynamics (:mod:`gflab.theory.pruning`), float64 [N].

    ``random``: a seeded uniform draw (NumPy ``default_rng([seed, 13])``).

    Args:
        method: the score (and selector).
        logits: the proxy's recorded logits [E, N, C].
        labels: the labels it trained on [N].
        seed: the seed of ``random``.

    Returns:
        One score per example.
    """
    from gflab.theory import pruning as PR

    n = labels.size
    if method.score == "random":
        return np.random.default_rng([seed, 13]).random(n)
    if method.score in ("dual", "dynunc"):
        P = PR.true_label_probs(logits, labels)
        if method.score == "dual":
            return np.asarray(PR.dual_scores(P, method.T, method.J), dtype=np.float64)
        return np.asarray(PR.dynunc_scores(P, method.J), dtype=np.float64)
    if method.score == "el2n":
        return np.asarray(PR.el2n_scores(logits, labels, (method.T - 1,)), dtype=np.float64)
    if method.score == "forgetting":
        return np.asarray(PR.forgetting_scores(logits, labels), dtype=np.float64)
    return np.asarray(PR.aum_scores(logits, labels), dtype=np.float64)


def select_coreset(
    method: MethodSpec, ratio: float, scores: np.ndarray, logits, labels, seed: int
) -> np.ndarray:
    """The kept indices int((1 − r) N) of a method at pruning ratio ``ratio`` (sorted, int64).

    Args:
        method: the score and its selector.
        ratio: the pruning ratio r.
        scores: one score per example (:func:`method_scores`).
        logits: the proxy's logits [E, N, C] (Beta sampling reads the true-label probabilities).
        labels: the labels it trained on [N].
        seed: the seed of Beta sampling and of the stratified selector.

    Returns:
        The kept indices.
    """
    from gflab.theory import pruning as PR

    n = scores.size
    keep = 1.0 - ratio  # kept fraction; counts are int(keep · N), the authors' truncation
    if method.score == "random":
        return np.sort(np.argsort(scores, kind="stable")[: PR.kept_count(ratio, n)])
    if method.select == "hard":
        idx = PR.hard_selection(scores, keep)
    elif method.select == "beta":
        P = PR.true_label_probs(logits, labels)
        idx = PR.beta_sampling(
            ratio, P, scores, seed, method.T, c_d=method.c_d, exponent=method.beta_exponent
        )
    elif method.select == "budget":
        idx = PR.budget_selection(scores, keep, method.budget_drop, method.budget_descending)
    else:
        idx = PR.stratified_selection(scores, keep, seed)
    return np.sort(np.asarray(idx, dtype=np.int64))


def coreset_record(config: dict, store) -> tuple[dict, dict]:
    """Record runner: score the stored proxy, select, train the coreset from scratch.

    Args:
        config: the coreset's key (:func:`coreset_key`).
        store: the store holding its proxy's record.

    Returns:
        (arrays, meta) to store: the kept indices, class counts and epoch times; the status, test
        accuracy and timings. The coreset of a diverged proxy is the status ``proxy_diverged``
        (no indices, test accuracy NaN): its dynamics cannot be scored.

    Raises:
      GflabInputError: the proxy record is missing from ``store`` (run the proxies first).
    """
    proxy = config["proxy"]
    got = store.get_record(proxy)
    if got is None:
        raise GflabInputError("proxy", "the proxy run stored first", proxy["seed"])
    arrays, pmeta = got
    method = MethodSpec(**config["method"])
    data_spec, train = _specs(proxy)
    data = load_data(data_spec)
    logits, labels = arrays["logits"], arrays["labels"]
    if pmeta.get("status") == "diverged":  # NaN dynamics: nothing to score, no coreset to train
        idx, select_seconds = np.zeros(0, dtype=np.int64), 0.0
        out = {"status": "proxy_diverged", "test_accuracy": math.nan, "epoch_seconds": np.zeros(0)}
    else:
        t0 = time.perf_counter()
        scores = method_scores(method, logits, labels, proxy["seed"])
        idx = select_coreset(method, config["ratio"], scores, logits, labels, proxy["seed"])
        select_seconds = time.perf_counter() - t0
        out = train_classifier(
            data.x_train[idx], data.y_train[idx], data.x_test, data.y_test, train, proxy["seed"]
        )
    e_used = method.score_epochs(train.epochs)
    meta = {
        "status": out["status"],
        "test_accuracy": out["test_accuracy"],
        "score_seconds": select_seconds,
        "score_epochs": e_used,
        "proxy_seconds_used": float(arrays["epoch_seconds"][:e_used].sum()),
        "wall_seconds": float(out["epoch_seconds"].sum()),
        "proxy_status": pmeta.get("status"),
    }
    counts = np.bincount(data.y_train[idx], minlength=N_CLASSES)
    return {"indices": idx, "class_counts": counts, "epoch_seconds": out["epoch_seconds"]}, meta


coreset_record.gflab_record = True


# ----------------------------------------------------------------------------- the experiment


def _mean_sd(vals) -> tuple[float | None, float | None]:
    a = np.asarray([v for v in vals if v is not None and math.isfinite(v)], dtype=np.float64)
    if not a.size:
        return None, None
    return float(a.mean()), (float(a.std(ddof=1)) if a.size > 1 else None)


def run_prune(cfg: PruneConfig, store, executor: str = "local:1", progress=None) -> dict:
    """Proxies, then coresets, through the sweep executor and the store; the report.

    Args:
      cfg: the experiment.
      store: a :class:`gflab.sims.store.ResultStore` (runs are read from it when present).
      executor: a sweep executor (``local:N``, ``dask-local:N``...).
      progress: :class:`gflab.sims.progress.Progress` (each stage a unit, with its ETA).

    Returns:
      ``config``, ``full`` (the true-label proxies' test accuracy, mean ± sd, and cost),
      ``methods`` (per method and ratio: test accuracy mean ± sd, per-seed values and class counts,
      store keys), ``cost`` (per method: scoring epochs and seconds next to full training's),
      ``pseudo_labels`` (SemiPrune), ``sweeps`` (computed vs read), ``wall_seconds``.
    """
    from gflab.sims.sweep import run_sweep

    t0 = time.perf_counter()
    proxies = {s: proxy_key(cfg, s) for s in cfg.seeds}
    fulls = {s: proxy_key(cfg, s, labelled=1.0) for s in cfg.seeds}
    stage1 = list({store.key(k): k for k in [*proxies.values(), *fulls.values()]}.values())

    def hook(unit):
        if progress is None:
            return None
        return lambda done, total, counts: progress(
            done, total, {"unit": unit, "item": "run", **{k: v for k, v in counts.items()}}
        )

    s1 = run_sweep(
        stage1,
        store,
        executor,
        runner="gflab.sims.bridge.prune_run:proxy_record",
        progress=hook("proxies"),
    )
    _raise_failures(s1)
    coresets = [
        (m, r, s, coreset_key(proxies[s], m, r))
        for m in cfg.methods
        for r in cfg.ratios
        for s in cfg.seeds
    ]
    s2 = run_sweep(
        [c[3] for c in coresets],
        store,
        executor,
        runner="gflab.sims.bridge.prune_run:coreset_record",
        progress=hook("coresets"),
    )
    _raise_failures(s2)
    report = _report(cfg, store, proxies, fulls, coresets)
    report["sweeps"] = {
        "proxies": {"done": s1.done, "read": s1.skipped, "seconds": s1.seconds},
        "coresets": {"done": s2.done, "read": s2.skipped, "seconds": s2.seconds},
    }
    report["executor"] = executor
    report["wall_seconds"] = time.perf_counter() - t0
    return report


def _raise_failures(summary) -> None:
    if summary.failures:
        f = summary.failures[0]
        raise RuntimeError(f"{summary.failed} run(s) failed; first: {f.get('error')}")


def _meta(store, key: dict) -> tuple[dict, dict]:
    got = store.get_record(key)
    if got is None:  # pragma: no cover - the sweeps just stored it
        raise RuntimeError(f"store entry missing after its sweep: {store.key(key)}")
    return got


def _report(cfg, store, proxies, fulls, coresets) -> dict:
    E = cfg.train.epochs
    full_meta = {s: _meta(store, k) for s, k in fulls.items()}
    full_acc = [m["test_accuracy"] for _, m in full_meta.values()]
    full_sec = [float(a["epoch_seconds"].sum()) for a, _ in full_meta.values()]
    mean, sd = _mean_sd(full_acc)
    out: dict = {
        "config": config_dict(cfg),
        "n_train": int(load_data(cfg.data).y_train.size),
        "full": {
            "test_accuracy_mean": mean,
            "test_accuracy_sd": sd,
            "test_accuracy": full_acc,
            "epochs": E,
            "seconds_mean": _mean_sd(full_sec)[0],
            "store_keys": [store.key(k) for k in fulls.values()],
        },
        "methods": {},
        "cost": {},
    }
    if cfg.labelled < 1:
        pm = [_meta(store, k)[1] for k in proxies.values()]
        out["pseudo_labels"] = {
            "labelled": cfg.labelled,
            "method": cfg.semi_method,
            "accuracy_mean": _mean_sd([m["pseudo_label_accuracy"] for m in pm])[0],
            "accuracy": [m["pseudo_label_accuracy"] for m in pm],
            "accuracy_unlabelled": [m["pseudo_label_accuracy_unlabelled"] for m in pm],
            "proxy_test_accuracy": [m["test_accuracy"] for m in pm],
        }
    for m in cfg.methods:
        rows, cost_sec, score_sec = {}, [], []
        for r in cfg.ratios:
            accs, counts, keys, statuses = [], [], [], []
            for mm, rr, _s, key in coresets:
                if mm != m or rr != r:
                    continue
                arrays, meta = _meta(store, key)
                accs.append(meta["test_accuracy"])
                counts.append(arrays["class_counts"].tolist())
                keys.append(store.key(key))
                statuses.append(meta["status"])
                cost_sec.append(meta["proxy_seconds_used"])
                score_sec.append(meta["score_seconds"])
            mean, sd = _mean_sd(accs)
            rows[f"{r:g}"] = {
                "test_accuracy_mean": mean,
                "test_accuracy_sd": sd,
                "test_accuracy": accs,
                "class_counts": counts,
                "empty_classes": [int(sum(c == 0 for c in cc)) for cc in counts],
                "status": statuses,
                "store_keys": keys,
            }
        out["methods"][m.name] = rows
        out["cost"][m.name] = {
            "score_epochs": m.score_epochs(E),
            "full_epochs": E,
            "proxy_seconds": _mean_sd(cost_sec)[0],
            "score_seconds": _mean_sd(score_sec)[0],
            "full_seconds": out["full"]["seconds_mean"],
        }
    return out


def config_dict(cfg: PruneConfig) -> dict:
    """The experiment as JSON (data, train, methods, ratios, seeds, labelled).

    Args:
        cfg: the experiment.

    Returns:
        A JSON-ready dict.
    """
    d = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    d["data"] = cfg.data.to_dict()
    d["train"] = asdict(cfg.train)
    d["methods"] = [m.to_dict() | {"name": m.name} for m in cfg.methods]
    d["ratios"] = [float(r) for r in cfg.ratios]
    d["seeds"] = [int(s) for s in cfg.seeds]
    return d


def recording_overhead(
    data: DataSpec | None = None, train: TrainSpec | None = None, seed: int = 0, repeats: int = 3
) -> dict:
    """What recording the dynamics costs beside the training step it watches.

    The recorder's per-batch copy (:meth:`DynamicsRecorder.record`) is timed in isolation over
    many calls on the run's batch shapes and divided by the wall time per batch of the same
    training without recording (best of ``repeats`` runs): on a shared machine two whole-run
    timings differ by more than the copy costs. The paired whole-run ratio is reported too.

    Args:
        data: the dataset (default :class:`DataSpec`'s).
        train: the training settings (default :class:`TrainSpec`'s).
        seed: the seed of the runs.
        repeats: plain and recorded runs each (the best is kept).

    Returns:
      ``overhead_fraction`` (record seconds per batch / train seconds per batch),
      ``paired_fraction`` (best recorded run / best plain run − 1), the raw seconds, the sizes,
      and ``goal_fraction`` 0.05.
    """
    from gflab.sims.bridge._torch import import_torch

    torch = import_torch()
    data = data or DataSpec()
    train = train or TrainSpec(epochs=20)
    d = load_data(data)
    args = (d.x_train, d.y_train, d.x_test, d.y_test, train, seed)
    train_classifier(*args[:4], TrainSpec(**{**asdict(train), "epochs": 1}), seed)  # warm-up
    plain, rec = [], []
    for _ in range(repeats):
        plain.append(float(train_classifier(*args, record=False)["epoch_seconds"].sum()))
        rec.append(float(train_classifier(*args, record=True)["epoch_seconds"].sum()))
    n = int(d.y_train.size)
    batches = train.epochs * -(-n // train.batch_size)
    recorder = DynamicsRecorder(torch, 1, n, N_CLASSES, "cpu")
    out = torch.randn(train.batch_size, N_CLASSES, requires_grad=True)
    idx = torch.as_tensor(np.random.default_rng(seed).permutation(n)[: train.batch_size])
    calls = 2000
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            recorder.record(0, idx, out)
        best = min(best, (time.perf_counter() - t0) / calls)
    per_batch = min(plain) / batches
    return {
        "data": data.data,
        "n": n,
        "epochs": train.epochs,
        "model": train.model,
        "train_seconds": min(plain),
        "record_seconds": min(rec),
        "train_seconds_per_batch": per_batch,
        "record_seconds_per_batch": best,
        "overhead_fraction": best / per_batch,
        "paired_fraction": min(rec) / min(plain) - 1.0,
        "goal_fraction": 0.05,
    }
