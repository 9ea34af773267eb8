"""sims.bridge.semi: pseudo-labels from scikit-learn's learners equal a direct scikit-learn call;
FixMatch's consistency loss equals its formula; all three beat chance by far on load_digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier
from threadpoolctl import threadpool_limits

from sims.bridge.semi import consistency_loss, labelled_subset, pseudo_label
from theory import GflabInputError

pytestmark = pytest.mark.bridge

X, Y = load_digits(return_X_y=True)
X = X / 16.0
MASK = labelled_subset(len(Y), 0.1, seed=0)


def test_labelled_subset_size_and_seed():
    a, b = labelled_subset(1797, 0.1, 0), labelled_subset(1797, 0.1, 1)
    assert a.sum() == b.sum() == 179 and not np.array_equal(a, b)


def _direct_sklearn(method):
    """The oracle: scikit-learn called directly with the settings the module documents."""
    target = np.where(MASK, Y, -1)
    with threadpool_limits(1):
        if method == "label_spreading":
            est = LabelSpreading(kernel="knn", n_neighbors=7, alpha=0.2, max_iter=1000)
            return est.fit(X, target).transduction_
        base = LogisticRegression(max_iter=1000, random_state=0)
        return SelfTrainingClassifier(base, threshold=0.75).fit(X, target).predict(X)


@pytest.mark.parametrize(("method", "floor"), [("label_spreading", 0.9), ("self_training", 0.85)])
def test_sklearn_pseudo_labels_equal_direct_call(method, floor):
    # measured: 0.962 (label spreading) and 0.941 (self-training); chance is 0.1
    got = pseudo_label(X, Y, MASK, method, seed=0)
    want = _direct_sklearn(method)
    np.testing.assert_array_equal(got.labels[~MASK], want[~MASK])
    np.testing.assert_array_equal(got.labels[MASK], Y[MASK])  # known labels are kept
    assert got.accuracy == np.mean(want[~MASK] == Y[~MASK]) and got.accuracy >= floor
    assert got.n_labelled == 179 and got.to_dict()["n_unlabelled"] == 1797 - 179


def test_fixmatch_beats_chance_and_is_seeded():
    # 200 steps: measured 0.908 (400 steps: 0.933; the same MLP without the unlabelled loss 0.914);
    # 0.85 leaves room for BLAS/platform differences in float32 training, chance is 0.1
    a = pseudo_label(X, Y, MASK, "fixmatch", seed=0, steps=200)
    assert a.accuracy >= 0.85 and 0 < a.info["confident_fraction"] <= 1
    small = np.arange(0, 1797, 6)
    runs = [
        pseudo_label(X[small], Y[small], MASK[small], "fixmatch", seed=3, steps=5).labels
        for _ in range(2)
    ]
    np.testing.assert_array_equal(*runs)


def test_consistency_loss_equals_formula():
    """(1/B) Σ 1[max softmax(weak) ≥ τ] CE(strong, argmax weak), computed by hand in NumPy."""
    rng = np.random.default_rng(1)
    weak = rng.normal(size=(16, 4)) * 3
    strong = rng.normal(size=(16, 4))
    loss, frac = consistency_loss(
        torch, torch.as_tensor(weak), torch.as_tensor(strong, dtype=torch.float64), 0.9
    )
    pw = np.exp(weak - weak.max(1, keepdims=True))
    pw /= pw.sum(1, keepdims=True)
    keep = pw.max(1) >= 0.9
    log_ps = strong - np.log(np.exp(strong).sum(1, keepdims=True))
    ce = -log_ps[np.arange(16), pw.argmax(1)]
    assert 0 < keep.sum() < 16  # the threshold splits this batch, so the mask is exercised
    np.testing.assert_allclose(float(loss), np.mean(ce * keep), rtol=1e-12)
    assert frac == keep.mean()


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda: pseudo_label(X, Y, MASK, "kmeans"), "method"),
        (lambda: pseudo_label(X[:, :, None], Y, MASK), "X"),
        (lambda: pseudo_label(np.where(X > 0.5, np.nan, X), Y, MASK), "X"),
        (lambda: pseudo_label(X, Y[:-1], MASK), "y"),
        (lambda: pseudo_label(X, Y - 1, MASK), "y"),
        (lambda: pseudo_label(X, Y, MASK[:-1]), "labelled_mask"),
        (lambda: pseudo_label(X, Y, np.zeros(len(Y), dtype=bool)), "labelled_mask"),
        (lambda: pseudo_label(X, Y, np.ones(len(Y), dtype=bool)), "labelled_mask"),
        (lambda: pseudo_label(X, Y, MASK.astype(int)), "labelled_mask"),
        (lambda: pseudo_label(X, Y, MASK, "label_spreading", gamma=3.0), "options"),
        (lambda: pseudo_label(X, Y, MASK, "fixmatch", threshold=1.5), "threshold"),
        (lambda: pseudo_label(X, Y, MASK, "fixmatch", steps=0), "steps"),
        (lambda: pseudo_label(X, Y, MASK, "fixmatch", strong_mask=1.0), "strong_mask"),
        (lambda: labelled_subset(100, 1.0, 0), "fraction"),
    ],
)
def test_bad_input_names_parameter(call, parameter):
    with pytest.raises(GflabInputError) as info:
        call()
    assert info.value.parameter == parameter
