"""``gflab bridge prune`` and its parts: offline data and stress transforms, the recorded training
dynamics in the store, the memory refusal, the command end to end and its bad flags.

Oracles: counts from the transforms' definitions computed independently here (closed forms);
scores recomputed from stored logits against scores of a live rerun of the same seeded run
(float32 training on one CPU thread is bit-reproducible, so equality is exact); the command's
class counts against the labels of the indices it stored.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from gflab.cli import main  # noqa: E402
from gflab.sims.bridge import prune_data as PD  # noqa: E402
from gflab.sims.bridge import prune_run as PRR  # noqa: E402
from gflab.sims.store import ResultStore  # noqa: E402
from gflab.theory import pruning as PR  # noqa: E402
from gflab.theory.errors import GflabInputError  # noqa: E402

pytestmark = pytest.mark.bridge

TINY = [
    "bridge", "prune", "--data", "digits", "--n-train", "200", "--n-test", "100",
    "--epochs", "6", "--T", "4", "--J", "3", "--ratios", "0.5,0.9", "--seeds", "0",
    "--score", "dual,random", "--select", "hard,beta", "--executor", "local:1",
]  # fmt: skip


# ----------------------------------------------------------------------------- transforms


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.37, 0.8])
def test_label_noise_rate_is_exact_and_never_the_true_class(rate):
    y = np.arange(1000) % 10
    noisy, flipped = PD.symmetric_label_noise(y, rate, 10, seed=3)
    assert flipped.sum() == round(rate * 1000)  # exactly, not in expectation
    assert np.array_equal(noisy != y, flipped)  # a flip never lands on the true class
    assert noisy.min() >= 0 and noisy.max() <= 9


def test_label_noise_spreads_over_the_other_classes():
    """Symmetric: each flipped label is uniform over the 9 other classes. With 9000 flips each
    class gets 1000 ± 30 (binomial sd √(9000·(1/9)(8/9)) ≈ 30); 5 sd is 150."""
    y = np.zeros(10000, dtype=np.int64)
    noisy, _ = PD.symmetric_label_noise(y, 0.9, 10, seed=0)
    counts = np.bincount(noisy, minlength=10)[1:]
    assert np.all(np.abs(counts - 1000) < 150)


@pytest.mark.parametrize("ratio", [1.0, 10.0, 100.0])
def test_long_tail_counts_are_the_exponential_profile(ratio):
    y = np.repeat(np.arange(10), 130)
    idx = PD.long_tail_indices(y, ratio, 10, seed=1)
    got = np.bincount(y[idx], minlength=10)
    # closed form, written independently: n_c = floor(130 · ratio^(-c/9))
    want = [max(1, math.floor(130 * ratio ** (-c / 9) + 1e-9)) for c in range(10)]
    assert got.tolist() == want
    # ρ = n_0 / n_9 up to flooring: n_9 ≥ 130/ρ − 1 gives 0 ≤ n_0/n_9 − ρ ≤ ρ²/(130 − ρ)
    assert 0 <= got[0] / got[-1] - ratio <= ratio**2 / (130 - ratio) + 1e-9
    assert np.unique(idx).size == idx.size


def test_corruption_touches_exactly_the_fraction():
    x = np.zeros((500, 8), dtype=np.float32)
    out, mask = PD.gaussian_corruption(x, 0.2, 1.0, seed=0)
    assert mask.sum() == 100 and out.dtype == np.float32
    assert np.all(out[~mask] == 0) and np.all(np.abs(out[mask]).sum(1) > 0)
    assert float(out[mask].std()) == pytest.approx(1.0, rel=0.1)  # 800 draws: sd error ~2.5 %


def test_digits_split_and_scenario_order():
    spec = PD.DataSpec(label_noise=0.2, long_tail=10.0, corrupt=0.1)
    d = PD.load_data(spec)
    base = PD.load_data(PD.DataSpec())
    assert base.x_train.shape == (1300, 64) and base.x_test.shape == (497, 64)
    # the long tail is cut first, on clean labels: its class counts are the closed form
    avail = np.bincount(base.y_train, minlength=10)
    want = PD.long_tail_counts(avail, 10.0)
    assert np.bincount(d.y_clean, minlength=10).tolist() == want.tolist()
    assert d.flipped.sum() == round(0.2 * d.y_train.size)
    assert d.corrupted.sum() == round(0.1 * d.y_train.size)
    assert np.array_equal(d.x_test, base.x_test)  # the test split stays clean


def test_mnist1d_generates_offline_any_size_seeded(monkeypatch):
    import socket

    def no_network(*a, **k):
        raise AssertionError("mnist1d tried the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    a = PD.load_split("mnist1d", 95, 17, seed=5)
    b = PD.load_split("mnist1d", 95, 17, seed=5)
    assert a[0].shape == (95, 40) and a[2].shape == (17, 40)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (the generator must leave it alone)
    PD.load_split("mnist1d", 20, 10, seed=6)
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002


# ----------------------------------------------------------------------------- memory


def test_recording_refused_before_allocation():
    """10^9 epochs × 1300 × 10 × 4 bytes is 52 PB: were it allocated first, torch would raise its
    own error (or the machine would swap); the refusal names the parameter instead."""
    d = PD.load_data(PD.DataSpec())
    train = PRR.TrainSpec(epochs=10**9)
    with pytest.raises(GflabInputError) as e:
        PRR.train_classifier(d.x_train, d.y_train, d.x_test, d.y_test, train, 0, record=True)
    assert e.value.parameter == "epochs"
    assert "E <= 41297" in str(e.value)  # 2 GiB // (1300 · 10 · 4)


def test_budget_env_and_flag(monkeypatch):
    monkeypatch.setenv(PRR.BUDGET_ENV, "0.001")
    assert PRR.dynamics_budget_bytes() == int(0.001 * 2**30)
    with pytest.raises(GflabInputError, match="epochs"):
        PRR.check_dynamics_budget(100, 1300, 10)  # 5.2 MB > 1.07 MB
    assert PRR.check_dynamics_budget(100, 1300, 10, budget_gib=1.0) == 100 * 1300 * 10 * 4


# ----------------------------------------------------------------------------- store, CLI


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    argv = [*TINY, "--store", str(store), "--json"]
    return store, argv


def _exit_code(argv) -> int:
    """``main``'s exit code; argparse's own errors leave through ``SystemExit``."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code)


