"""The PyTorch bridge: :mod:`gflab.theory.measures` applied to real torch training runs.

Probes (:mod:`gflab.sims.bridge.probes`) hook into a training loop and every k steps record detached
float64 spectra of peft LoRA products (scale·B A, from an r×r core, never the d×d product) or of a
deep linear network's product; :class:`~gflab.sims.bridge.callbacks.SpectraRecorder` (a plain loop) and
:class:`~gflab.sims.bridge.callbacks.GflabSpectraCallback` (HF ``Trainer``) record one's own run, and
:func:`~gflab.sims.bridge.analyze.analyze_checkpoints` measures saved adapters after the fact. Runners (:mod:`gflab.sims.bridge.lora_run`, :mod:`gflab.sims.bridge.dmf_run`)
fine-tune a BERT with LoRA on a generated text task, or run deep linear matrix completion (docs/theory.md
§2.1) in torch, and return the JSON contract of ``gflab bridge --json``. :mod:`gflab.sims.bridge.prune_run`
records per-example training dynamics and prunes datasets with them (docs/pruning.md).

torch, peft and transformers are imported lazily (the ``bridge`` extra): ``import sims`` and
``import sims.bridge`` never need them; the names below load their module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LoRAProbe": "gflab.sims.bridge.probes",
    "DeepLinearProbe": "gflab.sims.bridge.probes",
    "lora_product_singular_values": "gflab.sims.bridge.probes",
    "growth_fits": "gflab.sims.bridge.probes",
    "equal_rate_spread": "gflab.sims.bridge.probes",
    "BridgeLoRAConfig": "gflab.sims.bridge.lora_run",
    "run_lora": "gflab.sims.bridge.lora_run",
    "BridgeDMFConfig": "gflab.sims.bridge.dmf_run",
    "run_dmf": "gflab.sims.bridge.dmf_run",
    "SpecExact": "gflab.sims.bridge.optim",
    "probe_overhead": "gflab.sims.bridge.bench",
    "SpectraRecorder": "gflab.sims.bridge.callbacks",
    "GflabSpectraCallback": "gflab.sims.bridge.callbacks",
    "analyze_checkpoints": "gflab.sims.bridge.analyze",
    "pseudo_label": "gflab.sims.bridge.semi",
    "labelled_subset": "gflab.sims.bridge.semi",
    "PruneConfig": "gflab.sims.bridge.prune_run",
    "run_prune": "gflab.sims.bridge.prune_run",
    "DataSpec": "gflab.sims.bridge.prune_data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gflab.sims.bridge' has no attribute {name!r}")
