"""Offline data for dataset pruning (docs/pruning.md): digits, MNIST-1D, and the stress scenarios.

- ``digits``: scikit-learn's ``load_digits`` (1,797 8 × 8 images shipped inside the package), a
  seeded permutation split into ``n_train`` / ``n_test`` (default 1300 / 497), each pixel
  standardised with the training split's mean and standard deviation.
- ``mnist1d``: the ``mnist1d`` package's generator (``mnist1d.data.make_dataset``) with its
  default template arguments, ``num_samples``, ``train_split`` and ``seed`` set here: any size,
  generated from the ten 1D templates, never downloaded (``get_dataset`` would fetch a pickle;
  it is not used). The generator seeds NumPy's and Python's global generators; their states are
  restored afterwards.

Stress scenarios, seeded transforms of the training split only (the test split stays clean and
balanced), applied in this order:

1. :func:`long_tail_indices`: an exponential class profile n_c = ⌊n_max ρ^(−c/(C−1))⌋ with
   imbalance ratio ρ = n_0 / n_{C−1} (n_max the smallest class size available);
2. :func:`symmetric_label_noise`: exactly round(rate · N) examples, drawn without replacement,
   get a label drawn uniformly from the C − 1 *other* classes (so the realised rate is exact);
3. :func:`gaussian_corruption`: exactly round(fraction · N) examples get i.i.d. N(0, std²) noise
   added to every input feature.
"""

from __future__ import annotations

import functools
import random
from dataclasses import asdict, dataclass, field

import numpy as np

from gflab.theory._validate import positive_int, positive_real
from gflab.theory.errors import GflabInputError

__all__ = [
    "DATASETS",
    "DataSpec",
    "shuffled_digits",
    "PruneData",
    "load_split",
    "load_data",
    "symmetric_label_noise",
    "long_tail_counts",
    "long_tail_indices",
    "gaussian_corruption",
]

DATASETS = ("digits", "mnist1d")
DEFAULT_SIZES = {"digits": (1300, 497), "mnist1d": (4000, 1000)}
N_CLASSES = 10
_DIGITS_TOTAL = 1797


@dataclass(frozen=True)
class DataSpec:
    """A dataset and its scenario: what :func:`load_data` builds (part of every store key).

    Attributes:
      data: ``digits`` or ``mnist1d``.
      n_train, n_test: split sizes (0: the dataset's default, 1300/497 or 4000/1000).
      data_seed: seeds the split (digits), the generator (MNIST-1D) and every scenario transform.
      label_noise: symmetric label-noise rate in [0, 1).
      long_tail: imbalance ratio ρ ≥ 1 of the exponential class profile (1: balanced).
      corrupt: fraction in [0, 1) of training inputs with Gaussian noise added.
      corrupt_std: that noise's standard deviation (inputs are standardised: 1 doubles the variance).
    """

    data: str = field(
        default="digits", metadata={"help": "dataset", "choices": ("digits", "mnist1d")}
    )
    n_train: int = field(default=0, metadata={"help": "training examples (0: 1300 / 4000)"})
    n_test: int = field(default=0, metadata={"help": "test examples (0: 497 / 1000)"})
    data_seed: int = field(default=0, metadata={"help": "split, generator and scenario seed"})
    label_noise: float = field(
        default=0.0, metadata={"help": "symmetric label-noise rate in [0, 1)"}
    )
    long_tail: float = field(
        default=1.0,
        metadata={"help": "imbalance ratio >= 1 of an exponential class profile (1: balanced)"},
    )
    corrupt: float = field(
        default=0.0, metadata={"help": "fraction of training inputs with Gaussian noise added"}
    )
    corrupt_std: float = field(default=1.0, metadata={"help": "that noise's std"})

    def __post_init__(self):
        if self.data not in DATASETS:
            raise GflabInputError("data", "one of " + ", ".join(DATASETS), self.data)
        for name in ("n_train", "n_test", "data_seed"):
            positive_int(name, getattr(self, name), minimum=0)
        n_tr, n_te = self.sizes
        if n_tr < 2 * N_CLASSES:
            raise GflabInputError("n_train", f"at least {2 * N_CLASSES}", n_tr)
        if self.data == "digits" and n_tr + n_te > _DIGITS_TOTAL:
            raise GflabInputError(
                "n_train", f"n_train + n_test <= {_DIGITS_TOTAL} (digits' size)", n_tr + n_te
            )
        if self.data == "mnist1d" and n_tr + n_te > 10**7:
            raise GflabInputError("n_train", "n_train + n_test <= 10^7", n_tr + n_te)
        positive_int("n_test", n_te)
        for name in ("label_noise", "corrupt"):
            v = positive_real(name, getattr(self, name), allow_zero=True)
            if v >= 1:
                raise GflabInputError(name, "a number in [0, 1)", v)
        lt = positive_real("long_tail", self.long_tail)
        if lt < 1:
            raise GflabInputError("long_tail", "an imbalance ratio >= 1 (1: balanced)", lt)
        positive_real("corrupt_std", self.corrupt_std)

    @property
    def sizes(self) -> tuple[int, int]:
        """(n_train, n_test) with 0 replaced by the dataset's default."""
        d_tr, d_te = DEFAULT_SIZES[self.data]
        return (self.n_train or d_tr, self.n_test or d_te)

    def to_dict(self) -> dict:
        """The config as a JSON-ready dict (what the store keys and the record's metadata hold)."""
        return asdict(self)


