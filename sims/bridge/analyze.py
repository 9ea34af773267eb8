"""Saved LoRA adapters read back into the live probe's measurements (``gflab bridge analyze``).

A training run that saved its adapters along the way (HF Trainer's ``checkpoint-N/`` folders with
peft's ``adapter_model.safetensors``, ``model.save_pretrained(...)`` at chosen steps, or
``torch.save(model.state_dict(), "step-N.pt")``) is measured after the fact with the same
functions as :class:`gflab.sims.bridge.probes.LoRAProbe` during training: :func:`~sims.bridge.probes.
lora_spectra` (σ(s·B A) from the r×r QR core, σ(A), σ(B), effective and stable rank, float64) and
:func:`~sims.bridge.probes.lora_growth_summary` (the √σ_i growth fits and the equal-rate spread,
docs/theory.md §2.2). Reference: docs/bridge.md, "Analyze saved checkpoints".

The step of a checkpoint is the last integer in its folder name (``checkpoint-120``) or, for a
weights file not named ``adapter_model.*``, in its file name (``step-120.pt``). The scale
s = lora_alpha/r (lora_alpha/√r with rsLoRA, per-module ``alpha_pattern`` as peft applies it)
comes from the ``adapter_config.json`` beside the weights unless given.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gflab.sims.bridge._torch import import_torch
from gflab.sims.bridge.probes import (
    LORA_MEASUREMENTS,
    default_burn_in,
    equal_rate_reading,
    lora_growth_summary,
    lora_spectra,
)
from gflab.theory.errors import GflabInputError

__all__ = [
    "Checkpoint",
    "find_checkpoints",
    "load_lora_pairs",
    "adapter_scales",
    "analyze_checkpoints",
]

#: what peft's ``save_pretrained`` writes, in order of preference
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin")
#: weights files read as a state dict (a folder's other files are not looked at)
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
#: what HF Trainer writes beside the weights: never LoRA weights
_NOT_WEIGHTS = re.compile(
    r"^(training_args\.bin|optimizer\.pt|scheduler\.pt|scaler\.pt|rng_state.*)$"
)
_LORA_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<factor>[AB])(?:\.(?P<adapter>[^.]+))?\.weight$")
_PEFT_PREFIX = "base_model.model."
_NESTED = ("state_dict", "model_state_dict", "model", "module")
_PATHS_ALLOWED = (
    "checkpoint-N/ folders with peft's adapter_model.safetensors (or a folder of them), "
    "or .safetensors/.pt/.bin files with lora_A/lora_B weights"
)


@dataclass(frozen=True)
class Checkpoint:
    """One saved adapter: its training ``step``, the weights file and its ``adapter_config.json``."""

    step: int
    weights: Path
    config: Path | None

    @property
    def format(self) -> str:
        """``peft`` for peft's ``adapter_model.*``, else ``state_dict``."""
        return "peft" if self.weights.name in ADAPTER_FILES else "state_dict"


def _last_int(text: str) -> int | None:
    nums = re.findall(r"\d+", text)
    return int(nums[-1]) if nums else None


def _adapter_file(folder: Path) -> Path | None:
    for name in ADAPTER_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def _checkpoint(weights: Path) -> Checkpoint:
    """The checkpoint of one weights file; its step from the folder (peft) or the file name."""
    named = weights.parent if weights.name in ADAPTER_FILES else None
    step = _last_int(named.name) if named is not None else _last_int(weights.stem)
    if step is None and named is not None:
        state = named / "trainer_state.json"
        if state.is_file():
            try:
                step = int(json.loads(state.read_text())["global_step"])
            except (OSError, ValueError, KeyError, TypeError):
                step = None
    if step is None:
        raise GflabInputError(
            "paths",
            "checkpoints whose folder or file name ends in the step (checkpoint-120, step-120.pt)",
            str(weights),
        )
    cfg = weights.parent / "adapter_config.json"
    return Checkpoint(step, weights, cfg if cfg.is_file() else None)


