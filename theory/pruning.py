"""Dataset pruning from training dynamics: DUAL, Dyn-Unc, EL2N, forgetting, AUM, and the selectors.

Pure functions of NumPy arrays, float64 throughout (docs/pruning.md, "Scores" and "Selectors").
The input is one training run's per-epoch, per-example logits ``logits[e, i, c]`` (E epochs, N
examples, C classes, from the training forward pass, keyed by example index) and the labels
``labels[i]``. From them:

- ``P[t, i] = softmax(logits[t, i])[labels[i]]``, the probability of the true label;
- scores (one per example; larger = keep first unless said otherwise): DUAL (Cho et al., ICML 2025),
  Dyn-Unc, EL2N, forgetting events, AUM;
- selectors returning example indices: hard (top scores), ratio-adaptive Beta sampling (DUAL),
  the budget window (SemiPrune's main selector) and coverage-centric stratified sampling (CCS,
  Zheng et al., ICLR 2023).

Each function equals the authors' public code where docs/pruning.md ("The authors' code and its
slips") says so; that code was read at behaapyy/dual-pruning 4ab525d, cyseul/SemiPrune ce4d089 and
eltsai/elfs 089444b (the CoresetSelection class that SemiPrune's ``train.py`` imports: its own
``core/data`` folder is not in its public repository). Where a function offers the authors'
behaviour that differs from ours, a named argument selects it and the default is ours.

Counts from fractions are ``int(fraction * N)`` (truncation), as in the authors' code: a pruning
ratio r keeps ``int((1 - r) * N)`` examples (``1 - 0.9`` is ``0.09999999999999998`` in floating
point, so r = 0.9 with N = 1300 keeps 129, as the authors' Beta sampling does). Ties in a sort are
broken by example index (stable sorts); the authors' ``torch.sort`` leaves that to the backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from jaxtyping import Float, Int

from gflab.theory._validate import one_of, positive_int
from gflab.theory.errors import GflabInputError

__all__ = [
    "true_label_probs",
    "dual_scores",
    "dynunc_scores",
    "el2n_scores",
    "forgetting_scores",
    "aum_scores",
    "beta_params",
    "beta_mode",
    "beta_sampling",
    "hard_selection",
    "budget_selection",
    "stratified_selection",
    "stratified_budgets",
    "kept_count",
]

# Rows of a window block (W windows · rows · J floats) kept under ~32 MiB in ``_window_scores``.
_WINDOW_BLOCK_FLOATS = 4_000_000


# ------------------------------------------------------------------------------------------------
# validation helpers


def _logits(logits: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Logits [E, N, C] (shape and dtype checked; no copy) and int64 labels [N] in [0, C).

    The entries are checked one epoch at a time by :func:`_epoch`, so a stored float32 tensor (or a
    memory map) is never copied whole to float64: the working memory is one epoch's N·C floats.
    """
    arr = np.asarray(logits)
    if arr.ndim != 3:
        raise GflabInputError("logits", "an array of shape [epochs, examples, classes]", arr.shape)
    if arr.dtype.kind not in "biuf":
        raise GflabInputError("logits", "a real numeric array", f"dtype {arr.dtype}")
    E, N, C = arr.shape
    if E < 1 or N < 1 or C < 2:
        raise GflabInputError(
            "logits", "at least 1 epoch, 1 example and 2 classes", f"shape {arr.shape}"
        )
    return arr, _labels(labels, N, C)


def _epoch(logits: np.ndarray, t: int) -> np.ndarray:
    """Epoch t's logits [N, C] as a float64 copy (callers work on it in place), checked finite."""
    z = np.array(logits[t], dtype=np.float64, copy=True)
    if not np.all(np.isfinite(z)):
        raise GflabInputError(
            "logits", "finite entries (no NaN or inf)", f"non-finite entries at epoch {t}"
        )
    return z


