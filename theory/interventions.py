"""Warm-start interventions applied to a network's weights (docs/theory.md §2.4, DASH).

The operators of Shin, Oh, Cho, Yun, "Warm-Starting Neural Network Training in Stationary Settings
without Loss of Plasticity" (NeurIPS 2024, arXiv 2410.23495), as pure functions of weight arrays,
following the authors' code (baekrok/DASH-Direction-Aware-SHrinking, ``utils/train_utils.py``
``dash``/``l2_init`` and ``models/*.py`` ``weight_sp``/``fc_reset``):

- **DASH** (:func:`dash_direction`, :func:`dash_shrink`, :func:`dash`): the negative gradient of
  the training loss is accumulated over the training batches, in order, as an exponential moving
  average g ← (1 − α) g + α (−∇ℓ_b) started at g = 0. Every neuron's incoming weights (a row of a
  linear layer's ``out × in`` weight; one ``(h w)`` kernel per (out, in) pair of a convolution) are
  multiplied by clamp(cos(w_i, g_i), λ, 1): weights aligned with the negative gradient (features
  still in use) are kept, the rest shrunk down to the floor λ. A bias vector is scaled as one
  vector, by the clamped cosine of the whole vector. Authors' defaults: λ = α = 0.3.
- **Shrink and perturb** (:func:`shrink_perturb`, Ash & Adams 2020): W ← λ W + σ ξ with ξ standard
  Gaussian; the authors' code uses λ = 0.3 (``sp_lambda``) and σ = 0.01 for every linear layer.
- **Reset** (:func:`reset`): re-initialise chosen layers (the authors reset the last layer).
- **L2 to the initialisation** (:func:`l2_init_penalty`, :func:`l2_init_gradient`): the penalty
  λ (Σ_l ‖W_l − W_l(0)‖_F)², with the *sum of the layers' norms* squared, as in the authors' code
  (not the sum of squared norms); default λ = 1e-2.

Every function works on NumPy, JAX and torch arrays (array API). Weights are lists ordered as the
caller likes (for a deep matrix factorisation: W_1, …, W_L, each ``n × n`` with rows = neurons).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from jaxtyping import Float, PyTree

from gflab.theory._validate import finite_real, positive_real, probability
from gflab.theory._xp import AnyArray, namespace
from gflab.theory.errors import GflabInputError

__all__ = [
    "COSINE_EPS",
    "neuron_cosine",
    "dash_direction",
    "dash_shrink",
    "dash",
    "shrink_perturb",
    "reset",
    "l2_init_penalty",
    "l2_init_gradient",
    "INTERVENTIONS",
]

INTERVENTIONS = ("none", "dash", "shrink-perturb", "reset")
COSINE_EPS = 1e-8  # torch.cosine_similarity's default ε: the authors' cosine


def _rows(x: Any):
    """``x`` as (units, fan-in) rows: a matrix's rows, a conv kernel's (out, in) kernels."""
    xp = namespace(x)
    if x.ndim == 1:
        return xp.reshape(x, (1, -1))
    if x.ndim == 2:
        return x
    return xp.reshape(x, (x.shape[0] * x.shape[1], -1))


def neuron_cosine(
    weight: Float[AnyArray, " out *fan_in"],
    direction: Float[AnyArray, " ..."],
    eps: float = COSINE_EPS,
) -> Float[AnyArray, " ..."]:
    """Cosine between each neuron's incoming weights and the same rows of ``direction``.

    Args:
      weight: ``(out, in)`` (one cosine per row), ``(out, in, h, w)`` (one per (out, in) kernel,
        shape ``(out, in)``) or a bias ``(out,)`` (one cosine of the whole vector, shape ``(1,)``).
      direction: same shape as ``weight``.
      eps: the floor on each norm, ``x·y / (max(‖x‖, ε) max(‖y‖, ε))`` as torch computes it.

    Returns:
      The cosines, shape ``(out,)``, ``(out, in)`` or ``(1,)``.
    """
    if tuple(weight.shape) != tuple(direction.shape):
        raise GflabInputError(
            "direction", f"an array of shape {tuple(weight.shape)}", direction.shape
        )
    xp = namespace(weight, direction)
    w, g = _rows(weight), _rows(direction)
    nw = xp.sqrt(xp.sum(w * w, axis=-1))
    ng = xp.sqrt(xp.sum(g * g, axis=-1))
    cos = xp.sum(w * g, axis=-1) / (xp.maximum(nw, eps) * xp.maximum(ng, eps))
    if weight.ndim > 2:
        cos = xp.reshape(cos, tuple(weight.shape[:2]))
    return cos


def dash_direction(batch_neg_grads: PyTree[Float[AnyArray, " ..."]], alpha: float) -> list[Any]:
    """DASH's averaged negative gradient g ← (1 − α) g + α (−∇ℓ_b), from g = 0, batch by batch.

    Args:
      batch_neg_grads: one entry per batch, in the order the batches are seen; each entry is the
        list of the layers' negative gradients −∇ℓ_b (shapes of the weights).
      alpha: the averaging coefficient α ∈ (0, 1].

    Returns:
      The list of directions g_l, one per layer (shapes of the weights). With a single batch
      g = α (−∇ℓ); the scale does not change any cosine, so α matters only with several batches.
    """
    probability("alpha", alpha)
    if len(batch_neg_grads) == 0:
        raise GflabInputError("batch_neg_grads", "at least one batch", 0)
    g = [0.0 * x for x in batch_neg_grads[0]]
    for grads in batch_neg_grads:
        if len(grads) != len(g):
            raise GflabInputError("batch_neg_grads", f"{len(g)} layers per batch", len(grads))
        g = [(1.0 - alpha) * gl + alpha * x for gl, x in zip(g, grads, strict=True)]
    return g


def dash_shrink(
    weight: Float[AnyArray, " out *fan_in"], direction: Float[AnyArray, " ..."], floor: float
) -> Float[AnyArray, " out *fan_in"]:
    """One layer of DASH: every neuron's weights times clamp(cos(w_i, g_i), λ, 1).

    Args:
      weight: ``(out, in)``, ``(out, in, h, w)`` or a bias ``(out,)`` (see :func:`neuron_cosine`).
      direction: DASH's averaged negative gradient g, same shape.
      floor: λ ∈ (0, 1], the smallest factor a neuron can be shrunk by.

    Returns:
      The shrunk weight, same shape.
    """
    probability("floor", floor)
    xp = namespace(weight, direction)
    scale = xp.clip(neuron_cosine(weight, direction), floor, 1.0)
    if weight.ndim == 1:
        return weight * scale[0]
    if weight.ndim == 2:
        return weight * scale[:, None]
    return weight * xp.reshape(scale, tuple(scale.shape) + (1,) * (weight.ndim - 2))


def dash(weights: Sequence[Any], directions: Sequence[Any], floor: float) -> list[Any]:
    """DASH on every layer (:func:`dash_shrink` of each weight with its direction).

    Args:
      weights: the layers' weights (and biases), any of the shapes of :func:`neuron_cosine`.
      directions: :func:`dash_direction`'s output, same shapes.
      floor: λ ∈ (0, 1].

    Returns:
      The list of shrunk weights.
    """
    if len(weights) != len(directions):
        raise GflabInputError("directions", f"{len(weights)} arrays", len(directions))
    return [dash_shrink(w, g, floor) for w, g in zip(weights, directions, strict=True)]


def shrink_perturb(
    weights: Sequence[Any], shrink: float, noise_std: float, seed: int = 0
) -> list[Any]:
    """Shrink and perturb: W ← λ W + σ ξ, ξ standard Gaussian drawn from ``seed`` (NumPy).

    Args:
      weights: the layers' weights, any shapes.
      shrink: λ ∈ (0, 1] (authors: 0.3).
      noise_std: σ ≥ 0 (authors: 0.01).
      seed: the noise's seed; layers draw in order from one generator.

    Returns:
      The list of shrunk and perturbed weights (same namespace, dtype and device as the input).
    """
    probability("shrink", shrink)
    positive_real("noise_std", noise_std, allow_zero=True)
    rng = np.random.default_rng(seed)
    out = []
    for w in weights:
        xp = namespace(w)
        xi = rng.standard_normal(tuple(w.shape))
        noise = xp.asarray(xi, dtype=w.dtype)
        if hasattr(w, "device") and not isinstance(w, np.ndarray):
            import array_api_compat

            noise = xp.asarray(xi, dtype=w.dtype, device=array_api_compat.device(w))
        out.append(shrink * w + noise_std * noise)
    return out


def reset(weights: Sequence[Any], init_weights: Sequence[Any], layers: PyTree[int] = (-1,)):
    """Replace the chosen layers by their initial weights (the authors reset the last layer).

    Args:
      weights: the current weights.
      init_weights: the weights to reset to (same shapes), e.g. the initialisation.
      layers: indices into ``weights`` (negative counts from the end).

    Returns:
      The new list of weights (the others unchanged).
    """
    if len(weights) != len(init_weights):
        raise GflabInputError("init_weights", f"{len(weights)} arrays", len(init_weights))
    n = len(weights)
    idx = set()
    for i in layers:
        if not -n <= int(i) < n:
            raise GflabInputError("layers", f"indices in [-{n}, {n})", i)
        idx.add(int(i) % n)
    return [init_weights[i] if i in idx else weights[i] for i in range(n)]


def _norms(weights: Sequence[Any], init_weights: Sequence[Any]):
    if len(weights) != len(init_weights):
        raise GflabInputError("init_weights", f"{len(weights)} arrays", len(init_weights))
    diffs = [w - w0 for w, w0 in zip(weights, init_weights, strict=True)]
    norms = [namespace(d).sqrt(namespace(d).sum(d * d)) for d in diffs]
    return diffs, norms


def l2_init_penalty(weights: Sequence[Any], init_weights: Sequence[Any], strength: float):
    """λ (Σ_l ‖W_l − W_l(0)‖_F)², the authors' L2-to-init regulariser (added to the loss).

    Args:
      weights: the current weights.
      init_weights: the anchor (the initialisation), same shapes.
      strength: λ ≥ 0 (authors: 1e-2).

    Returns:
      The penalty, a scalar of the weights' namespace.
    """
    finite_real("strength", strength)
    _, norms = _norms(weights, init_weights)
    total = sum(norms)
    return strength * total * total


def l2_init_gradient(
    weights: Sequence[Any], init_weights: Sequence[Any], strength: float
) -> list[Any]:
    """∇_{W_l} of :func:`l2_init_penalty`: 2λ S (W_l − W_l(0)) / ‖W_l − W_l(0)‖_F, S = Σ_k ‖·‖.

    A layer at its anchor gets 0 (the penalty's one-sided derivative there is 2λS times a unit
    direction; 0 is the minimal-norm subgradient).

    Args:
        weights: the layers' current weights W_l.
        init_weights: their anchors W_l(0).
        strength: λ.

    Returns:
        One gradient per layer (shapes of the weights).
    """
    finite_real("strength", strength)
    diffs, norms = _norms(weights, init_weights)
    total = sum(norms)
    out = []
    for d, nrm in zip(diffs, norms, strict=True):
        xp = namespace(d)
        out.append(2.0 * strength * total * d / xp.where(nrm > 0, nrm, 1.0))
    return out
