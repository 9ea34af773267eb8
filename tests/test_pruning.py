"""gflab.theory.pruning against a transcription of the authors' functions (the oracle, in this file).

The transcriptions below follow, line by line and loops included, the public code read at
behaapyy/dual-pruning 4ab525d (``exp_cifar/importance_evaluation.py``, ``exp_cifar/data_subset.py``,
``exp_imagenet/dual_utils``; dual and dyn-unc, which differ in one factor, as one function),
cyseul/SemiPrune ce4d089 (``generate_importance_score.py``, ``train.py``) and eltsai/elfs 089444b
(``core/data/Coreset.py``: the ``CoresetSelection`` that SemiPrune's ``train.py`` imports, absent
from SemiPrune's public tree). torch operations are replaced by their NumPy equivalents in float64
(``Tensor.std`` is ddof = 1; ``torch.randperm`` is the one exception: see
``_authors_stratified_sampling``). Tolerances: the scores are the same float64 formulas with sums in
another order (sliding-window views, vectorised softmax), so they agree to a few ulps; 1e-9 relative
is the issue's bar and leaves six orders of headroom.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta as scipy_beta

from gflab.theory import GflabInputError
from gflab.theory import pruning as pr

E, N, C = 40, 300, 5
RTOL = 1e-9  # see the module docstring


def _make_logits(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Training-like dynamics: each example's true-class logit grows at its own rate (some never
    learnt, some with label noise), plus epoch-to-epoch noise, so the scores spread out."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, N)
    rate = rng.uniform(-0.5, 4.0, N)  # negative: an example the model never fits
    t = np.linspace(0.0, 1.0, E)[:, None, None]
    onehot = np.eye(C)[labels][None]
    logits = 1.2 * rng.standard_normal((E, N, C)) + t * rate[None, :, None] * 3.0 * onehot
    return logits.astype(np.float32), labels


LOGITS, LABELS = _make_logits()


# ------------------------------------------------------------------ transcriptions (the oracle)


def _softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=axis, keepdims=True)


def _authors_rearrange(logits, targets):
    """importance_evaluation.rearrange: softmax, gather the target column (float64 here)."""
    rearranged = logits.astype(np.float64)
    target_probs = _softmax(rearranged, axis=2)
    target_probs = np.take_along_axis(target_probs, targets[None, :, None], axis=2).squeeze()
    return target_probs, rearranged


def _authors_dual(preds, window_size=10, dynunc=False):
    """importance_evaluation's dual score, or with ``dynunc`` its dyn-unc baseline: the authors'
    two functions are this loop, dyn-unc without the (1 − mean) factor (and the same mask)."""
    windows_score = []
    for i in range(preds.shape[0] - window_size + 1):
        window = preds[i : i + window_size, :]
        win_std = window.std(axis=0, ddof=1) * 10
        if dynunc:
            windows_score.append(win_std)
            continue
        win_mean = window.mean(axis=0)
        windows_score.append(win_std * (1 - win_mean))
    score = np.stack(windows_score).mean(axis=0)
    mask = np.argsort(score)
    return score, mask


def _authors_el2n_dual(rearranged_epoch, targets):
    """importance_evaluation.el2n on one epoch: ‖onehot − softmax‖₂."""
    one_hot = np.eye(rearranged_epoch.shape[-1])[targets]
    probs = _softmax(rearranged_epoch, axis=-1)
    return np.linalg.norm(one_hot - probs, ord=2, axis=-1)


def _authors_forgetting_dual(rearranged, targets):
    pred = rearranged.argmax(axis=-1)
    correct_arr = pred == np.broadcast_to(targets, (rearranged.shape[0], targets.shape[0]))
    return (correct_arr[:-1] > correct_arr[1:]).sum(axis=0)


def _authors_aum_dual(rearranged, targets):
    """importance_evaluation.aum: the accumulator is re-created inside the epoch loop."""
    rearranged = _softmax(rearranged, axis=2)
    for T in range(rearranged.shape[0]):
        probs = rearranged[T].copy()
        aum = np.zeros(probs.shape[0])
        target_prob = probs[range(probs.shape[0]), targets]
        probs[range(probs.shape[0]), targets] = 0
        other_highest_prob = probs.max(axis=1)
        margin = target_prob - other_highest_prob
        aum += margin
    return aum


def _authors_semiprune_metrics(logits, targets, el2n_max_epoch=20):
    """generate_importance_score.training_dynamics_metrics_gpu, one buffer per epoch."""
    data_size = len(targets)
    forgetting = np.zeros(data_size, dtype=np.int64)
    last_correctness = np.zeros(data_size, dtype=np.int64)
    accumulated_margin = np.zeros(data_size)
    el2n = np.zeros(data_size)
    index = np.arange(data_size)
    for epoch in range(logits.shape[0]):
        prob = _softmax(logits[epoch].astype(np.float64), axis=-1)
        label = targets[index]
        pred = prob.argmax(axis=1)
        corr = (pred == label).astype(np.int64)
        forgetting_now = ((last_correctness[index] == 1) & (corr == 0)).astype(np.int64)
        forgetting[index] += forgetting_now
        last_correctness[index] = corr
        target_prob = np.take_along_axis(prob, label[:, None], axis=1)[:, 0]
        prob_for_other = prob.copy()
        prob_for_other[index, label] = -1.0
        other_highest_prob = prob_for_other.max(axis=1)
        accumulated_margin[index] += target_prob - other_highest_prob
        if epoch < el2n_max_epoch:
            el2n_score = np.sqrt(
                np.clip((prob**2).sum(axis=1) - 2.0 * target_prob + 1.0, 0.0, None)
            )
            el2n[index] += el2n_score
    return {"forgetting": forgetting, "accumulated_margin": accumulated_margin, "el2n": el2n}


def _authors_beta_sampling_cifar(prune_rate, c_d, target_probs, mask, score):
    """data_subset.beta_sampling (CIFAR): μ over the first 30 epochs, exponent c_d."""
    data_length = target_probs.shape[-1]
    target_probs = target_probs[:30]
    pred_mean = target_probs.mean(axis=0)
    subset_n = int((1 - prune_rate) * data_length)
    anchor_mean = pred_mean[mask[-10:]].mean()
    y_b = 15 * (1 - anchor_mean) * (1 - prune_rate**c_d)
    y_a = 16 - y_b
    pdf_y = scipy_beta.pdf(pred_mean, y_a, y_b)
    joint_p = pdf_y * score
    # the legacy global generator is the point: the authors call it this way
    return np.random.choice(data_length, p=joint_p / joint_p.sum(), size=subset_n, replace=False)  # noqa: NPY002


def _authors_beta_params_imagenet(prune_rate, c_d, anchor_mean):
    """exp_imagenet/dual_utils.beta_sampling's parameters: exponent 2 + c_d."""
    y_b = 15 * (1 - anchor_mean) * (1 - prune_rate ** (2 + c_d))
    return 16 - y_b, y_b


