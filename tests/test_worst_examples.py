"""Every claim's worst example is reproducible (issue 10 item 3): its ``reproduce`` command, run
through the CLI, rebuilds the same config and so prints the same ``store_key``.

The round trip of the table (config → command → parsed flags → config) is checked on one example
of every registered claim without simulating; four claims (DMC, SGF, AMUSE, DASH) go end to end:
``gflab check --json`` then each ``worst_example.reproduce`` run with ``gflab simulate --json``.
The river valley and the DASH protocol go through the result store: what a rerun reads back
equals what the simulation computed.
"""

from __future__ import annotations

import json
import math
import shlex

import numpy as np
import pytest
from shared_cases import first_example

from gflab.cli import build_parser, main
from gflab.cli.simulate import config_of
from gflab.proofs_checks.registry import claims
from gflab.proofs_checks.runner import worst_example
from gflab.sims.store import ResultStore

CLAIMS = claims()


def _config_of_command(cmd: str):
    argv = shlex.split(cmd)
    assert argv[:2] == ["gflab", "simulate"] and argv[-1] == "--json"
    return config_of(build_parser().parse_args(argv[1:]))


# claims that are pure computations (no simulation config): their worst example carries the
# claim's own Python command instead (tests/test_pruning.py runs it)
COMPUTED = {"PRUNE-1", "PRUNE-4"}
# and claims on pruning runs, whose command is `gflab bridge prune` (tests/test_prune_runs.py)
COMPUTED |= {"PRUNE-2", "PRUNE-3", "PRUNE-5", "PRUNE-6", "SEMI-1"}
SIMULATED = [cid for cid in CLAIMS if cid not in COMPUTED]


@pytest.mark.parametrize("cid", SIMULATED)
def test_worst_example_command_rebuilds_the_config(cid):
    claim = CLAIMS[cid]
    shown = worst_example(claim, first_example(claim.strategy()))
    assert set(shown) >= {"config", "store_key", "reproduce"}, shown
    cfg = _config_of_command(shown["reproduce"])
    # the oracle is the store's own key function on the config the command line builds
    assert ResultStore().key(cfg) == shown["store_key"]
    assert cfg.to_dict() == shown["config"]


def _cli_json(argv, capsys):
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.mark.parametrize("cid", ["DMC-2", "SGF-3", "AMUSE-1", "DASH-1"])
def test_check_worst_example_end_to_end(cid, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GFLAB_STORE", str(tmp_path / "store"))
    code, doc = _cli_json(["check", "--claim", cid, "--profile", "ci", "--json"], capsys)
    (rep,) = doc["claims"]
    # DASH-1 is a map (report_only): its verdict is not "held", the command still reproduces it
    assert code == 0 and (rep["verdict"] == "held" or CLAIMS[cid].report_only)
    w = rep["worst_example"]
    argv = shlex.split(w["reproduce"])[1:]
    code, run = _cli_json(argv, capsys)
    assert code == 0 and run["store_key"] == w["store_key"]
    assert run["config"] == w["config"]


def test_river_through_the_store_equals_simulate_river(tmp_path):
    from gflab.sims.river import RiverConfig, simulate_river, stored_river

    cfg = RiverConfig(h_bulk=3e-3, noise=1e-4, steps=200, seed=1)
    store = ResultStore(tmp_path)
    first, how1 = stored_river(cfg, store)
    again, how2 = stored_river(cfg, store)
    assert (how1, how2) == ("computed", "hit")
    direct = simulate_river(cfg)
    arrays, meta = store.get_record(cfg)
    assert meta["record"] == "river" and meta["key"] == store.key(cfg)
    series = {
        f"{m}.{q}.{name}": np.asarray(s[name])
        for m, seqs in direct.items()
        for q, s in seqs.items()
        for name in ("bulk_progress_series", "wall_series")
    }
    # to the bit: the same dtype and bytes
    got = {k: (arrays[k].dtype, arrays[k].tobytes()) for k in series}
    assert got == {k: (a.dtype, a.tobytes()) for k, a in series.items()}
    assert again == direct and first == direct


def _arrays_equal(a, b, timings=True):
    (xa, ha), (xb, hb) = a.to_arrays(), b.to_arrays()
    assert set(xa) == set(xb)
    for k in xa:
        assert xa[k].dtype == xb[k].dtype and xa[k].tobytes() == xb[k].tobytes(), k
    if not timings:  # another run: its wall-clock seconds differ, nothing else
        ha, hb = ({k: v for k, v in h.items() if k != "stats"} for h in (ha, hb))
    assert json.dumps(ha, sort_keys=True, default=str) == json.dumps(
        hb, sort_keys=True, default=str
    )


def test_dash_run_through_the_store_round_trip(tmp_path):
    from gflab.sims.dash import DashConfig, simulate_dash, stored_dash

    cfg = DashConfig(depth=2, n=4, m=math.inf, alpha=1e-2, floor=1e-2, n_save=16)
    store = ResultStore(tmp_path)
    first, how1 = stored_dash(cfg, store)
    again, how2 = stored_dash(cfg, store)
    assert (how1, how2) == ("computed", "hit")
    direct = simulate_dash(cfg)  # an independent oracle: the same run again, without the store
    for name in ("pretrain", "resumed", "scratch", "intervened"):
        _arrays_equal(getattr(again, name), getattr(first, name))  # the round trip, to the bit
        _arrays_equal(getattr(again, name), getattr(direct, name), timings=False)
    assert again.to_json() == first.to_json()
    assert again.info == direct.info and again.to_json()["config"] == cfg.to_dict()
