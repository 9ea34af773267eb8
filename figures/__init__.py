"""gflab.figures: one function per figure, from stored results to matplotlib (``gflab figures``)."""

from gflab.figures.registry import register, registry, render

__all__ = ["register", "registry", "render"]
