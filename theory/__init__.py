"""gflab.theory: the mathematics of docs/theory.md §2 as pure functions of arrays (no I/O, no solvers).

Modules: :mod:`theory.dmf` (deep matrix factorisation/completion), :mod:`theory.lora`
(LoRA-style factorisation, spectral gradient flow, Newton–Schulz), :mod:`theory.measures`
(rank measures, proxies, invariants; NumPy/JAX/torch), :mod:`theory.closed_forms` (exact oracles).
"""

from theory import closed_forms, dmf, lora, measures
from theory._validate import GflabInputError
from theory.measures import (
    arrival_times,
    balancedness,
    balancedness_residual,
    effective_rank,
    proxies,
    singular_values,
    stable_rank,
)

__all__ = [
    "GflabInputError",
    "arrival_times",
    "balancedness",
    "balancedness_residual",
    "closed_forms",
    "dmf",
    "effective_rank",
    "lora",
    "measures",
    "proxies",
    "singular_values",
    "stable_rank",
]
