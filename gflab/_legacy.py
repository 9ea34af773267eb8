"""The first release's top-level module names (``theory``, ``sims``, ``proofs_checks``,
``figures``), kept for one release as aliases of ``gflab.theory`` … with a DeprecationWarning.

The installed package has no top-level modules of those names (they would clash with other
packages); the aliases resolve only after ``import gflab`` (which installs :class:`LegacyFinder`)
or from a source checkout, where the folders themselves are importable and redirect here on
import (their ``__init__`` calls :func:`redirect`). Either way ``theory.dmf is gflab.theory.dmf``:
one module object per file, so classes and registries are never duplicated.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings

LEGACY = ("theory", "sims", "proofs_checks", "figures")


def _warn(name: str) -> None:
    warnings.warn(
        f"`import {name}` is deprecated: the module is `gflab.{name}` (the old name is an alias "
        "for this release only)",
        DeprecationWarning,
        stacklevel=4,
    )


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module):  # the target module is already executed
        pass


class LegacyFinder(importlib.abc.MetaPathFinder):
    """Resolves ``theory[.x]`` etc. to the module object of ``gflab.theory[.x]``."""

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top not in LEGACY:
            return None
        if "." not in fullname:
            found = importlib.machinery.PathFinder.find_spec(fullname, path)
            if found is not None and not _ours(found.origin):
                return None  # somebody else's package of that name: it wins, we alias nothing
            _warn(fullname)
        elif getattr(sys.modules.get(top), "__name__", None) != "gflab." + top:
            return None  # the top-level name is not our alias
        new = "gflab." + fullname
        if importlib.util.find_spec(new) is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new))


def _ours(origin: str | None) -> bool:
    """Whether a module file lies in this source tree (a checkout's top-level folders)."""
    if origin is None:
        return False
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    return Path(origin).resolve().is_relative_to(root)


def install() -> None:
    """Put :class:`LegacyFinder` first on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, LegacyFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, LegacyFinder())


def redirect(name: str) -> None:
    """Called by a top-level folder's ``__init__`` when imported under its legacy name ``name``:
    warn, make ``sys.modules[name]`` the ``gflab.`` module, and alias its submodules from now on."""
    _warn(name)
    install()
    sys.modules[name] = importlib.import_module("gflab." + name)
