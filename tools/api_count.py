"""Count the public API of gflab's packages in a source tree (no imports: reads the files).

Metric 1: the length of each package's ``__init__.py`` ``__all__``.
Metric 2: public (non-underscore) module-level functions and classes (``def``/``class`` at the top
level, excluding names starting with ``_``) summed over all modules of the package, skipping
private modules (a path part starting with ``_`` other than ``__init__``).

Metric 3 (``--common BASE NOW``): metric 2 over only the modules both trees have (what shrank of
the API that was there, new modules aside).

Usage: python tools/api_count.py TREE [TREE ...]
       python tools/api_count.py --common BASE NOW
(a second tree: ``git worktree add /tmp/api-base REV``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES = ("theory", "sims", "proofs_checks", "figures")


def dunder_all(init: Path) -> int:
    """Names in ``__all__`` (``__all__ = [...]`` then any ``__all__ += [...]``)."""
    names: list[str] = []
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            names = list(ast.literal_eval(node.value))
        elif isinstance(node, ast.AugAssign) and getattr(node.target, "id", "") == "__all__":
            names += list(ast.literal_eval(node.value))
    return len(names)


def public_defs(pkg: Path) -> tuple[int, int]:
    """(public defs in public modules, modules counted)."""
    count = modules = 0
    for f in sorted(pkg.rglob("*.py")):
        rel = f.relative_to(pkg.parent)
        if any(p.startswith("_") and p != "__init__.py" for p in rel.parts):
            continue
        modules += 1
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if not node.name.startswith("_"):
                    count += 1
    return count, modules


def main(trees: list[str]) -> None:
    print(f"{'package':<14}" + "".join(f"{Path(t).name:>26}" for t in trees))
    for name in PACKAGES:
        cells = []
        for t in trees:
            pkg = Path(t) / name
            n_all = dunder_all(pkg / "__init__.py")
            defs, mods = public_defs(pkg)
            cells.append(f"__all__ {n_all:>3}, defs {defs:>4} ({mods} mod)")
        print(f"{name:<14}" + "".join(f"{c:>26}" for c in cells))


def common(base: Path, now: Path) -> None:
    def names(f: Path) -> set[str]:
        return {
            n.name
            for n in ast.parse(f.read_text()).body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and not n.name.startswith("_")
        }

    for name in PACKAGES:
        b = n = mods = 0
        for f in sorted((base / name).rglob("*.py")):
            rel = f.relative_to(base)
            if any(p.startswith("_") and p != "__init__.py" for p in rel.parts):
                continue
            if (now / rel).is_file():
                mods += 1
                b, n = b + len(names(f)), n + len(names(now / rel))
        print(f"{name:<14} {mods:>3} common modules: public defs {b:>4} -> {n:>4}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--common"] and len(sys.argv) == 4:
        common(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        main(sys.argv[1:])