def _authors_beta_sampling_imagenet(prune_rate, c_d, target_probs, score, mask):
    """exp_imagenet/dual_utils.beta_sampling: μ over every epoch passed in, exponent 2 + c_d."""
    data_length = target_probs.shape[-1]
    pred_mean = target_probs.mean(axis=0)
    subset_n = int((1 - prune_rate) * data_length)
    anchor_mean = pred_mean[mask[-10:]].mean()
    y_b = 15 * (1 - anchor_mean) * (1 - prune_rate ** (2 + c_d))
    y_a = 16 - y_b
    pdf_y = scipy_beta.pdf(pred_mean, y_a, y_b)
    joint_p = pdf_y * score
    # the legacy global generator is the point: the authors call it this way
    return np.random.choice(data_length, p=joint_p / joint_p.sum(), size=subset_n, replace=False)  # noqa: NPY002


def _authors_direct_selection(score, mis_num, mis_descending, chop_num):
    """CoresetSelection.direct_selection (SemiPrune's ``--coreset-mode budget``)."""
    mis_score_sorted_index = np.argsort(-score if mis_descending else score)
    return mis_score_sorted_index[mis_num:-chop_num]


def _authors_mislabel_mask(mis_score, coreset_score, mis_num, mis_descending):
    mis_score_sorted_index = np.argsort(-mis_score if mis_descending else mis_score)
    easy_index = mis_score_sorted_index[mis_num:]
    return coreset_score[easy_index], easy_index