def _run_json(argv, capsys):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_end_to_end_and_rerun_reads_the_store(tiny_run, capsys):
    store, argv = tiny_run
    first = _run_json(argv, capsys)
    assert set(first["methods"]) == {"dual+hard", "dual+beta", "random"}
    assert first["sweeps"]["proxies"]["done"] == 1 and first["sweeps"]["coresets"]["done"] == 6
    rows = [(float(r), row) for rs in first["methods"].values() for r, row in rs.items()]
    assert [len(row["class_counts"]) for _, row in rows] == [1] * len(rows)  # one seed
    kept = [sum(row["class_counts"][0]) for _, row in rows]
    assert kept == [PR.kept_count(r, 200) for r, _ in rows]
    assert all(0 <= row["test_accuracy_mean"] <= 1 for _, row in rows), rows
    assert first["cost"]["dual+hard"]["score_epochs"] == 4
    assert first["cost"]["random"]["score_epochs"] == 0
    again = _run_json(argv, capsys)
    assert again["sweeps"]["proxies"]["done"] == 0 and again["sweeps"]["coresets"]["done"] == 0
    assert again["methods"] == first["methods"]


def test_stored_dynamics_give_the_live_scores(tiny_run, capsys):
    """Scores recomputed from the stored [E, N, C] logits equal those of a live rerun."""
    store, argv = tiny_run
    if not any(ResultStore(store).keys()):
        _run_json(argv, capsys)
    from gflab.cli import build_parser
    from gflab.cli.bridge import prune_config

    cfg = prune_config(build_parser().parse_args(argv))
    key = PRR.proxy_key(cfg, 0)
    arrays, meta = ResultStore(store).get_record(key)
    assert arrays["logits"].shape == (6, 200, 10) and arrays["logits"].dtype == np.float32
    d = PD.load_data(cfg.data)
    live = PRR.train_classifier(d.x_train, d.y_train, d.x_test, d.y_test, cfg.train, 0, record=True)
    np.testing.assert_array_equal(arrays["logits"], live["logits"])
    P_s = PR.true_label_probs(arrays["logits"], arrays["labels"])
    P_l = PR.true_label_probs(live["logits"], d.y_train)
    windows = ((4, 3), (6, 2), (3, 3))  # any (T, J) from the one stored run
    np.testing.assert_array_equal(
        [PR.dual_scores(P_s, T, J) for T, J in windows],
        [PR.dual_scores(P_l, T, J) for T, J in windows],
    )
    # and the stored coreset is the selection those scores give
    m = cfg.methods[0]
    ck = PRR.coreset_key(key, m, 0.5)
    c_arrays, _ = ResultStore(store).get_record(ck)
    s = PRR.method_scores(m, live["logits"], d.y_train, 0)
    np.testing.assert_array_equal(
        c_arrays["indices"], PRR.select_coreset(m, 0.5, s, live["logits"], d.y_train, 0)
    )
    assert (
        c_arrays["class_counts"].tolist()
        == np.bincount(d.y_train[c_arrays["indices"]], minlength=10).tolist()
    )


