"""gflab: theory simulation and verification suite for low-rank factorisation training dynamics.

The layers are subpackages, data flowing one way: :mod:`gflab.theory` → :mod:`gflab.sims` →
:mod:`gflab.proofs_checks` → :mod:`gflab.figures`; :mod:`gflab.cli` is the command line on top.
In a source checkout they are the top-level folders ``theory/``, ``sims/``, ... (mapped in
pyproject.toml); the first release's top-level names (``import theory``) still resolve, with a
DeprecationWarning, for this release (:mod:`gflab._legacy`).
"""

from gflab import _legacy

_legacy.install()


def __getattr__(name: str):
    if name == "__version__":  # read lazily: importing gflab stays cheap (it runs at start-up)
        from importlib import metadata

        try:  # the one literal is pyproject.toml's `version`; the installed metadata carries it
            return metadata.version("gflab")
        except metadata.PackageNotFoundError:  # a source tree on PYTHONPATH, never installed
            return "unknown"
    raise AttributeError(f"module 'gflab' has no attribute {name!r}")