@dataclass(frozen=True)
class PruneData:
    """A scenario's arrays (float32 inputs, int64 labels).

    Attributes:
      x_train, y_train: the training inputs and the labels training sees (noisy if any noise).
      y_clean: the training labels before label noise.
      x_test, y_test: the clean test split.
      flipped: mask of training examples whose label was changed.
      corrupted: mask of training examples whose input was corrupted.
      n_classes: C.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    y_clean: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    flipped: np.ndarray
    corrupted: np.ndarray
    n_classes: int = N_CLASSES


def shuffled_digits(seed: int, parameter: str = "data", got: object = "digits"):
    """scikit-learn's digits (1797 images of 8×8 pixels in 0..16), in the order of a permutation
    drawn from ``seed``.

    Args:
        seed: the permutation's seed.
        parameter, got: what the error names when scikit-learn is not installed.

    Returns:
        (X, y): float64 [1797, 64] pixels and int labels 0..9, permuted alike.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - depends on the environment
        raise GflabInputError(
            parameter, "scikit-learn installed (pip install -r requirements/bridge.lock)", got
        ) from None
    X, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(seed).permutation(len(y))
    return X[perm], y[perm]


def _digits(n_train: int, n_test: int, seed: int):
    X, y = shuffled_digits(seed)
    xtr, ytr = X[n_test : n_test + n_train], y[n_test : n_test + n_train]
    xte, yte = X[:n_test], y[:n_test]
    mu, sd = xtr.mean(0), xtr.std(0)
    sd = np.where(sd > 0, sd, 1.0)  # constant border pixels: centred, not scaled
    return (xtr - mu) / sd, ytr, (xte - mu) / sd, yte


