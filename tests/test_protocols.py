"""Every authors' protocol one flag away (docs/reproduce-the-authors.md): per-model help, files of
masks, targets and initial factors, Kleinman's critical-period command, DASH's loss reduction."""

from __future__ import annotations

import re

import pytest

from gflab.cli import main
from theory import dmf as D
from theory import lora as L

# ----------------------------------------------------------------------------- help per model


def _init_help(model: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main(["simulate", model, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    return re.search(r"--init INIT (.*?) \(default: ", text).group(1)


def _names(help_text: str) -> set[str]:
    """The init names a help line offers: the first word of each ``|``-separated choice."""
    return {choice.split()[0] for choice in help_text.split("|")}


@pytest.mark.parametrize(
    "model,accepted",
    [
        ("lora", L.INIT_NAMES),
        ("dmf", D.INIT_NAMES),
        ("dmf-plasticity", D.INIT_NAMES),
        ("dmf-dash", D.INIT_NAMES),
    ],
)
def test_init_help_lists_what_the_model_accepts(model, accepted, capsys):
    """``--init``'s help offers exactly the names the model's init function accepts."""
    assert _names(_init_help(model, capsys)) == set(accepted)
