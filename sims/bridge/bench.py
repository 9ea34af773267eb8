"""Probe overhead: what the LoRA probe costs beside the training step it watches.

:func:`probe_overhead` runs the LoRA bridge twice (a warm-up that pays lazy initialisation, then
the measured run) and divides the probe's wall time per logged step by the wall time of one
training step (forward, backward, optimizer). The probe runs every ``every`` steps, so the
amortised overhead is that ratio divided by ``every``; the goal is ≤ 5 % at ``every = 10``.
"""

from __future__ import annotations

import dataclasses

from gflab.sims.bridge.lora_run import BridgeLoRAConfig, run_lora

__all__ = ["probe_overhead"]


def probe_overhead(
    model: str = "minilm",
    every: int = 10,
    steps: int = 60,
    optimizer: str = "muon",
    rank: int = 8,
    device: str = "cpu",
    batch_size: int = 32,
    seed: int = 0,
) -> dict:
    """Probe cost per logged step as a fraction of one training step, and amortised over ``every``.

    Returns ``per_log_fraction`` (probe seconds per logged step / training seconds per step),
    ``amortised_fraction`` (``per_log_fraction / every``: the slowdown of the whole run),
    the raw seconds, and the config measured.

    Args:
        model: ``minilm`` or ``tiny``.
        every: probe every k steps.
        steps: training steps timed.
        optimizer: as ``gflab bridge lora --optimizer``.
        rank: the LoRA rank r.
        device: ``cpu``, ``cuda`` or ``auto``.
        batch_size: examples per step.
        seed: the seed.
    """
    cfg = BridgeLoRAConfig(
        model=model,
        optimizer=optimizer,
        steps=steps,
        rank=rank,
        device=device,
        seed=seed,
        every=every,
        batch_size=batch_size,
    )
    run_lora(dataclasses.replace(cfg, steps=2 * every))  # the warm-up
    run = run_lora(cfg)
    t = run["timing"]
    per_log = t["probe_seconds_per_log"] / t["train_seconds_per_step"]
    return {
        "model": model,
        "every": every,
        "steps": steps,
        "optimizer": optimizer,
        "rank": rank,
        "device": run["device"],
        "torch_version": run["torch_version"],
        "n_modules": run["summary"]["n_modules"],
        "probe_seconds_per_log": t["probe_seconds_per_log"],
        "train_seconds_per_step": t["train_seconds_per_step"],
        "per_log_fraction": per_log,
        "amortised_fraction": per_log / every,
        "goal_amortised_fraction": 0.05,
    }
