"""gflab's benchmarks (``gflab bench``): kept in the source checkout, not in the installed package.

As diffrax keeps its ``benchmarks/`` beside the library: they time gflab against SciPy/NumPy
baselines and are run from a clone (``make bench`` or ``gflab bench`` with an editable install).
"""
