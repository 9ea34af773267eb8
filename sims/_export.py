"""Saved executables: the engine's compiled solves kept on disk with :mod:`jax.export`.

Tracing a flow solve (diffrax's loop, the event root-find, the model's field and statistics)
costs seconds per program, and the persistent XLA cache (:mod:`gflab.sims._jaxsetup`) only
saves the compile that follows it. Here the *lowered* program is serialised
(``jax.export``) the first time a process builds it, and any later process that asks for the
same program deserialises it instead of tracing: it then compiles the deserialised module,
which the persistent cache turns into a load. The first process compiles that very module too
(it calls the exported program, never the jitted function), so every later process finds its
executable in the cache.

**Key.** An entry's file name is the sha256 of its key, and the file repeats the key, which
is compared whole before the program is used. The key holds: this format's number; the
versions of python, jax, jaxlib, diffrax, equinox, optimistix, lineax and gflab; the backend,
``jax_enable_x64``, the default matmul precision and the dtype/rank promotion rules; ``EQX_ON_ERROR``; the structure, shapes,
dtypes and weak types of the array arguments (a method's static fields: its solver name,
``max_steps``... are part of that structure); and a description of every static argument and
of the solve function itself (:func:`describe`): for a function, its module, qualified name,
byte code, defaults and closure contents (recursively: numbers and strings by value, arrays by
their bytes, functions by their own description), and the code of its module with every gflab
module that module imports (:func:`gflab.sims.store.module_code_hash`: comments and
docstrings do not count). A static argument that cannot be described (an object that is not a
function, a dataclass, a number, a string or an array) is not saved: that solve is jitted as
before (counted as ``export_unkeyed``). Not covered: module-level globals changed at run time.

**Files.** ``<dir>/<key sha256>.jaxexport``, where ``<dir>`` is ``$GFLAB_EXPORT_DIR`` or the
``exported/`` folder of the JAX cache (none when that cache is off). A file is written under a
private temporary name and renamed (a reader never sees half of one). One that cannot be read,
is truncated, fails its checksum, holds another key (another jax version, say) or does not
deserialise into a program of the expected signature is ignored (``export_rejected``),
rebuilt, and replaced.

**Switch.** ``GFLAB_EXPORT=0`` (or ``off``) turns saved executables off: every solve is jitted
as before. Results are the same either way (tests/test_export.py).

**Counts.** :func:`counts` (also merged into :func:`gflab.sims._jaxsetup.compile_counts`):
``export_hits`` (programs read from disk), ``export_misses`` (traced, exported and written),
``export_rejected`` (unusable files), ``export_unkeyed`` (static arguments that could not be
described), ``export_failed`` (programs jax.export could not export: jitted instead).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import os
import re
import stat
import sys
import threading
import types
from collections.abc import Callable, Sequence
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax import export as jexport

from gflab.sims import _jaxsetup

__all__ = [
    "program",
    "enabled",
    "export_dir",
    "counts",
    "describe",
    "forget",
    "Unkeyable",
    "FORMAT",
]

FORMAT = 1
_MAGIC = b"GFLAB-JAXEXPORT\n"
_MAX_BYTES = 512 << 20  # a saved solve is a few MB; anything larger is not one of ours
_OFF = ("0", "off", "no", "false", "none")
# Some LAPACK kernels of jax's CPU backend (lapack_dormqr_ffi, in the linear solve of the event
# root-find) are not on jax.export's list of custom calls with a compatibility guarantee. A file
# is only read back by the jax and jaxlib that wrote it (both are in the key), so the guarantee
# is not needed: the export allows the LAPACK ones it names (_export_with_lapack).
_LAPACK_PREFIXES = ("lapack_",)
_log = logging.getLogger(__name__)

_lock = threading.RLock()
_counts = {
    "export_hits": 0,
    "export_misses": 0,
    "export_rejected": 0,
    "export_unkeyed": 0,
    "export_failed": 0,
}


def counts() -> dict:
    """This process's saved-executable counts (see the module docstring).

    Returns:
        ``{"export_hits", "export_misses", "export_rejected", "export_unkeyed", "export_failed"}``.
    """
    with _lock:
        return dict(_counts)


def _count(name: str) -> None:
    with _lock:
        _counts[name] += 1


def enabled() -> bool:
    """Whether solves use saved executables.

    Returns:
        True unless ``GFLAB_EXPORT`` is ``0``/``off``/``no``/``false``/``none``, there is no
        folder for them (:func:`export_dir`) or ``flatbuffers`` is not installed.
    """
    if os.environ.get("GFLAB_EXPORT", "1").strip().lower() in _OFF:
        return False
    return _serialisable() and export_dir() is not None


@functools.lru_cache(maxsize=1)
def _serialisable() -> bool:
    """jax.export serialises with ``flatbuffers`` (a core dependency; without it: jitted)."""
    import importlib.util

    return importlib.util.find_spec("flatbuffers") is not None


def export_dir() -> Path | None:
    """Where saved executables live.

    Returns:
        ``$GFLAB_EXPORT_DIR``, else ``exported/`` inside the JAX cache folder, else None (the
        JAX cache is off).
    """
    env = os.environ.get("GFLAB_EXPORT_DIR")
    if env:
        return Path(env)
    if _jaxsetup.CACHE_DIR is None:
        return None
    return Path(_jaxsetup.CACHE_DIR) / "exported"


# ----------------------------------------------------------------------------- keys


class Unkeyable(Exception):
    """A static argument whose behaviour cannot be described for a key."""


_EXTERNAL = ("jax", "jaxlib", "numpy", "scipy", "diffrax", "equinox", "optimistix", "lineax")
_VERSIONED = ("jax", "jaxlib", "diffrax", "equinox", "optimistix", "lineax", "numpy", "gflab")


@functools.lru_cache(maxsize=1)
def _versions() -> dict:
    from gflab.sims.store import package_versions

    return {"python": sys.version, **package_versions(_VERSIONED)}


@functools.lru_cache(maxsize=256)
def _module_code(module: str) -> str:
    """The code hash of a function's module: gflab's own (with what it imports, transitively),
    a third-party package's version (in the key already), or another file's normalised source."""
    from gflab.sims.store import module_code_hash, normalised_source

    root = module.partition(".")[0]
    if root in _EXTERNAL:
        return "pkg"
    if module.startswith("gflab."):
        return module_code_hash(module)
    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None)
    if not path or not os.path.isfile(path):
        raise Unkeyable(f"module {module!r} has no source file")
    return hashlib.sha256(normalised_source(path)).hexdigest()


def _code_digest(code: types.CodeType) -> str:
    """What a code object executes: byte code, names and constants (nested code recursively;
    no line numbers, so a layout change keeps the digest)."""
    h = hashlib.sha256()
    h.update(code.co_code)
    h.update(repr((code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars)).encode())
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            h.update(b"code:" + _code_digest(c).encode())
        elif isinstance(c, frozenset):
            h.update(repr(sorted(map(repr, c))).encode())
        else:
            h.update(repr(c).encode())
    return h.hexdigest()


def describe(obj: Any, _seen: tuple = ()) -> Any:
    """A JSON-able description of ``obj`` that changes whenever what it computes can change.

    Args:
      obj: a static argument of a solve (a function, partial, bound method, dataclass, number,
        string, array or a container of those).

    Returns:
      Nested lists and strings (see the module docstring).

    Raises:
      Unkeyable: for anything else (a generic object, a module-less function).
    """
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        return [type(obj).__name__, repr(obj)]
    if isinstance(obj, (np.ndarray, np.generic, jax.Array)):
        a = np.asarray(obj)
        return ["array", list(a.shape), str(a.dtype), hashlib.sha256(a.tobytes()).hexdigest()]
    if id(obj) in _seen:
        return ["cycle"]
    seen = (*_seen, id(obj))
    if isinstance(obj, (tuple, list)):
        return [type(obj).__name__, [describe(x, seen) for x in obj]]
    if isinstance(obj, dict):
        items = sorted(((repr(k), describe(v, seen)) for k, v in obj.items()), key=lambda kv: kv[0])
        return ["dict", items]
    if isinstance(obj, functools.partial):
        return [
            "partial",
            describe(obj.func, seen),
            describe(obj.args, seen),
            describe(obj.keywords, seen),
        ]
    if isinstance(obj, types.MethodType):
        return ["method", describe(obj.__self__, seen), describe(obj.__func__, seen)]
    if isinstance(obj, types.FunctionType):
        module = obj.__module__ or ""
        out = ["function", module, obj.__qualname__, _module_code(module)]
        if module.partition(".")[0] in _EXTERNAL:
            return out  # a library function: its package version is in the key
        cells = [_describe_cell(c, seen) for c in (obj.__closure__ or ())]
        defaults = describe(obj.__defaults__, seen)
        kwdefaults = describe(obj.__kwdefaults__, seen)
        return [*out, _code_digest(obj.__code__), defaults, kwdefaults, cells]
    if isinstance(obj, type):
        return ["class", obj.__module__, obj.__qualname__, _module_code(obj.__module__)]
    if isinstance(obj, types.ModuleType):
        return ["module", obj.__name__]
    wrapped = getattr(obj, "__wrapped__", None)
    if wrapped is not None and callable(obj):  # jax.jit / functools.wraps wrappers
        return ["wrapped", type(obj).__qualname__, describe(wrapped, seen)]
    if is_dataclass(obj):  # equinox modules included
        cls = describe(type(obj), seen)
        return [
            "dataclass",
            cls,
            [[f.name, describe(getattr(obj, f.name), seen)] for f in fields(obj)],
        ]
    raise Unkeyable(f"cannot describe a {type(obj).__qualname__}")


def _describe_cell(cell, seen: tuple) -> Any:
    try:
        contents = cell.cell_contents
    except ValueError:  # a cell not filled yet (a name the function assigns later)
        return ["empty cell"]
    return describe(contents, seen)


def _aval(x) -> list:
    a = jax.typeof(x)
    return [list(a.shape), str(a.dtype), bool(getattr(a, "weak_type", False))]


def _material(impl: Callable, static: dict, treedef, leaves: Sequence) -> dict:
    return {
        "format": FORMAT,
        "versions": _versions(),
        "backend": jax.default_backend(),
        "x64": bool(jax.config.jax_enable_x64),
        "matmul_precision": str(jax.config.jax_default_matmul_precision),
        # strict promotion makes tracing fail where the default promotes: a program traced
        # under one is not reused under the other (the test suite runs strict)
        "dtype_promotion": str(jax.config.jax_numpy_dtype_promotion),
        "rank_promotion": str(jax.config.jax_numpy_rank_promotion),
        "eqx_on_error": os.environ.get("EQX_ON_ERROR", ""),
        "impl": describe(impl),
        "static": {k: describe(v) for k, v in sorted(static.items())},
        "in_tree": str(treedef),
        "in_avals": [_aval(x) for x in leaves],
    }


# ----------------------------------------------------------------------------- files


def _encode(material_json: bytes, payload: bytes) -> bytes:
    head = len(material_json).to_bytes(8, "little")
    return _MAGIC + head + material_json + hashlib.sha256(payload).digest() + payload


def _decode(blob: bytes, material_json: bytes) -> bytes:
    """The payload of a saved file, or ValueError if it is not this key's complete entry."""
    if not blob.startswith(_MAGIC):
        raise ValueError("not a saved executable")
    pos = len(_MAGIC)
    n = int.from_bytes(blob[pos : pos + 8], "little")
    pos += 8
    if blob[pos : pos + n] != material_json:
        raise ValueError("saved for another key (versions, code, shapes)")
    pos += n
    digest, payload = blob[pos : pos + 32], blob[pos + 32 :]
    if len(digest) != 32 or hashlib.sha256(payload).digest() != digest:
        raise ValueError("truncated or corrupt")
    return payload


