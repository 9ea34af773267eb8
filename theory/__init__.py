"""gflab.theory: the mathematics of docs/theory.md §2 as pure functions of arrays (no I/O, no solvers).

Modules: :mod:`theory.dmf` (deep matrix factorisation/completion), :mod:`theory.lora`
(LoRA-style factorisation, spectral gradient flow, Newton–Schulz), :mod:`theory.measures`
(rank measures, proxies, invariants; NumPy/JAX/torch), :mod:`theory.closed_forms` (exact oracles),
:mod:`theory.pruning` (dataset-pruning scores and selectors from training dynamics; NumPy).
"""

from theory import closed_forms, dmf, lora, measures, pruning
from theory._validate import GflabInputError

__all__ = ["GflabInputError", "closed_forms", "dmf", "lora", "measures", "pruning"]

# theory.stable_rank etc.: the first release re-exported seven measures at the top level; they are
# theory.measures.X (nothing in gflab used the short spelling) and stay as aliases for compatibility
_MEASURES = (
    "arrival_times",
    "balancedness",
    "balancedness_residual",
    "effective_rank",
    "proxies",
    "singular_values",
    "stable_rank",
)


def __getattr__(name: str):
    if name in _MEASURES:
        import warnings

        warnings.warn(
            f"theory.{name} is theory.measures.{name} (the top-level alias is kept for "
            "compatibility)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(measures, name)
    raise AttributeError(f"module 'theory' has no attribute {name!r}")
