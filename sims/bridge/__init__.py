"""The PyTorch bridge: :mod:`theory.measures` applied to real torch training runs.

Probes (:mod:`sims.bridge.probes`) hook into a training loop and every k steps record detached
float64 spectra of peft LoRA products (scale·B A, from an r×r core, never the d×d product) or of a
deep linear network's product. Runners (:mod:`sims.bridge.lora_run`, :mod:`sims.bridge.dmf_run`)
fine-tune a BERT with LoRA on a generated text task, or run deep linear matrix completion (docs/theory.md
§2.1) in torch, and return the JSON contract of ``gflab bridge --json``. :mod:`sims.bridge.prune_run`
records per-example training dynamics and prunes datasets with them (docs/pruning.md).

torch, peft and transformers are imported lazily (the ``bridge`` extra): ``import sims`` and
``import sims.bridge`` never need them; the names below load their module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LoRAProbe": "sims.bridge.probes",
    "DeepLinearProbe": "sims.bridge.probes",
    "lora_product_singular_values": "sims.bridge.probes",
    "growth_fits": "sims.bridge.probes",
    "equal_rate_spread": "sims.bridge.probes",
    "BridgeLoRAConfig": "sims.bridge.lora_run",
    "run_lora": "sims.bridge.lora_run",
    "BridgeDMFConfig": "sims.bridge.dmf_run",
    "run_dmf": "sims.bridge.dmf_run",
    "SpecExact": "sims.bridge.optim",
    "probe_overhead": "sims.bridge.bench",
    "pseudo_label": "sims.bridge.semi",
    "labelled_subset": "sims.bridge.semi",
    "PruneConfig": "sims.bridge.prune_run",
    "run_prune": "sims.bridge.prune_run",
    "DataSpec": "sims.bridge.prune_data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sims.bridge' has no attribute {name!r}")