def _read(path: Path) -> bytes | None:
    """The file's bytes; None if there is none; ValueError if it is not a regular file of a
    plausible size (a link, a folder, a pipe: never followed or waited on)."""
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ValueError(f"cannot open: {e}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_BYTES:
            raise ValueError("not a regular file of a plausible size")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(_MAX_BYTES + 1)
    finally:
        os.close(fd)


def _write(path: Path, blob: bytes) -> None:
    """Written under a private name and renamed: a reader sees the old file, none, or all."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _jaxsetup.write_atomic(path, blob)
    except OSError as e:  # a read-only cache folder: run on, unsaved
        _log.debug("saved executable not written: %s", e)


# ----------------------------------------------------------------------------- programs


_TARGET = re.compile(r"stablehlo\.custom_call @([\w$.]+)")


def _export_with_lapack(fn, specs):
    """``jax.export`` of ``fn``, allowing the LAPACK custom calls (``_LAPACK_PREFIXES``) that
    jax names as unguaranteed; any other such call still fails the export."""
    allowed: set[str] = set()
    while True:
        checks = [jexport.DisabledSafetyCheck.custom_call(n) for n in sorted(allowed)]
        try:
            return jexport.export(fn, disabled_checks=checks)(*specs)
        except ValueError as e:
            names = set(_TARGET.findall(str(e))) if "custom calls" in str(e) else set()
            if (
                not names
                or names <= allowed
                or not all(n.startswith(_LAPACK_PREFIXES) for n in names)
            ):
                raise
            allowed |= names


class _Jitted:
    """A solve without a saved executable: the jitted function, compiled ahead of time."""

    def __init__(self, jitted, static: dict):
        self._jitted, self._static = jitted, static

    def compile(self, args: tuple) -> None:
        self._jitted.lower(*args, **self._static).compile()

    def __call__(self, args: tuple):
        return self._jitted(*args, **self._static)


class _Saved:
    """A solve from a saved (or newly exported) executable, compiled once per process."""

    def __init__(self, material: dict, dynamic_of, impl, static: dict, static_pos: dict, jitted):
        self._material = material
        self._dynamic_of = dynamic_of
        self._impl, self._static, self._static_pos = impl, static, static_pos
        self._jitted = jitted
        self._compiled = None
        self._fallback = None
        self._build_lock = threading.Lock()

    def _leaves(self, args: tuple) -> list:
        return jax.tree_util.tree_leaves(self._dynamic_of(args))

    def _export(self, args: tuple):
        treedef = jax.tree_util.tree_structure(self._dynamic_of(args))
        impl, static, static_pos = self._impl, self._static, self._static_pos
        n = len(args)

        def flat(*leaves):
            dyn = iter(jax.tree_util.tree_unflatten(treedef, leaves))
            full = [static_pos[i] if i in static_pos else next(dyn) for i in range(n)]
            return impl(*full, **static)

        specs = [_spec(x) for x in self._leaves(args)]
        return _export_with_lapack(jax.jit(flat), specs)

    def compile(self, args: tuple) -> None:
        with self._build_lock:
            if self._compiled is None and self._fallback is None:
                self._build(args)

    def _build(self, args: tuple) -> None:
        mjson = json.dumps(self._material, sort_keys=True).encode()
        path = export_dir() / f"{hashlib.sha256(mjson).hexdigest()}.jaxexport"
        leaves = self._leaves(args)
        try:
            blob = _read(path)
            if blob is not None:
                exported = jexport.deserialize(bytearray(_decode(blob, mjson)))
                _check_signature(exported, leaves)
                self._compiled = _compile(exported, leaves)
                _count("export_hits")
                return
        except Exception as e:  # noqa: BLE001  (anything unusable is rebuilt, never fatal)
            _log.debug("saved executable %s rejected: %s", path.name, e)
            _count("export_rejected")
        try:
            exported = self._export(args)
            blob = _encode(mjson, bytes(exported.serialize()))
            self._compiled = _compile(exported, leaves)
        except Exception as e:  # noqa: BLE001  (not exportable: jitted as before)
            _log.debug("solve not exportable: %s", e)
            _count("export_failed")
            self._fallback = _Jitted(self._jitted, self._static)
            self._fallback.compile(args)
            return
        _write(path, blob)
        _count("export_misses")

    def __call__(self, args: tuple):
        if self._compiled is None and self._fallback is None:
            self.compile(args)
        if self._fallback is not None:
            return self._fallback(args)
        return self._compiled(*self._leaves(args))


def _compile(exported, leaves):
    """The exported program itself is what runs, in the process that exported it and in every
    later one: so the executable the persistent cache holds is the one each of them asks for."""
    return jax.jit(exported.call).lower(*leaves).compile()


def _spec(x) -> jax.ShapeDtypeStruct:
    """The argument as jit sees it: a Python number stays weakly typed (it takes the dtype of
    the arrays it meets, as in the jitted solve)."""
    a = jax.typeof(x)
    return jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=bool(getattr(a, "weak_type", False)))


def _check_signature(exported, leaves) -> None:
    want = [(tuple(np.shape(x)), np.dtype(jax.typeof(x).dtype)) for x in leaves]
    got = [(tuple(a.shape), np.dtype(a.dtype)) for a in exported.in_avals]
    if got != want:
        raise ValueError(f"signature {got} is not {want}")
    if jax.default_backend() not in exported.platforms:
        raise ValueError(f"exported for {exported.platforms}")


_programs: dict = {}


class _Forget:
    """Registered with jax's cache management: ``jax.clear_caches()`` drops the executables held
    here as it drops its own (the next solve reads its file again)."""

    @staticmethod
    def cache_clear() -> None:
        with _lock:
            _programs.clear()


forget = _Forget.cache_clear
try:
    from jax._src import util as _jax_util

    _jax_util.register_cache(_Forget, "gflab saved executables")
except (ImportError, AttributeError):  # a jax without the hook: executables live as long as we do
    pass


def _signature(tree):
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple((tuple(a[0]), a[1], a[2]) for a in map(_aval, leaves))


def program(jitted, impl: Callable, static_names: Sequence[str], args: tuple, static: dict):
    """The executable that runs ``impl(*args, **static)``: saved on disk when it can be.

    Args:
      jitted: ``jax.jit(impl, static_argnames=static_names)``, used when saving is off or
        impossible.
      impl: the solve function (engine's ``flow_solve_impl``, ``iterate_impl``...).
      static_names: its static parameters (functions, counts).
      args: its positional arguments; the static ones among them are keyed by
        :func:`describe`, the others are PyTrees of arrays or numbers.
      static: its keyword arguments, all static.

    Returns:
      An object with ``compile(args)`` (build or load now; idempotent) and ``__call__(args)``
      (run on arguments of the same signature, returning ``impl``'s output).
    """
    names = list(inspect.signature(impl).parameters)
    static_names = set(static_names)
    static_pos = {i: a for i, a in enumerate(args) if names[i] in static_names}

    def dynamic_of(a: tuple) -> tuple:
        return tuple(x for i, x in enumerate(a) if i not in static_pos)

    on = enabled()
    fast = (
        on and export_dir(),
        impl,
        tuple((i, a) for i, a in static_pos.items()),
        tuple(sorted(static.items())),
        _signature(dynamic_of(args)),
    )
    with _lock:
        got = _programs.get(fast)
        if got is not None:
            return got
        prog = None
        if on:
            try:
                dyn = dynamic_of(args)
                leaves, treedef = jax.tree_util.tree_flatten(dyn)
                statics = {**{names[i]: a for i, a in static_pos.items()}, **static}
                material = _material(impl, statics, treedef, leaves)
                prog = _Saved(material, dynamic_of, impl, static, static_pos, jitted)
            except Unkeyable as e:
                _log.debug("solve not saved: %s", e)
                _count("export_unkeyed")
        if prog is None:
            prog = _Jitted(jitted, static)
        _programs[fast] = prog
        return prog