def find_checkpoints(paths: Sequence[str | Path]) -> list[Checkpoint]:
    """The checkpoints named by ``paths``, ordered by step.

    Each path is a weights file (``.safetensors``, ``.pt``, ``.pth``, ``.bin``), a folder holding
    ``adapter_model.safetensors``/``.bin`` (one checkpoint), or a folder of such folders and/or
    weights files (a series; HF Trainer's ``training_args.bin``, ``optimizer.pt``, ... skipped).
    In an HF output folder with ``checkpoint-N/`` sub-folders the final adapter saved at its top is
    left out (it repeats the last checkpoint without a step in its name).

    Args:
      paths: files and folders, in any order.

    Returns:
      The checkpoints sorted by step.

    Raises:
      GflabInputError: (``paths``) a path that does not exist, holds no adapter, has no step in
        its name, or two checkpoints with one step.
    """
    found: list[Checkpoint] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            if p.suffix not in WEIGHT_SUFFIXES:
                raise GflabInputError("paths", _PATHS_ALLOWED, f"{p} (not a weights file)")
            found.append(_checkpoint(p))
            continue
        if not p.is_dir():
            raise GflabInputError("paths", _PATHS_ALLOWED, f"{p} (no such file or folder)")
        subs = sorted(f for d in p.iterdir() if d.is_dir() and (f := _adapter_file(d)) is not None)
        files = sorted(
            f
            for f in p.iterdir()
            if f.is_file()
            and f.suffix in WEIGHT_SUFFIXES
            and not _NOT_WEIGHTS.match(f.name)
            and not (subs and f.name in ADAPTER_FILES)
        )
        if not subs and not files:
            raise GflabInputError("paths", _PATHS_ALLOWED, f"{p} (no adapter found in it)")
        found.extend(_checkpoint(f) for f in [*subs, *files])
    found.sort(key=lambda c: c.step)
    for a, b in zip(found, found[1:], strict=False):
        if a.step == b.step:
            raise GflabInputError(
                "paths", "one checkpoint per step", f"step {a.step}: {a.weights} and {b.weights}"
            )
    return found


def _read_state(weights: Path) -> dict[str, Any]:
    torch = import_torch()
    try:
        if weights.suffix == ".safetensors":
            from safetensors import safe_open

            # only the LoRA tensors: a full model's file need not be read whole
            with safe_open(str(weights), framework="pt", device="cpu") as f:
                return {k: f.get_tensor(k) for k in f.keys() if _LORA_KEY.match(k)}
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
    except Exception as e:  # any reader failure is a bad input file: say which and why
        reason = " ".join(str(e).split())[:120] or type(e).__name__
        raise GflabInputError(
            "paths", "readable safetensors or torch state-dict files", f"{weights} ({reason})"
        ) from None
    if not isinstance(state, dict):
        raise GflabInputError(
            "paths", "a torch state dict (a dict of tensors)", f"{weights} ({type(state).__name__})"
        )
    return state


def load_lora_pairs(weights: Path, adapter: str | None = None) -> dict[str, tuple[Any, Any]]:
    """``{module: (A, B)}`` of the LoRA weights in one file (A r×d_in, B d_out×r, as stored).

    Keys ``<module>.lora_A[.<adapter>].weight`` (peft's saved form drops the adapter name; a
    model's ``state_dict()`` keeps it); module names lose peft's ``base_model.model.`` prefix,
    as in :func:`gflab.sims.bridge.probes.find_lora_modules`. A dict nesting the state dict under
    ``state_dict``, ``model_state_dict``, ``model`` or ``module`` is unwrapped.

    Args:
      weights: the file.
      adapter: which adapter when the file holds several (by name); None takes the only one.

    Returns:
      The pairs, in the file's key order.

    Raises:
      GflabInputError: no LoRA weights (``paths``), several adapters and none chosen or an absent
        one (``adapter``), a factor without its partner or shapes that do not chain (``paths``).
    """
    state = _read_state(weights)
    if not any(_LORA_KEY.match(str(k)) for k in state):
        for key in _NESTED:
            inner = state.get(key)
            if isinstance(inner, dict) and any(_LORA_KEY.match(str(k)) for k in inner):
                state = inner
                break
    parts: dict[str | None, dict[str, dict[str, Any]]] = {}
    for key, val in state.items():
        m = _LORA_KEY.match(str(key))
        if m is None or not hasattr(val, "shape"):
            continue
        name = m["module"].removeprefix("module.").removeprefix(_PEFT_PREFIX)
        parts.setdefault(m["adapter"], {}).setdefault(name, {})[m["factor"]] = val
    if not parts:
        raise GflabInputError("paths", _PATHS_ALLOWED, f"{weights} (no lora_A/lora_B weights)")
    names = sorted(parts, key=str)
    if adapter is None:
        if len(parts) > 1:
            raise GflabInputError("adapter", "one of " + ", ".join(map(str, names)), "none given")
        chosen = parts[names[0]]
    elif adapter in parts:
        chosen = parts[adapter]
    elif list(parts) == [None]:  # peft's saved form has no names: it is the one saved adapter
        chosen = parts[None]
    else:
        raise GflabInputError("adapter", "one of " + ", ".join(map(str, names)), adapter)
    pairs = {}
    for name, f in chosen.items():
        if set(f) != {"A", "B"}:
            missing = "lora_B" if "A" in f else "lora_A"
            raise GflabInputError(
                "paths", "lora_A and lora_B per module", f"{weights}: {name} has no {missing}"
            )
        A, B = f["A"], f["B"]
        if A.ndim != 2 or B.ndim != 2 or B.shape[1] != A.shape[0]:
            raise GflabInputError(
                "paths",
                "2-D lora_A (r×d_in) and lora_B (d_out×r) of one rank r",
                f"{weights}: {name} has A {tuple(A.shape)}, B {tuple(B.shape)}",
            )
        pairs[name] = (A, B)
    return pairs


