"""Experiment configurations: frozen, hashable, validated on construction, JSON round-trippable.

A config says everything that determines a result (model, sizes, init, target, solver and its
tolerances, seed), so its hash plus package versions is the result store's key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from theory import dmf as _dmf
from theory import lora as _lora
from theory._validate import (
    GflabInputError,
    finite_real,
    one_of,
    positive_int,
    positive_real,
)

__all__ = ["DMFConfig", "LoRAConfig", "parse_method", "config_from_dict", "METHOD_NAMES"]

METHOD_NAMES = (
    "adaptive",
    "euler:DT",
    "gd:ETA",
    "specgd:ETA",
    "specgd-smooth:ETA",
    "ns:ETA",
    "muon:ETA",
)


def parse_method(method: str) -> tuple[str, float | None]:
    """``"gd:0.01"`` → ("gd", 0.01); ``"adaptive"`` → ("adaptive", None)."""
    if not isinstance(method, str):
        raise GflabInputError("method", "one of " + ", ".join(METHOD_NAMES), method)
    kind, _, arg = method.partition(":")
    if kind == "adaptive" and not arg:
        return "adaptive", None
    if kind in ("euler", "gd", "specgd", "specgd-smooth", "ns", "muon") and arg:
        try:
            v = float(arg)
        except ValueError:
            v = float("nan")
        if not (math.isfinite(v) and v > 0):
            what = "DT" if kind == "euler" else "ETA"
            raise GflabInputError(
                "method", f"{kind}:{what} with {what} a finite number > 0", method
            )
        return kind, v
    raise GflabInputError("method", "one of " + ", ".join(METHOD_NAMES), method)


class _Config:
    _FLOATS: tuple[str, ...] = ()
    _INTS: tuple[str, ...] = ()

    def _normalise_numbers(self) -> None:
        """Store numbers as plain Python float/int so that equal configs have equal keys however
        they were typed (``m=3`` and ``m=3.0``, NumPy scalars) and always serialise to JSON."""
        for name in self._FLOATS:
            v = getattr(self, name)
            if (
                v is not None
                and not isinstance(v, bool)
                and isinstance(v, (int, float, np.integer, np.floating))
            ):
                object.__setattr__(self, name, float(v))
        for name in self._INTS:
            v = getattr(self, name)
            if isinstance(v, np.integer):
                object.__setattr__(self, name, int(v))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model"] = self.model  # type: ignore[attr-defined]
        return {
            k: (
                _json_float(v) if isinstance(v, float) else (list(v) if isinstance(v, tuple) else v)
            )
            for k, v in d.items()
        }

    def key(self) -> str:
        """Content hash of the config (sorted JSON)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def _json_float(v: float):
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _float(v):
    if isinstance(v, str) and v in ("inf", "-inf"):
        return float(v)
    return v