@pytest.mark.parametrize(
    "flags, parameter",
    [
        (["--ratios", "0.5,1.5"], "ratios"),
        (["--score", "dual,foo"], "score"),
        (["--select", "beta,none"], "select"),
        (["--T", "2", "--J", "3"], "T"),
        (["--T", "40", "--epochs", "20"], "T"),
        (["--labelled", "0"], "labelled"),
        (["--epochs", "0"], "epochs"),
        (["--data", "cifar"], "data"),
        (["--long-tail", "0.5"], "long_tail"),
        (["--label-noise", "1"], "label_noise"),
        (["--dynamics-budget", "1e-9"], "epochs"),
        (["--executor", "local:0"], "executor"),
        (["--seeds", "0,0"], "seeds"),
    ],
)
def test_bad_flags_exit_2_with_one_json_line(flags, parameter, tmp_path, capsys):
    argv = ["bridge", "prune", *flags, "--store", str(tmp_path), "--json"]
    assert _exit_code(argv) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert json.loads(out[0])["error"]["parameter"] == parameter
    assert not any(tmp_path.iterdir())  # refused before anything ran or was stored


def test_bad_flag_plain_line_on_stderr(tmp_path, capsys):
    assert _exit_code(["bridge", "prune", "--ratios", "2", "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ratios" in err[0]


# ----------------------------------------------------------------------------- claims

RUN_CLAIMS = ["PRUNE-2", "PRUNE-3", "PRUNE-5", "SEMI-1", "PRUNE-6"]


@pytest.mark.parametrize("cid", RUN_CLAIMS)
def test_run_claims_ci(cid):
    """Each claim's ci example, through the store: held with a margin (PRUNE-6: a map entry)."""
    from gflab.proofs_checks.registry import claims
    from gflab.proofs_checks.runner import run_claim

    claim = claims()[cid]
    rep = run_claim(claim, profile="ci")
    assert rep.examples == claim.examples["ci"]
    if claim.report_only:
        assert rep.verdict == "map" and math.isfinite(rep.worst_margin)
    else:
        assert rep.verdict == "held", rep.to_json()


@pytest.mark.parametrize("cid", RUN_CLAIMS)
def test_run_claim_command_rebuilds_its_experiment(cid):
    """The reproduce command's ``gflab bridge prune`` flags build the config the check ran."""
    import shlex

    from shared_cases import first_example

    from gflab.cli import build_parser
    from gflab.cli.bridge import prune_config
    from gflab.proofs_checks import prune_runs as PRC
    from gflab.proofs_checks.registry import claims

    claim = claims()[cid]
    ex = first_example(claim.strategy())
    cmd = claim.reproduce(ex).split("  #")[0]
    argv = shlex.split(cmd)
    assert argv[:3] == ["gflab", "bridge", "prune"]
    cfg = prune_config(build_parser().parse_args(argv[1:]))
    methods = tuple((m.score, m.select) for m in cfg.methods)
    assert cfg == PRC._config(ex, methods)


def test_recording_costs_under_five_percent_of_a_step():
    """The recorder's copy per batch against the plain training step per batch, both timed in
    this process (measured 0.4–0.8 % for the MLPs: the 5 % goal has a 6× margin for load)."""
    data = PD.DataSpec(n_train=400)
    out = PRR.recording_overhead(data, PRR.TrainSpec(epochs=3), repeats=2)
    assert out["n"] == 400 and out["epochs"] == 3
    assert 0 < out["overhead_fraction"] < out["goal_fraction"] == 0.05