def _authors_stratified_sampling(score, coreset_num, randperm):
    """CoresetSelection.stratified_sampling; ``randperm(n)`` stands for ``torch.randperm(n)``."""
    stratas = 50
    total_num = coreset_num
    min_score = np.min(score)
    max_score = np.max(score) * 1.0001
    step = (max_score - min_score) / stratas

    def bin_range(k):
        return min_score + k * step, min_score + (k + 1) * step

    strata_num = []
    for i in range(stratas):
        start, end = bin_range(i)
        num = np.logical_and(score >= start, score < end).sum()
        strata_num.append(num)
    strata_num = np.array(strata_num)

    def bin_allocate(num, bins):
        sorted_index = np.argsort(bins, kind="stable")
        sort_bins = bins[sorted_index]
        num_bin = bins.shape[0]
        rest_exp_num = num
        budgets = []
        for i in range(num_bin):
            rest_bins = num_bin - i
            avg = rest_exp_num // rest_bins
            cur_num = min(sort_bins[i].item(), avg)
            budgets.append(cur_num)
            rest_exp_num -= cur_num
        rst = np.zeros((num_bin,), dtype=int)
        rst[sorted_index] = np.array(budgets, dtype=int)
        return rst

    budgets = bin_allocate(total_num, strata_num)
    selected_index = []
    sample_index = np.arange(score.shape[0])
    for i in range(stratas):
        start, end = bin_range(i)
        mask = np.logical_and(score >= start, score < end)
        pool = sample_index[mask]
        rand_index = randperm(pool.shape[0])
        selected_index += [idx.item() for idx in pool[rand_index][: budgets[i]]]
    return selected_index, budgets


# ---------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def dynamics():
    target_probs, rearranged = _authors_rearrange(LOGITS, LABELS)
    return {"P": pr.true_label_probs(LOGITS, LABELS), "P_auth": target_probs, "rearr": rearranged}


# ---------------------------------------------------------------------------------- scores


def test_true_label_probs_equal_authors(dynamics):
    np.testing.assert_allclose(dynamics["P"], dynamics["P_auth"], rtol=RTOL, atol=0)


@pytest.mark.parametrize(("T", "J"), [(30, 10), (10, 10), (40, 10), (17, 5), (40, 2)])
def test_dual_equals_authors(dynamics, T, J):
    want, _ = _authors_dual(dynamics["P_auth"][:T], window_size=J)
    np.testing.assert_allclose(pr.dual_scores(dynamics["P"], T, J), want, rtol=RTOL, atol=0)


@pytest.mark.parametrize("J", [10, 3])
def test_dynunc_equals_authors(dynamics, J):
    want, _ = _authors_dual(dynamics["P_auth"], window_size=J, dynunc=True)
    np.testing.assert_allclose(pr.dynunc_scores(dynamics["P"], J), want, rtol=RTOL, atol=0)


def test_window_scores_exact_on_near_constant_rows():
    """Rows stuck at P ≈ 1 (std ~1e-9) are where cumulative-sum windows lose every digit; the
    sliding-window std is two-pass per window, so it still equals the loop to rounding."""
    rng = np.random.default_rng(3)
    P = np.clip(1.0 - 1e-9 * rng.random((60, 50)), 0, 1)
    P[:, :10] = rng.random((60, 10))
    want, _ = _authors_dual(P[:45], window_size=10)
    np.testing.assert_allclose(pr.dual_scores(P, 45), want, rtol=1e-12, atol=0)


def test_el2n_dual_script_one_epoch(dynamics):
    want = _authors_el2n_dual(dynamics["rearr"][20], LABELS)
    np.testing.assert_allclose(pr.el2n_scores(LOGITS, LABELS, [20]), want, rtol=RTOL, atol=0)


@pytest.mark.parametrize("name", ["el2n", "forgetting", "accumulated_margin"])
def test_semiprune_metrics(name):
    want = _authors_semiprune_metrics(LOGITS, LABELS)[name]
    got = {
        "el2n": lambda: pr.el2n_scores(LOGITS, LABELS, 20, reduce="sum"),
        "forgetting": lambda: pr.forgetting_scores(LOGITS, LABELS),
        "accumulated_margin": lambda: pr.aum_scores(LOGITS, LABELS),
    }[name]()
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=0)


def test_el2n_mean_is_sum_over_count():
    # oracle: SemiPrune's sum over the first 20 epochs (transcription) divided by 20
    want = _authors_semiprune_metrics(LOGITS, LABELS)["el2n"] / 20
    np.testing.assert_allclose(pr.el2n_scores(LOGITS, LABELS, 20), want, rtol=RTOL, atol=0)


