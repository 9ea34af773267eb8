"""Claims PRUNE-1 and PRUNE-4: pruning scores, selectors and the Beta mode (docs/pruning.md).

- **PRUNE-1** (equality): on a training-dynamics tensor logits[E, N, C], every score of
  :mod:`gflab.theory.pruning` (true-label probabilities, DUAL, Dyn-Unc, EL2N in both reductions,
  forgetting, AUM) equals an independent loop implementation written here the authors' way (one
  window, one epoch at a time, ddof = 1, NumPy's legacy ``choice`` algorithm re-done by hand), and
  every selection (hard, budget window, CCS strata, Beta sampling with the same seed, in draw
  order) is the same index array. Margin in **decades**: log10(1e-9 / max relative deviation)
  (relative to max(|value|, 1e-6 · the score's largest |value|): see ``_rel_dev``),
  deviations floored at 1e-16 (so at most 7; ≥ 4 means rounding only); a selection that
  differs counts as deviation 1 (the fraction of positions that differ is ≥ 1/n ≫ 1e-9).
  Hypotheses: the tensor comes from a seed and drawn sizes of the ci scale (E ∈ [12, 40],
  N ∈ [60, 300], C ∈ [2, 10]), with training-like dynamics: each example's true-class logit grows at
  its own rate (negative rates: never learnt), plus Gaussian noise of drawn scale.
- **PRUNE-4** (property): the mode of the Beta density DUAL samples from, m(r) = (a − 1)/(a + b − 2)
  with (a, b) = ``beta_params(r, c_d, anchor, exponent)`` (1 where b ≤ 1: the density then rises to
  μ = 1), is non-decreasing in the pruning ratio r, strictly while b > 1 (where the
  exact rise 15 (1 − anchor)(r₂^k − r₁^k)/14 exceeds 1e-12, i.e. is not lost to rounding); and it
  is the maximiser of scipy's Beta density (within 1e-6). Margin in **μ units** (probability):
  the smallest rise of m between consecutive ratios of the example (≥ 0: held), minus the exact
  rise where a strict rise is missing, or minus the distance to scipy's maximiser beyond 1e-6. Hypotheses: 2–6 ratios in [0.01, 0.99] at least 0.01 apart,
  c_d ∈ [0.5, 8], anchor ∈ [0, 0.99], both exponents (c_d, 2 + c_d).

Both are pure computations (no simulation, no stored run): an example stands for itself, and its
reproduce command re-runs the check on it in Python.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from gflab.proofs_checks.registry import Evidence, paper_claims
from gflab.theory import pruning as pr

__all__ = [
    "DynamicsExample",
    "BetaExample",
    "dynamics_logits",
    "check_prune1",
    "check_prune4",
    "TOL_PRUNE1",
    "TOL_MODE",
    "FALSE_VARIANTS",
]

PAPER = "DUAL"
TOL_PRUNE1 = 1e-9
"""Relative tolerance of PRUNE-1: both sides are float64 evaluations of the same formulas with
sums in another order (a few ulps apart); 1e-9 is the issue's bar."""
TOL_MODE = 1e-6
"""Distance allowed between the closed-form mode and scipy's bounded maximiser (xatol 1e-10)."""
_FLOOR = 1e-16


# ------------------------------------------------------------------------------------------------
# PRUNE-1


@dataclass(frozen=True)
class DynamicsExample:
    """A training-dynamics tensor by its generator, and the selection settings checked on it."""

    seed: int
    epochs: int
    examples: int
    classes: int
    noise: float
    T: int
    J: int
    ratio: float
    drop: float


