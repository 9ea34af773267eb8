"""Content-addressed result store: one folder per entry, published by one atomic rename.

**What the key covers.** An entry's key is sha256 of the canonical JSON of

- the config (``config.to_dict()``, or the dict itself for generic records),
- the versions of ``gflab, jax, jaxlib, diffrax, equinox, numpy, scipy`` (:func:`package_versions`),
- the store schema (:data:`SCHEMA`), and
- :func:`code_hash`: sha256 over the path and *code* of every ``*.py`` file under ``theory/`` and
  ``sims/`` but the bridge (``sims/bridge/``), computed once per process, so an edit to e.g.
  ``gflab.theory.dmf.gradient_field`` gives new keys and the old entries are never served again.
  The code is the module's syntax tree without docstrings (:func:`normalised_source`): editing a
  comment, a docstring or the layout changes no key.

What a result computed elsewhere depends on is added to its own key by whoever stores it: a
bridge run carries :func:`bridge_code_hash` (sims/bridge/record.py), a figure's record the code of
its runner's module (:func:`module_code_hash`, figures/registry.py). Not covered: ``proofs_checks/``,
the CLI, environment variables and hardware (XLA flags, thread counts). The sidecar also keeps the git revision (``git_revision``) for people
reading it, but the key does not depend on it (a commit that changes no source keeps the keys).

**Layout.** An entry is the folder ``<root>/<key[:2]>/<key>/`` with ``data.npz`` (arrays) and
``meta.json`` (sidecar: key, config, seed, versions, code hash, git revision, creation time, the
npz's sha256 and size, the result header, and the sidecar's own sha256). Writers build the complete folder
under a temporary name (``.tmp.<host>.<pid>.<random>``) in the same shard and publish it with one
``os.rename``; replacing an entry moves the old folder aside first. A reader therefore sees a
complete entry or none. Temporary folders whose writer died (same host, process gone, or older
than a day) are removed by :meth:`ResultStore.clean_orphans`.

**Verification.** An entry is served only if its sidecar's checksum matches, its npz's checksum
matches, and its sidecar's key, config, versions and code hash equal those asked for (a copied or
symlinked entry of another config is refused). Anything else (a missing file or checksum, a
sidecar of another shape, a result header that cannot be read) is ``corrupt``: ``get`` returns
None and ``get_or_run`` and sweeps recompute it.

**Hostile files.** Only regular files of bounded size are read, each through ``O_NOFOLLOW``
relative to its own folder's descriptor (the shard and entry folders are opened with
``O_NOFOLLOW`` too) and checked with ``fstat`` before a byte is read: a named pipe, a device, a
symbolic link (to ``/dev/zero``, or to another config's entry) or a sparse file larger than the
bound is ``corrupt`` at once, never a hang or a ``MemoryError``. When such an entry is
recomputed, whatever stands in its place (a file instead of the folder, a symbolic link, a shard
folder replaced by a file) is moved aside and deleted before the new entry is published, so a
rerun heals the store and leaves every other entry untouched.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import errno
import functools
import hashlib
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from gflab.sims.result import SimResult
from gflab.theory.errors import GflabInputError

__all__ = [
    "ResultStore",
    "Entry",
    "package_versions",
    "git_revision",
    "code_hash",
    "bridge_code_hash",
    "module_code_hash",
    "normalised_source",
    "source_hash",
    "default_store_root",
    "SCHEMA",
]

SCHEMA = 2
_VERSIONED = ("gflab", "jax", "jaxlib", "diffrax", "equinox", "numpy", "scipy")
_SOURCE_ROOT = Path(__file__).resolve().parent.parent
_CODE_DIRS = ("theory", "sims")
_NPZ, _META = "data.npz", "meta.json"
_ORPHAN_AGE_S = 24 * 3600.0  # a temporary folder of another host is removed after a day


def package_versions(names: tuple[str, ...] = _VERSIONED) -> dict[str, str]:
    """Installed versions of packages (``absent`` if missing).

    Args:
        names: the distributions; by default those whose code computes results (the store's).

    Returns:
        ``{name: version}`` in the order of ``names``.
    """
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def normalised_source(path: str | os.PathLike) -> bytes:
    """The code of a Python file without what does not run: its syntax tree (``ast.dump``, no
    line numbers) with every module, class and function docstring removed. Comments, docstrings
    and formatting do not change it; any change to what executes does. A file that does not parse
    is taken byte for byte.

    Args:
        path: a ``.py`` file.

    Returns:
        The bytes hashed for it.
    """
    raw = Path(path).read_bytes()
    try:
        tree = ast.parse(raw)
    except (SyntaxError, ValueError):
        return raw
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False).encode()


_DIGESTS: dict | None = None  # path -> [size, mtime_ns, digest]: parsing every module costs ~0.3 s


_DIRTY = False


def _digest_cache_path() -> Path:
    return Path.home() / ".cache" / "gflab" / "source-digests.json"


def _code_digest(path: Path) -> bytes:
    """sha256 of :func:`normalised_source`, remembered across processes by (size, mtime_ns) in
    ``~/.cache/gflab/source-digests.json`` (:func:`_save_digests`; a stale or unreadable file
    only costs a re-parse)."""
    global _DIGESTS, _DIRTY
    if _DIGESTS is None:
        try:
            _DIGESTS = json.loads(_digest_cache_path().read_text())
            if not isinstance(_DIGESTS, dict):
                _DIGESTS = {}
        except (OSError, ValueError):
            _DIGESTS = {}
    st = path.stat()
    got = _DIGESTS.get(str(path))
    if isinstance(got, list) and len(got) == 3 and got[:2] == [st.st_size, st.st_mtime_ns]:
        return bytes.fromhex(got[2])
    digest = hashlib.sha256(normalised_source(path)).digest()
    _DIGESTS[str(path)] = [st.st_size, st.st_mtime_ns, digest.hex()]
    _DIRTY = True
    return digest


def _save_digests() -> None:
    """Write the remembered digests whole under a private name, then rename (never half-read)."""
    global _DIRTY
    if not _DIRTY or _DIGESTS is None:
        return
    try:
        target = _digest_cache_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(_DIGESTS))
        os.replace(tmp, target)
        _DIRTY = False
    except OSError:
        pass


def source_hash(dirs: Iterable[str | os.PathLike], exclude: Iterable[str] = ()) -> str:
    """sha256 over the relative path and code (:func:`normalised_source`) of every ``*.py`` file
    under ``dirs`` (sorted).

    Args:
      dirs: source folders (e.g. ``[".../theory", ".../sims"]``); paths are hashed relative to
        each folder's parent, so a copy of the tree elsewhere hashes the same.
      exclude: relative folders left out (e.g. ``"sims/bridge"``).

    Returns:
      A 64-character hex digest.
    """
    skip = tuple(exclude)
    h = hashlib.sha256()
    for d in map(Path, dirs):
        for p in sorted(d.rglob("*.py")):
            rel = p.relative_to(d.parent).as_posix()
            if "__pycache__" in p.parts or any(rel.startswith(e + "/") for e in skip):
                continue
            h.update(rel.encode() + b"\0")
            h.update(_code_digest(p) + b"\0")
    _save_digests()
    return h.hexdigest()


_BRIDGE = "sims/bridge"


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """:func:`source_hash` of this checkout's ``theory/`` and ``sims/`` without the bridge (once
    per process): what every simulation's key covers."""
    return source_hash((_SOURCE_ROOT / d for d in _CODE_DIRS), exclude=(_BRIDGE,))


