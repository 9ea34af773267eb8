"""Every claim's worst example is reproducible (issue 10 item 3): its ``reproduce`` command, run
through the CLI, rebuilds the same config and so prints the same ``store_key``.

The round trip of the table (config → command → parsed flags → config) is checked on one example
of every registered claim without simulating; two claims (one DMC, one SGF) go end to end:
``gflab check --json`` then each ``worst_example.reproduce`` run with ``gflab simulate --json``.
"""

from __future__ import annotations

import json
import shlex

import pytest
from shared_cases import first_example

from gflab.cli import build_parser, main
from gflab.cli.simulate import config_of
from proofs_checks.registry import claims
from proofs_checks.runner import worst_example
from sims.store import ResultStore

CLAIMS = claims()


def _config_of_command(cmd: str):
    argv = shlex.split(cmd)
    assert argv[:2] == ["gflab", "simulate"] and argv[-1] == "--json"
    return config_of(build_parser().parse_args(argv[1:]))


# the two papers' claims: their examples are `gflab simulate` configurations. DASH-1 and AMUSE-1/2
# run models `gflab simulate` does not have (DMF with an intervention, the river valley): their
# worst examples carry the example and a `gflab check --beyond` command, no store key yet.
SIMULATED = [c for c in CLAIMS if c.startswith(("DMC-", "SGF-"))]


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


@pytest.mark.parametrize("cid", ["DMC-2", "SGF-3"])
def test_check_worst_example_end_to_end(cid, capsys):
    code, doc = _cli_json(["check", "--claim", cid, "--profile", "ci", "--json"], capsys)
    (rep,) = doc["claims"]
    assert rep["verdict"] == "held" and code == 0
    w = rep["worst_example"]
    argv = shlex.split(w["reproduce"])[1:]
    code, run = _cli_json(argv, capsys)
    assert code == 0 and run["store_key"] == w["store_key"]
    assert run["config"] == w["config"]