def dynamics_logits(ex: DynamicsExample) -> tuple[np.ndarray, np.ndarray]:
    """(logits [E, N, C] float32, labels [N]) of an example: label-aligned logits growing at a
    per-example rate in [−0.5, 4] (× 3 by the last epoch) plus Gaussian noise of scale ``noise``.

    Args:
        ex: the example (sizes, noise, seed).
    """
    rng = np.random.default_rng(ex.seed)
    E, N, C = ex.epochs, ex.examples, ex.classes
    labels = rng.integers(0, C, N)
    rate = rng.uniform(-0.5, 4.0, N)
    t = np.linspace(0.0, 1.0, E)[:, None, None]
    onehot = np.eye(C)[labels][None]
    logits = ex.noise * rng.standard_normal((E, N, C)) + 3.0 * t * rate[None, :, None] * onehot
    return logits.astype(np.float32), labels


def _loop_probs(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    E, N, _ = logits.shape
    P = np.empty((E, N))
    for t in range(E):
        z = logits[t].astype(np.float64)
        z = z - z.max(axis=1, keepdims=True)
        ez = np.exp(z)
        P[t] = ez[np.arange(N), labels] / ez.sum(axis=1)
    return P


def _loop_windows(P: np.ndarray, T: int, J: int, uncertainty: bool, ddof: int = 1) -> np.ndarray:
    total = np.zeros(P.shape[1])
    windows = T - J + 1
    for w in range(windows):
        x = P[w : w + J]
        mean = x.sum(axis=0) / J
        sd = np.sqrt(((x - mean) ** 2).sum(axis=0) / (J - ddof))
        total += 10.0 * sd * ((1.0 - mean) if uncertainty else 1.0)
    return total / windows


def _loop_softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64) - z.max(axis=-1, keepdims=True)
    ez = np.exp(z)
    return ez / ez.sum(axis=-1, keepdims=True)


def _loop_el2n(logits, labels, epochs, reduce):
    N, C = logits.shape[1:]
    acc = np.zeros(N)
    for t in epochs:
        err = _loop_softmax(logits[t]) - np.eye(C)[labels]
        acc += np.sqrt((err**2).sum(axis=1))
    return acc / len(epochs) if reduce == "mean" else acc


def _loop_forgetting(logits, labels):
    N = logits.shape[1]
    count = np.zeros(N)
    was_correct = np.zeros(N, dtype=bool)
    for t in range(logits.shape[0]):
        correct = logits[t].argmax(axis=1) == labels
        count += was_correct & ~correct
        was_correct = correct
    return count


def _loop_aum(logits, labels):
    N = logits.shape[1]
    acc = np.zeros(N)
    rows = np.arange(N)
    for t in range(logits.shape[0]):
        p = _loop_softmax(logits[t])
        py = p[rows, labels].copy()
        p[rows, labels] = -1.0
        acc += py - p.max(axis=1)
    return acc


def _sorted_ids(scores, descending=False):
    sign = -1.0 if descending else 1.0
    return [i for _, i in sorted((sign * float(s), i) for i, s in enumerate(scores))]


def _loop_hard(scores, keep):
    order = _sorted_ids(scores)
    return np.array(order[len(order) - int(keep * len(order)) :])


def _loop_budget(scores, keep, drop, descending):
    order = _sorted_ids(scores, descending)
    m, n = int(drop * len(order)), int(keep * len(order))
    return np.array(order[m : m + n])


