"""Griffe extension for the API reference of gflab.sims' configs and methods.

- Each config field and method hyper-parameter gets its meaning as its docstring, from the table
  the CLI builds its flags from (gflab.sims.schema), so the class pages say what every field means
  without a second copy of the text in the source (attributes that have a docstring keep it).
- The methods are ``equinox.Module`` dataclasses, whose ``__init__`` griffe's static reading does
  not see (its dataclass support needs ``@dataclass``): the signature is taken from the class
  itself (``inspect.signature``), so the classes show ``Muon(lr, momentum=0.95, ...)`` and their
  docstrings' Args are checked against it.

Loaded by mkdocstrings (mkdocs.yml: ``extensions``).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import griffe


def _method_classes() -> tuple[type, ...]:
    from gflab.sims import methods as M
    from gflab.sims import terms as TM

    methods = (M.Adaptive, M.Euler, M.GD, M.SpecGD, M.SmoothedSpecGD, M.NewtonSchulz, M.Muon)
    return (*methods, TM.GF, TM.SpecGF, TM.PolarFlow)  # the flow terms: equinox modules too


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}".removeprefix("gflab.")


def _init_from_signature(cls: type, gcls: griffe.Class) -> None:
    """Give ``gcls`` an ``__init__`` with the runtime signature of ``cls``."""
    params = [griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword)]
    # the fields' annotations: equinox writes Any into __init__ for a field with a converter
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    for p in inspect.signature(cls).parameters.values():
        annotation = types.get(p.name, p.annotation)
        if not isinstance(annotation, str):
            annotation = getattr(annotation, "__name__", str(annotation))
        default = None if p.default is inspect.Parameter.empty else repr(p.default)
        params.append(
            griffe.Parameter(
                p.name,
                annotation=annotation,
                kind=griffe.ParameterKind(p.kind.description),
                default=default,
            )
        )
    init = griffe.Function(
        "__init__", parameters=griffe.Parameters(*params), returns="None", parent=gcls
    )
    gcls.set_member("__init__", init)


def _documented_classes() -> dict[str, dict[str, str]]:
    """``module.Class`` path (as griffe names it) → field → meaning."""
    from gflab.sims.schema import HELP, MODELS, RIVER_HELP

    out = {_path(cls): RIVER_HELP if model == "river" else HELP for model, cls in MODELS.items()}
    out.update({_path(cls): HELP for cls in _method_classes()})
    return out


class FieldMeanings(griffe.Extension):
    """Docstrings for the fields of gflab.sims' configs and methods (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.path != "gflab":
            return
        for cls in _method_classes():
            try:
                gcls = pkg[_path(cls)]
            except KeyError:
                continue
            if "__init__" not in gcls.members:
                _init_from_signature(cls, gcls)
        for path, helps in _documented_classes().items():
            try:
                cls = pkg[path]
            except KeyError:
                continue
            for name, member in cls.members.items():
                if member.is_attribute and member.docstring is None and helps.get(name):
                    # Markdown: a * of the CLI's plain text would start emphasis
                    text = helps[name].replace("*", "\\*")
                    member.docstring = griffe.Docstring(text, parent=member)
