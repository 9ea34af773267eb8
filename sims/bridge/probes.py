"""Probes: detached float64 spectra of a torch model, recorded every k training steps.

* :class:`LoRAProbe` — for each peft LoRA module, σ(s·B A) (s = peft's scaling, B is d_out×r,
  A is r×d_in) from the r×r core of two thin QR factorisations (never the d_out×d_in product),
  σ(A) and σ(B), and the effective and stable rank of s·B A (:mod:`gflab.theory.measures`).
* :class:`DeepLinearProbe` — for factors W_1..W_L (docs/theory.md §2.1): σ(W), stable and effective rank,
  balancedness and its drift (:func:`gflab.theory.measures.balancedness`), and the tangent-kernel
  coupling of observed entries (:func:`gflab.theory.dmf.tangent_kernel`,
  :func:`gflab.theory.measures.cross_coupling`).
* :func:`growth_fits` / :func:`equal_rate_spread` — the SGF equal-rate test (docs/theory.md §2.2, SGF-1):
  after a burn-in, fit √σ_i(step) by a line per mode; equal rates mean equal slopes.

Everything measured goes through :mod:`theory`; these classes only gather, detach and cast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gflab.sims.bridge._torch import import_torch
from gflab.theory import dmf as D
from gflab.theory import measures as M

__all__ = [
    "lora_product_singular_values",
    "lora_spectra",
    "find_lora_modules",
    "LoRAProbe",
    "DeepLinearProbe",
    "growth_fits",
    "equal_rate_spread",
    "lora_growth_summary",
    "default_burn_in",
    "equal_rate_reading",
    "LORA_MEASUREMENTS",
]

#: what :class:`LoRAProbe` records per module and logged step (and ``gflab bridge analyze`` reads
#: back from saved adapters), in this order
LORA_MEASUREMENTS = (
    "singular_values",
    "A_singular_values",
    "B_singular_values",
    "effective_rank",
    "stable_rank",
)


def _r_factor(X: Any):
    """R of the thin QR of ``X`` (…×d×r, d ≥ r): same singular values as X, only r×r."""
    torch = import_torch()
    return torch.linalg.qr(X, mode="r")[1]


def lora_product_singular_values(A: Any, B: Any, scale: float = 1.0):
    """σ(scale·B A) for B (…×d_out×r) and A (…×r×d_in), in float64, from an r×r core.

    With B = Q_B R_B and Aᵀ = Q_A R_A (thin QR), B A = Q_B (R_B R_Aᵀ) Q_Aᵀ and Q_B, Q_A have
    orthonormal columns, so σ(B A) = σ(R_B R_Aᵀ): O(d r²) work instead of O(d² r), and the
    d_out×d_in product is never formed. Returns (σ(sBA), σ(A), σ(B)) as torch float64 tensors on
    the CPU (the r×r SVDs are cheaper there than a GPU launch).

    Args:
        A: LoRA's A, (…, r, d_in) (a torch tensor).
        B: LoRA's B, (…, d_out, r).
        scale: the adapter's scale s = α/r.
    """
    torch = import_torch()
    A64 = A.detach().to(torch.float64)
    B64 = B.detach().to(torch.float64)
    RB = _r_factor(B64)
    RA = _r_factor(A64.transpose(-2, -1))
    core = (float(scale) * RB) @ RA.transpose(-2, -1)
    stacked = torch.stack([core, RA, RB]).cpu()
    s = M.singular_values(stacked)
    return s[0], s[1], s[2]


def lora_spectra(A: Any, B: Any, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Every :data:`LORA_MEASUREMENTS` entry of a stack of LoRA pairs, as float64 NumPy arrays.

    The one implementation behind the live :class:`LoRAProbe` and ``gflab bridge analyze``
    (saved adapters): σ(s·B A), σ(A), σ(B) from :func:`lora_product_singular_values`, then the
    effective rank (Roy–Vetterli) and stable rank of s·B A (:mod:`gflab.theory.measures`).

    Args:
      A: ``N×r×d_in`` torch tensor (N modules of one shape; any float dtype, any device).
      B: ``N×d_out×r`` torch tensor.
      scale: peft's scaling s (``lora_alpha/r``; ``lora_alpha/√r`` with rsLoRA).

    Returns:
      ``singular_values``, ``A_singular_values``, ``B_singular_values`` (N×r each, descending)
      and ``effective_rank``, ``stable_rank`` (N each).
    """
    s, sA, sB = lora_product_singular_values(A, B, scale)
    er = M.effective_rank(None, sigma=s)
    sr = M.stable_rank(None, sigma=s)
    vals = (s, sA, sB, er, sr)
    return {k: v.numpy() for k, v in zip(LORA_MEASUREMENTS, vals, strict=True)}