def test_forgetting_dual_script(dynamics):
    want = _authors_forgetting_dual(dynamics["rearr"], LABELS)
    np.testing.assert_array_equal(pr.forgetting_scores(LOGITS, LABELS), want)


def test_aum_dual_script_last_epoch_only(dynamics):
    want = _authors_aum_dual(dynamics["rearr"], LABELS)
    got = pr.aum_scores(LOGITS, LABELS, last_epoch_only=True)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=0)


def test_scores_spread():
    """The test tensor is not degenerate: forgetting events and AUM signs both vary (so the
    equalities above compare something)."""
    f = pr.forgetting_scores(LOGITS, LABELS)
    a = pr.aum_scores(LOGITS, LABELS)
    assert len(np.unique(f)) >= 4 and (a < 0).sum() > 20 and (a > 0).sum() > 20


# ---------------------------------------------------------------------------------- Beta


@pytest.mark.parametrize("ratio", [0.3, 0.5, 0.7, 0.9])
@pytest.mark.parametrize("c_d", [4.0, 2.0])
def test_beta_params_equal_authors(ratio, c_d):
    anchor = 0.37
    b_cifar = 15 * (1 - anchor) * (1 - ratio**c_d)
    got_c = pr.beta_params(ratio, c_d, anchor)
    got_i = pr.beta_params(ratio, c_d, anchor, exponent="2+c_d")
    want = [16 - b_cifar, b_cifar, *_authors_beta_params_imagenet(ratio, c_d, anchor)]
    assert [*got_c, *got_i] == want


def _global_seeded(fn, seed):
    """Run the authors' call under ``np.random.seed(seed)``, restoring the global state after."""
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(seed)  # noqa: NPY002
        return fn()
    finally:
        np.random.set_state(state)  # noqa: NPY002


@pytest.mark.parametrize("ratio", [0.3, 0.7, 0.9])
@pytest.mark.parametrize("seed", [0, 42])
def test_beta_sampling_same_ordered_draw_cifar(dynamics, ratio, seed):
    score, mask = _authors_dual(dynamics["P_auth"][:30])
    want = _global_seeded(
        lambda: _authors_beta_sampling_cifar(ratio, 4, dynamics["P_auth"], mask, score), seed
    )
    got = pr.beta_sampling(ratio, dynamics["P"], pr.dual_scores(dynamics["P"], 30), seed, T=30)
    np.testing.assert_array_equal(got, want)


def test_beta_sampling_same_ordered_draw_imagenet(dynamics):
    score, mask = _authors_dual(dynamics["P_auth"][:30])
    want = _global_seeded(
        lambda: _authors_beta_sampling_imagenet(0.9, 4, dynamics["P_auth"], score, mask), 5
    )
    got = pr.beta_sampling(
        0.9, dynamics["P"], pr.dual_scores(dynamics["P"], 30), 5, T=E, exponent="2+c_d"
    )
    np.testing.assert_array_equal(got, want)


def test_beta_sampling_seed_changes_draw(dynamics):
    s = pr.dual_scores(dynamics["P"], 30)
    a, b = (pr.beta_sampling(0.5, dynamics["P"], s, k, T=30) for k in (0, 1))
    assert len(a) == len(b) == int(0.5 * N) and not np.array_equal(np.sort(a), np.sort(b))


@pytest.mark.parametrize(
    ("a", "b", "mode"), [(12.0, 4.0, 11 / 14), (15.5, 0.5, 1.0), (0.5, 15.5, 0.0)]
)
def test_beta_mode_is_argmax_of_scipy_pdf(a, b, mode):
    # oracle: the maximiser of scipy's density on a fine grid (grid step 1e-5 bounds the error)
    x = np.linspace(1e-9, 1 - 1e-9, 100_001)
    assert abs(pr.beta_mode(a, b) - mode) < 1e-15
    assert abs(x[np.argmax(scipy_beta.pdf(x, a, b))] - mode) < 2e-5


# ---------------------------------------------------------------------------------- selections


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.7, 1.0])
def test_hard_selection_equals_authors(dynamics, keep):
    score, mask = _authors_dual(dynamics["P_auth"][:30])
    got = pr.hard_selection(pr.dual_scores(dynamics["P"], 30), keep)
    np.testing.assert_array_equal(got, mask[-int(keep * N) :])


