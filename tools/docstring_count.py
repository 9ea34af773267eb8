"""Count gflab's undocumented public names in a source tree (no imports: reads the files).

What counts as a public name:

- the modules: every ``*.py`` under ``theory/ sims/ proofs_checks/ figures/ gflab/`` whose path
  has no part starting with ``_`` other than ``__init__.py`` (``sims/_jaxsetup.py`` and
  ``gflab/__main__.py`` are private; ``docs/_build`` is not searched);
- in them, each module-level ``def``/``async def``/``class`` whose name does not start with
  ``_``, and each ``def`` directly in such a class whose name does not start with ``_``
  (methods, properties, static and class methods; dunder methods are not public names).

A method without a docstring of its own that overrides a documented method of a base class
defined in the tree inherits that docstring (as ``inspect.getdoc`` and the API pages do).

Two measures:

- **undocumented**: the name has no docstring (own or inherited);
- **no Args**: a function or method with a parameter other than ``self``/``cls`` whose docstring
  has no ``Args:`` (or ``Arguments:``) section.

Usage: python tools/docstring_count.py [TREE] [--list]
  (TREE defaults to the checkout this file is in; --list prints every name per file.)
"""

from __future__ import annotations

import argparse
import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("theory", "sims", "proofs_checks", "figures", "gflab")
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class PublicName:
    """One public definition.

    Args:
        path: the module's path relative to the tree, with ``/``.
        name: ``function``, ``Class`` or ``Class.method``.
        line: where it is defined.
        documented: it has a docstring.
        needs_args: it is a function or method with a parameter other than ``self``/``cls``.
        has_args: its docstring has an ``Args:`` (or ``Arguments:``) section.
    """

    path: str
    name: str
    line: int
    documented: bool
    needs_args: bool
    has_args: bool


def public_modules(tree: Path) -> list[Path]:
    """The public modules of gflab's packages under ``tree``.

    Args:
        tree: a checkout's root.

    Returns:
        The ``.py`` files counted (see the module docstring), sorted.
    """
    out = []
    for package in PACKAGES:
        for f in sorted((tree / package).rglob("*.py")):
            parts = f.relative_to(tree).parts
            if not any(p.startswith("_") and p != "__init__.py" for p in parts):
                out.append(f)
    return out


def _classes(tree: Path) -> dict[str, list[ast.ClassDef]]:
    """Every class defined at the top of any module of the packages (private ones too), by name."""
    out: dict[str, list[ast.ClassDef]] = {}
    for package in PACKAGES:
        for f in sorted((tree / package).rglob("*.py")):
            for node in ast.parse(f.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.ClassDef):
                    out.setdefault(node.name, []).append(node)
    return out


def _inherited_doc(cls: ast.ClassDef, method: str, classes: dict, seen=None) -> str:
    """The docstring of ``method`` in the nearest base class of ``cls`` (found by name in the tree)
    that documents it, or ``""``."""
    seen = set() if seen is None else seen
    for base in cls.bases:
        name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
        for b in classes.get(name, []):
            if id(b) in seen:
                continue
            seen.add(id(b))
            for m in b.body:
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and m.name == method:
                    if ast.get_docstring(m):
                        return ast.get_docstring(m)
            doc = _inherited_doc(b, method, classes, seen)
            if doc:
                return doc
    return ""


def _entry(rel: str, node: ast.AST, name: str, inherited: str = "") -> PublicName:
    doc = ast.get_docstring(node) or inherited
    needs = False
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        a = node.args
        params = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
        needs = bool([p for p in params if p not in ("self", "cls")] or a.vararg or a.kwarg)
    return PublicName(
        rel, name, node.lineno, bool(doc), needs, "Args:" in doc or "Arguments:" in doc
    )


def public_names(path: Path, tree: Path, classes: dict | None = None) -> list[PublicName]:
    """The public names defined in one module.

    Args:
        path: the module's file.
        tree: the checkout's root (names carry their path relative to it).
        classes: the tree's classes by name, for inherited docstrings (read from ``tree`` when
            None).

    Returns:
        One :class:`PublicName` per public function, class and method, in file order.
    """
    classes = _classes(tree) if classes is None else classes
    rel = path.relative_to(tree).as_posix()
    out = []
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(node, defs) or node.name.startswith("_"):
            continue
        out.append(_entry(rel, node, node.name))
        if isinstance(node, ast.ClassDef):
            for m in node.body:
                if isinstance(m, defs[:2]) and not m.name.startswith("_"):
                    inherited = (
                        "" if ast.get_docstring(m) else _inherited_doc(node, m.name, classes)
                    )
                    out.append(_entry(rel, m, f"{node.name}.{m.name}", inherited))
    return out


def count(tree: Path = ROOT) -> list[PublicName]:
    """Every public name of the tree.

    Args:
        tree: a checkout's root.

    Returns:
        The :class:`PublicName` of every public definition (see the module docstring).
    """
    classes = _classes(tree)
    return [n for f in public_modules(tree) for n in public_names(f, tree, classes)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree", nargs="?", type=Path, default=ROOT, help="a checkout's root")
    ap.add_argument("--list", action="store_true", help="list the names missing each measure")
    args = ap.parse_args(argv)
    names = count(args.tree.resolve())
    undocumented = [n for n in names if not n.documented]
    no_args = [n for n in names if n.needs_args and not n.has_args]
    print(
        f"{len(names)} public names in {len(public_modules(args.tree.resolve()))} modules: "
        f"{len(undocumented)} undocumented; {len(no_args)} of "
        f"{sum(n.needs_args for n in names)} with parameters have no Args section"
    )
    if args.list:
        for title, rows in (("undocumented", undocumented), ("no Args", no_args)):
            print(f"\n{title}:")
            for n in rows:
                print(f"  {n.path}:{n.line} {n.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
