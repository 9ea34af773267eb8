"""The pruning runs as a model of the registry (``gflab simulate prune``, sims/models/prune.py):
its flat config is the bridge's experiment, its runs are the bridge's records (one store, shared
with ``gflab bridge prune``), it goes through ``gflab sweep`` and ``gflab results``, and what one
configuration cannot hold is refused naming the parameter. The registry-wide contract (JSON and
command round trips, defaults, store) is tests/test_models.py's."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from gflab.cli import build_parser, main
from gflab.sims.models import MODELS, config_from_dict
from gflab.sims.models.prune import PruneRunConfig
from gflab.sims.schema import command_args
from gflab.sims.store import ResultStore
from gflab.sims.sweep import run_sweep, spec_from_dict
from gflab.sims.tables import results_records
from gflab.theory.errors import GflabInputError

PRUNE = MODELS["prune"]
EXAMPLE = PRUNE.example()
TINY = ["--n-train", "200", "--n-test", "100", "--epochs", "4", "--T", "3", "--J", "2"]


def test_importing_the_registry_imports_no_torch():
    """torch (and scikit-learn's data) load only when a pruning run trains: a fresh interpreter
    that imports the registry and builds a prune config has neither in ``sys.modules``."""
    code = (
        "import sys; from gflab.sims.models import MODELS; MODELS['prune'].example();"
        "print(sorted(m for m in ('torch', 'sklearn', 'mnist1d') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


# (gflab bridge prune's flags, the same experiment as a flat config of the registry)
SAME = [
    (
        [*TINY, "--ratios", "0.5,0.9", "--seeds", "0", "--score", "dual", "--select", "beta"],
        dict(EXAMPLE.to_dict(), select="beta", ratios=(0.5, 0.9)),
    ),
    (  # the network made for MNIST-1D when none is named, a noisy scenario, another seed
        ["--data", "mnist1d", "--n-train", "100", "--n-test", "50", "--epochs", "20"]
        + ["--score", "el2n", "--select", "hard", "--seeds", "2", "--label-noise", "0.2"],
        dict(data="mnist1d", n_train=100, n_test=50, epochs=20, score="el2n", seed=2,
             label_noise=0.2),
    ),
    (  # SemiPrune's pseudo-labels, AUM with the budget selector
        [*TINY, "--labelled", "0.5", "--score", "aum", "--select", "budget", "--seeds", "1"]
        + ["--budget-drop", "0.2", "--lr", "0.05", "--ratios", "0.3"],
        dict(EXAMPLE.to_dict(), labelled=0.5, score="aum", select="budget", seed=1,
             budget_drop=0.2, lr=0.05, ratios=(0.3,)),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("flags", "flat"), SAME, ids=["dual-beta", "mnist1d-el2n", "semi-aum"])
def test_a_flat_config_is_the_experiment_gflab_bridge_prune_builds(flags, flat):
    """Oracle: the bridge command line's own ``prune_config`` from the same flags."""
    from gflab.cli.bridge import prune_config

    flat = {k: v for k, v in flat.items() if k != "model"}
    bridge = prune_config(build_parser().parse_args(["bridge", "prune", *flags]))
    assert PruneRunConfig(**flat).prune_config() == bridge


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """``gflab simulate prune`` of the example twice into one store: (first, second) JSON."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    store = tmp_path_factory.mktemp("prune-store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GFLAB_STORE", str(store))
        docs = [_simulate([*command_args(EXAMPLE), "--json"]) for _ in range(2)]
    return store, docs


def _simulate(argv):
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["simulate", *argv])
    assert code == 0
    return json.loads(out.getvalue())


def test_simulate_prune_is_stored_and_read_back(simulated):
    _, (first, second) = simulated
    assert (first["store"], second["store"]) == ("computed", "hit")
    assert first["store_key"] == second["store_key"] == ResultStore().key(EXAMPLE)
    drop = ("store", "stats")
    assert {k: v for k, v in first.items() if k not in drop} == {
        k: v for k, v in second.items() if k not in drop
    }


def test_simulate_prune_and_bridge_prune_share_their_runs(simulated):
    """The bridge's runner on the same store trains nothing and reports the numbers the model
    stored; the report's store keys are the bridge's proxy and coreset records."""
    from gflab.sims.bridge.prune_run import coreset_key, proxy_key, run_prune

    root, (first, _) = simulated
    store = ResultStore(root)
    cfg = EXAMPLE.prune_config()
    report = run_prune(cfg, store, executor="local:1")
    assert (report["sweeps"]["proxies"]["done"], report["sweeps"]["coresets"]["done"]) == (0, 0)
    [method] = cfg.methods
    proxy = proxy_key(cfg, EXAMPLE.seed)
    [ratio] = EXAMPLE.ratios
    keys = {
        "full": [store.key(proxy)],
        "coreset": [store.key(coreset_key(proxy, method, ratio))],
    }
    row = first["methods"][method.name][f"{ratio:g}"]
    assert (first["full"]["store_keys"], row["store_keys"]) == (keys["full"], keys["coreset"])
    assert report["methods"][method.name][f"{ratio:g}"]["test_accuracy"] == row["test_accuracy"]
    _, proxy_meta = store.get_record(proxy)
    assert first["full"]["test_accuracy"] == [proxy_meta["test_accuracy"]]


def test_a_sweep_over_the_score_trains_one_proxy_into_its_own_store(tmp_path, monkeypatch):
    """A grid over ``score``: two configs, one proxy (they share it), two coresets, all in the
    sweep's store (none in the default one); ``gflab results`` lists both with their accuracy."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    default = tmp_path / "default"
    monkeypatch.setenv("GFLAB_STORE", str(default))
    base = {k: v for k, v in EXAMPLE.to_dict().items() if k != "model"}
    spec = spec_from_dict({"model": "prune", "base": base, "grid": {"score": ["dual", "random"]}})
    store = ResultStore(tmp_path / "sweep")
    summary = run_sweep(spec.configs(), store)
    assert (summary.done, summary.failed) == (2, 0), summary.failures
    rows = results_records(store)
    kinds = sorted(r["model"] for r in rows if r["model"] is not None)
    assert kinds == ["bridge-prune-coreset"] * 2 + ["bridge-prune-proxy"] + ["prune"] * 2
    assert not default.exists()
    prune_rows = {r["score"]: r for r in rows if r["model"] == "prune"}
    assert {r["status"] for r in prune_rows.values()} == {"finished"}
    # the same proxy: the same full-data accuracy on both rows
    assert prune_rows["dual"]["full_test_accuracy"] == prune_rows["random"]["full_test_accuracy"]


def test_the_example_sweep_is_every_score_for_every_seed():
    """examples/sweeps/prune_scores.toml (docs/pruning.md's spec): 3 scores × 3 seeds, each
    config the base with its score and seed (built and validated, nothing run)."""
    from pathlib import Path

    from gflab.sims.sweep import load_spec

    spec = load_spec(Path(__file__).parents[1] / "examples" / "sweeps" / "prune_scores.toml")
    got = sorted((c.score, c.seed) for c in spec.configs())
    assert got == sorted((s, k) for s in ("dual", "el2n", "random") for k in (0, 1, 2))
    base = PruneRunConfig(epochs=30, T=10, ratios=(0.5, 0.9))
    assert {dataclasses.replace(c, score="dual", seed=0) for c in spec.configs()} == {base}


def test_gflab_results_shows_the_prune_columns(simulated, capsys):
    root, (first, _) = simulated
    assert main(["results", "--store", str(root), "--model", "prune"]) == 0
    header, row = capsys.readouterr().out.splitlines()[1:3]
    assert header.split() == list(PRUNE.columns)
    [ratio_row] = first["methods"]["dual+hard"].values()
    assert row.split()[-1] == f"{ratio_row['test_accuracy'][0]:.4g}"


def test_a_bridge_edit_makes_the_stored_runs_stale(simulated, monkeypatch):
    """The store key covers theory/ and sims/ but the bridge, so the bridge's code hash is in the
    proxy's key (and so in its coresets'), and the model's report carries it: after a bridge edit
    (here: another hash) the runs get new keys, the report is listed ``stale`` and not served."""
    from gflab.sims import store as store_module
    from gflab.sims.bridge.prune_run import coreset_key, proxy_key

    root, (first, _) = simulated
    store = ResultStore(root)
    cfg = EXAMPLE.prune_config()
    [method] = cfg.methods
    [ratio] = EXAMPLE.ratios
    before = proxy_key(cfg, EXAMPLE.seed)
    meta = store.read(EXAMPLE).meta
    assert PRUNE.holds(meta) and not PRUNE.stale(meta)
    [row] = results_records(store, model="prune")
    assert row["status"] == "finished"
    monkeypatch.setattr(store_module, "bridge_code_hash", lambda: "0" * 64)
    after = proxy_key(cfg, EXAMPLE.seed)
    assert store.key(after) != store.key(before)
    assert store.key(coreset_key(after, method, ratio)) != store.key(
        coreset_key(before, method, ratio)
    )
    assert PRUNE.stale(meta) and not PRUNE.holds(meta)
    [row] = results_records(store, model="prune")
    assert row["status"] == "stale"


def test_a_diverged_proxy_is_a_stored_status_and_exit_1(tmp_path, monkeypatch, capsys):
    """At lr 1e9 the proxy's loss is non-finite in its first epoch (torch's own NaN): the run is
    ``diverged`` (exit 1, stored, a rerun reads it), its coreset ``proxy_diverged`` with no
    accuracy, never a traceback."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from gflab.sims.bridge.prune_run import proxy_key

    monkeypatch.setenv("GFLAB_STORE", str(tmp_path))
    cfg = dataclasses.replace(EXAMPLE, lr=1e9)
    argv = ["simulate", *command_args(cfg), "--json"]
    codes = [main(argv), main(argv)]
    first, second = (json.loads(d) for d in capsys.readouterr().out.strip().splitlines())
    assert codes == [1, 1] and (first["store"], second["store"]) == ("computed", "hit")
    _, proxy = ResultStore().get_record(proxy_key(cfg.prune_config(), cfg.seed))
    [row] = first["methods"]["dual+hard"].values()
    assert (proxy["status"], first["status"], row["status"]) == (
        "diverged",
        "diverged",
        ["proxy_diverged"],
    )
    # JSON spells a non-finite number "nan" (gflab.sims.result.json_safe)
    assert row["test_accuracy"] == ["nan"] and first["full"]["test_accuracy"] == ["nan"]


# (fields changed from the example, the parameter the refusal names)
BAD = [
    ({"net": "resnet"}, "net"),
    ({"T": 5}, "T"),  # T > epochs (4)
    ({"seed": -1}, "seed"),
    ({"ratios": (1.5,)}, "ratios"),
    ({"ratios": ("half",)}, "ratios"),
    ({"score": "aum", "select": "beta"}, "select"),
    ({"data": "cifar10"}, "data"),
]


@pytest.mark.parametrize(("change", "parameter"), BAD, ids=[p for _, p in BAD])
def test_a_bad_field_is_refused_naming_it(change, parameter):
    with pytest.raises(GflabInputError) as e:
        dataclasses.replace(EXAMPLE, **change)
    assert e.value.parameter == parameter


# PruneConfig's fields that one registry config cannot hold (several seeds or methods: several
# configs; the recording guard: not part of a result)
BRIDGE_ONLY = [("seeds", [0, 1]), ("methods", [{"score": "dual"}]), ("dynamics_budget_gib", 1.0)]


@pytest.mark.parametrize(("name", "value"), BRIDGE_ONLY, ids=[n for n, _ in BRIDGE_ONLY])
def test_the_bridges_multi_run_fields_are_refused_naming_them(name, value):
    with pytest.raises(GflabInputError) as e:
        config_from_dict({**EXAMPLE.to_dict(), name: value})
    assert e.value.parameter == name


def test_cuda_without_a_gpu_is_refused_before_anything_trains(tmp_path, monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("GFLAB_STORE", str(tmp_path))
    assert main(["simulate", *command_args(EXAMPLE), "--device", "cuda"]) == 2
    assert capsys.readouterr().err.startswith("gflab simulate: error: device:")
    assert ResultStore().keys() == []


def test_the_command_line_refuses_a_bad_value_with_exit_2(capsys):
    assert main(["simulate", "prune", "--net", "resnet"]) == 2
    assert "net" in capsys.readouterr().err