def find_lora_modules(model: Any, adapter: str = "default") -> dict[str, Any]:
    """peft LoRA layers of ``model`` holding ``adapter``, by module path (peft's prefix dropped).

    Args:
        model: a peft model (or any torch module holding peft LoRA layers).
        adapter: the adapter's name.

    Returns:
        module path → peft LoRA layer.
    """
    from peft.tuners.lora import LoraLayer

    out = {}
    for name, mod in model.named_modules():
        if isinstance(mod, LoraLayer) and adapter in getattr(mod, "lora_A", {}):
            short = name.removeprefix("base_model.model.")
            out[short] = mod
    return out


class _Periodic:
    """A probe that measures every ``every`` training steps (the subclass's ``record``)."""

    every: int

    def maybe_record(self, step: int) -> bool:
        """Record at ``step`` if it is a multiple of ``every``; whether it recorded."""
        if step % self.every == 0:
            self.record(step)
            return True
        return False


class LoRAProbe(_Periodic):
    """Every ``every`` steps: σ(s·B A), σ(A), σ(B), effective and stable rank of each LoRA module.

    Modules whose (A, B) shapes agree are measured in one batched QR (one device→host copy per
    shape group), which keeps the probe cheap beside a training step (see :mod:`gflab.sims.bridge.bench`).
    """

    def __init__(self, model: Any, every: int = 10, adapter: str = "default"):
        if every < 1:
            raise ValueError("every must be >= 1")
        self.every = int(every)
        self.adapter = adapter
        self.modules = find_lora_modules(model, adapter)
        if not self.modules:
            raise ValueError("no peft LoRA modules found in the model")
        groups: dict[tuple, list[str]] = {}
        for name, mod in self.modules.items():
            A = mod.lora_A[adapter].weight
            B = mod.lora_B[adapter].weight
            key = (tuple(A.shape), tuple(B.shape), float(mod.scaling[adapter]))
            groups.setdefault(key, []).append(name)
        self._groups = groups
        self.steps: list[int] = []
        self._rows: dict[str, dict[str, list]] = {
            n: {k: [] for k in LORA_MEASUREMENTS} for n in self.modules
        }

    def record(self, step: int) -> None:
        """Measure every module now (:func:`lora_spectra`, one call per shape group) as ``step``.

        Args:
            step: the training step the measurement belongs to.
        """
        torch = import_torch()
        with torch.no_grad():
            for (_, _, scale), names in self._groups.items():
                A = torch.stack([self.modules[n].lora_A[self.adapter].weight for n in names])
                B = torch.stack([self.modules[n].lora_B[self.adapter].weight for n in names])
                got = lora_spectra(A, B, scale)
                for i, n in enumerate(names):
                    row = self._rows[n]
                    for k in LORA_MEASUREMENTS:
                        row[k].append(got[k][i])
        self.steps.append(int(step))

    def arrays(self) -> dict[str, dict[str, np.ndarray]]:
        """Per module: ``singular_values`` (T×r) etc., float64, rows in :attr:`steps` order."""
        return {
            n: {k: np.asarray(v, dtype=np.float64) for k, v in row.items()}
            for n, row in self._rows.items()
        }

    def summary(self, burn_in: int) -> tuple[dict, dict]:
        """:func:`lora_growth_summary` of what was recorded so far (growth fits from ``burn_in``).

        Args:
            burn_in: the first logged step the growth fits use.

        Returns:
            (per-module summary, the whole model's summary).
        """
        return lora_growth_summary(self.steps, self.arrays(), burn_in)