@pytest.mark.parametrize(
    ("keep", "drop", "descending"), [(0.5, 0.2, False), (0.1, 0.3, True), (0.3, 0.0, False)]
)
def test_budget_selection_equals_authors(keep, drop, descending):
    aum = pr.aum_scores(LOGITS, LABELS)
    mis_num, coreset_num = int(drop * N), int(keep * N)
    want = _authors_direct_selection(aum, mis_num, descending, N - mis_num - coreset_num)
    np.testing.assert_array_equal(pr.budget_selection(aum, keep, drop, descending), want)


def test_budget_selection_full_window_where_authors_slice_is_empty():
    """chop = N − mis − n = 0: the authors' ``[mis:-0]`` is empty; ours keeps the n examples."""
    aum = pr.aum_scores(LOGITS, LABELS)
    assert _authors_direct_selection(aum, 90, False, 0).size == 0
    np.testing.assert_array_equal(pr.budget_selection(aum, 0.7, 0.3), np.argsort(aum)[90:])


def _np_randperm(seed):
    rng = np.random.default_rng(seed)
    return lambda n: rng.permutation(n)


@pytest.mark.parametrize(("keep", "drop", "seed"), [(0.3, 0.0, 0), (0.1, 0.2, 1), (0.7, 0.1, 2)])
def test_stratified_selection_equals_authors(keep, drop, seed):
    """CCS as SemiPrune/ELFS call it: drop the lowest-AUM fraction, stratify forgetting-free DUAL
    scores of the rest; torch.randperm is replaced in the oracle by the same NumPy stream."""
    aum = pr.aum_scores(LOGITS, LABELS)
    score = pr.dual_scores(pr.true_label_probs(LOGITS, LABELS), 30) + 0.5  # max > 0 (see docs)
    sub, easy = _authors_mislabel_mask(aum, score, int(drop * N), False)
    sel, _ = _authors_stratified_sampling(sub, int(keep * N), _np_randperm(seed))
    got = pr.stratified_selection(score, keep, seed, drop=drop, drop_scores=aum)
    np.testing.assert_array_equal(got, easy[sel])


def test_stratified_budgets_equal_authors():
    rng = np.random.default_rng(4)
    counts = rng.integers(0, 30, 50)
    sub = np.repeat(np.arange(50.0) + 0.5, counts)  # one score level per stratum
    _, want = _authors_stratified_sampling(sub, 400, _np_randperm(0))
    got = pr.stratified_budgets(counts, 400)
    np.testing.assert_array_equal(got, want)


def test_stratified_keeps_the_maximum_when_scores_are_negative():
    """The authors' top edge max·1.0001 lies below max when max < 0: that example is in no stratum;
    ours covers [min, max] (keep = 1 returns every example)."""
    s = -1.0 - np.random.default_rng(5).random(40)
    sel, _ = _authors_stratified_sampling(s, 40, _np_randperm(0))
    assert np.argmax(s) not in sel and len(sel) == 39
    assert sorted(pr.stratified_selection(s, 1.0, 0).tolist()) == list(range(40))


# ---------------------------------------------------------------------------------- bad input


def _bad_logits():
    z = LOGITS.copy()
    z[3, 4, 1] = np.nan
    return z


