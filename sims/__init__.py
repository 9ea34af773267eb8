"""gflab.sims: running the dynamics of docs/theory.md §2 (diffrax flows, discrete iterations, the store)."""

import sims._jaxsetup  # noqa: F401  (float64 and the compilation cache, before anything compiles)
from sims.config import DMFConfig, LoRAConfig, config_from_dict
from sims.dmf import simulate_dmf
from sims.result import SimResult

__all__ = ["DMFConfig", "LoRAConfig", "SimResult", "config_from_dict", "simulate_dmf"]
from sims.lora import simulate_lora  # noqa: E402

__all__ += ["simulate_lora"]
from sims.tables import results_frame, results_records  # noqa: E402

__all__ += ["results_frame", "results_records"]
