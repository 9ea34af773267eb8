"""Command-line flags generated from a config dataclass's fields: each default is written once, on
the field, and the flag's help (and its type, when the annotation does not give it) lives in the
field's ``metadata`` (``field(default=..., metadata={"help": ...})``).

Metadata keys a field may carry:

- ``help``: the flag's help (plain text: ``%`` is escaped for argparse); a field without it has
  no generated flag.
- ``flag``: the option string (default ``--`` + the field name with ``-`` for ``_``).
- ``unset``: true when the flag's default is ``None`` ("not given", so the command can refuse it
  with an option that does not read it); the command then fills the field's default
  (:func:`field_default`).
- ``choices``: the allowed values (argparse refuses the others with exit code 2).
- ``metavar``: the flag's value name in ``--help``.
- ``type``: the flag's parser (for the flag dataclasses of :mod:`gflab.cli` itself).
- ``group``: flags of one ``add_field_flags`` call with the same group name exclude each other.

A field's argparse type comes from its annotation (a ``bool`` field defaulting to false is a switch),
or from the command (``types``, or the ``type`` entry: the parsers live in :mod:`gflab.cli`, which
the config modules do not import).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from gflab.cli._common import finite_float

_TYPES = {int: int, float: finite_float}


def _arg_type(annotation):
    """The argparse type of a field's annotation (``X | None`` as ``X``; strings and tuples:
    none, the command splits them)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else None
    return _TYPES.get(annotation)


def flag(help: str, default: Any = None, **metadata: Any) -> Any:
    """A dataclass field with a generated flag (for the flag dataclasses of :mod:`gflab.cli`).

    Args:
        help: the flag's help.
        default: the field's default (and the flag's).
        **metadata: the other metadata keys (``group``, ``type``, ``metavar``, ...).

    Returns:
        ``dataclasses.field(default=default, metadata={"help": help, **metadata})``.
    """
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


def field_default(config_cls, name: str) -> Any:
    """The default of field ``name`` of ``config_cls`` (its ``default_factory`` called).

    Args:
        config_cls: a dataclass.
        name: one of its field names.

    Returns:
        The value ``config_cls()`` would hold in that field.
    """
    f = {f.name: f for f in dataclasses.fields(config_cls)}[name]
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def cli_default(config_cls, name: str, typed: bool = False) -> Any:
    """What the flag of field ``name`` holds when not given: ``None`` for an ``unset`` field, a
    tuple default joined with commas when no parser reads it (``typed`` false: the command
    splits the text), else the field's default.

    Args:
        config_cls: a dataclass whose field ``name`` has ``help`` metadata.
        name: the field's name.
        typed: whether the flag has a parser giving the field's own kind of value.

    Returns:
        The argparse default of the generated flag.
    """
    f = {f.name: f for f in dataclasses.fields(config_cls)}[name]
    if f.metadata.get("unset"):
        return None
    default = field_default(config_cls, name)
    if isinstance(default, tuple) and not typed:
        return ",".join(str(v) for v in default)
    return default


def flag_name(f: dataclasses.Field) -> str:
    """The option string of field ``f``'s flag (``--`` + its name with ``-`` for ``_``, unless its
    metadata names another)."""
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def flag_values(args, config_cls) -> dict[str, Any]:
    """The parsed values of the flags :func:`add_field_flags` added for ``config_cls``.

    Args:
        args: the parsed command line.
        config_cls: a dataclass whose flags are on that command line.

    Returns:
        Field name → the value its flag holds, for every field with a flag.
    """
    return {
        f.name: getattr(args, flag_name(f)[2:].replace("-", "_")) for f in flag_fields(config_cls)
    }


def flag_fields(config_cls) -> list[dataclasses.Field]:
    """The fields of ``config_cls`` that have a generated flag (those with ``help`` metadata).

    Args:
        config_cls: a dataclass.

    Returns:
        Its fields with a ``help`` entry in their metadata, in declaration order.
    """
    return [f for f in dataclasses.fields(config_cls) if "help" in f.metadata]


def add_field_flags(parser, config_cls, types: dict | None = None) -> None:
    """Add to ``parser`` one flag per field of ``config_cls`` with ``help`` metadata, its default
    the field's (:func:`cli_default`), its type from ``types`` or else the annotation (``int``;
    ``float`` as :func:`~gflab.cli._common.finite_float`).

    Args:
        parser: an ``argparse.ArgumentParser`` (a subcommand's).
        config_cls: the dataclass the subcommand's flags fill.
        types: field name → argparse type, for fields whose text the annotation cannot parse
            (comma lists): their default stays the field's value (the ``type`` metadata entry
            does the same from the field).
    """
    types = {
        **{f.name: f.metadata["type"] for f in flag_fields(config_cls) if "type" in f.metadata},
        **(types or {}),
    }
    hints = typing.get_type_hints(config_cls)
    groups: dict[str, Any] = {}
    for f in flag_fields(config_cls):
        meta = f.metadata
        typed = f.name in types
        kwargs: dict[str, Any] = {
            "default": cli_default(config_cls, f.name, typed),
            "help": meta["help"].replace("%", "%%"),
        }
        if hints[f.name] is bool:
            if kwargs["default"] is not False:
                raise TypeError(f"{f.name}: a switch (bool field) must default to False")
            kwargs["action"] = "store_true"
        else:
            arg_type = types[f.name] if typed else _arg_type(hints[f.name])
            if arg_type is not None:
                kwargs["type"] = arg_type
        for key in ("choices", "metavar"):
            if key in meta:
                kwargs[key] = meta[key]
        target = parser
        if "group" in meta:
            if meta["group"] not in groups:
                groups[meta["group"]] = parser.add_mutually_exclusive_group()
            target = groups[meta["group"]]
        target.add_argument(flag_name(f), **kwargs)