def _mnist1d(n_train: int, n_test: int, seed: int):
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:  # pragma: no cover - depends on the environment
        raise GflabInputError(
            "data", "the mnist1d package (pip install -r requirements/bridge.lock)", "mnist1d"
        ) from None
    total = n_train + n_test
    args = get_dataset_args()  # the package's default template arguments
    # the generator makes num_samples // 10 examples per class: round up, then cut
    args.num_samples = -(-total // N_CLASSES) * N_CLASSES
    args.train_split = 1.0
    args.seed = seed
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002 (mnist1d seeds the global generator)
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    X, y = np.asarray(d["x"]), np.asarray(d["y"])
    xtr, ytr, xte, yte = X[:n_train], y[:n_train], X[n_train:total], y[n_train:total]
    mu, sd = xtr.mean(), xtr.std()
    return (xtr - mu) / sd, ytr, (xte - mu) / sd, yte


def load_split(data: str, n_train: int, n_test: int, seed: int):
    """(x_train, y_train, x_test, y_test) of a dataset, standardised with training statistics.

    Args:
      data: ``digits`` or ``mnist1d``.
      n_train, n_test: split sizes.
      seed: the split's permutation (digits) or the generator's seed (MNIST-1D).

    Returns:
      float32 inputs [N, D] and int64 labels [N] for both splits.
    """
    fn = {"digits": _digits, "mnist1d": _mnist1d}.get(data)
    if fn is None:
        raise GflabInputError("data", "one of " + ", ".join(DATASETS), data)
    xtr, ytr, xte, yte = fn(n_train, n_test, seed)
    f32, i64 = np.float32, np.int64
    return xtr.astype(f32), ytr.astype(i64), xte.astype(f32), yte.astype(i64)


def symmetric_label_noise(
    labels: np.ndarray, rate: float, n_classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Flip exactly round(rate · N) labels, each to a uniformly drawn *other* class.

    Args:
      labels: int labels [N] in [0, n_classes).
      rate: the fraction flipped, in [0, 1).
      n_classes: C ≥ 2.
      seed: NumPy ``default_rng`` seed.

    Returns:
      (noisy labels, mask of flipped examples).
    """
    labels = np.asarray(labels, dtype=np.int64)
    if not 0 <= rate < 1:
        raise GflabInputError("label_noise", "a number in [0, 1)", rate)
    positive_int("n_classes", n_classes, minimum=2)
    rng = np.random.default_rng([seed, 1])
    n_flip = int(round(rate * labels.size))
    idx = rng.choice(labels.size, size=n_flip, replace=False)
    shift = rng.integers(1, n_classes, size=n_flip)  # 1..C-1: never the true class
    noisy = labels.copy()
    noisy[idx] = (labels[idx] + shift) % n_classes
    mask = np.zeros(labels.size, dtype=bool)
    mask[idx] = True
    return noisy, mask


def long_tail_counts(available: np.ndarray, imbalance_ratio: float) -> np.ndarray:
    """Per-class counts n_c = ⌊n_max ρ^(−c/(C−1))⌋ (at least 1), n_max = min(available).

    Args:
      available: examples available per class [C].
      imbalance_ratio: ρ = n_0 / n_{C−1} ≥ 1.

    Returns:
      int64 counts [C], non-increasing in the class index.
    """
    available = np.asarray(available, dtype=np.int64)
    if imbalance_ratio < 1:
        raise GflabInputError("long_tail", "an imbalance ratio >= 1 (1: balanced)", imbalance_ratio)
    c = np.arange(available.size)
    n_max = int(available.min())
    counts = np.floor(n_max * float(imbalance_ratio) ** (-c / max(available.size - 1, 1)) + 1e-9)
    return np.maximum(counts.astype(np.int64), 1)


def long_tail_indices(
    labels: np.ndarray, imbalance_ratio: float, n_classes: int, seed: int
) -> np.ndarray:
    """Sorted indices of a long-tailed subset: the first n_c of a seeded permutation of class c.

    Args:
      labels: int labels [N].
      imbalance_ratio: ρ ≥ 1 (:func:`long_tail_counts`).
      n_classes: C.
      seed: NumPy ``default_rng`` seed.

    Returns:
      int64 indices into ``labels``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    available = np.bincount(labels, minlength=n_classes)
    if available.min() < 1:
        raise GflabInputError("long_tail", "every class present in the training split", available)
    counts = long_tail_counts(available, imbalance_ratio)
    rng = np.random.default_rng([seed, 2])
    keep = [rng.permutation(np.flatnonzero(labels == c))[: counts[c]] for c in range(n_classes)]
    return np.sort(np.concatenate(keep))


def gaussian_corruption(
    x: np.ndarray, fraction: float, std: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Add N(0, std²) noise to every feature of exactly round(fraction · N) examples.

    Args:
      x: inputs [N, D].
      fraction: in [0, 1).
      std: noise standard deviation > 0.
      seed: NumPy ``default_rng`` seed.

    Returns:
      (corrupted copy of ``x`` in its dtype, mask of corrupted examples).
    """
    if not 0 <= fraction < 1:
        raise GflabInputError("corrupt", "a number in [0, 1)", fraction)
    positive_real("corrupt_std", std)
    rng = np.random.default_rng([seed, 3])
    n = x.shape[0]
    idx = rng.choice(n, size=int(round(fraction * n)), replace=False)
    out = x.copy()
    out[idx] += (std * rng.standard_normal((idx.size, *x.shape[1:]))).astype(x.dtype)
    mask = np.zeros(n, dtype=bool)
    mask[idx] = True
    return out, mask


@functools.lru_cache(maxsize=8)
def load_data(spec: DataSpec) -> PruneData:
    """The arrays of ``spec``: the split, then long tail, label noise and corruption (in order).

    Args:
      spec: the dataset and scenario.

    Returns:
      :class:`PruneData` (cached per process; the arrays are read-only).
    """
    n_tr, n_te = spec.sizes
    xtr, ytr, xte, yte = load_split(spec.data, n_tr, n_te, spec.data_seed)
    if spec.long_tail > 1:
        keep = long_tail_indices(ytr, spec.long_tail, N_CLASSES, spec.data_seed)
        xtr, ytr = xtr[keep], ytr[keep]
    y_clean = ytr
    flipped = np.zeros(ytr.size, dtype=bool)
    if spec.label_noise > 0:
        ytr, flipped = symmetric_label_noise(ytr, spec.label_noise, N_CLASSES, spec.data_seed)
    corrupted = np.zeros(ytr.size, dtype=bool)
    if spec.corrupt > 0:
        xtr, corrupted = gaussian_corruption(xtr, spec.corrupt, spec.corrupt_std, spec.data_seed)
    arrays = (xtr, ytr, y_clean, xte, yte, flipped, corrupted)
    for a in arrays:
        a.setflags(write=False)
    return PruneData(*arrays)