class DeepLinearProbe(_Periodic):
    """Every ``every`` steps, measure the product W = W_L ⋯ W_1 of torch factors (docs/theory.md §2.1).

    Records σ(W), stable rank, effective rank, balancedness max_l ‖D_l‖_F, its drift from the
    factors at construction (0 under exact gradient flow; O(η) per step for GD) and the coupling:
    :func:`gflab.theory.measures.cross_coupling` of the tangent kernel between observed entries, grouped by
    :func:`gflab.theory.dmf.observation_groups` of the mask. The kernel is |Ω|×|Ω|; above
    ``coupling_entries`` observed entries it is taken on a fixed random subset of that size.
    """

    def __init__(
        self,
        factors: Sequence[Any],
        mask: Any,
        every: int = 10,
        coupling_entries: int = 256,
        seed: int = 0,
    ):
        torch = import_torch()
        self.every = int(every)
        self.factors = list(factors)
        mask_np = np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask)
        rows, cols = D.observed_indices(mask_np)
        groups = D.observation_groups(mask_np)
        if len(rows) > coupling_entries:
            pick = np.sort(
                np.random.default_rng(seed).choice(len(rows), coupling_entries, replace=False)
            )
            rows, cols, groups = rows[pick], cols[pick], groups[pick]
        self.coupling_rows, self.coupling_cols, self.coupling_groups = rows, cols, groups
        self._rows_t = torch.as_tensor(rows, dtype=torch.int64)
        self._cols_t = torch.as_tensor(cols, dtype=torch.int64)
        self._reference = [w.detach().to(torch.float64).cpu().clone() for w in self.factors]
        self.steps: list[int] = []
        self._data: dict[str, list] = {
            "singular_values": [],
            "stable_rank": [],
            "effective_rank": [],
            "balancedness": [],
            "balancedness_drift": [],
            "cross_coupling": [],
        }

    def record(self, step: int) -> None:
        """Measure the factors now: σ(W), stable and effective rank, balancedness and its drift, and
        the cross-group coupling of the tangent kernel (docs/theory.md §2.1).

        Args:
            step: the training step the measurement belongs to.
        """
        torch = import_torch()
        with torch.no_grad():
            Ws = [w.detach().to(torch.float64).cpu() for w in self.factors]
            s = M.singular_values(D.product(Ws))
            self._data["singular_values"].append(s.numpy())
            self._data["stable_rank"].append(float(M.stable_rank(None, sigma=s)))
            self._data["effective_rank"].append(float(M.effective_rank(None, sigma=s)))
            if len(Ws) > 1:
                Dl = M.balancedness(Ws)
                bal = max(float(torch.linalg.matrix_norm(d)) for d in Dl)
                drift = float(M.balancedness_residual(Ws, self._reference))
            else:
                bal = drift = 0.0
            self._data["balancedness"].append(bal)
            self._data["balancedness_drift"].append(drift)
            K = D.tangent_kernel(Ws, self._rows_t, self._cols_t)
            self._data["cross_coupling"].append(float(M.cross_coupling(K, self.coupling_groups)))
        self.steps.append(int(step))

    def arrays(self) -> dict[str, np.ndarray]:
        """Every recorded measure as an array, one row per :meth:`record` call.

        Returns:
            ``{"singular_values", "stable_rank", "effective_rank", "balancedness",
            "balancedness_drift", "cross_coupling"}`` → float64 arrays.
        """
        return {k: np.asarray(v, dtype=np.float64) for k, v in self._data.items()}


def growth_fits(steps: Any, singular_values: Any, burn_in: int) -> dict[str, np.ndarray]:
    """Least-squares line √σ_i(step) ≈ a_i + c_i·step per mode over logged steps ≥ ``burn_in``.

    Under SGF's equal-rate growth (docs/theory.md §2.2: d/dt √d_i ≈ 1 for every active mode) the slopes
    c_i agree. Returns ``slopes`` c_i, ``intercepts`` a_i and ``r2`` (fit quality per mode); NaN
    slopes when fewer than two logged steps lie past the burn-in.

    Args:
        steps: the logged steps, length T.
        singular_values: σ per logged step, T × r.
        burn_in: the first step fitted.
    """
    t = np.asarray(steps, dtype=np.float64)
    y = np.sqrt(np.maximum(np.asarray(singular_values, dtype=np.float64), 0.0))
    keep = t >= burn_in
    k = y.shape[1] if y.ndim == 2 else 0
    if keep.sum() < 2:
        nan = np.full(k, np.nan)
        return {"slopes": nan, "intercepts": nan.copy(), "r2": nan.copy()}
    tw, yw = t[keep], y[keep]
    X = np.stack([np.ones_like(tw), tw], axis=1)
    coef, *_ = np.linalg.lstsq(X, yw, rcond=None)
    pred = X @ coef
    ss_res = np.sum((yw - pred) ** 2, axis=0)
    ss_tot = np.sum((yw - yw.mean(axis=0)) ** 2, axis=0)
    r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), 1.0)
    return {"slopes": coef[1], "intercepts": coef[0], "r2": r2}


