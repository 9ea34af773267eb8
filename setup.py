"""Everything is in pyproject.toml; this file only adds ``gflab-legacy-names.pth`` to the wheel.

The .pth makes the first release's top-level names (``import theory``, ``sims``, ...) resolve to
``gflab.theory``, ... with a DeprecationWarning, for one release (gflab/_legacy.py), without
installing any top-level module of those names.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "gflab-legacy-names.pth"
PTH_LINE = "import gflab._legacy as _gflab_legacy; _gflab_legacy.install()\n"


class build_py_with_pth(build_py):
    def run(self):
        super().run()
        (Path(self.build_lib) / PTH).write_text(PTH_LINE)

    def get_outputs(self, include_bytecode=True):
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH)]


setup(cmdclass={"build_py": build_py_with_pth})