def _loop_stratified(scores, keep, seed, drop, drop_scores, strata=50):
    N = len(scores)
    pool = _sorted_ids(drop_scores)[int(drop * N) :]
    vals = [float(scores[i]) for i in pool]
    lo, hi = min(vals), max(vals)
    top = hi + 1e-4 * abs(hi) if hi != 0 else 1e-4 * (hi - lo) if hi > lo else 1.0
    step = (top - lo) / strata
    members = [[] for _ in range(strata)]
    for j, v in enumerate(vals):
        for k in range(strata):
            if lo + k * step <= v < lo + (k + 1) * step:
                members[k].append(j)
                break
    budget, rest = [0] * strata, int(keep * N)
    for pos, k in enumerate(sorted(range(strata), key=lambda k: (len(members[k]), k))):
        budget[k] = min(len(members[k]), rest // (strata - pos))
        rest -= budget[k]
    rng = np.random.default_rng(seed)
    chosen = []
    for k in range(strata):
        perm = rng.permutation(len(members[k]))
        chosen += [pool[members[k][p]] for p in perm[: budget[k]]]
    return np.array(chosen)


def _beta_pdf(x, a, b):
    log_norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    with np.errstate(divide="ignore"):
        return np.exp(log_norm + (a - 1) * np.log(x) + (b - 1) * np.log1p(-x))


def _legacy_choice(seed, p, size):
    """NumPy's legacy ``RandomState.choice(len(p), size, replace=False, p=p)``, step by step:
    draw uniforms for the slots left, zero the found entries, invert the renormalised CDF, keep
    the first occurrence of each new index in draw order, repeat."""
    rs = np.random.RandomState(seed)
    p = p.copy()
    found: list[int] = []
    while len(found) < size:
        x = rs.random_sample(size - len(found))
        if found:
            p[found] = 0.0
        cdf = np.cumsum(p)
        cdf /= cdf[-1]
        new = cdf.searchsorted(x, side="right")
        seen: set[int] = set()
        for v in new.tolist():
            if v not in seen:
                seen.add(v)
                found.append(v)
    return np.array(found)


def _loop_beta(ratio, P, scores, seed, T, c_d=4.0):
    mu = P[:T].sum(axis=0) / T
    anchor = float(np.mean(mu[_sorted_ids(scores)[-10:]]))
    b = 15.0 * (1.0 - anchor) * (1.0 - ratio**c_d)
    w = _beta_pdf(mu, 16.0 - b, b) * scores
    return _legacy_choice(seed, w / w.sum(), int((1 - ratio) * len(scores)))


def _rel_dev(got, want) -> float:
    """Largest |got − want| / max(|want|, 1e-6 · max |want|): relative, except for values six
    decades below the score's largest, where the float64 rounding of the inputs (P near 1, a
    window std of nearly equal values) is amplified by cancellation and compared absolutely."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = np.maximum(np.abs(want), max(1e-6 * float(np.max(np.abs(want))), _FLOOR))
    return float(np.max(np.abs(got - want) / scale))


def _sel_dev(got, want) -> float:
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return 1.0
    return float(np.mean(got != want)) if got.size else 0.0


def check_prune1(ex: DynamicsExample, *, ddof: int = 1) -> Evidence:
    """PRUNE-1 on one example; ``ddof`` is the loop oracle's std convention (the false variant
    uses NumPy's default 0).

    Args:
        ex: the example.
        ddof: see above.

    Returns:
        The margin in decades and the largest deviations.
    """
    logits, labels = dynamics_logits(ex)
    P = pr.true_label_probs(logits, labels)
    P_loop = _loop_probs(logits, labels)
    dual = pr.dual_scores(P, ex.T, ex.J)
    aum = pr.aum_scores(logits, labels)
    keep = 1.0 - ex.ratio
    dev = {
        "P": _rel_dev(P, P_loop),
        "dual": _rel_dev(dual, _loop_windows(P_loop, ex.T, ex.J, True, ddof)),
        "dynunc": _rel_dev(
            pr.dynunc_scores(P, ex.J), _loop_windows(P_loop, ex.epochs, ex.J, False, ddof)
        ),
        "el2n_mean": _rel_dev(
            pr.el2n_scores(logits, labels, ex.T), _loop_el2n(logits, labels, range(ex.T), "mean")
        ),
        "el2n_sum": _rel_dev(
            pr.el2n_scores(logits, labels, [ex.T - 1], reduce="sum"),
            _loop_el2n(logits, labels, [ex.T - 1], "sum"),
        ),
        "forgetting": _rel_dev(
            pr.forgetting_scores(logits, labels), _loop_forgetting(logits, labels)
        ),
        "aum": _rel_dev(aum, _loop_aum(logits, labels)),
        "hard": _sel_dev(pr.hard_selection(dual, keep), _loop_hard(dual, keep)),
        "budget": _sel_dev(
            pr.budget_selection(aum, keep, ex.drop), _loop_budget(aum, keep, ex.drop, False)
        ),
        "budget_descending": _sel_dev(
            pr.budget_selection(aum, keep, ex.drop, True), _loop_budget(aum, keep, ex.drop, True)
        ),
        "stratified": _sel_dev(
            pr.stratified_selection(dual, keep, ex.seed, drop=ex.drop, drop_scores=aum),
            _loop_stratified(dual, keep, ex.seed, ex.drop, aum),
        ),
        "beta": _sel_dev(
            pr.beta_sampling(ex.ratio, P, dual, ex.seed, ex.T),
            _loop_beta(ex.ratio, P_loop, dual, ex.seed, ex.T),
        ),
    }
    worst = max(dev, key=dev.get)
    margin = math.log10(TOL_PRUNE1 / max(dev[worst], _FLOOR))
    return Evidence(margin, {"worst": worst, "tolerance": TOL_PRUNE1, **dev})


@st.composite
def _dynamics_examples(draw) -> DynamicsExample:
    J = draw(st.sampled_from((10, 5, 2)))
    E = draw(st.integers(max(12, J), 40))
    return DynamicsExample(
        seed=draw(st.integers(0, 2**31 - 1)),
        epochs=E,
        examples=draw(st.integers(60, 300)),
        classes=draw(st.integers(2, 10)),
        noise=draw(st.sampled_from((1.2, 0.3, 3.0))),
        T=draw(st.integers(J, E)),
        J=J,
        ratio=draw(st.sampled_from((0.3, 0.5, 0.7, 0.9))),
        drop=draw(st.sampled_from((0.0, 0.05, 0.2))),
    )


# ------------------------------------------------------------------------------------------------
# PRUNE-4


@dataclass(frozen=True)
class BetaExample:
    """Ratios (increasing) at which the Beta mode is compared, and the other parameters."""

    ratios: tuple[float, ...]
    c_d: float
    anchor: float
    exponent: str


def _scipy_maximiser(a: float, b: float) -> float:
    from scipy.optimize import minimize_scalar
    from scipy.stats import beta as beta_dist

    res = minimize_scalar(
        lambda x: -beta_dist.logpdf(x, a, b),
        bounds=(0.0, 1.0),
        method="bounded",
        options={"xatol": 1e-10},
    )
    return float(res.x)


def check_prune4(ex: BetaExample, *, direction: int = 1) -> Evidence:
    """PRUNE-4 on one example; ``direction=-1`` states the false variant (the mode falls).

    Args:
        ex: the example (ratios, c_d, anchor, exponent).
        direction: 1 for the claim, −1 for its false variant.

    Returns:
        The smallest rise of the mode (probability units) and the modes.
    """
    modes, gaps, bs = [], [], []
    for r in ex.ratios:
        a, b = pr.beta_params(r, ex.c_d, ex.anchor, ex.exponent)
        m = pr.beta_mode(a, b)
        modes.append(m)
        bs.append(b)
        gaps.append(abs(m - _scipy_maximiser(a, b)))
    k = ex.c_d if ex.exponent == "c_d" else 2.0 + ex.c_d
    rises, strict_misses = [], []
    for j in range(len(modes) - 1):
        rise = direction * (modes[j + 1] - modes[j])
        rises.append(rise)
        # exact rise while b > 1: 15 (1 − anchor)(r₂^k − r₁^k)/14; strictness is required where
        # it is above rounding (r^k below ~1e-16 leaves b unchanged in floating point)
        exact = 15.0 * (1.0 - ex.anchor) * (ex.ratios[j + 1] ** k - ex.ratios[j] ** k) / 14.0
        if bs[j + 1] > 1 and exact > 1e-12 and rise <= 0:
            strict_misses.append(-exact)
    margin = min(rises + strict_misses)
    if max(gaps) > TOL_MODE:
        margin = min(margin, TOL_MODE - max(gaps))
    return Evidence(
        margin,
        {
            "modes": modes,
            "b": bs,
            "min_rise": min(rises),
            "strict_misses": len(strict_misses),
            "max_gap_to_scipy": max(gaps),
            "tol_gap": TOL_MODE,
        },
    )


@st.composite
def _beta_examples(draw) -> BetaExample:
    grid = draw(
        st.lists(st.integers(1, 99), min_size=2, max_size=6, unique=True).map(sorted)
    )  # ratios on a 0.01 grid: consecutive ones at least 0.01 apart
    return BetaExample(
        ratios=tuple(g / 100 for g in grid),
        c_d=draw(st.floats(0.5, 8.0)),
        anchor=draw(st.floats(0.0, 0.99)),
        exponent=draw(st.sampled_from(("c_d", "2+c_d"))),
    )


# ------------------------------------------------------------------------------------------------
# registration


def _reproduce(check: Callable[..., Evidence]) -> Callable[[object], str]:
    """A ``python -c`` line that calls ``check`` (a public function of this module) on an example's
    repr."""
    name = check.__name__

    def command(ex: object) -> str:
        cls = type(ex).__name__
        return (
            f'python -c "from gflab.proofs_checks.prune import {cls}, {name}; '
            f'print({name}({ex!r}))"'
        )

    return command


_prune_claim = paper_claims(PAPER)


_prune_claim(
    "PRUNE-1",
    check_prune1,
    reproduce=_reproduce(check_prune1),
    statement="On a training-dynamics tensor, theory.pruning's DUAL, Dyn-Unc, EL2N (mean and "
    "sum), forgetting and AUM scores equal an independent loop implementation the authors' way "
    "to 1e-9 relative, and its hard, budget, CCS-stratified and seeded Beta selections are the "
    "same index arrays (Beta: same seed, same draw order).",
    hypotheses="logits[E, N, C] from a seed: E ∈ [12, 40], N ∈ [60, 300], C ∈ [2, 10], noise "
    "∈ {0.3, 1.2, 3}, per-example learning rates; J ∈ {2, 5, 10}, J ≤ T ≤ E; ratio ∈ "
    "{0.3, 0.5, 0.7, 0.9}; drop ∈ {0, 0.05, 0.2}; c_d = 4.",
    strategy=_dynamics_examples,
    margin_units="decades: log10(1e-9 / max relative deviation); ≥ 4: rounding only",
    examples={"ci": 4, "dev": 25, "thorough": 150},
)

_prune_claim(
    "PRUNE-4",
    check_prune4,
    reproduce=_reproduce(check_prune4),
    statement="The mode of DUAL's sampling density Beta(a(r), b(r)), (a − 1)/(a + b − 2) "
    "(1 once b ≤ 1), rises with the pruning ratio r (non-decreasing; strictly while b > 1 and "
    "the exact rise exceeds 1e-12) "
    "and is scipy's maximiser of that density within 1e-6.",
    hypotheses="2–6 ratios in [0.01, 0.99] on a 0.01 grid; c_d ∈ [0.5, 8]; anchor ∈ [0, 0.99]; "
    "exponent c_d or 2 + c_d.",
    strategy=_beta_examples,
    margin_units="μ (probability): the smallest rise of the mode between consecutive ratios",
    examples={"ci": 20, "dev": 100, "thorough": 1000},
)


FALSE_VARIANTS: dict[str, tuple[str, Callable[..., Evidence]]] = {
    "PRUNE-1": (
        "the authors' window std uses NumPy's default ddof = 0",
        functools.partial(check_prune1, ddof=0),
    ),
    "PRUNE-4": ("the mode falls as the ratio grows", functools.partial(check_prune4, direction=-1)),
}
"""Per claim, a deliberately false statement checked by the same machinery (description, check):
tests/test_false_variants.py shows each is violated where the true claim holds."""
