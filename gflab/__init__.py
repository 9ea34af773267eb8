"""gflab: theory simulation and verification suite for low-rank factorisation training dynamics.

The layers are top-level packages, data flowing one way: :mod:`theory` → :mod:`sims` →
:mod:`proofs_checks` → :mod:`figures`. This package holds only the command line on top of them.
"""

from importlib import metadata as _metadata

try:  # the one literal is pyproject.toml's `version`; the installed metadata carries it
    __version__ = _metadata.version("gflab")
except _metadata.PackageNotFoundError:  # a source tree on PYTHONPATH, never installed
    __version__ = "unknown"
