"""gflab: theory simulation and verification suite for low-rank factorisation training dynamics.

The layers are top-level packages, data flowing one way: :mod:`theory` → :mod:`sims` →
:mod:`proofs_checks` → :mod:`figures`. This package holds only the command line on top of them.
"""

__version__ = "0.1.0"
