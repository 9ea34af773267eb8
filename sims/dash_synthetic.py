"""DASH's discrete feature-learning model (docs/theory.md §2.4; the authors' ``Discrete_Feature_Learning.ipynb``).

C classes, each with ``numfeat`` binary features; feature f of class c is present in a data point
with probability p_{c,f} ~ U(0, 0.2) (sorted decreasingly). Data arrive in J experiments of N points
(N/C per class). Training is a greedy, discrete caricature of gradient descent: among the data
points with non-zero gradient, the most frequent not-yet-learned feature is learned if it occurs
at least ``gamma`` times; a point whose class has ≥ ``tau`` learned features among its present
ones is *learned* (zero gradient); repeat until no unlearned feature reaches ``gamma``. The points
left with non-zero gradient are *memorised* (fitted as noise, no feature learned from them).

Three ways to start experiment j (the notebook's three methods):

- ``cold`` (the notebook's "Random"): forget everything, train on all data seen so far;
- ``warm``: keep the learned features and the memorised points (memorised points keep zero
  gradient), train on the new points only;
- ``ideal`` ("forget noise"): keep the learned features, forget the memorisation, train on every
  point not yet learned — what DASH's shrinking of noise-aligned weights aims at.

Test accuracy on fresh points: correct if ≥ ``tau`` of its present features are learned for its
class, else a random guess (1/C). The notebook draws the guess with a coin; we use its expected
value (deterministic), and its test set is drawn from seed ``100·C + 100`` for every training seed
(the notebook passes C as the seed), which we keep. Training data are drawn exactly as the
notebook (NumPy's legacy global generator seeded with ``seed``, Bernoulli draws point by point
through ``binomial(1, p)``, what ``scipy.stats.bernoulli.rvs`` calls). The notebook is stored
without outputs, so there are no stored numbers to compare with.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np

from gflab.theory._validate import positive_int
from gflab.theory.errors import GflabInputError

__all__ = ["FeatureLearningConfig", "simulate_feature_learning", "train_data", "METHODS"]

METHODS = ("cold", "warm", "ideal")


@dataclass(frozen=True)
class FeatureLearningConfig:
    """The notebook's parameters (defaults: N = 1000, J = 50, 50 features, C = 2, γ = 50, τ = 3,
    10 seeds, 10 000 test points)."""

    N: int = 1000
    J: int = 50
    numfeat: int = 50
    C: int = 2
    gamma: int = 50
    tau: int = 3
    seeds: tuple = tuple(range(10))
    n_test: int = 10_000

    def __post_init__(self):
        for name in ("N", "J", "numfeat", "gamma", "tau", "n_test"):
            positive_int(name, getattr(self, name))
        positive_int("C", self.C, minimum=2)
        if self.N % self.C or self.n_test % self.C:
            raise GflabInputError("N", f"a multiple of C = {self.C} (as n_test)", self.N)
        if not self.seeds:
            raise GflabInputError("seeds", "at least one seed", self.seeds)

    def to_dict(self) -> dict:
        """The config as a JSON-ready dict (what the store keys and the record's metadata hold)."""
        return {"model": "dash-feature-learning", **asdict(self), "seeds": list(self.seeds)}


def train_data(cfg: FeatureLearningConfig, seed: int):
    """(X, p): X is ``(C, numfeat, N·J/C)`` 0/1, p ``(C, numfeat)``, drawn as the notebook does.

    Args:
        cfg: the experiment.
        seed: the seed of the draw.
    """
    n_c = cfg.N * cfg.J // cfg.C
    rs = np.random.RandomState(seed)
    X = np.zeros((cfg.C, cfg.numfeat, n_c), dtype=np.int8)
    p = np.zeros((cfg.C, cfg.numfeat))
    for c in range(cfg.C):
        p[c] = np.sort(0.2 * rs.rand(cfg.numfeat))[::-1]
        for i in range(n_c):
            X[c, :, i] = rs.binomial(1, p[c])
    return X, p


def _test_data(cfg: FeatureLearningConfig, p: np.ndarray) -> np.ndarray:
    rs = np.random.RandomState(cfg.C * 100 + 100)
    m = cfg.n_test // cfg.C
    X = np.zeros((cfg.C, cfg.numfeat, m), dtype=np.int8)
    for c in range(cfg.C):
        for i in range(m):
            X[c, :, i] = rs.binomial(1, p[c])
    return X


def _train(Xf, active, learned_f, learned_x, gamma, tau):
    """Greedy learning on the ``active`` points (boolean ``(C, n)``), in place on the arrays.

    ``learned_f`` ``(C, numfeat)``, ``learned_x`` ``(C, n)`` booleans. Incremental counts make it
    O(features learned × points) instead of recounting every round.
    """
    C, numfeat = Xf.shape[0], Xf.shape[1]
    fcount = np.stack([Xf[c][:, active[c]].sum(axis=1) for c in range(C)])
    cnt = np.stack([(Xf[c] * learned_f[c][:, None]).sum(axis=0) for c in range(C)])
    while True:
        cand = np.where(learned_f, -1, fcount)
        flat = int(np.argmax(cand))  # first maximum: the notebook's stable descending sort
        c0, f0 = divmod(flat, numfeat)
        if cand[c0, f0] < gamma:
            return
        learned_f[c0, f0] = True
        cnt[c0] += Xf[c0, f0]
        # every class is rechecked in the notebook; only class c0's counts changed
        for c in range(C):
            newly = active[c] & (cnt[c] >= tau)
            if newly.any():
                learned_x[c] |= newly
                active[c] &= ~newly
                fcount[c] -= Xf[c][:, newly].sum(axis=1)


@functools.lru_cache(maxsize=16)
def simulate_feature_learning(cfg: FeatureLearningConfig) -> dict:
    """Run the three methods for every seed.

    Args:
        cfg: the experiment.

    Returns:
        method → measure → array (seeds × experiments).

    Returns:
      ``{method: {"learned_features", "nonzero_gradient", "memorised", "test_accuracy"}}``, each
      an array ``(seeds, J)``: features learned (both classes), points with non-zero gradient at
      the start of experiment j, points memorised at its end, expected test accuracy.
    """
    S, J, C = len(cfg.seeds), cfg.J, cfg.C
    out = {
        m: {
            k: np.zeros((S, J))
            for k in ("learned_features", "nonzero_gradient", "memorised", "test_accuracy")
        }
        for m in METHODS
    }
    for si, seed in enumerate(cfg.seeds):
        X8, p = train_data(cfg, seed)
        X = X8.astype(np.int64)
        Xt = _test_data(cfg, p).astype(np.int64)
        n_c = X.shape[2]
        prev = {m: None for m in METHODS}
        for j in range(J):
            upto = cfg.N * (j + 1) // C
            start = cfg.N * j // C  # first new point of each class
            for m in METHODS:
                lf = np.zeros((C, cfg.numfeat), dtype=bool)
                lx = np.zeros((C, n_c), dtype=bool)
                mem = np.zeros((C, n_c), dtype=bool)
                active = np.zeros((C, n_c), dtype=bool)
                if m == "cold" or prev[m] is None:
                    active[:, :upto] = True  # j = 0: all points are new for every method
                else:
                    lf[:], lx[:] = prev[m][0], prev[m][1]
                    if m == "warm":
                        mem[:] = prev[m][2]
                        active[:, start:upto] = True
                    else:
                        active[:, :upto] = True
                if m != "cold":
                    # points already covered by the kept features have zero gradient
                    cnt = np.einsum("cfi,cf->ci", X, lf)
                    covered = active & (cnt >= cfg.tau)
                    lx |= covered
                    active &= ~covered
                nz = cfg.N * (j + 1) if m == "cold" else int(active.sum())
                _train(X, active, lf, lx, cfg.gamma, cfg.tau)
                mem |= active
                prev[m] = (lf, lx, mem)
                r = out[m]
                r["learned_features"][si, j] = lf.sum()
                r["nonzero_gradient"][si, j] = nz
                r["memorised"][si, j] = mem.sum()
                hit = np.einsum("cfi,cf->ci", Xt, lf) >= cfg.tau
                r["test_accuracy"][si, j] = hit.mean() + (1 - hit.mean()) / C
    return out
