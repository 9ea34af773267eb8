"""Stored results as rows of a table: one row per result-store entry (``gflab results``).

A row holds the entry's store key, its model (a key of :data:`gflab.sims.models.MODELS`, or the
record kind of a generic record), its integrity status, its config fields, and the scalar
measurements its model reads from the entry's sidecar
(:meth:`~gflab.sims.models.Model.stored_scalars`: loss, stable and effective rank, ... with the
solver's step count and wall time for ``dmf`` and ``lora``).
:func:`results_frame` returns the same rows as a pandas DataFrame, as WeightWatcher users expect.

Entries are read through the store's public API only: :meth:`ResultStore.keys` lists them,
:meth:`ResultStore.paths` locates the sidecar (config, result header), and
:meth:`ResultStore.status` verifies an entry (checksums of the arrays and of the sidecar) when its
config hashes to its own key under this installation's package versions. Entries written under
other versions are listed as ``stale``: readable, but not what a run now would reuse.
"""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any

from gflab.sims.models import MODELS as _REGISTRY
from gflab.sims.models import model_named
from gflab.sims.store import ResultStore
from gflab.theory.errors import GflabInputError

if TYPE_CHECKING:
    import pandas

__all__ = ["MODELS", "cell_text", "results_records", "results_frame"]

#: the models whose entries ``gflab results`` reads (every registered model)
MODELS = tuple(_REGISTRY)


def _plain(x: Any) -> Any:
    """A JSON value as a table cell: lists of scalars joined by commas, everything else kept."""
    if isinstance(x, list) and all(isinstance(v, (int, float, str)) for v in x):
        return ",".join(cell_text(v) for v in x)
    if isinstance(x, (list, dict)):
        return json.dumps(x, sort_keys=True)
    if x in (
        "nan",
        "inf",
        "-inf",
    ):  # non-finite floats are stored as strings (sims.result.json_safe)
        return float(x)
    return x


def cell_text(x: Any) -> str:
    """Short text of one table cell: floats in ``%.6g`` (never a NumPy repr), None as empty.

    Args:
        x: a cell value of :func:`results_records` (plain Python scalar, text or None).

    Returns:
        The cell's text.
    """
    if x is None:
        return ""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float):
        return format(x, ".6g") if math.isfinite(x) else str(x)
    return str(x)


def _row(store: ResultStore, key: str) -> dict[str, Any]:
    row: dict[str, Any] = {"key": key}
    meta = store.read_meta(key)  # None for a pipe, a link, a huge or unreadable sidecar
    if meta is None or not isinstance(meta.get("config"), dict):
        row.update(model=None, status="corrupt")
        return row
    config = meta["config"]
    name = config.get("model", meta.get("record"))
    model = _REGISTRY.get(name) if isinstance(name, str) else None
    row["model"] = name
    holds = model is not None and model.holds(meta)
    if store.key(config) != key or (model is not None and model.stale(meta)):
        row["status"] = "stale"
    elif store.status(config) != "ok":
        row["status"] = "corrupt"
    else:
        row["status"] = model.stored_status(meta) if holds else meta.get("record", "ok")
    row["created"] = meta.get("created")
    for field, value in config.items():
        if field != "model":
            row[field] = _plain(value)
    try:
        scalars = model.stored_scalars(meta) if holds else {}
    except (KeyError, TypeError, AttributeError):  # a sidecar of another shape: no measurements
        scalars = {}
    for column, value in scalars.items():
        value = _plain(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            row[column if column not in row else f"final_{column}"] = float(value)
        elif isinstance(value, str) and column not in row:
            row[column] = value
    return row


def results_records(
    store: ResultStore | str | os.PathLike | None = None, model: str | None = None
) -> list[dict[str, Any]]:
    """The stored results as a list of rows, in store-key order.

    Args:
        store: a :class:`ResultStore`, a store folder, or None for the default store
            (``$GFLAB_STORE`` or ``.gflab-cache/results``).
        model: keep only rows of this model (a key of :data:`MODELS`); None keeps every entry.

    Returns:
        One dict per entry with the keys ``key`` (sha256 store key), ``model``, ``status``
        (the run's status ``converged``/``t1_reached``/``max_steps``/``diverged``, or ``stale``
        for an entry written by other package versions, ``corrupt`` for one that fails its
        checksums), ``created``, every config field (lists as comma-separated text), the final
        scalar measurements as floats (a name shared with a config field gets ``final_``), and
        ``solver``, ``solver_steps``, ``wall_seconds``. Values are plain Python types.

    Raises:
        GflabInputError: ``model`` is not one of :data:`MODELS`, or ``store`` is a path that is
            not a folder or cannot be listed (an unreadable store is not an empty one).
    """
    if model is not None:
        model_named(model)  # refused, naming the models, when not one
    if not isinstance(store, ResultStore):
        if store is not None and os.path.exists(store) and not os.path.isdir(store):
            raise GflabInputError("store", "a result-store folder", os.fspath(store))
        store = ResultStore(store)
    store.require_readable()
    rows = [_row(store, key) for key in store.keys()]
    return [r for r in rows if model is None or r.get("model") == model]


def results_frame(
    store: ResultStore | str | os.PathLike | None = None, model: str | None = None
) -> pandas.DataFrame:
    """The stored results as a pandas DataFrame (one row per entry, indexed by store key).

    Args:
        store: as in :func:`results_records`.
        model: as in :func:`results_records`.

    Returns:
        The columns of :func:`results_records` (index ``key``); config fields that a model
        does not have are missing values (NaN/None).

    Raises:
        ModuleNotFoundError: pandas is not installed (``results_records`` needs no pandas).
    """
    try:
        import pandas as pd
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            "results_frame needs pandas (pip install pandas==3.1.1, pinned in "
            "requirements/test.lock); sims.tables.results_records returns the same rows as dicts"
        ) from e
    rows = results_records(store, model)
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["key", "model", "status"]
    return pd.DataFrame(rows, columns=columns).set_index("key")