def _alpha_for(name: str, cfg: dict) -> float:
    """peft's alpha of module ``name``: the first ``alpha_pattern`` key matching the end of its path
    (peft's ``get_pattern_key``), else ``lora_alpha``."""
    pattern = cfg.get("alpha_pattern") or {}
    for key, alpha in pattern.items():
        if re.match(rf"(.*\.)?({key})$", name):
            return float(alpha)
    return float(pattern.get(name, cfg["lora_alpha"]))


def adapter_scales(
    pairs: dict[str, tuple[Any, Any]],
    config: Path | None,
    scale: float | None = None,
    lora_alpha: float | None = None,
) -> tuple[dict[str, float], str]:
    """peft's scale s per module and a sentence saying where it came from.

    Precedence: ``scale`` (s itself), then ``lora_alpha`` (s = lora_alpha/r, r = the module's
    rank), then ``config`` (peft's ``adapter_config.json``: s = alpha/r, alpha/√r with
    ``use_rslora``, alpha per ``alpha_pattern``), else s = 1 (the spectra are then those of B A;
    the ranks and the equal-rate spread do not depend on s).

    Args:
      pairs: ``{module: (A, B)}`` from :func:`load_lora_pairs`.
      config: the ``adapter_config.json`` beside the weights, or None.
      scale: s for every module.
      lora_alpha: alpha for every module.

    Returns:
      ``({module: s}, source)``.
    """
    ranks = {n: int(A.shape[0]) for n, (A, _) in pairs.items()}
    if scale is not None:
        return {n: float(scale) for n in pairs}, "--scale"
    if lora_alpha is not None:
        return {n: float(lora_alpha) / r for n, r in ranks.items()}, "--lora-alpha / r"
    if config is None:
        return {n: 1.0 for n in pairs}, "none (no adapter_config.json: s = 1, spectra of B A)"
    try:
        cfg = json.loads(config.read_text())
        float(cfg["lora_alpha"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise GflabInputError(
            "paths", "an adapter_config.json with lora_alpha (peft's)", f"{config} ({e})"
        ) from None
    rs = bool(cfg.get("use_rslora", False))
    out = {}
    for n, r in ranks.items():
        alpha = _alpha_for(n, cfg)
        out[n] = alpha / math.sqrt(r) if rs else alpha / r
    how = "lora_alpha/sqrt(r) (use_rslora)" if rs else "lora_alpha/r"
    return out, f"{how} from {config}"


def analyze_checkpoints(
    paths: Sequence[str | Path],
    burn_in: int | None = None,
    scale: float | None = None,
    lora_alpha: float | None = None,
    adapter: str | None = None,
) -> dict:
    """The live probe's measurements of a series of saved adapters (``gflab bridge analyze``).

    Args:
      paths: checkpoints, as :func:`find_checkpoints` takes them.
      burn_in: growth fits use steps ≥ ``burn_in`` (default
        :func:`gflab.sims.bridge.probes.default_burn_in` of the steps).
      scale: s for every module, instead of ``adapter_config.json``.
      lora_alpha: s = lora_alpha/r for every module, instead of ``adapter_config.json``.
      adapter: the adapter's name when a state dict holds several.

    Returns:
      ``steps``, ``checkpoints`` (step, path, format), ``scale`` (``values`` per module and
      ``source``), ``modules`` (per module the :data:`~sims.bridge.probes.LORA_MEASUREMENTS`
      series and the growth fits, as ``gflab bridge lora`` gives them), ``summary`` (as
      :func:`~sims.bridge.probes.lora_growth_summary`, plus ``n_modules``, ``ranks``),
      ``reading_rule``. Arrays are NumPy float64.

    Raises:
      GflabInputError: bad paths, no adapter, modules or shapes that change between checkpoints
        (``paths``), a bad ``burn_in``, ``scale`` or ``lora_alpha``.
    """
    torch = import_torch()
    for name, v in (("scale", scale), ("lora_alpha", lora_alpha)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise GflabInputError(name, "a positive number", v)
    if scale is not None and lora_alpha is not None:
        raise GflabInputError("scale", "either --scale or --lora-alpha, not both", scale)
    cks = find_checkpoints(paths)
    steps = [c.step for c in cks]
    if burn_in is None:
        burn_in = default_burn_in(steps)
    elif not 0 <= burn_in <= steps[-1]:
        raise GflabInputError(
            "burn_in", f"a step in [0, {steps[-1]}] (the last checkpoint)", burn_in
        )
    first_shapes: dict[str, tuple] | None = None
    scales: dict[str, float] = {}
    source = ""
    rows: dict[str, dict[str, list]] = {}
    for ck in cks:
        pairs = load_lora_pairs(ck.weights, adapter)
        shapes = {n: (tuple(A.shape), tuple(B.shape)) for n, (A, B) in pairs.items()}
        if first_shapes is None:
            first_shapes = shapes
            scales, source = adapter_scales(pairs, ck.config, scale, lora_alpha)
            rows = {n: {k: [] for k in LORA_MEASUREMENTS} for n in pairs}
        elif shapes != first_shapes:
            diff = sorted(set(shapes.items()) ^ set(first_shapes.items()))
            what = diff[0][0] if diff else "modules"
            raise GflabInputError(
                "paths",
                f"checkpoints of one model (the modules and shapes of {cks[0].weights})",
                f"{ck.weights} differs at {what}",
            )
        elif scale is None and lora_alpha is None and ck.config is not None:
            s2, _ = adapter_scales(pairs, ck.config)
            if s2 != scales:
                raise GflabInputError(
                    "paths",
                    f"checkpoints with one LoRA scale (that of {cks[0].weights})",
                    f"{ck.config} gives another",
                )
        # grouped by shape and scale like LoRAProbe: one batched QR per group
        groups: dict[tuple, list[str]] = {}
        for n in pairs:
            groups.setdefault((*shapes[n], scales[n]), []).append(n)
        with torch.no_grad():
            for key, names in groups.items():
                A = torch.stack([pairs[n][0] for n in names])
                B = torch.stack([pairs[n][1] for n in names])
                got = lora_spectra(A, B, key[-1])
                for i, n in enumerate(names):
                    for k in LORA_MEASUREMENTS:
                        rows[n][k].append(got[k][i])
    arrays = {
        n: {k: np.asarray(v, dtype=np.float64) for k, v in row.items()} for n, row in rows.items()
    }
    modules, summary = lora_growth_summary(steps, arrays, burn_in)
    ranks = sorted({int(m["singular_values"].shape[1]) for m in modules.values()})
    summary.update(n_modules=len(modules), ranks=ranks)
    return {
        "steps": np.asarray(steps, dtype=np.int64),
        "checkpoints": [{"step": c.step, "path": str(c.weights), "format": c.format} for c in cks],
        "scale": {"values": scales, "source": source},
        "modules": modules,
        "summary": summary,
        "reading_rule": equal_rate_reading(max(ranks)),
    }
