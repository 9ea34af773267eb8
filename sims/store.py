"""Content-addressed result store with atomic writes and a metadata sidecar.

An entry is keyed by sha256(config JSON + package versions + store schema). It is two files in
``<root>/<key[:2]>/``: ``<key>.npz`` (arrays) and ``<key>.json`` (sidecar: config, seed, versions,
git revision, creation time, the npz's sha256, and the result header). Both are written to a
temporary file in the same folder and ``os.replace``-d into place, the npz first and the sidecar
last, so a reader either sees a complete entry or none. A missing sidecar, a checksum mismatch
(of the npz, or of the sidecar against its own ``sidecar_sha256``), an unreadable file or a result
header that cannot be read marks the entry corrupt: ``get`` returns None and ``get_or_run`` recomputes.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from sims.result import SimResult

__all__ = ["ResultStore", "package_versions", "git_revision", "default_store_root"]

SCHEMA = 1
_VERSIONED = ("gflab", "jax", "jaxlib", "diffrax", "equinox", "numpy", "scipy")


def package_versions() -> dict[str, str]:
    out = {}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


@functools.lru_cache(maxsize=1)
def git_revision() -> str:
    """The source tree's git commit (with ``+dirty`` if modified), or ``unknown``.

    Read once per process: two ``git`` subprocesses per stored entry dominated the cost of
    sweeps over tiny configurations.
    """
    here = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def default_store_root() -> Path:
    """``$GFLAB_STORE`` or ``.gflab-cache/results`` under the current directory."""
    return Path(os.environ.get("GFLAB_STORE", ".gflab-cache/results"))


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _sidecar_digest(meta: dict) -> str:
    """sha256 of the sidecar's canonical JSON without its own checksum field."""
    body = {k: v for k, v in meta.items() if k != "sidecar_sha256"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


class ResultStore:
    """Results of simulations keyed by their config (anything with ``to_dict()``) or a dict."""

    def __init__(
        self, root: str | os.PathLike | None = None, versions: dict[str, str] | None = None
    ):
        self.root = Path(root) if root is not None else default_store_root()
        self.versions = versions if versions is not None else package_versions()
        self.hits = 0
        self.misses = 0
        self.recomputed_corrupt = 0

    # ---- keys and paths
    def key(self, config: Any) -> str:
        cfg = config.to_dict() if hasattr(config, "to_dict") else dict(config)
        blob = json.dumps(
            {"config": cfg, "versions": self.versions, "schema": SCHEMA},
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def paths(self, key: str) -> tuple[Path, Path]:
        d = self.root / key[:2]
        return d / f"{key}.npz", d / f"{key}.json"

    # ---- reading
    def status(self, config: Any) -> str:
        """``missing``, ``ok`` or ``corrupt``."""
        return self._load(self.key(config))[0]

    def _load(self, key: str):
        npz, side = self.paths(key)
        if not side.exists() and not npz.exists():
            return "missing", None
        try:
            meta = json.loads(side.read_text())
            if not isinstance(meta, dict):
                return "corrupt", None
            # sidecars written since the self-checksum was added must match it (edits, truncation
            # to still-valid JSON); older sidecars without one are accepted as before
            if "sidecar_sha256" in meta and meta["sidecar_sha256"] != _sidecar_digest(meta):
                return "corrupt", None
            data = npz.read_bytes()
            if hashlib.sha256(data).hexdigest() != meta["npz_sha256"]:
                return "corrupt", None
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            if "result" in meta or meta.get("record") == "result":
                SimResult.from_arrays(
                    arrays, meta["result"]
                )  # a header that cannot be read is corrupt
            return "ok", (arrays, meta)
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            json.JSONDecodeError,
            EOFError,
            zipfile.BadZipFile,
        ):
            return "corrupt", None

    def get(self, config: Any) -> SimResult | None:
        state, payload = self._load(self.key(config))
        if state != "ok" or "result" not in payload[1]:
            return None
        arrays, meta = payload
        return SimResult.from_arrays(arrays, meta["result"])

    def get_record(self, config: Any) -> tuple[dict[str, np.ndarray], dict] | None:
        """Raw arrays and sidecar of a generic record (see :meth:`put_record`)."""
        state, payload = self._load(self.key(config))
        return payload if state == "ok" else None

    # ---- writing
    def put(self, config: Any, result: SimResult, **meta: Any) -> str:
        arrays, header = result.to_arrays()
        return self.put_record(config, arrays, {"result": header, "record": "result", **meta})

    def put_record(self, config: Any, arrays: dict[str, np.ndarray], meta: dict) -> str:
        key = self.key(config)
        npz, side = self.paths(key)
        npz.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
        data = buf.getvalue()
        cfg = config.to_dict() if hasattr(config, "to_dict") else dict(config)
        sidecar = {
            "key": key,
            "schema": SCHEMA,
            "config": cfg,
            "seed": cfg.get("seed"),
            "versions": self.versions,
            "git_revision": git_revision(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "npz_sha256": hashlib.sha256(data).hexdigest(),
            **meta,
        }
        sidecar = json.loads(json.dumps(sidecar, default=str))  # the form a reader will see
        sidecar["sidecar_sha256"] = _sidecar_digest(sidecar)
        _atomic_write(npz, data)
        _atomic_write(side, json.dumps(sidecar, indent=1, sort_keys=True).encode())
        return key

    def get_or_run(self, config: Any, run: Callable[[Any], SimResult]) -> SimResult:
        """The stored result for ``config``, or ``run(config)`` stored first (corrupt → rerun)."""
        state, payload = self._load(self.key(config))
        if state == "ok" and "result" not in payload[1]:
            state = "corrupt"  # a generic record where a result belongs
        if state == "ok":
            self.hits += 1
            return SimResult.from_arrays(payload[0], payload[1]["result"])
        if state == "corrupt":
            self.recomputed_corrupt += 1
        self.misses += 1
        result = run(config)
        self.put(config, result)
        return result

    def keys(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*/*.json"))