@dataclass(frozen=True)
class DMFConfig(_Config):
    """Deep matrix completion run (DESIGN §2.1).

    ``t1=None`` runs until converged (relative loss ≤ ``converge_tol``) or ``t_max``; ``method``
    is ``adaptive`` (Tsit5 + PID) or ``gd:ETA`` (plain GD, step ETA on the chosen normalisation).
    """

    depth: int
    n: int
    init: str = "mimic"
    m: float = math.inf
    alpha: float = 1e-3
    mask: str = "diagonal"
    target: str = "ones"
    seed: int = 0
    t1: float | None = None
    t_max: float = 1e7
    method: str = "adaptive"
    steps: int | None = None
    normalisation: str = "sum"
    rtol: float = 1e-9
    atol: float = 1e-14
    converge_tol: float = 1e-16
    n_save: int = 200
    grid: str | None = None
    max_steps: int = 500_000
    coupling: bool = False

    model = "dmf"
    _FLOATS = ("m", "alpha", "t1", "t_max", "rtol", "atol", "converge_tol")
    _INTS = ("depth", "n", "seed", "steps", "n_save", "max_steps")

    def __post_init__(self):
        self._normalise_numbers()
        positive_int("depth", self.depth, minimum=2)
        positive_int("n", self.n)
        one_of("init", self.init, _dmf.INIT_NAMES)
        positive_real("m", self.m, allow_inf=True)
        if not self.m > 1:
            raise GflabInputError("m", "a real number > 1 (inf for diagonal init)", self.m)
        positive_real("alpha", self.alpha)
        if not isinstance(self.mask, str):
            raise GflabInputError(
                "mask", "a mask name (diagonal, block:K, superdiag, bernoulli:P)", self.mask
            )
        _dmf.make_mask(self.mask, self.n, seed=self.seed)  # validates the name
        if not isinstance(self.target, str):
            raise GflabInputError("target", "a target name (ones, const:W, lowrank:R)", self.target)
        _dmf.make_target(self.target, self.n, seed=self.seed)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise GflabInputError("seed", "an integer >= 0", self.seed)
        if self.t1 is not None:
            positive_real("t1", self.t1)
        positive_real("t_max", self.t_max)
        kind, _ = parse_method(self.method)
        if kind not in ("adaptive", "gd"):
            raise GflabInputError("method", "adaptive or gd:ETA for the dmf model", self.method)
        if kind == "gd" and self.steps is None:
            raise GflabInputError("steps", "a step count with --method gd:ETA", None)
        if kind == "gd" and self.t1 is not None:
            raise GflabInputError(
                "t1", f"no --t1 with the discrete --method {self.method} (use --steps)", self.t1
            )
        if kind == "adaptive" and self.steps is not None:
            raise GflabInputError(
                "steps",
                "no --steps with --method adaptive (use --t1 or --until-converged)",
                self.steps,
            )
        if self.steps is not None:
            positive_int("steps", self.steps)
        one_of("normalisation", self.normalisation, ("sum", "mean"))
        positive_real("rtol", self.rtol)
        positive_real("atol", self.atol)
        positive_real("converge_tol", self.converge_tol)
        positive_int("n_save", self.n_save, minimum=2)
        if self.grid is not None:
            one_of("grid", self.grid, ("linear", "log"))
        positive_int("max_steps", self.max_steps)

    @property
    def horizon(self) -> float:
        return self.t_max if self.t1 is None else self.t1


