"""gflab.proofs_checks: the claims of docs/theory.md §2.3 as executable, hypothesis-driven checks."""

from gflab.proofs_checks.registry import Claim, Evidence, claims, register_claim
from gflab.proofs_checks.runner import ClaimReport, run_claim, run_claims

__all__ = [
    "Claim",
    "ClaimReport",
    "Evidence",
    "claims",
    "register_claim",
    "run_claim",
    "run_claims",
]
