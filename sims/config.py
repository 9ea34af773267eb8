"""Experiment configurations: frozen, hashable, validated on construction, JSON round-trippable.

A config says everything that determines a result (model, sizes, init, target, solver and its
tolerances, seed), so its hash plus package versions is the result store's key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import stat
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from gflab.sims import terms as _terms
from gflab.sims.limits import FLOAT64_BYTES, require_fits
from gflab.sims.methods import (
    GD,
    METHODS,
    Adaptive,
    Euler,
    Method,
    Muon,
    NewtonSchulz,
    SmoothedSpecGD,
    SpecGD,
)
from gflab.theory import dmf as _dmf
from gflab.theory import lora as _lora
from gflab.theory._validate import (
    GflabInputError,
    one_of,
    positive_int,
    positive_real,
)

__all__ = [
    "DMFConfig",
    "LoRAConfig",
    "config_from_dict",
    "MAX_STEPS",
    "MAX_DEPTH",
    "STOP_LOSS_MAX_STEPS",
    "load_factors",
    "factors_digest",
    "dmf_factor_shapes",
]

# a discrete run beyond 1e9 steps takes days at >= 1 µs per step; refuse it at once
MAX_STEPS = 10**9
# the step budget of a discrete run that stops at --stop-loss and names no --steps: a run that
# reaches it ends with status "max_steps"
STOP_LOSS_MAX_STEPS = 10**6
# the fields are traced with O(L) products per factor: compile time grows with L, and past a few
# hundred layers compiling never ends in practice
MAX_DEPTH = 256


def _unknown_keyword(cls: type, name: str, value: Any) -> GflabInputError:
    """The error for a keyword that is not a field of ``cls``: a method's hyper-parameter is named
    with the method objects that have it (it belongs inside ``method``, never beside it)."""
    owners = [m for m in METHODS.values() if name in {f.name for f in dataclasses.fields(m)}]
    if owners:
        example = f"{owners[0].__name__}(..., {name}=...)"
        return GflabInputError(
            name,
            f"a hyper-parameter of the method object, not of {cls.__name__}: method={example}",
            value,
        )
    return GflabInputError(name, f"a field of {cls.__name__}", value)


class _Config:
    _FLOATS: tuple[str, ...] = ()
    _INTS: tuple[str, ...] = ()
    # optional fields left out of to_dict() (and so of the key) while None
    _OMIT_NONE: tuple[str, ...] = ()
    # the method classes ``method`` accepts (its model's :attr:`~gflab.sims.models.Model.methods`)
    METHODS: ClassVar[tuple[type, ...]] = ()

    def __new__(cls, *args: Any, **kwargs: Any):
        # a keyword that is no field (``rtol=`` beside a method object) names itself, as on the
        # command line, instead of a TypeError
        names = {f.name for f in dataclasses.fields(cls)}
        for name, value in kwargs.items():
            if name not in names:
                raise _unknown_keyword(cls, name, value)
        return super().__new__(cls)

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

    def _check_method(self) -> Method:
        """``method`` as given: a method object of :attr:`METHODS` (spellings such as ``"gd:0.1"``
        are read by the command line and :func:`config_from_dict`, never here)."""
        method = self.method  # type: ignore[attr-defined]
        names = ", ".join(f"{m.__name__}" for m in self.METHODS)
        if not isinstance(method, Method):
            raise GflabInputError(
                "method",
                f"a method object of gflab.sims.methods ({names}); spellings such as 'gd:0.1'"
                " are read by gflab simulate and config_from_dict",
                method,
            )
        if not isinstance(method, self.METHODS):
            raise GflabInputError(
                "method",
                f"one of {names} for the {self.model} model",
                method.spelling,  # type: ignore[attr-defined]
            )
        return method

    @property
    def discrete(self) -> bool:
        """True for discrete steps (GD, SpecGD, Muon...), False for a flow."""
        return self.method.discrete  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: every field, the method as ``{"name", ...}``, ``model``."""
        d: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in self._OMIT_NONE and v is None:
                continue
            if isinstance(v, Method):
                v = {
                    k: _json_float(x) if isinstance(x, float) else x for k, x in v.to_dict().items()
                }
            d[f.name] = (
                _json_float(v) if isinstance(v, float) else (list(v) if isinstance(v, tuple) else v)
            )
        d["model"] = self.model  # type: ignore[attr-defined]
        d.update(self._extra_dict())
        return d

    def _extra_dict(self) -> dict[str, Any]:
        return {}

    def key(self) -> str:
        """Content hash of the config (sorted JSON)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def replace(self, **changes):
        """A copy with ``changes`` (validated again; a method's hyper-parameter is changed with
        ``method=dataclasses.replace(config.method, ...)``)."""
        return dataclasses.replace(self, **changes)


def _json_float(v: float):
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _float(v):
    if isinstance(v, str) and v in ("inf", "-inf"):
        return float(v)
    return v


def _seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise GflabInputError("seed", "an integer >= 0", seed)


def _steps(steps: Any) -> None:
    positive_int("steps", steps)
    if steps > MAX_STEPS:
        raise GflabInputError("steps", f"an integer in [1, {MAX_STEPS:.0e}]", steps)


def _discrete_steps(t1: Any, steps: Any, method: Method, *, stops: bool = False) -> None:
    """A discrete method runs ``steps`` steps (at most :data:`MAX_STEPS`), no horizon; ``steps``
    is required unless the run ``stops`` at a loss (then :data:`STOP_LOSS_MAX_STEPS` caps it)."""
    if t1 is not None:
        raise GflabInputError(
            "t1", f"no --t1 with the discrete --method {method.spelling} (use --steps)", t1
        )
    if steps is None:
        if stops:
            return
        raise GflabInputError(
            "steps", f"a step count with --method {method.name}:ETA (or a --stop-loss)", None
        )
    _steps(steps)


def _file_digest(parameter: str, path: Any, n: int) -> str:
    """sha256 of an n×n float64 .npy file's array (its content enters the key, not its path)."""
    arr = load_npy(parameter, path, n)
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def load_npy(parameter: str, path: Any, n: int) -> np.ndarray:
    """The n×n float64 array in the .npy file ``path`` (no pickles), or a GflabInputError.

    Args:
      parameter: ``mask_file`` or ``target_file`` (named in errors).
      path: file path.
      n: the expected side.
    Returns:
      (n, n) float64 array.
    """
    if not isinstance(path, str) or not path:
        raise GflabInputError(parameter, "a path to an .npy file", path)
    allowed = f"a readable .npy file holding a numeric array of shape ({n}, {n})"
    try:
        # O_NONBLOCK: a named pipe opens at once (and is refused below) instead of waiting for a
        # writer; only a regular file of at most the array's size plus a header is read
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise GflabInputError(parameter, allowed, f"{path} ({e.strerror})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > FLOAT64_BYTES * float(n) ** 2 + 65536:
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(st.st_mode) else f"{st.st_size} bytes"
        raise GflabInputError(parameter, allowed, f"{path} ({what})")
    with os.fdopen(fd, "rb") as f:
        try:
            arr = np.load(f, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise GflabInputError(parameter, allowed, f"{path} ({e or type(e).__name__})") from None
    if not isinstance(arr, np.ndarray):
        raise GflabInputError(parameter, allowed, f"{path} (an .npz archive)")
    if arr.shape != (n, n):
        raise GflabInputError(parameter, f"an array of shape ({n}, {n})", f"shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise GflabInputError(parameter, allowed, f"{path} (dtype {arr.dtype})")
    arr = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise GflabInputError(parameter, "finite entries", "non-finite entries")
    return arr


def load_factors(parameter: str, path: Any, shapes: dict[str, tuple[int, ...]]) -> list[np.ndarray]:
    """The arrays named in ``shapes`` from the .npz file ``path`` (no pickles), checked: exactly
    those names, each of its shape, finite; or a one-line GflabInputError naming ``parameter``.

    Args:
      parameter: ``init_file`` (named in errors).
      path: file path.
      shapes: ``{array name: shape}`` in the order returned.
    Returns:
      float64 arrays in the order of ``shapes``.
    """
    if not isinstance(path, str) or not path:
        raise GflabInputError(parameter, "a path to an .npz file", path)
    want = ", ".join(f"{k} {tuple(v)}" for k, v in shapes.items())
    try:
        with np.load(path, allow_pickle=False) as z:
            found = {k: z[k] for k in z.files}
    except (OSError, ValueError, AttributeError, TypeError) as e:
        raise GflabInputError(
            parameter, f"a readable .npz file holding {want}", f"{path} ({e})"
        ) from None
    if set(found) != set(shapes):
        raise GflabInputError(parameter, f"an .npz file holding {want}", f"arrays {sorted(found)}")
    out = []
    for name, shape in shapes.items():
        arr = found[name]
        if arr.shape != tuple(shape):
            raise GflabInputError(
                parameter, f"array {name} of shape {tuple(shape)}", f"shape {arr.shape}"
            )
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise GflabInputError(parameter, f"real numbers in {name}", f"dtype {arr.dtype}")
        arr = np.asarray(arr, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise GflabInputError(parameter, f"finite entries in {name}", "non-finite entries")
        out.append(arr)
    return out


def factors_digest(arrays: list[np.ndarray]) -> str:
    """sha256 of a list of float64 arrays (shapes and contents): what enters a key for a file.

    Args:
        arrays: the factors, in order (each read as C-contiguous float64).

    Returns:
        The hex digest; equal digests mean equal shapes and equal entries in the same order.
    """
    h = hashlib.sha256()
    for a in arrays:
        h.update(repr(a.shape).encode())
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()


def dmf_factor_shapes(n: int, depth: int) -> dict[str, tuple[int, int]]:
    """The arrays of a DMF ``init_file``: ``W1`` … ``WL`` (W = W_L ⋯ W_1), each n×n.

    Args:
        n: the matrix size.
        depth: the number of factors L (docs/theory.md §2.1).

    Returns:
        ``{"W1": (n, n), …, "WL": (n, n)}``, in factor order.
    """
    return {f"W{i}": (n, n) for i in range(1, depth + 1)}


def _init_file(config: Any, shapes: dict, default_init: str) -> None:
    """Check ``config.init_file`` (if any) and set ``init`` to ``"file"``: an init name other than
    the default next to a file is refused (two answers to one question)."""
    if config.init_file is None:
        if config.init == "file":
            raise GflabInputError("init", "an init name (or --init-file)", config.init)
        return
    if config.init not in (default_init, "file"):
        raise GflabInputError("init", "no init name with --init-file", config.init)
    object.__setattr__(config, "init", "file")
    load_factors("init_file", config.init_file, shapes)


@dataclass(frozen=True)
class DMFConfig(_Config):
    """Deep matrix completion run (docs/theory.md §2.1).

    ``method`` is a method object: :class:`gflab.sims.methods.Adaptive` (default: Tsit5 → RKC2
    + PID at rtol 1e-9, atol 1e-14, :attr:`ADAPTIVE_DEFAULTS`) or :class:`gflab.sims.methods.GD`.
    A flow runs to ``t1``, or with ``t1=None`` until converged (relative loss ≤
    ``converge_tol``, or the loss ≤ ``stop_loss``) or ``t_max``; GD runs ``steps`` steps or until
    it stops. ``normalisation``: ``sum`` ½Σ_Ω R², ``mean`` ½Σ_Ω R²/|Ω| (Kleinman's), ``full-mean``
    Σ_Ω R²/n² (the [DMC] authors' ``((mask*W - mask*W*)**2).mean()``): under a flow it rescales
    time, under GD the step. ``stop_loss`` stops when that normalised loss falls to the value
    (GD: checked on the loss before each step, as the authors do; flows: the crossing is
    root-found); with ``stop_loss`` a GD run may leave ``steps`` out: it then runs until the stop
    or :data:`STOP_LOSS_MAX_STEPS` steps (status ``max_steps``). ``mask_file``/``target_file``
    read an n×n .npy array, ``init_file`` an .npz of the factors ``W1`` … ``WL`` (their content,
    not the path, enters the key). Fields a
    method does not use are reset to their defaults (``t1``, ``t_max``, ``grid`` under GD), so
    the key holds only what determines the result.
    """

    # the default method's tolerances (the field ``method`` below is the one default)
    ADAPTIVE_DEFAULTS = {"rtol": 1e-9, "atol": 1e-14, "max_steps": 500_000}

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
    method: Method = Adaptive(**ADAPTIVE_DEFAULTS)
    steps: int | None = None
    normalisation: str = "sum"
    converge_tol: float = 1e-16
    stop_loss: float | None = None
    n_save: int = 200
    grid: str | None = None
    coupling: bool = False
    mask_file: str | None = None
    target_file: str | None = None
    init_file: str | None = None

    model = "dmf"
    _FLOATS = ("m", "alpha", "t1", "t_max", "converge_tol", "stop_loss")
    _INTS = ("depth", "n", "seed", "steps", "n_save")
    _OMIT_NONE = ("stop_loss", "mask_file", "target_file", "init_file")
    METHODS = (Adaptive, GD)

    def __post_init__(self):
        self._normalise_numbers()
        depth = positive_int("depth", self.depth, minimum=2)
        if depth > MAX_DEPTH:
            raise GflabInputError("depth", f"an integer in [2, {MAX_DEPTH}]", depth)
        n = positive_int("n", self.n)
        # factors, their prefix/suffix products and the field: ~3L + 6 n×n arrays
        require_fits("n", FLOAT64_BYTES * float(n) ** 2 * (3 * depth + 6), n)
        positive_int("n_save", self.n_save, minimum=2)
        rows = float(n) + 8 + (float(n) ** 2 if n <= 16 else 0)  # saved statistics per time
        require_fits("n_save", FLOAT64_BYTES * float(self.n_save) * rows, self.n_save)
        method = self._check_method()
        _init_file(self, dmf_factor_shapes(n, depth), "mimic")
        if self.init != "file":
            one_of("init", self.init, _dmf.INIT_NAMES)
        positive_real("m", self.m, allow_inf=True)
        if not self.m > 1:
            raise GflabInputError("m", "a real number > 1 (inf for diagonal init)", self.m)
        positive_real("alpha", self.alpha)
        _seed(self.seed)
        if self.mask_file is not None:
            if self.mask not in ("diagonal", "file"):
                raise GflabInputError("mask", "no mask name with --mask-file", self.mask)
            object.__setattr__(self, "mask", "file")
            arr = load_npy("mask_file", self.mask_file, n)
            _dmf.make_mask(arr, n)  # 0/1 and not empty
        else:
            if not isinstance(self.mask, str) or self.mask == "file":
                raise GflabInputError(
                    "mask", "a mask name (diagonal, block:K, superdiag, bernoulli:P)", self.mask
                )
            _dmf.make_mask(self.mask, n, seed=self.seed)  # validates the name
        if self.target_file is not None:
            if self.target not in ("ones", "file"):
                raise GflabInputError("target", "no target name with --target-file", self.target)
            object.__setattr__(self, "target", "file")
            load_npy("target_file", self.target_file, n)
        else:
            if not isinstance(self.target, str) or self.target == "file":
                raise GflabInputError(
                    "target", "a target name (ones, const:W, lowrank:R)", self.target
                )
            _dmf.make_target(self.target, n, seed=self.seed)
        if method.discrete:
            _discrete_steps(self.t1, self.steps, method, stops=self.stop_loss is not None)
            if self.grid is not None:
                raise GflabInputError(
                    "grid",
                    f"no --grid with the discrete --method {method.spelling} (it saves steps)",
                    self.grid,
                )
            # a flow's horizon and save grid mean nothing to GD: not in the key
            object.__setattr__(self, "t_max", 1e7)
            object.__setattr__(self, "grid", None)
        else:
            if self.steps is not None:
                raise GflabInputError(
                    "steps",
                    "no --steps with --method adaptive (use --t1 or --until-converged)",
                    self.steps,
                )
            if self.t1 is not None:
                positive_real("t1", self.t1)
            positive_real("t_max", self.t_max)
            if self.grid is not None:
                one_of("grid", self.grid, ("linear", "log"))
        one_of("normalisation", self.normalisation, _dmf.NORMALISATIONS)
        if self.stop_loss is not None:
            positive_real("stop_loss", self.stop_loss)
            if self.converge_tol != 1e-16:
                raise GflabInputError(
                    "converge_tol",
                    "no --converge-tol with --stop-loss (the stop rule is --stop-loss)",
                    self.converge_tol,
                )
        positive_real("converge_tol", self.converge_tol)
        if not isinstance(self.coupling, bool):
            raise GflabInputError("coupling", "true or false", self.coupling)

    def _extra_dict(self) -> dict[str, Any]:
        out = {}
        if self.mask_file is not None:
            out["mask_sha256"] = _file_digest("mask_file", self.mask_file, self.n)
        if self.target_file is not None:
            out["target_sha256"] = _file_digest("target_file", self.target_file, self.n)
        if self.init_file is not None:
            shapes = dmf_factor_shapes(self.n, self.depth)
            out["init_sha256"] = factors_digest(load_factors("init_file", self.init_file, shapes))
        return out

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if self.stop_loss is not None:
            del d["converge_tol"]  # the stop rule is stop_loss
        return d

    @property
    def horizon(self) -> float:
        """The flow's end time: ``t1`` when given, else the cap ``t_max``."""
        return self.t_max if self.t1 is None else self.t1

    @property
    def step_budget(self) -> int | None:
        """Steps a discrete run may take: ``steps``, or :data:`STOP_LOSS_MAX_STEPS` when it
        stops at ``stop_loss`` and names no ``steps``."""
        if self.steps is None and self.stop_loss is not None:
            return STOP_LOSS_MAX_STEPS
        return self.steps


@dataclass(frozen=True)
class LoRAConfig(_Config):
    """LoRA-style factorisation run (docs/theory.md §2.2).

    ``flow`` is ``gf`` or ``specgf``; ``method`` a method object of :mod:`gflab.sims.methods`:
    :class:`~gflab.sims.methods.Adaptive` (default: Tsit5 → RKC2 + PID at rtol 1e-8, atol 1e-12,
    :attr:`ADAPTIVE_DEFAULTS`; specgf at β > 0, default :data:`gflab.sims.terms.DEFAULT_BETA`),
    :class:`~gflab.sims.methods.Euler` (fixed steps; β = 0 is the exact polar field), or the
    discrete :class:`~gflab.sims.methods.GD` (flow gf), ``SpecGD``/``SmoothedSpecGD``/
    ``NewtonSchulz``/``Muon`` (flow specgf) for ``steps`` steps. ``beta`` is SpecGF's smoothing
    (flows only; ``SmoothedSpecGD`` has its own). ``aligned`` uses coordinate singular vectors.
    """

    # the default method's tolerances (the field ``method`` below is the one default)
    ADAPTIVE_DEFAULTS = {"rtol": 1e-8, "atol": 1e-12, "max_steps": 500_000}

    rows: int = 60
    cols: int = 70
    rank: int = 5
    target_svals: tuple = (1.0, 2.0, 4.0, 8.0, 16.0)
    flow: str = "specgf"
    beta: float | None = None
    gamma: float = 1e-3
    init: str = "lora"
    l2: float = 0.0
    method: Method = Adaptive(**ADAPTIVE_DEFAULTS)
    t1: float | None = None
    steps: int | None = None
    seed: int = 0
    aligned: bool = False
    converge_tol: float = 1e-14
    n_save: int = 200
    init_file: str | None = None

    model = "lora"
    _OMIT_NONE = ("init_file",)
    _FLOATS = ("gamma", "l2", "t1", "converge_tol")  # β: converted by its term (sims/terms.py)
    _INTS = ("rows", "cols", "rank", "seed", "steps", "n_save")
    METHODS = (Adaptive, Euler, GD, SpecGD, SmoothedSpecGD, NewtonSchulz, Muon)

    def __post_init__(self):
        self._normalise_numbers()
        rows = positive_int("rows", self.rows)
        cols = positive_int("cols", self.cols)
        rank = positive_int("rank", self.rank)
        # Y, its singular vectors and the product: ~6 rows×cols arrays
        require_fits("rows", FLOAT64_BYTES * 6.0 * float(rows) * float(cols), f"{rows}×{cols}")
        if rank > min(rows, cols):
            raise GflabInputError(
                "rank", f"an integer in [1, min(rows, cols)={min(rows, cols)}]", rank
            )
        positive_int("n_save", self.n_save, minimum=2)
        require_fits("n_save", FLOAT64_BYTES * float(self.n_save) * (4.0 * rank + 8), self.n_save)
        try:
            svals = tuple(float(s) for s in self.target_svals)
        except (TypeError, ValueError):
            raise GflabInputError(
                "target_svals", "a sequence of numbers", self.target_svals
            ) from None
        object.__setattr__(self, "target_svals", svals)
        _lora.spectral_target(rows, cols, self.target_svals, None)  # validates the spectrum
        one_of("flow", self.flow, ("gf", "specgf"))
        method = self._check_method()
        # --- β (begin): one home, the flow's term (sims/terms.py) or specgd-smooth's method ---
        if not method.discrete:
            term = _terms.flow_term(self.flow, self.beta)  # parses and validates β once
            term.check_method(method)  # β = 0 (the polar flow): fixed steps only
            object.__setattr__(self, "beta", term.beta)  # recorded: the default is explicit
        # --- β (end) ---
        spectral = (SpecGD, SmoothedSpecGD, NewtonSchulz, Muon)
        if self.flow == "gf" and isinstance(method, spectral):
            raise GflabInputError(
                "flow", f"specgf with --method {method.name} (a spectral method)", self.flow
            )
        if self.flow == "specgf" and isinstance(method, GD):
            raise GflabInputError("flow", "gf with --method gd", self.flow)
        if isinstance(method, SmoothedSpecGD) and self.beta is not None:  # β: one home
            raise GflabInputError("beta", "the method's own beta with specgd-smooth", self.beta)
        positive_real("gamma", self.gamma)
        _init_file(self, self.factor_shapes(), "lora")
        if self.init != "file":
            one_of("init", self.init, _lora.INIT_NAMES)
        positive_real("l2", self.l2, allow_zero=True)
        if not method.discrete:
            if self.steps is not None:
                raise GflabInputError(
                    "steps", f"no --steps with --method {method.spelling} (use --t1)", self.steps
                )
            if self.t1 is None:
                raise GflabInputError("t1", f"a horizon with --method {method.spelling}", None)
            positive_real("t1", self.t1)
        else:
            _discrete_steps(self.t1, self.steps, method)
        _seed(self.seed)
        positive_real("converge_tol", self.converge_tol)
        # β is SpecGF's (and specgd-smooth's, inside its method): refused, never silently keyed
        if self.beta is not None and method.discrete:
            where = "--flow gf" if self.flow == "gf" else f"--method {method.name}"
            raise GflabInputError(
                "beta",
                f"no beta with {where} (only SpecGF flows and specgd-smooth use it)",
                self.beta,
            )
        if not isinstance(self.aligned, bool):
            raise GflabInputError("aligned", "true or false", self.aligned)

    @property
    def step_budget(self) -> int | None:
        """Steps a discrete run takes: ``steps``."""
        return self.steps

    @property
    def term(self) -> _terms.FlowTerm | None:
        """The flow integrated by a continuous method (:mod:`gflab.sims.terms`: ``GF()``,
        ``SpecGF(beta)`` or ``PolarFlow()``, built from ``flow`` and ``beta``); ``None`` for a
        discrete method."""
        return None if self.method.discrete else _terms.flow_term(self.flow, self.beta)

    def factor_shapes(self) -> dict[str, tuple[int, int]]:
        """The arrays of an ``init_file``: ``A`` (rows × rank) and ``B`` (rank × cols)."""
        return {"A": (self.rows, self.rank), "B": (self.rank, self.cols)}

    def _extra_dict(self) -> dict[str, Any]:
        if self.init_file is None:
            return {}
        arrays = load_factors("init_file", self.init_file, self.factor_shapes())
        return {"init_sha256": factors_digest(arrays)}


def config_from_dict(d: dict[str, Any]):
    """Inverse of ``to_dict`` for every model (:func:`gflab.sims.models.config_from_dict`: the
    JSON reader, which also reads the flat form of older files).

    Args:
        d: a config's ``to_dict()`` (or a stored file's ``config`` entry).

    Returns:
        config (Any): the model's config object (e.g. :class:`DMFConfig`).
    """
    from gflab.sims.models import config_from_dict as read

    return read(d)
