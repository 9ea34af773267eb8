"""gflab.theory: the mathematics of docs/theory.md §2 as pure functions of arrays (no I/O, no solvers).

Modules: :mod:`gflab.theory.dmf` (deep matrix factorisation/completion), :mod:`gflab.theory.lora`
(LoRA-style factorisation, spectral gradient flow, Newton–Schulz), :mod:`gflab.theory.measures`
(rank measures, proxies, invariants; NumPy/JAX/torch), :mod:`gflab.theory.closed_forms` (exact oracles),
:mod:`gflab.theory.pruning` (dataset-pruning scores and selectors from training dynamics; NumPy).
"""

if __name__ == "theory":  # the first release's top-level name: an alias of gflab.theory
    from gflab._legacy import redirect

    redirect(__name__)

from gflab.theory import closed_forms, dmf, errors, lora, measures, pruning
from gflab.theory.errors import GflabInputError

__all__ = ["GflabInputError", "closed_forms", "dmf", "errors", "lora", "measures", "pruning"]

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
            f"gflab.theory.{name} is gflab.theory.measures.{name} (the alias is kept for "
            "compatibility)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(measures, name)
    raise AttributeError(f"module 'gflab.theory' has no attribute {name!r}")