@dataclass(frozen=True)
class LoRAConfig(_Config):
    """LoRA-style factorisation run (DESIGN §2.2).

    ``flow`` is ``gf`` or ``specgf``; ``method`` ``adaptive`` integrates it (β > 0 required for
    specgf), ``euler:DT`` uses fixed steps, and ``gd``/``specgd``/``specgd-smooth``/``ns``/``muon``
    run the discrete counterparts for ``steps`` steps. ``aligned`` uses coordinate singular vectors.
    """

    rows: int = 60
    cols: int = 70
    rank: int = 5
    target_svals: tuple = (1.0, 2.0, 4.0, 8.0, 16.0)
    flow: str = "specgf"
    beta: float | None = None
    gamma: float = 1e-3
    init: str = "lora"
    l2: float = 0.0
    method: str = "adaptive"
    t1: float | None = None
    steps: int | None = None
    seed: int = 0
    aligned: bool = False
    rtol: float = 1e-8
    atol: float = 1e-12
    converge_tol: float = 1e-14
    n_save: int = 200
    max_steps: int = 500_000
    momentum: float = 0.95
    nesterov: bool = True
    shape_scale: str = "none"
    ns_dtype: str = "float64"
    ns_steps: int = 5

    model = "lora"
    _FLOATS = ("beta", "gamma", "l2", "t1", "rtol", "atol", "converge_tol", "momentum")
    _INTS = ("rows", "cols", "rank", "seed", "steps", "n_save", "max_steps", "ns_steps")

    def __post_init__(self):
        self._normalise_numbers()
        rows = positive_int("rows", self.rows)
        cols = positive_int("cols", self.cols)
        rank = positive_int("rank", self.rank)
        if rank > min(rows, cols):
            raise GflabInputError(
                "rank", f"an integer in [1, min(rows, cols)={min(rows, cols)}]", rank
            )
        try:
            svals = tuple(float(s) for s in self.target_svals)
        except (TypeError, ValueError):
            raise GflabInputError(
                "target_svals", "a sequence of numbers", self.target_svals
            ) from None
        object.__setattr__(self, "target_svals", svals)
        _lora.spectral_target(rows, cols, self.target_svals, None)  # validates the spectrum
        one_of("flow", self.flow, ("gf", "specgf"))
        kind, _ = parse_method(self.method)
        if self.beta is not None:
            positive_real("beta", self.beta, allow_zero=True)
        if self.flow == "specgf" and kind == "adaptive":
            if self.beta is None or self.beta <= 0:
                raise GflabInputError(
                    "beta",
                    "a number > 0 with the adaptive solver (the exact polar field is discontinuous;"
                    " use --method euler:DT for beta = 0)",
                    self.beta,
                )
        if self.flow == "gf" and kind in ("specgd", "specgd-smooth", "ns", "muon"):
            raise GflabInputError(
                "flow", f"specgf with --method {kind} (a spectral method)", self.flow
            )
        if self.flow == "specgf" and kind == "gd":
            raise GflabInputError("flow", "gf with --method gd", self.flow)
        if kind == "specgd-smooth" and (self.beta is None or self.beta <= 0):
            raise GflabInputError("beta", "a number > 0 with --method specgd-smooth", self.beta)
        positive_real("gamma", self.gamma)
        one_of("init", self.init, _lora.INIT_NAMES)
        positive_real("l2", self.l2, allow_zero=True)
        continuous = kind in ("adaptive", "euler")
        if continuous:
            if self.steps is not None:
                raise GflabInputError(
                    "steps", f"no --steps with --method {self.method} (use --t1)", self.steps
                )
            if self.t1 is None:
                raise GflabInputError("t1", f"a horizon with --method {self.method}", None)
            positive_real("t1", self.t1)
        else:
            if self.t1 is not None:
                raise GflabInputError(
                    "t1", f"no --t1 with the discrete --method {self.method} (use --steps)", self.t1
                )
            if self.steps is None:
                raise GflabInputError("steps", f"a step count with --method {self.method}", None)
            positive_int("steps", self.steps)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise GflabInputError("seed", "an integer >= 0", self.seed)
        positive_real("rtol", self.rtol)
        positive_real("atol", self.atol)
        positive_real("converge_tol", self.converge_tol)
        positive_int("n_save", self.n_save, minimum=2)
        positive_int("max_steps", self.max_steps)
        m = finite_real("momentum", self.momentum)
        if not 0 <= m < 1:
            raise GflabInputError("momentum", "a number in [0, 1)", m)
        one_of("shape_scale", self.shape_scale, ("none", "original", "match_rms_adamw"))
        one_of("ns_dtype", self.ns_dtype, ("float64", "float32", "bfloat16"))
        positive_int("ns_steps", self.ns_steps)

    @property
    def method_kind(self) -> str:
        return parse_method(self.method)[0]

    @property
    def method_value(self) -> float | None:
        return parse_method(self.method)[1]


def config_from_dict(d: dict[str, Any]):
    """Inverse of ``to_dict``."""
    d = dict(d)
    model = d.pop("model", None)
    cls = {"dmf": DMFConfig, "lora": LoRAConfig}.get(model)
    if cls is None:
        raise GflabInputError("model", "dmf or lora", model)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - fields
    if unknown:
        raise GflabInputError("config", f"fields of {cls.__name__}", sorted(unknown))
    d = {k: _float(v) for k, v in d.items()}
    if "target_svals" in d:
        d["target_svals"] = tuple(d["target_svals"])
    return cls(**d)