def _labels(labels: Any, N: int, C: int) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.shape != (N,):
        raise GflabInputError("labels", f"an array of shape ({N},), one per example", lab.shape)
    if lab.dtype.kind not in "iu":
        raise GflabInputError("labels", "integer class indices", f"dtype {lab.dtype}")
    if N and (lab.min() < 0 or lab.max() >= C):
        raise GflabInputError(
            "labels", f"class indices in [0, {C - 1}]", f"values in [{lab.min()}, {lab.max()}]"
        )
    return lab.astype(np.int64, copy=False)


def _probs(P: Any, name: str = "P") -> np.ndarray:
    """Checked float64 true-label probabilities [E, N] in [0, 1]."""
    arr = np.asarray(P)
    if arr.ndim != 2:
        raise GflabInputError(name, "an array of shape [epochs, examples]", arr.shape)
    if arr.dtype.kind not in "biuf":
        raise GflabInputError(name, "a real numeric array", f"dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise GflabInputError(name, "finite entries (no NaN or inf)", "non-finite entries")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise GflabInputError(
            name, "probabilities in [0, 1]", f"values in [{arr.min()}, {arr.max()}]"
        )
    return arr


def _scores(scores: Any, N: int | None = None, name: str = "scores") -> np.ndarray:
    arr = np.asarray(scores)
    if arr.ndim != 1 or (N is not None and arr.shape[0] != N):
        want = "a 1-D array" if N is None else f"an array of shape ({N},), one per example"
        raise GflabInputError(name, want, arr.shape)
    if arr.dtype.kind not in "biuf":
        raise GflabInputError(name, "a real numeric array", f"dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise GflabInputError(name, "finite entries (no NaN or inf)", "non-finite entries")
    if arr.shape[0] < 1:
        raise GflabInputError(name, "at least one example", arr.shape)
    return arr


def _fraction(name: str, x: Any, *, low_open: bool, high_open: bool) -> float:
    ok = isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)
    if ok:
        v = float(x)
        ok = (
            math.isfinite(v)
            and (v > 0 if low_open else v >= 0)
            and (v < 1 if high_open else v <= 1)
        )
    if not ok:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise GflabInputError(name, f"a fraction in {lo}0, 1{hi}", x)
    return float(x)


def _window(T: Any, J: Any, E: int) -> tuple[int, int]:
    J = positive_int("J", J, minimum=2)
    T = positive_int("T", T)
    if T < J:
        raise GflabInputError("T", f"an integer >= J = {J} (one window of J epochs)", T)
    if T > E:
        raise GflabInputError("T", f"an integer <= the {E} recorded epochs", T)
    return T, J


def kept_count(ratio: float, n_examples: int) -> int:
    """Examples kept at pruning ratio ``ratio``: ``int((1 - ratio) * n_examples)``, the authors'
    rule (truncation).

    Args:
        ratio: pruning ratio r in (0, 1).
        n_examples: N.

    Returns:
        The count, at least 1 (a ratio that keeps none is an input error naming ``ratio``).
    """
    r = _fraction("ratio", ratio, low_open=True, high_open=True)
    N = positive_int("n_examples", n_examples)
    n = int((1 - r) * N)
    if n < 1:
        raise GflabInputError(
            "ratio", f"a pruning ratio that keeps at least one of {N} examples", ratio
        )
    return n


def _count(name: str, fraction: float, N: int) -> int:
    n = int(fraction * N)
    if n < 1:
        raise GflabInputError(name, f"a fraction that keeps at least one of {N} examples", fraction)
    return n


# ------------------------------------------------------------------------------------------------
# probabilities and scores


