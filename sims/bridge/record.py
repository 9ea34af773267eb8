"""Bridge runs in the result store: float64 arrays + JSON metadata (torch version, device, dtype,
hyperparameters), through :meth:`gflab.sims.store.ResultStore.put_record`.

The key is the run's config (``run["config"]``) plus the torch release (``2.13.0``, without the
``+cpu``/``+cu128`` build tag, so a GPU record and a CPU run of the same config differ only by
the config's ``device``). Arrays are stored as ``steps``, ``loss`` and
``modules/<module name>/<measurement>``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gflab.sims.result import json_safe

__all__ = ["record_key", "run_to_record", "record_to_run", "store_run", "load_run", "to_json"]

_SEP = "/"


def to_json(run: Any):
    """Arrays as nested lists, NumPy scalars as Python numbers, NaN/inf as None (strict JSON).

    Args:
        run: a bridge run (nested dicts, lists and arrays).

    Returns:
        The same structure in strict JSON types.
    """
    return json_safe(run, strict=True)


def _torch_release(version: str) -> str:
    return version.split("+", 1)[0]


def record_key(config: dict, torch_version: str) -> dict:
    """What the store hashes for a bridge run: its config, torch's release and the bridge's code
    (the store's own key covers theory/ and sims/ but the bridge).

    Args:
        config: the run's config as a dict.
        torch_version: torch's version string (its release is kept, the build suffix dropped).

    Returns:
        The dict the store hashes.
    """
    from gflab.sims.store import bridge_code_hash

    return {
        **config,
        "torch_release": _torch_release(torch_version),
        "bridge_code": bridge_code_hash(),
    }


def run_to_record(run: dict) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, metadata) of a run from :func:`~sims.bridge.lora_run.run_lora` or ``run_dmf``.

    Args:
        run: the run's dict.

    Returns:
        Its arrays and its JSON-able remainder.
    """
    arrays: dict[str, np.ndarray] = {
        "steps": np.asarray(run["steps"], dtype=np.int64),
        "loss": np.asarray(run["loss"], dtype=np.float64),
    }
    scalars: dict[str, dict] = {}
    for name, meas in run["modules"].items():
        scalars[name] = {}
        for k, v in meas.items():
            if isinstance(v, np.ndarray):
                arrays[_SEP.join(("modules", name, k))] = np.asarray(v, dtype=np.float64)
            else:
                scalars[name][k] = v
    meta = {k: v for k, v in run.items() if k not in ("steps", "loss", "modules")}
    meta["module_scalars"] = scalars
    meta["module_names"] = list(run["modules"])
    return arrays, {"bridge": to_json(meta)}


def record_to_run(arrays: dict[str, np.ndarray], meta: dict) -> dict:
    """Inverse of :func:`run_to_record` (scalars that were NaN come back as NaN).

    Args:
        arrays: the stored arrays.
        meta: the stored sidecar.

    Returns:
        The run's dict.
    """
    b = meta["bridge"]
    modules: dict[str, dict] = {n: {} for n in b["module_names"]}
    for key, arr in arrays.items():
        if key.startswith("modules" + _SEP):
            _, rest = key.split(_SEP, 1)
            name, meas = rest.rsplit(_SEP, 1)
            modules[name][meas] = arr
    for name, sc in b["module_scalars"].items():
        for k, v in sc.items():
            modules[name][k] = float("nan") if v is None else v
    run = {k: v for k, v in b.items() if k not in ("module_scalars", "module_names")}
    run.update(steps=arrays["steps"], loss=arrays["loss"], modules=modules)
    return run


def store_run(store, run: dict) -> str:
    """Put ``run`` into ``store`` (a :class:`gflab.sims.store.ResultStore`); returns the key.

    Args:
        store: the result store.
        run: a bridge run (its ``config`` and ``torch_version`` make the key).

    Returns:
        The entry key.
    """
    arrays, meta = run_to_record(run)
    meta["bridge_record"] = 1
    return store.put_record(record_key(run["config"], run["torch_version"]), arrays, meta)


def load_run(store, config: dict, torch_version: str) -> dict | None:
    """The stored run for ``config`` (a ``to_dict()``), or None if absent or corrupt.

    Args:
        store: the result store.
        config: the run's config as a dict.
        torch_version: the torch version it must have been run with.

    Returns:
        The run's dict, or None.
    """
    got = store.get_record(record_key(config, torch_version))
    if got is None:
        return None
    return record_to_run(*got)
