"""gflab.figures: one function per figure, from stored results to matplotlib (``gflab figures``)."""

if __name__ == "figures":  # the first release's top-level name: an alias of gflab.figures
    from gflab._legacy import redirect

    redirect(__name__)

from gflab.figures.registry import register, registry, render

__all__ = ["register", "registry", "render"]