P0 = np.full((E, N), 0.5)
S0 = np.ones(N)


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda: pr.true_label_probs(_bad_logits(), LABELS), "logits"),
        (lambda: pr.true_label_probs(LOGITS[0], LABELS), "logits"),
        (lambda: pr.true_label_probs(LOGITS, LABELS[:-1]), "labels"),
        (lambda: pr.true_label_probs(LOGITS, LABELS + C), "labels"),
        (lambda: pr.true_label_probs(LOGITS, LABELS - 1), "labels"),
        (lambda: pr.true_label_probs(LOGITS, LABELS.astype(float)), "labels"),
        (lambda: pr.dual_scores(P0, 5, 10), "T"),
        (lambda: pr.dual_scores(P0, E + 1, 10), "T"),
        (lambda: pr.dual_scores(P0, 30, 1), "J"),
        (lambda: pr.dual_scores(P0 + 1, 30), "P"),
        (lambda: pr.dynunc_scores(P0, E + 1), "J"),
        (lambda: pr.el2n_scores(LOGITS, LABELS, 0), "epochs"),
        (lambda: pr.el2n_scores(LOGITS, LABELS, [E]), "epochs"),
        (lambda: pr.el2n_scores(LOGITS, LABELS, 3, reduce="max"), "reduce"),
        (lambda: pr.forgetting_scores(_bad_logits(), LABELS), "logits"),
        (lambda: pr.aum_scores(LOGITS, LABELS[:10]), "labels"),
        (lambda: pr.beta_params(1.0, 4, 0.5), "ratio"),
        (lambda: pr.beta_params(0.0, 4, 0.5), "ratio"),
        (lambda: pr.beta_params(0.5, 0, 0.5), "c_d"),
        (lambda: pr.beta_params(0.5, 4, 1.0), "anchor"),
        (lambda: pr.beta_params(0.5, 4, 0.5, exponent="c"), "exponent"),
        (lambda: pr.beta_sampling(1.2, P0, S0, 0, 30), "ratio"),
        (lambda: pr.beta_sampling(0.5, P0, S0[:-1], 0, 30), "scores"),
        (lambda: pr.beta_sampling(0.5, P0, -S0, 0, 30), "scores"),
        (lambda: pr.beta_sampling(0.5, P0, S0, -1, 30), "seed"),
        (lambda: pr.beta_sampling(0.5, P0, S0, 0, E + 1), "T"),
        (lambda: pr.hard_selection(S0, 0.0), "keep"),
        (lambda: pr.hard_selection(S0 * np.nan, 0.5), "scores"),
        (lambda: pr.budget_selection(S0, 0.8, 0.3), "drop"),
        (lambda: pr.budget_selection(S0, 0.5, 1.0), "drop"),
        (lambda: pr.stratified_selection(S0, 1.5, 0), "keep"),
        (lambda: pr.stratified_selection(S0, 0.5, 0, drop_scores=S0[:3]), "drop_scores"),
        (lambda: pr.kept_count(0.9999, 100), "ratio"),
    ],
)
def test_bad_input_names_parameter(call, parameter):
    with pytest.raises(GflabInputError) as info:
        call()
    assert info.value.parameter == parameter


# ---------------------------------------------------------------------------------- claims


@pytest.mark.parametrize("cid", ["PRUNE-1", "PRUNE-4"])
def test_claim_holds_ci(cid):
    from gflab.proofs_checks.registry import claims
    from gflab.proofs_checks.runner import run_claim

    rep = run_claim(claims()[cid], profile="ci")
    assert rep.verdict == "held" and rep.examples == claims()[cid].examples["ci"], rep.to_json()
    # PRUNE-1: every deviation is rounding (≤ 1e-13 relative, i.e. ≥ 4 decades under 1e-9)
    assert rep.worst_margin >= (4.0 if cid == "PRUNE-1" else 0.0)


@pytest.mark.parametrize("cid", ["PRUNE-1", "PRUNE-4"])
def test_claim_reproduce_command_recomputes_the_margin(cid, capsys):
    """The worst example's ``check_reproduce`` (a ``python -c`` line) run here gives the margin
    the check gave: the example stands for itself."""
    import shlex

    from shared_cases import first_example

    from gflab.proofs_checks.registry import claims
    from gflab.proofs_checks.runner import worst_example

    claim = claims()[cid]
    ex = first_example(claim.strategy())
    shown = worst_example(claim, ex)
    argv = shlex.split(shown["check_reproduce"])
    assert argv[:2] == ["python", "-c"] and shown["example"] == repr(ex)
    exec(argv[2], {})  # the command's program, in this process
    printed = capsys.readouterr().out
    assert f"margin={claim.check(ex).margin!r}" in printed


def test_prune1_legacy_choice_is_numpys():
    """The claim's hand-written legacy ``choice`` (its independent oracle for the Beta draw) is
    NumPy's ``RandomState.choice`` without replacement, index for index."""
    from gflab.proofs_checks.prune import _legacy_choice

    p = np.random.default_rng(9).random(500) ** 3
    p /= p.sum()
    want = np.random.RandomState(17).choice(500, p=p, size=300, replace=False)
    np.testing.assert_array_equal(_legacy_choice(17, p, 300), want)


@pytest.mark.parametrize(
    "score",
    [
        lambda z: pr.true_label_probs(z, LABELS),
        lambda z: pr.el2n_scores(z, LABELS, 5),
        lambda z: pr.forgetting_scores(z, LABELS),
        lambda z: pr.aum_scores(z, LABELS),
    ],
)
def test_scores_leave_float64_logits_untouched(score):
    """Epochs are processed in place on float64 copies: a float64 input must not be modified."""
    z = LOGITS.astype(np.float64)
    before = z.copy()
    score(z)
    np.testing.assert_array_equal(z, before)