def _softmax(z: np.ndarray) -> np.ndarray:
    """Row softmax of a float64 [N, C] array, in place (the max shift avoids overflow)."""
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def true_label_probs(logits: Any, labels: Any) -> Float[np.ndarray, "E N"]:
    """P[t, i] = softmax(logits[t, i])[labels[i]], the probability of the true label.

    Args:
        logits: [E, N, C] per-epoch training-pass logits (any real dtype; computed in float64).
        labels: [N] integer labels in [0, C).

    Returns:
        P: [E, N] float64.
    """
    logits, y = _logits(logits, labels)
    E, N = logits.shape[:2]
    rows = np.arange(N)
    P = np.empty((E, N))
    for t in range(E):
        z = _epoch(logits, t)
        # log-sum-exp with the max shift: exact for logits far apart, no overflow
        m = z.max(axis=-1, keepdims=True)
        z -= m
        lse = np.log(np.exp(z).sum(axis=-1))
        P[t] = np.exp(z[rows, y] - lse)
    return P


def _window_scores(P: np.ndarray, J: int, uncertainty: bool) -> np.ndarray:
    """Mean over the stride-1 windows of J epochs of 10·std(P) (· (1 − mean P) if ``uncertainty``).

    Each window's std is computed two-pass from its J values (a sliding view, no cumulative-sum
    cancellation), over blocks of examples so the working memory stays under ~32 MiB.
    """
    E, N = P.shape
    W = E - J + 1
    out = np.empty(N)
    block = max(1, _WINDOW_BLOCK_FLOATS // (W * J))
    for start in range(0, N, block):
        chunk = np.lib.stride_tricks.sliding_window_view(P[:, start : start + block], J, axis=0)
        # chunk: [W, n, J]
        s = 10.0 * chunk.std(axis=-1, ddof=1)
        if uncertainty:
            s *= 1.0 - chunk.mean(axis=-1)
        out[start : start + block] = s.mean(axis=0)
    return out


def dual_scores(P: Any, T: int, J: int = 10) -> Float[np.ndarray, " N"]:
    """DUAL score over the first T epochs (Cho et al. 2025; docs/pruning.md, "Scores").

    score_i = (1/W) Σ_{w=0}^{W−1} 10 · std_{t∈[w, w+J)}(P[t, i]) · (1 − mean_{t∈[w, w+J)} P[t, i]),
    W = T − J + 1 windows of J epochs with stride 1; std with ddof = 1, as ``torch.std``. Larger =
    more important (hard pruning keeps the largest).

    Args:
        P: [E, N] true-label probabilities (:func:`true_label_probs`).
        T: epochs used, J ≤ T ≤ E.
        J: window length, ≥ 2 (the authors' 10).

    Returns:
        [N] float64 scores.
    """
    arr = _probs(P)
    T, J = _window(T, J, arr.shape[0])
    return _window_scores(arr[:T], J, uncertainty=True)


def dynunc_scores(P: Any, J: int = 10) -> Float[np.ndarray, " N"]:
    """Dyn-Unc score over all E epochs: DUAL without the (1 − mean) factor.

    score_i = (1/W) Σ_w 10 · std_{t∈[w, w+J)}(P[t, i]), W = E − J + 1, ddof = 1.

    Args:
        P: [E, N] true-label probabilities.
        J: window length, 2 ≤ J ≤ E.

    Returns:
        [N] float64 scores.
    """
    arr = _probs(P)
    E = arr.shape[0]
    J = positive_int("J", J, minimum=2)
    if J > E:
        raise GflabInputError("J", f"an integer <= the {E} recorded epochs", J)
    return _window_scores(arr, J, uncertainty=False)


def _epoch_list(epochs: Any, E: int) -> np.ndarray:
    if isinstance(epochs, (int, np.integer)) and not isinstance(epochs, bool):
        k = int(epochs)
        if not 1 <= k <= E:
            raise GflabInputError(
                "epochs", f"a count in [1, {E}] or a list of epoch indices", epochs
            )
        return np.arange(k)
    if isinstance(epochs, (Sequence, np.ndarray)) and not isinstance(epochs, str):
        idx = np.asarray(epochs)
        if (
            idx.ndim == 1
            and idx.size
            and idx.dtype.kind in "iu"
            and idx.min() >= 0
            and idx.max() < E
        ):
            return idx.astype(np.int64)
    raise GflabInputError(
        "epochs",
        f"a count in [1, {E}] (the first epochs) or a non-empty list of indices in [0, {E - 1}]",
        epochs,
    )


def el2n_scores(
    logits: Any, labels: Any, epochs: Any, reduce: str = "mean"
) -> Float[np.ndarray, " N"]:
    """EL2N: the L2 error ‖softmax(logits[t, i]) − onehot(labels[i])‖₂ over chosen epochs.

    score_i = reduce_{t ∈ epochs} ‖p_t,i − e_{y_i}‖₂. DUAL's CIFAR script takes one epoch
    (``epochs=[20]``); SemiPrune sums the first 20 (``epochs=20, reduce="sum"``).

    Args:
        logits: [E, N, C] logits.
        labels: [N] labels.
        epochs: an int k (the first k epochs, 0..k−1) or a list of epoch indices.
        reduce: ``"mean"`` (default) or ``"sum"`` over those epochs.

    Returns:
        [N] float64 scores (larger = harder).
    """
    logits, y = _logits(logits, labels)
    reduce = one_of("reduce", reduce, ("mean", "sum"))
    idx = _epoch_list(epochs, logits.shape[0])
    rows = np.arange(logits.shape[1])
    total = np.zeros(logits.shape[1])
    for t in idx:
        p = _softmax(_epoch(logits, int(t)))
        p[rows, y] -= 1.0
        total += np.sqrt((p * p).sum(axis=-1))
    return total / len(idx) if reduce == "mean" else total


def forgetting_scores(logits: Any, labels: Any) -> Float[np.ndarray, " N"]:
    """Forgetting events: epochs t ≥ 1 where example i is classified correctly at t − 1, not at t.

    score_i = Σ_{t=1}^{E−1} [ŷ_{t−1,i} = y_i] · [ŷ_{t,i} ≠ y_i], ŷ = argmax of the logits (the first
    maximum on ties). An example never learnt has 0 events, as in both repositories.

    Args:
        logits: [E, N, C] logits.
        labels: [N] labels.

    Returns:
        [N] float64 counts.
    """
    logits, y = _logits(logits, labels)
    count = np.zeros(logits.shape[1])
    was_correct = _epoch(logits, 0).argmax(axis=-1) == y
    for t in range(1, logits.shape[0]):
        correct = _epoch(logits, t).argmax(axis=-1) == y
        count += was_correct & ~correct
        was_correct = correct
    return count


def aum_scores(
    logits: Any, labels: Any, *, last_epoch_only: bool = False
) -> Float[np.ndarray, " N"]:
    """AUM as the repositories compute it: the accumulated probability margin.

    score_i = Σ_t (p_t,i[y_i] − max_{j≠y_i} p_t,i[j]) (SemiPrune's ``accumulated_margin``; small or
    negative = likely mislabelled). ``last_epoch_only=True`` gives what DUAL's CIFAR script
    computes, since its accumulator is reset inside the epoch loop: the last epoch's margin only
    (not the default).

    Args:
        logits: [E, N, C] logits.
        labels: [N] labels.
        last_epoch_only: the DUAL script's behaviour (default False: accumulate over all epochs).

    Returns:
        [N] float64 scores.
    """
    logits, y = _logits(logits, labels)
    E, N = logits.shape[:2]
    rows = np.arange(N)
    total = np.zeros(N)
    for t in range(E - 1 if last_epoch_only else 0, E):
        p = _softmax(_epoch(logits, t))
        target = p[rows, y]
        p[rows, y] = -np.inf
        total += target - p.max(axis=-1)
    return total


# ------------------------------------------------------------------------------------------------
# selectors


def _argsort(scores: np.ndarray, descending: bool) -> np.ndarray:
    """Stable argsort: ties in example-index order in either direction."""
    return np.argsort(-scores if descending else scores, kind="stable")


def hard_selection(scores: Any, keep: float, *, largest: bool = True) -> Int[np.ndarray, " n"]:
    """Keep the ``int(keep · N)`` examples with the largest scores (``largest=False``: smallest).

    The result lists them in ascending score order (the authors' ``mask[-n:]`` with mask the
    ascending argsort), so it is the same array as theirs, not only the same set.

    Args:
        scores: [N] scores.
        keep: kept fraction in (0, 1] (the authors' ``subset_rate``/``coreset_ratio``).
        largest: keep the largest scores (default) or the smallest.

    Returns:
        [n] int64 example indices.
    """
    s = _scores(scores)
    keep = _fraction("keep", keep, low_open=True, high_open=False)
    n = _count("keep", keep, s.shape[0])
    if largest:
        return _argsort(s, descending=False)[s.shape[0] - n :]
    return _argsort(s, descending=True)[s.shape[0] - n :]


def budget_selection(
    scores: Any, keep: float, drop: float, descending: bool = False
) -> Int[np.ndarray, " n"]:
    """SemiPrune's budget window: sort, drop int(drop·N) at one end, keep the next int(keep·N).

    With ``order = argsort(scores)`` (descending if ``descending``), returns
    ``order[m : m + n]``, m = int(drop·N), n = int(keep·N). With AUM sorted ascending (the
    default of SemiPrune's flag) the dropped examples are the lowest-margin (likely mislabelled)
    ones and the kept window is the hardest of the rest; SemiPrune's scripts pass ``False`` to a
    ``type=bool`` flag, which sorts descending (docs/pruning.md). The authors slice
    ``order[m:-chop]`` with chop = N − m − n, which is empty when chop = 0; here the window is
    always n long.

    Args:
        scores: [N] scores (SemiPrune: AUM).
        keep: kept fraction in (0, 1].
        drop: dropped fraction in [0, 1); int(drop·N) + int(keep·N) ≤ N.
        descending: sort descending before dropping (default False: drop the smallest scores).

    Returns:
        [n] int64 example indices, in sorted order.
    """
    s = _scores(scores)
    N = s.shape[0]
    keep = _fraction("keep", keep, low_open=True, high_open=False)
    drop = _fraction("drop", drop, low_open=False, high_open=True)
    if not isinstance(descending, (bool, np.bool_)):
        raise GflabInputError("descending", "True or False", descending)
    n, m = _count("keep", keep, N), int(drop * N)
    if m + n > N:
        raise GflabInputError("drop", f"a fraction with int(drop·N) + {n} kept <= N = {N}", drop)
    return _argsort(s, bool(descending))[m : m + n]


def beta_params(
    ratio: float, c_d: float, anchor: float, exponent: str = "c_d"
) -> tuple[float, float]:
    """Parameters (a, b) of DUAL's ratio-adaptive Beta density (docs/pruning.md, "Beta sampling").

    b = 15 (1 − anchor)(1 − r^k), a = 16 − b, with k = c_d (``exponent="c_d"``, the CIFAR script's
    and the default) or k = 2 + c_d (``exponent="2+c_d"``, the ImageNet ``dual_utils``). The mode
    (a − 1)/(a + b − 2) = (15 − b)/14 moves toward easy examples as the ratio grows.

    Args:
        ratio: pruning ratio r in (0, 1).
        c_d: the exponent constant, > 0 (the authors' default 4).
        anchor: mean training probability μ of the 10 highest-scoring examples, in [0, 1).
        exponent: ``"c_d"`` or ``"2+c_d"``.

    Returns:
        (a, b), floats with a + b = 16, a ≥ 1, b > 0.
    """
    r = _fraction("ratio", ratio, low_open=True, high_open=True)
    ok = isinstance(c_d, (int, float, np.integer, np.floating)) and not isinstance(c_d, bool)
    if not ok or not (math.isfinite(float(c_d)) and float(c_d) > 0):
        raise GflabInputError("c_d", "a finite real number > 0", c_d)
    # anchor = 1 would make b = 0, not a Beta density
    anchor = _fraction("anchor", anchor, low_open=False, high_open=True)
    exponent = one_of("exponent", exponent, ("c_d", "2+c_d"))
    k = float(c_d) if exponent == "c_d" else 2.0 + float(c_d)
    b = 15.0 * (1.0 - anchor) * (1.0 - r**k)
    return 16.0 - b, b


def beta_mode(a: float, b: float) -> float:
    """Mode of Beta(a, b) for a, b > 1: (a − 1)/(a + b − 2); 1.0 when a > 1 ≥ b (the density rises
    to μ = 1); 0.0 when b > 1 ≥ a.

    Args:
        a: first Beta parameter (> 0).
        b: second Beta parameter (> 0).

    Returns:
        The mode in [0, 1] (for a, b ≤ 1 the density is U-shaped; an input error naming ``a``).
    """
    if a > 1 and b > 1:
        return (a - 1.0) / (a + b - 2.0)
    if a > 1 >= b:
        return 1.0
    if b > 1 >= a:
        return 0.0
    raise GflabInputError("a", "Beta parameters with a > 1 or b > 1 (a unimodal density)", (a, b))


def beta_sampling(
    ratio: float,
    P: Any,
    scores: Any,
    seed: int,
    T: int,
    c_d: float = 4.0,
    exponent: str = "c_d",
) -> Int[np.ndarray, " n"]:
    """DUAL's ratio-adaptive Beta sampling (docs/pruning.md, "Beta sampling").

    μ_i = mean_{t<T} P[t, i]; anchor = mean μ over the 10 highest scores; (a, b) =
    :func:`beta_params`; w_i = BetaPDF(μ_i; a, b) · score_i; keep n = int((1 − r) N) examples drawn
    without replacement with probabilities w/Σw, by the authors' generator and call
    (``np.random.seed(seed); np.random.choice(N, p=w/Σw, size=n, replace=False)``, done here on a
    private ``RandomState(seed)``, the same stream), so a seed selects the same ordered examples as
    their code.

    Args:
        ratio: pruning ratio r in (0, 1).
        P: [E, N] true-label probabilities.
        scores: [N] non-negative scores (DUAL's), not the sorted-index file.
        seed: the NumPy legacy seed, an integer in [0, 2³²).
        T: epochs averaged for μ, 1 ≤ T ≤ E (the CIFAR script's 30; its ImageNet path passes the
            stored epochs, i.e. T = E).
        c_d: exponent constant (default 4, the CIFAR script's).
        exponent: ``"c_d"`` (default; CIFAR) or ``"2+c_d"`` (ImageNet ``dual_utils``).

    Returns:
        [n] int64 example indices in draw order.
    """
    from scipy.stats import beta as beta_dist

    arr = _probs(P)
    E, N = arr.shape
    s = _scores(scores, N)
    if s.min() < 0:
        raise GflabInputError(
            "scores", "non-negative scores (they weight a sampling)", "negative entries"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise GflabInputError("seed", "an integer in [0, 2**32)", seed)
    T = positive_int("T", T)
    if T > E:
        raise GflabInputError("T", f"an integer <= the {E} recorded epochs", T)
    n = kept_count(ratio, N)
    mu = arr[:T].mean(axis=0)
    top = np.argsort(s, kind="stable")[-10:]
    a, b = beta_params(ratio, c_d, float(mu[top].mean()), exponent)
    w = beta_dist.pdf(mu, a, b) * s
    if not np.all(np.isfinite(w)) or np.count_nonzero(w) < n:
        raise GflabInputError(
            "scores",
            f"weights BetaPDF(μ)·score with at least {n} positive entries",
            f"{np.count_nonzero(w)} positive",
        )
    rng = np.random.RandomState(int(seed))
    return rng.choice(N, p=w / w.sum(), size=n, replace=False).astype(np.int64)


def _strata_edges(s: np.ndarray, strata: int) -> tuple[float, float]:
    """(low, step) of the CCS strata: [low + k·step, low + (k+1)·step), k < strata.

    The authors' top edge is max·1.0001, which leaves the maximum outside every stratum when
    max ≤ 0 (docs/pruning.md); here it is max + 1e-4·|max| (the same for max > 0), and a small
    positive margin when max = 0 or all scores are equal.
    """
    lo, hi = float(s.min()), float(s.max())
    top = hi + 1e-4 * abs(hi)
    if top <= hi:
        top = hi + (1e-4 * (hi - lo) if hi > lo else 1.0)
    return lo, (top - lo) / strata


def stratified_budgets(counts: Any, total: int) -> Int[np.ndarray, " k"]:
    """CCS budget allocation: visit strata from the smallest count up; each takes
    min(its count, remaining // strata left).

    Args:
        counts: [k] examples per stratum.
        total: examples to allocate.

    Returns:
        [k] int64 budgets, in the strata's order (sum = min(total, Σ counts)).
    """
    c = np.asarray(counts, dtype=np.int64)
    order = np.argsort(c, kind="stable")
    budgets = np.zeros_like(c)
    rest = int(total)
    for i, k in enumerate(order):
        take = min(int(c[k]), rest // (len(c) - i))
        budgets[k] = take
        rest -= take
    return budgets


def stratified_selection(
    scores: Any,
    keep: float,
    seed: int,
    *,
    strata: int = 50,
    drop: float = 0.0,
    drop_scores: Any = None,
    drop_descending: bool = False,
) -> Int[np.ndarray, " n"]:
    """Coverage-centric stratified sampling (CCS, Zheng et al. 2023) as the repositories compute it.

    1. Drop m = int(drop·N) examples: the first m of the ascending (``drop_descending``:
       descending) sort of ``drop_scores`` (default: ``scores``; CCS and SemiPrune pass AUM).
    2. Split the remaining examples' ``scores`` into ``strata`` equal-width strata over
       [min, max] and allocate n = int(keep·N) (of the full N) by :func:`stratified_budgets`.
    3. In each stratum, in order, take its budget from a random permutation of its members.

    The permutation comes from ``np.random.default_rng(seed)`` (one ``permutation`` call per
    stratum, in stratum order, empty strata included) where the authors call ``torch.randperm`` on
    torch's global generator: strata and budgets are theirs, the random draw within a stratum is
    not the same stream.

    Args:
        scores: [N] scores stratified over.
        keep: kept fraction of N in (0, 1].
        seed: seed of the within-stratum permutations.
        strata: number of strata (the authors' 50).
        drop: fraction of N dropped first, in [0, 1).
        drop_scores: [N] scores ranking the dropped examples (default ``scores``).
        drop_descending: drop the largest ``drop_scores`` instead of the smallest.

    Returns:
        [n'] int64 example indices (n' = n unless the strata hold fewer), grouped by stratum.
    """
    s = _scores(scores)
    N = s.shape[0]
    keep = _fraction("keep", keep, low_open=True, high_open=False)
    drop = _fraction("drop", drop, low_open=False, high_open=True)
    strata = positive_int("strata", strata)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GflabInputError("seed", "an integer >= 0", seed)
    d = s if drop_scores is None else _scores(drop_scores, N, name="drop_scores")
    n = _count("keep", keep, N)
    m = int(drop * N)
    if m >= N:
        raise GflabInputError("drop", f"a fraction leaving at least one of {N} examples", drop)
    pool = _argsort(d, bool(drop_descending))[m:]
    ps = s[pool]
    lo, step = _strata_edges(ps, strata)
    members = [
        np.flatnonzero((ps >= lo + k * step) & (ps < lo + (k + 1) * step)) for k in range(strata)
    ]
    budgets = stratified_budgets([len(x) for x in members], n)
    rng = np.random.default_rng(int(seed))
    chosen = [x[rng.permutation(len(x))][:b] for x, b in zip(members, budgets, strict=True)]
    return pool[np.concatenate(chosen)].astype(np.int64)