def equal_rate_spread(slopes: Any) -> float:
    """(max_i c_i − min_i c_i) / mean_i c_i of the √σ slopes: 0 for exactly equal rates.

    NaN when the mean slope is not positive (no growth to compare) or a slope is NaN.

    Args:
        slopes: the slopes c_i of :func:`growth_fits`.

    Returns:
        The spread, or NaN.
    """
    c = np.asarray(slopes, dtype=np.float64)
    if c.size == 0 or not np.all(np.isfinite(c)):
        return float("nan")
    mean = float(c.mean())
    if mean <= 0:
        return float("nan")
    return float((c.max() - c.min()) / mean)


def default_burn_in(steps: Sequence[int]) -> int:
    """The first logged step the growth fits use by default: 20 % of the logged span past the
    first step, and at least the second logged step (the first interval is left out, as
    ``gflab bridge lora`` leaves out the first 20 % of its steps and at least one interval).

    Args:
      steps: the logged steps, increasing.

    Returns:
      A step; with fewer than two logged steps, the first.
    """
    t = [int(x) for x in steps]
    if len(t) < 2:
        return t[0] if t else 0
    return max(t[1], t[0] + (t[-1] - t[0]) // 5)


def lora_growth_summary(
    steps: Any, arrays: dict[str, dict[str, np.ndarray]], burn_in: int
) -> tuple[dict[str, dict], dict[str, float]]:
    """Growth fits per module and the run's spectral summary, from :meth:`LoRAProbe.arrays`.

    The one summary of ``gflab bridge lora``, ``gflab bridge analyze`` and the live recorders
    (:mod:`gflab.sims.bridge.callbacks`).

    Args:
      steps: the logged steps (length T, increasing).
      arrays: per module the :data:`LORA_MEASUREMENTS` series (``singular_values`` T×r, ...).
      burn_in: growth fits use the logged steps ≥ ``burn_in`` (:func:`growth_fits`).

    Returns:
      ``(modules, summary)``: per module the arrays plus ``growth_slopes`` c_i,
      ``growth_intercepts``, ``growth_r2`` and ``equal_rate_spread``; the summary holds the mean
      over modules of the last ``effective_rank`` and ``stable_rank``
      (``effective_rank_final``, ``stable_rank_final``), the median and the max over modules of
      the finite spreads (``equal_rate_spread``, ``equal_rate_spread_max``; NaN when none is
      finite) and ``burn_in``.
    """
    t = np.asarray(steps, dtype=np.int64)
    modules = {}
    for name, arr in arrays.items():
        fit = growth_fits(t, arr["singular_values"], burn_in)
        modules[name] = {
            **arr,
            "growth_slopes": fit["slopes"],
            "growth_intercepts": fit["intercepts"],
            "growth_r2": fit["r2"],
            "equal_rate_spread": equal_rate_spread(fit["slopes"]),
        }
    finite = [m["equal_rate_spread"] for m in modules.values()]
    finite = [v for v in finite if np.isfinite(v)]
    nan = float("nan")
    summary = {
        "effective_rank_final": float(np.mean([m["effective_rank"][-1] for m in modules.values()])),
        "stable_rank_final": float(np.mean([m["stable_rank"][-1] for m in modules.values()])),
        "equal_rate_spread": float(np.median(finite)) if finite else nan,
        "equal_rate_spread_max": float(np.max(finite)) if finite else nan,
        "burn_in": int(burn_in),
    }
    return modules, summary


def equal_rate_reading(rank: int) -> str:
    """How to read :func:`equal_rate_spread` for LoRA rank ``rank`` (printed beside the number).

    With every slope c_i ≥ 0 the spread (max c − min c)/mean c lies in [0, r]: 0 when all r modes
    grow at one rate (SGF's equal-rate growth, docs/theory.md §2.2), r when a single mode grows
    and the others stay flat (the first step of a staircase, a rank-one update), since then
    mean c = max c / r. Values in between: the fastest mode outgrows the slowest by
    (spread × mean c); a spread above r needs a shrinking mode (a negative slope).

    Args:
        rank: the LoRA rank r.

    Returns:
        One line for the command's output.
    """
    return (
        "equal_rate_spread = (max c_i - min c_i) / mean c_i of the fitted slopes of sqrt(sigma_i)"
        f" after the burn-in: 0 = every mode grows at one rate (SGF's equal-rate growth);"
        f" {rank} (= r) = one mode grows and the other {rank - 1} stay flat (a staircase step,"
        " rank-one growth); above r only with a shrinking mode. NaN: no growth to compare"
        " (mean slope <= 0 or fewer than 2 logged steps after the burn-in)."
    )
