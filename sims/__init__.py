"""gflab.sims: running the dynamics of docs/theory.md §2 (diffrax flows, discrete iterations, the store)."""

import gflab.sims._jaxsetup  # noqa: F401  (float64 and the compilation cache, before anything compiles)
from gflab.sims.config import DMFConfig, LoRAConfig, config_from_dict
from gflab.sims.dmf import simulate_dmf
from gflab.sims.result import SimResult

__all__ = ["DMFConfig", "LoRAConfig", "SimResult", "config_from_dict", "simulate_dmf"]
from gflab.sims.lora import simulate_lora  # noqa: E402

__all__ += ["simulate_lora"]

# sims.results_frame / sims.results_records: the spellings of the first release of the tables,
# kept as aliases for compatibility (with a DeprecationWarning); they live in sims.tables
_MOVED = {"results_frame": "gflab.sims.tables", "results_records": "gflab.sims.tables"}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib
        import warnings

        where = _MOVED[name]
        warnings.warn(
            f"sims.{name} is {where}.{name} (the top-level alias is kept for compatibility)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(where), name)
    raise AttributeError(f"module 'sims' has no attribute {name!r}")
