"""The result of one simulation: saved statistics, final measurements, status and solver stats.

``to_json()`` produces the JSON that ``gflab simulate --json`` prints (keys ``config``, ``times``,
``singular_values``, ``proxies`` (LoRA), ``final``, ``status``, ``stats``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SimResult", "json_safe"]


def json_safe(x: Any, strict: bool = False):
    """``x`` with arrays as nested lists and NumPy scalars as Python numbers and booleans; a
    non-finite float becomes the string ``"nan"``/``"inf"``/``"-inf"`` (never a silent NaN in
    JSON: the store and the CLI's contract), or ``None`` with ``strict`` (strict JSON, the bridge's
    payloads).

    Args:
        x: a value: dicts, lists and tuples are converted recursively.
        strict: non-finite floats become ``None`` instead of strings.

    Returns:
        A value ``json.dumps`` accepts (tuples become lists; other types pass unchanged).
    """
    if isinstance(x, dict):
        return {k: json_safe(v, strict) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v, strict) for v in x]
    if isinstance(x, np.ndarray):
        return json_safe(x.tolist(), strict)
    if isinstance(x, (np.floating, float)):
        v = float(x)
        if math.isfinite(v):
            return v
        if strict:
            return None
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


@dataclass
class SimResult:
    """One run. ``series`` holds per-saved-time arrays (first axis matches ``times``).

    Args:
        config: the run's config as ``to_dict()`` gives it.
        times: (k,) the saved times (flow time, or step counts when ``time_unit`` is ``"k"``).
        series: per-saved-time arrays (``singular_values``, ``loss``, ``proxies`` …), first axis k.
        final: final measurements (numbers or arrays).
        status: how the run ended (one of :data:`gflab.sims.engine.STATUSES`).
        stats: solver statistics (:meth:`gflab.sims.engine.RawSolve.solver_stats`).
        final_state: the final parameters (the factors), when kept.
        message: a human-readable note on the status.
        time_unit: ``"t"`` (flow time) or ``"k"`` (steps of a discrete method).
        extra: model-specific keys added to :meth:`to_json`.
    """

    config: dict
    times: np.ndarray
    series: dict[str, np.ndarray]
    final: dict[str, Any]
    status: str
    stats: dict[str, Any]
    final_state: list[np.ndarray] | None = None
    message: str = ""
    time_unit: str = "t"
    extra: dict = field(default_factory=dict)

    @property
    def singular_values(self) -> np.ndarray:
        """(k, r) the saved singular values (``series["singular_values"]``)."""
        return self.series["singular_values"]

    def to_json(self) -> dict:
        """The JSON form (``gflab simulate --json``): arrays as lists, non-finite floats as
        strings (:func:`json_safe`).

        Returns:
            ``config``, ``times``, ``time_unit``, ``singular_values``, the other saved series
            present (``proxies``, ``loss``, ``coupling``, ``balancedness_drift``), ``final``,
            ``status``, ``message`` (when not empty), ``stats``, and ``extra``'s keys.
        """
        out = {
            "config": self.config,
            "times": self.times,
            "time_unit": self.time_unit,
            "singular_values": self.series["singular_values"],
        }
        if "proxies" in self.series:
            out["proxies"] = self.series["proxies"]
        for k in ("loss", "coupling", "balancedness_drift"):
            if k in self.series:
                out[k] = self.series[k]
        out["final"] = self.final
        out["status"] = self.status
        if self.message:
            out["message"] = self.message
        out["stats"] = self.stats
        out.update(self.extra)
        return json_safe(out)

    # ---- (de)serialisation for the result store: arrays and a JSON header kept apart
    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        """The store's form: arrays (``times``, ``series__*``, ``state__i``, array-valued
        ``final__*``) and a JSON header for everything else.

        Returns:
            (arrays, header); :meth:`from_arrays` inverts it.
        """
        arrays = {"times": np.asarray(self.times)}
        for k, v in self.series.items():
            arrays["series__" + k] = np.asarray(v)
        if self.final_state is not None:
            for i, f in enumerate(self.final_state):
                arrays[f"state__{i}"] = np.asarray(f)
        final_arrays = {k: v for k, v in self.final.items() if isinstance(v, np.ndarray)}
        for k, v in final_arrays.items():
            arrays["final__" + k] = v
        header = {
            "config": self.config,
            "final": json_safe({k: v for k, v in self.final.items() if k not in final_arrays}),
            "status": self.status,
            "stats": json_safe(self.stats),
            "message": self.message,
            "time_unit": self.time_unit,
            "extra": json_safe(self.extra),
        }
        return arrays, header

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], header: dict) -> SimResult:
        """Inverse of :meth:`to_arrays`.

        Args:
            arrays: the arrays :meth:`to_arrays` wrote (as read back from the store).
            header: its JSON header.

        Returns:
            The result (a header without ``message``/``time_unit`` reads as ``""``/``"t"``).
        """
        series = {k[len("series__") :]: v for k, v in arrays.items() if k.startswith("series__")}
        final = dict(header["final"])
        final.update({k[len("final__") :]: v for k, v in arrays.items() if k.startswith("final__")})
        idx = sorted(int(k[len("state__") :]) for k in arrays if k.startswith("state__"))
        state = [arrays[f"state__{i}"] for i in idx] or None
        return cls(
            config=header["config"],
            times=arrays["times"],
            series=series,
            final=final,
            status=header["status"],
            stats=header["stats"],
            final_state=state,
            message=header.get("message", ""),
            time_unit=header.get("time_unit", "t"),
            extra=header.get("extra", {}),
        )