@functools.lru_cache(maxsize=1)
def bridge_code_hash() -> str:
    """:func:`source_hash` of ``sims/bridge/``: what a bridge run's key adds to :func:`code_hash`."""
    return source_hash([_SOURCE_ROOT / _BRIDGE])


def _gflab_imports(tree: ast.AST, package: str) -> set[str]:
    """Dotted names a module imports from gflab (``import gflab.x``, ``from gflab.x import y``,
    relative imports; inside functions too), each a module or a module's attribute."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("gflab.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(
                    parts[: len(parts) - node.level + 1] + ([node.module] if node.module else [])
                )
            else:
                base = node.module or ""
            if base == "gflab" or base.startswith("gflab."):
                out.add(base)
                out |= {f"{base}.{a.name}" for a in node.names}
    return out


def _module_file(name: str) -> str | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, AttributeError, ValueError):  # an attribute, not a module
        return None
    return spec.origin if spec is not None and spec.origin not in (None, "built-in") else None


@functools.lru_cache(maxsize=64)
def module_code_hash(module: str) -> str:
    """sha256 of the code (:func:`normalised_source`) of ``module`` and of every gflab module it
    imports, transitively (a dotted name, or a runner spelled ``module:function``): what a record
    computed by that runner depends on. Editing the runner, or anything it uses, changes it; a
    comment or a module it never imports does not.

    Args:
        module: ``gflab.x.y`` or ``gflab.x.y:function``.

    Returns:
        The hex digest.
    """
    import importlib.util

    root = module.partition(":")[0]
    try:
        spec = importlib.util.find_spec(root)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise GflabInputError("runner", "an importable module", module)
    if _module_file(root) is None:  # built in: no source of ours to follow
        return hashlib.sha256(root.encode()).hexdigest()
    seen: dict[str, str] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        origin = _module_file(name)
        if origin is None or origin in seen.values():
            continue
        seen[name] = origin
        package = name if origin.endswith("__init__.py") else name.rpartition(".")[0]
        try:
            tree = ast.parse(Path(origin).read_bytes())
        except (SyntaxError, ValueError):
            continue
        todo += sorted(_gflab_imports(tree, package) - set(seen))
    h = hashlib.sha256()
    for name in sorted(seen):
        h.update(name.encode() + b"\0" + _code_digest(Path(seen[name])) + b"\0")
    _save_digests()
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def git_revision() -> str:
    """The source tree's git commit (with ``+dirty`` if modified), or ``unknown``.

    Read once per process: two ``git`` subprocesses per stored entry dominated the cost of
    sweeps over tiny configurations.
    """
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=_SOURCE_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=_SOURCE_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def default_store_root() -> Path:
    """``$GFLAB_STORE`` if set and non-empty, else ``.gflab-cache/results`` under the cwd."""
    return Path(os.environ.get("GFLAB_STORE") or ".gflab-cache/results")


def _canonical(obj: Any) -> Any:
    """The JSON form a reader sees (tuples → lists, numpy scalars and inf → strings)."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def _sidecar_digest(meta: dict) -> str:
    """sha256 of the sidecar's canonical JSON without its own checksum field."""
    body = {k: v for k, v in meta.items() if k != "sidecar_sha256"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _host() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


# reads of one entry repeated while a concurrent writer keeps replacing it (ResultStore.read)
_READ_ATTEMPTS = 20


# a sidecar holds a config and a result header: far below this
_META_MAX_BYTES = 64 * 2**20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class _NotAnEntry(OSError):
    """A file of an entry that is not a regular file of bounded size (read as ``corrupt``)."""


def _npz_max_bytes() -> int:
    from gflab.sims.limits import memory_budget_bytes

    return memory_budget_bytes()


def _read_at(dir_fd: int, name: str, limit: int | None = None) -> bytes:
    """The bytes of the regular file ``name`` in the folder open as ``dir_fd``.

    Opened without following a symbolic link and without blocking (a named pipe opens at once),
    then checked with ``fstat``: anything but a regular file of at most ``limit`` bytes
    (default: the sidecar bound) raises :class:`_NotAnEntry` before a byte is read.
    """
    limit = _META_MAX_BYTES if limit is None else limit
    fd = os.open(name, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _NotAnEntry(errno.EINVAL, f"{name}: not a regular file")
        if st.st_size > limit:
            raise _NotAnEntry(errno.EFBIG, f"{name}: {st.st_size} bytes (at most {limit})")
        data = f.read(st.st_size + 1)
    if len(data) > st.st_size:
        raise _NotAnEntry(errno.EFBIG, f"{name}: grew while read")
    return data


def _open_dir(name: str | os.PathLike, dir_fd: int | None = None) -> int:
    """A descriptor of the folder ``name`` (not through a symbolic link)."""
    return os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=dir_fd)


def _remove_aside(path: Path, holder: Path) -> None:
    """Move ``path`` (a file, link or folder standing where an entry or shard belongs) into the
    new folder ``holder`` inside the store, then delete the holder with it."""
    with contextlib.suppress(FileNotFoundError):
        os.rename(path, holder / "entry")
    shutil.rmtree(holder, ignore_errors=True)


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return True  # nothing there: mkdir will make one


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


@dataclasses.dataclass(frozen=True)
class Entry:
    """One lookup: ``state`` is ``missing``, ``ok`` or ``corrupt``; arrays and meta when ``ok``."""

    key: str
    state: str
    arrays: dict | None = None
    meta: dict | None = None

    @property
    def is_result(self) -> bool:
        """True for an ``ok`` entry holding a :class:`SimResult` (not a generic record)."""
        return self.state == "ok" and isinstance(self.meta.get("result"), dict)


class ResultStore:
    """Results of simulations keyed by their config (anything with ``to_dict()``) or a dict.

    Args:
      root: the store folder (default :func:`default_store_root`).
      versions: package versions in the key (default :func:`package_versions`).
      code: the code hash in the key (default :func:`code_hash`).
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        versions: dict[str, str] | None = None,
        code: str | None = None,
    ):
        self.root = Path(root) if root is not None else default_store_root()
        self.versions = dict(versions) if versions is not None else package_versions()
        self.code = code if code is not None else code_hash()
        self.hits = 0
        self.misses = 0
        self.recomputed_corrupt = 0

    # ---- keys and paths
    @staticmethod
    def _cfg(config: Any) -> dict:
        return _canonical(config.to_dict() if hasattr(config, "to_dict") else dict(config))

    def key(self, config: Any) -> str:
        """The entry key of ``config`` (see the module docstring for what it covers).

        Args:
            config: a config (anything with ``to_dict()``) or a dict.

        Returns:
            The hex key of the config, the code it runs and the package versions.
        """
        cfg = config.to_dict() if hasattr(config, "to_dict") else dict(config)
        h = self._key_prefix().copy()
        h.update(json.dumps(cfg, sort_keys=True, separators=(",", ":"), default=str).encode())
        return h.hexdigest()

    def _key_prefix(self):
        ident = (SCHEMA, self.code, tuple(sorted(self.versions.items())))
        if getattr(self, "_prefix_ident", None) != ident:
            blob = json.dumps(
                {"schema": SCHEMA, "code": self.code, "versions": self.versions},
                sort_keys=True,
                separators=(",", ":"),
                default=str,
            )
            self._prefix = hashlib.sha256(blob.encode() + b"\0")
            self._prefix_ident = ident
        return self._prefix

    def entry_dir(self, key: str) -> Path:
        """The folder of entry ``key``.

        Args:
            key: an entry key (:meth:`key`).

        Returns:
            Its folder under the store's root (it may not exist).
        """
        return self.root / key[:2] / key

    def paths(self, key: str) -> tuple[Path, Path]:
        """``(npz, sidecar)`` paths of entry ``key``.

        Args:
            key: an entry key (:meth:`key`).

        Returns:
            The two files' paths (they may not exist).
        """
        d = self.entry_dir(key)
        return d / _NPZ, d / _META

    # ---- reading
    def read(self, config: Any, key: str | None = None) -> Entry:
        """Look ``config`` up and verify it (``key`` if already computed): an :class:`Entry`.

        Both files are read through one open descriptor of the entry's folder, so they come from
        one published folder even while a writer replaces it (published folders are never
        changed in place; a replacement renames the old one aside, then deletes it). A failed
        verification is ``corrupt`` only if the folder read is still the one at the entry's path
        and was not deleted meanwhile (link count > 0: the inode number of a deleted folder was
        seen reused while its descriptor was still open); otherwise it was replaced during the
        read, and the read is repeated.

        Args:
            config: a config (anything with ``to_dict()``) or a dict.
            key: ``config``'s key when the caller has it already.

        Returns:
            The :class:`Entry`: its state, and the arrays and sidecar when ``ok``.
        """
        key = key or self.key(config)
        cfg = self._cfg(config)
        d = self.entry_dir(key)
        entry = Entry(key, "missing")
        for _ in range(_READ_ATTEMPTS):
            try:
                fd = self._open_entry(key)
            except FileNotFoundError:
                return Entry(key, "missing")
            except OSError:
                return Entry(key, "corrupt")  # a file, a link or something unreadable
            try:
                entry = self._read_dir(key, cfg, fd)
                if entry.state == "ok":
                    return entry
                held = os.fstat(fd)
            finally:
                os.close(fd)
            try:
                now = os.stat(d, follow_symlinks=False)
            except FileNotFoundError:
                return Entry(key, "missing")  # replaced: the old folder gone, the new not yet in
            except OSError:
                return entry
            # still the folder that was read, and not a deleted one (a deleted folder's inode
            # number was seen reused while its descriptor was open): it is corrupt
            if held.st_nlink > 0 and (now.st_ino, now.st_dev) == (held.st_ino, held.st_dev):
                return entry
        return Entry(key, "missing")  # replaced on every attempt: nothing complete to serve yet

    def _open_entry(self, key: str) -> int:
        """A descriptor of entry ``key``'s folder: shard and entry opened without following a
        symbolic link (``OSError`` if either is a file, a link or unreadable)."""
        shard = _open_dir(self.entry_dir(key).parent)
        try:
            return _open_dir(key, dir_fd=shard)
        finally:
            os.close(shard)

    def read_meta(self, key: str) -> dict | None:
        """The sidecar of entry ``key`` as read (unverified), or None if it cannot be read as a
        bounded regular file holding a JSON object.

        Args:
            key: an entry key (:meth:`key`).

        Returns:
            The sidecar's JSON object, or None.
        """
        try:
            fd = self._open_entry(key)
        except OSError:
            return None
        try:
            meta = json.loads(_read_at(fd, _META).decode())
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)
        return meta if isinstance(meta, dict) else None

    def _read_dir(self, key: str, cfg: dict, fd: int) -> Entry:
        """Verify the entry in the folder open as ``fd``: ``ok`` with its arrays, or ``corrupt``."""
        bad = Entry(key, "corrupt")
        try:
            meta = json.loads(_read_at(fd, _META).decode())
            if not isinstance(meta, dict):
                return bad
            if meta.get("sidecar_sha256") != _sidecar_digest(meta):
                return bad  # no checksum, or an edited sidecar
            if (
                meta.get("key") != key
                or meta.get("schema") != SCHEMA
                or meta.get("config") != cfg
                or meta.get("versions") != _canonical(self.versions)
                or meta.get("code") != self.code
            ):
                return bad  # an entry of another config / code copied or linked here
            size = meta.get("npz_bytes")  # the npz size in the sidecar; older entries: a bound
            limit = size if isinstance(size, int) and size >= 0 else _npz_max_bytes()
            data = _read_at(fd, _NPZ, limit)
            if hashlib.sha256(data).hexdigest() != meta.get("npz_sha256"):
                return bad
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            if meta.get("record") == "result" or "result" in meta:
                SimResult.from_arrays(arrays, meta["result"])  # an unreadable header is corrupt
            return Entry(key, "ok", arrays, meta)
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            IndexError,
            EOFError,
            zipfile.BadZipFile,
        ):
            return bad

    def status(self, config: Any) -> str:
        """``missing``, ``ok`` or ``corrupt``.

        Args:
            config: a config (anything with ``to_dict()``) or a dict.

        Returns:
            The entry's state.
        """
        return self.read(config).state

    def contains(self, config: Any) -> bool:
        """True if a verified entry for ``config`` is stored.

        Args:
            config: a config (anything with ``to_dict()``) or a dict.

        Returns:
            Whether :meth:`read` finds it ``ok``.
        """
        return self.read(config).state == "ok"

    def get(self, config: Any) -> SimResult | None:
        """The stored :class:`SimResult` of ``config``, or None (missing, corrupt, a record).

        Args:
            config: a config (anything with ``to_dict()``) or a dict.

        Returns:
            The result, or None.
        """
        e = self.read(config)
        return SimResult.from_arrays(e.arrays, e.meta["result"]) if e.is_result else None

    def get_record(self, config: Any) -> tuple[dict[str, np.ndarray], dict] | None:
        """Raw arrays and sidecar of a generic record (see :meth:`put_record`).

        Args:
            config: a config (anything with ``to_dict()``) or a dict.

        Returns:
            ``(arrays, meta)`` of a verified entry, or None (missing or corrupt).
        """
        e = self.read(config)
        return (e.arrays, e.meta) if e.state == "ok" else None

    def keys(self) -> list[str]:
        """Keys of every entry folder (not verified; see :meth:`iter_entries`)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.parent.name for p in self.root.glob(f"*/*/{_META}") if not p.parent.name[0] == "."
        )

    def require_readable(self) -> None:
        """Raise :class:`GflabInputError` (parameter ``store``) if the store exists but cannot be
        listed (a file, a folder without permission): an empty store and an unreadable one are
        different answers. A store that does not exist yet is empty."""
        root = self.root
        try:
            st = os.stat(root)
        except FileNotFoundError:
            return
        except OSError as e:
            raise GflabInputError(
                "store", "a readable result-store folder", f"{root} ({e.strerror})"
            ) from None
        if not stat.S_ISDIR(st.st_mode):
            raise GflabInputError("store", "a result-store folder", f"{root} (not a folder)")
        try:
            with os.scandir(root) as it:
                shards = [e.path for e in it if len(e.name) == 2 and e.is_dir()]
            for shard in shards:
                with os.scandir(shard):
                    pass
        except OSError as e:
            raise GflabInputError(
                "store", "a readable result-store folder", f"{e.filename or root} ({e.strerror})"
            ) from None

    def iter_entries(self) -> Iterator[Entry]:
        """Every entry that verifies under this store's versions and code, as :class:`Entry`."""
        for key in self.keys():
            meta = self.read_meta(key)
            cfg = meta.get("config") if meta is not None else None
            if not isinstance(cfg, dict):
                continue
            e = self.read(cfg, key=key)
            if e.state == "ok" and self.key(cfg) == key:
                yield e

    # ---- writing
    def require_writable(self) -> None:
        """Raise :class:`GflabInputError` (parameter ``store``) unless entries can be written."""
        root = self.root
        if root.exists() and not root.is_dir():
            raise GflabInputError("store", "a folder (or a path to create one)", f"{root} (a file)")
        try:
            root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=root, prefix=".probe.")
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise GflabInputError(
                "store", "a writable folder", f"{root} ({e.strerror or type(e).__name__})"
            ) from None

    def put(self, config: Any, result: SimResult, **meta: Any) -> str:
        """Store ``result`` under ``config``'s key; returns the key.

        Args:
            config: a config (anything with ``to_dict()``) or a dict.
            result: its computed result.
            **meta: extra JSON-able fields for the sidecar.

        Returns:
            The entry key.
        """
        arrays, header = result.to_arrays()
        return self.put_record(config, arrays, {"result": header, "record": "result", **meta})

    def put_record(
        self, config: Any, arrays: dict[str, np.ndarray], meta: dict, compress: bool = False
    ) -> str:
        """Store arrays and a JSON-able ``meta`` under ``config``'s key; returns the key.

        ``compress``: write the npz with ``np.savez_compressed`` (readers need not know).

        Args:
            config: a config (anything with ``to_dict()``) or a dict.
            arrays: named NumPy arrays (written as one npz).
            meta: the JSON-able sidecar.
            compress: see above.

        Returns:
            The entry key.
        """
        key = self.key(config)
        buf = io.BytesIO()
        save = np.savez_compressed if compress else np.savez
        save(buf, **{k: np.asarray(v) for k, v in arrays.items()})
        data = buf.getvalue()
        cfg = self._cfg(config)
        sidecar = _canonical(
            {
                "key": key,
                "schema": SCHEMA,
                "config": cfg,
                "seed": cfg.get("seed"),
                "versions": self.versions,
                "code": self.code,
                "git_revision": git_revision(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "npz_sha256": hashlib.sha256(data).hexdigest(),
                "npz_bytes": len(data),
                **meta,
            }
        )
        sidecar["sidecar_sha256"] = _sidecar_digest(sidecar)
        self._publish(key, data, json.dumps(sidecar, indent=1, sort_keys=True).encode())
        return key

    def _publish(self, key: str, data: bytes, side: bytes) -> None:
        final = self.entry_dir(key)
        shard = final.parent
        tag = f"{_host()}.{os.getpid()}."
        if not _is_real_dir(shard):  # a file or a link where the shard folder belongs
            self.root.mkdir(parents=True, exist_ok=True)
            _remove_aside(shard, Path(tempfile.mkdtemp(dir=self.root, prefix=f".old.{tag}")))
        shard.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=shard, prefix=f".tmp.{tag}"))
        try:
            _fsync_write(tmp / _NPZ, data)
            _fsync_write(tmp / _META, side)
            if not _is_real_dir(final):  # a file or a link where the entry folder belongs
                _remove_aside(final, Path(tempfile.mkdtemp(dir=shard, prefix=f".old.{tag}")))
            try:
                os.rename(tmp, final)  # atomic; refused if a (non-empty) entry is there
            except OSError as e:
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                    raise
                # replace (force, corrupt, or a concurrent writer of the same key): move the old
                # folder aside, then publish; readers see the old entry, none, or the new one
                old = Path(tempfile.mkdtemp(dir=shard, prefix=f".old.{tag}"))
                try:
                    os.rename(final, old / "entry")
                except FileNotFoundError:
                    pass
                try:
                    os.rename(tmp, final)
                except OSError as e2:
                    if e2.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                        with contextlib.suppress(OSError):  # put the old entry back
                            os.rename(old / "entry", final)
                        shutil.rmtree(old, ignore_errors=True)
                        raise
                    # another writer published the same key in between: its entry stands
                    shutil.rmtree(tmp, ignore_errors=True)
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:  # make the rename durable
            fd = os.open(shard, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass

    def clean_orphans(self) -> tuple[int, int]:
        """Remove temporary folders and files whose writer is gone; returns (count, bytes).

        A ``.tmp.``/``.old.`` folder is an orphan when its writer ran on this host and its process
        is gone, or when it is older than a day (another host). Temporary files of the previous
        layout (``.<key>.npz…tmp``) older than an hour are removed too. Errors (a read-only
        store) are ignored: cleaning is best effort.
        """
        count = nbytes = 0
        if not self.root.is_dir():
            return 0, 0
        host, now = _host(), time.time()
        try:
            shards = [p for p in self.root.iterdir() if p.is_dir() and len(p.name) == 2]
        except OSError:
            return 0, 0
        for shard in shards:
            try:
                children = list(shard.iterdir())
            except OSError:
                continue
            for p in children:
                name = p.name
                try:
                    age = now - p.lstat().st_mtime
                except OSError:
                    continue
                orphan = False
                if name.startswith((".tmp.", ".old.")):
                    parts = name.split(".")
                    mine = len(parts) >= 4 and parts[2] == host and parts[3].isdigit()
                    orphan = (mine and not _alive(int(parts[3]))) or age > _ORPHAN_AGE_S
                elif name.startswith(".") and name.endswith(".tmp"):
                    orphan = age > 3600.0
                if not orphan:
                    continue
                size = (
                    sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else 0
                )
                size += p.lstat().st_size if p.is_file() else 0
                try:
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
                except OSError:
                    continue
                count += 1
                nbytes += size
        return count, nbytes

    def get_or_run(self, config: Any, run: Callable[[Any], SimResult]) -> SimResult:
        """The stored result for ``config``, or ``run(config)`` stored first (corrupt → rerun).

        Args:
            config: a config (anything with ``to_dict()``) or a dict.
            run: computes the result of ``config`` when it is not stored.

        Returns:
            The stored or the new result.
        """
        e = self.read(config)
        if e.is_result:
            self.hits += 1
            return SimResult.from_arrays(e.arrays, e.meta["result"])
        if e.state != "missing":
            self.recomputed_corrupt += 1  # corrupt, or a generic record where a result belongs
        self.misses += 1
        result = run(config)
        self.put(config, result)
        return result
