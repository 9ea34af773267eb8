"""The claim registry: each claim of docs/theory.md §2.3 as a statement, a strategy and a check.

A :class:`Claim` has an id (``DMC-1``...), the paper, a precise statement with its hypotheses,
``strategy()`` returning a ``hypothesis`` strategy that draws configurations meeting them, and
``check(example) -> Evidence``. Evidence carries the verdict for one example, its *margin*
(positive: held with that much room, in the claim's stated units; negative: violated) and the key
numbers. ``config(example)`` is the simulation config that stands for an example (a check may
instead hand back the config of the run that decided its margin as ``Evidence.config``); the runner
reports it, its store key and the ``gflab simulate`` command that rebuilds it (sims/schema.py) as
``worst_example``. ``reproduce(example)`` is an optional extra command in the check's own words
(e.g. two runs, or a note on what the command line cannot express).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Claim", "Evidence", "register_claim", "paper_claims", "claims", "CLAIM_MODULES"]

CLAIM_MODULES = (
    "gflab.proofs_checks.dmc",
    "gflab.proofs_checks.sgf",
    "gflab.proofs_checks.dash",
    "gflab.proofs_checks.amuse",
    "gflab.proofs_checks.prune",
    "gflab.proofs_checks.prune_runs",
)


@dataclass
class Evidence:
    """Outcome of checking one example: ``held`` iff ``margin >= 0``."""

    margin: float
    numbers: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    config: Any = None  # the config of the run that decided the margin, when the check knows it

    @property
    def held(self) -> bool:
        """Whether the example satisfied the claim (``margin >= 0``)."""
        return bool(self.margin >= 0)


@dataclass(frozen=True)
class Claim:
    """A checked statement of a paper (docs/theory.md §2.3).

    Args:
        id: the claim's name, e.g. ``"SGF-1"``.
        paper: which paper states it.
        statement: the claim, with its threshold.
        hypotheses: the examples it is checked on.
        strategy: makes the hypothesis strategy that draws examples.
        check: example → :class:`Evidence` (the margin and the numbers behind it).
        reproduce: example → a shell command that reruns it.
        config: example → the config of the run that decides it.
        margin_units: what the margin measures.
        examples: how many examples each profile (``ci``, ``dev``, ``thorough``) draws.
        beyond: the map beyond the hypotheses (``gflab check --beyond``), if any.
        report_only: a map, not a pass/fail.
    """

    id: str
    paper: str
    statement: str
    hypotheses: str
    strategy: Callable[[], Any]
    check: Callable[[Any], Evidence]
    reproduce: Callable[[Any], str] | None = None
    config: Callable[[Any], Any] | None = None
    margin_units: str = ""
    examples: dict[str, int] = field(default_factory=lambda: {"ci": 4, "dev": 20, "thorough": 200})
    beyond: Callable[..., Any] | None = None
    report_only: bool = False  # a map, not a pass/fail (e.g. SGF-7 "where it breaks")


_CLAIMS: dict[str, Claim] = {}


def register_claim(claim: Claim) -> Claim:
    """Add a claim to the registry (each claim module calls it on import).

    Args:
        claim: the claim.

    Returns:
        The claim, unchanged.

    Raises:
        ValueError: a claim of that id is registered already.
    """
    if claim.id in _CLAIMS:
        raise ValueError(f"claim {claim.id} registered twice")
    _CLAIMS[claim.id] = claim
    return claim


def paper_claims(paper: str, **defaults: Any) -> Callable[..., Claim]:
    """The registrar of one paper's claims: each is named once, and what they share is said once.

    Args:
        paper: the paper (a claim's ``paper=`` field overrides it, e.g. "SGF (our observation)").
        **defaults: :class:`Claim` fields the paper's claims share (e.g. ``reproduce``,
            ``config``); a claim's own field of that name overrides its default.

    Returns:
        ``add(claim_id, check, *, steer=True, **fields)``: registers and returns
        ``Claim(id=claim_id, check=steered(claim_id, check), ...)`` (``steer=False``: ``check``
        as it is, for the maps that hypothesis should not steer).
    """
    from gflab.proofs_checks.steer import steered  # steer imports this module

    def add(claim_id: str, check: Callable[..., Evidence], *, steer: bool = True, **fields: Any):
        run = steered(claim_id, check) if steer else check
        fields = {"paper": paper, **defaults, **fields}
        return register_claim(Claim(id=claim_id, check=run, **fields))

    return add


def claims() -> dict[str, Claim]:
    """Every registered claim, after importing each installed claim module.

    Returns:
        id → :class:`Claim`, in the papers' order (``DMC-1``, ``DMC-2``, ..., ``SGF-1``, ...).
    """
    for mod in CLAIM_MODULES:
        if importlib.util.find_spec(mod) is not None:
            importlib.import_module(mod)
    return dict(sorted(_CLAIMS.items(), key=lambda kv: _order(kv[0])))


def _order(cid: str):
    head, _, num = cid.partition("-")
    return (head, int(num) if num.isdigit() else 0, cid)
