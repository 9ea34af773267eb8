"""One table maps configs ↔ ``gflab simulate`` arguments, both ways (docs/theory.md §3).

For each model the table lists its parameters, generated from the config's dataclass fields and
its methods' fields (``dataclasses.fields``), with a help text, a kind and the default. The CLI
builds its flags from it (``--field-name``, defaults shown in ``--help``) and :func:`command`
writes the ``gflab simulate ...`` command that rebuilds a config, so the two cannot drift apart:
``config_from_args(model, parse(command(c)))`` equals ``c`` (tests/test_worst_examples.py). The table is
data; argparse itself lives in ``gflab/cli/simulate.py``. It sits in sims/ because
``proofs_checks`` (below the CLI) prints the command that reproduces a claim's worst example.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
from dataclasses import dataclass
from typing import Any

from gflab.sims.models import HELP, model_named
from gflab.sims.models import MODELS as REGISTRY
from gflab.sims.models.lora import DEFAULT_BETA, default_lora_horizon
from gflab.sims.models.river import RIVER_HELP
from gflab.theory.errors import GflabInputError

__all__ = [
    "Param",
    "MODELS",
    "params",
    "command",
    "command_args",
    "config_from_args",
    "config_from_fields",
    "method_params",
    "DEFAULT_BETA",
    "HELP",
    "RIVER_HELP",
    "default_lora_horizon",
]

#: name → config class, a view of the registry :data:`gflab.sims.models.MODELS`
MODELS: dict[str, type] = {name: m.config for name, m in REGISTRY.items()}

# a discrete method's step is written in its spelling (``gd:0.1``), not as a flag of its own
_STEPS = ("lr", "dt")


@dataclass(frozen=True)
class Param:
    """One row of the table: a config field or a method hyper-parameter.

    ``kind`` is ``int``, ``float``, ``str``, ``bool`` or ``floats`` (a comma list); ``methods``
    names the methods that have it (empty for config fields).
    """

    name: str
    kind: str
    help: str
    default: Any
    required: bool = False
    methods: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        """``--name-with-dashes``; booleans that default to true: ``--no-name``."""
        stem = self.name.replace("_", "-")
        return f"--no-{stem}" if self.kind == "bool" and self.default is True else f"--{stem}"


def _kind(annotation: str) -> str:
    a = str(annotation).replace("InitVar[", "").rstrip("]")
    if "bool" in a:
        return "bool"
    if "tuple" in a:
        return "floats"
    if a.startswith("int"):
        return "int"
    if a.startswith("float"):
        return "float"
    if a == "Any":  # method: a spelling on the command line
        return "str"
    return "str"


def _config_fields(model) -> set[str]:
    return {f.name for f in dataclasses.fields(model.config)}


def params(model: str) -> list[Param]:
    """The table of ``model`` (a key of :data:`gflab.sims.models.MODELS`): config fields first,
    then the hyper-parameters of its methods (a method's defaults: its own, or the config's
    default method's for the default method's class).

    Args:
      model: the model's name.
    Returns:
      A list of :class:`Param`.
    """
    m = model_named(model)
    out: list[Param] = []
    for f in dataclasses.fields(m.config):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = None if required else f.default
        out.append(Param(f.name, _kind(f.type), m.field_help.get(f.name, ""), default, required))
    seen: dict[str, Param] = {}
    default_method = m.default_method()
    own = _config_fields(m)
    for mcls in m.methods:
        base = default_method if isinstance(default_method, mcls) else None
        for f in dataclasses.fields(mcls):
            if f.name in _STEPS or f.name in own:
                continue
            if f.name in seen:
                p = seen[f.name]
                seen[f.name] = dataclasses.replace(p, methods=p.methods + (mcls.name,))
                continue
            default = f.default if base is None else getattr(base, f.name)
            seen[f.name] = Param(
                f.name, _kind(f.type), HELP.get(f.name, ""), default, False, (mcls.name,)
            )
    return out + list(seen.values())


def method_params(model: str) -> dict[str, tuple[str, ...]]:
    """Every hyper-parameter of ``model``'s methods, the step (``lr``, ``dt``) included → the
    names of the methods that have it (a sweep spec may set each, :func:`config_from_fields`).

    Args:
        model: a registered model's name (``"dmf"``, ``"lora"``, …).

    Returns:
        Each field name of the model's method classes → the method names that have it, in the
        model's method order.
    """
    out: dict[str, tuple[str, ...]] = {}
    for mcls in model_named(model).methods:
        for f in dataclasses.fields(mcls):
            out[f.name] = out.get(f.name, ()) + (mcls.name,)
    return out


def _relabel(e: GflabInputError, label) -> GflabInputError:
    return GflabInputError(label(e.parameter), e.allowed, e.got)


def config_from_fields(model: str, fields: dict[str, Any], label=str):
    """The config of a flat table of config fields and method hyper-parameters (a sweep point).

    Names that are fields of the config go to it; the others are hyper-parameters of its method
    (``rtol`` of ``adaptive``, ``lr`` of ``gd``), applied by the model's
    :meth:`~gflab.sims.models.Model.parse_method`: ``{"method": "gd", "lr": 0.2}`` is
    ``GD(0.2)``. A hyper-parameter the method lacks is refused, naming it.

    Args:
      model: a key of :data:`gflab.sims.models.MODELS`.
      fields: ``{name: value}``; ``method`` a spelling, a ``to_dict`` dict or a method object.
      label: maps a name to the parameter named in errors (``rtol`` → ``grid.rtol``).
    Returns:
      The validated config.
    """
    m = model_named(model)
    own = _config_fields(m)
    known = method_params(model)
    for name in fields:
        if name not in own and name not in known:
            raise GflabInputError(
                label(name),
                f"a field of {m.config.__name__} or a hyper-parameter of its methods "
                f"({', '.join(known)})",
                name,
            )
    rest = {k: v for k, v in fields.items() if k in own}
    hyper = {k: v for k, v in fields.items() if k not in own}
    try:
        if m.methods:
            rest["method"] = m.parse_method(rest.get("method"), hyper)
        return m.from_dict(rest)
    except GflabInputError as e:
        if e.parameter not in known or e.parameter in own:  # a config field's own error
            raise
        raise _relabel(e, label) from None


def config_from_args(model: str, values: dict[str, Any]):
    """The config from parsed flag values (only the flags given; names are field names).

    Method hyper-parameters are refused when the chosen method does not have them (``--momentum``
    with ``--method gd:0.1``); the model fills its command-line defaults
    (:meth:`~gflab.sims.models.Model.cli_defaults`: LoRA's horizon and SpecGF's β).

    Args:
      model: a key of :data:`gflab.sims.models.MODELS`.
      values: ``{field name: value}`` of the flags the user gave.
    Returns:
      The validated config.
    """
    m = model_named(model)
    table = {p.name: p for p in params(model)}
    values = dict(values)
    unknown = set(values) - set(table)
    if unknown:
        raise GflabInputError("arguments", "flags of gflab simulate " + model, sorted(unknown))
    if not m.methods:
        return m.config(**values)
    spelling = values.pop("method", None)
    hyper = {k: values.pop(k) for k in list(values) if table[k].methods}
    mcls = m.method_class(spelling)
    values = m.cli_defaults(values, mcls)
    # a hyper-parameter that is also a config field (LoRA's beta) belongs to a method that has it
    shared = {f.name for f in dataclasses.fields(mcls)} & set(values) if mcls else set()
    hyper.update({k: values.pop(k) for k in shared})
    return m.config(**values, method=m.parse_method(spelling, hyper))


def _fmt(kind: str, v: Any) -> str:
    if kind == "floats":
        return ",".join(repr(float(x)) for x in v)
    if isinstance(v, float):
        return "inf" if v == math.inf else repr(v)
    return str(v)


def command_args(config) -> list[str]:
    """The argument list after ``gflab simulate`` that rebuilds ``config`` (model first).

    Args:
      config: a config of a model of :data:`gflab.sims.models.MODELS`.
    Returns:
      e.g. ``["dmf", "--depth", "3", "--n", "4", "--alpha", "0.01"]``.
    """
    m = model_named(config.model)
    table = params(m.name)
    argv = [m.name]
    method = getattr(config, "method", None) if m.methods else None
    for p in table:
        if p.methods:
            continue
        v = getattr(config, p.name)
        if p.name == "method":
            if type(v) is not type(m.default_method()):
                argv += ["--method", v.spelling]
            continue
        if isinstance(v, str) and v == "file" and getattr(config, p.name + "_file", None):
            continue  # set by its --...-file flag
        if not p.required and v == p.default:
            continue
        if p.kind == "bool":
            argv.append(p.flag)  # --coupling, --aligned (defaults False)
            continue
        argv += [p.flag, _fmt(p.kind, v)]
    if method is None:
        return argv
    own = _config_fields(m)
    for f in dataclasses.fields(method):  # a hyper-parameter that is a config field's flag
        if f.name in own:
            argv += [f"--{f.name.replace('_', '-')}", _fmt("float", getattr(method, f.name))]
    named = type(method) is not type(m.default_method())
    base = m.parse_method(method.spelling if named else None, _shared(method, own))
    for p in table:
        if not p.methods or not hasattr(method, p.name):
            continue
        v = getattr(method, p.name)
        if v == getattr(base, p.name):
            continue
        if p.kind == "bool":
            if v != p.default:
                argv.append(p.flag)
            continue
        argv += [p.flag, _fmt(p.kind, v)]
    return argv


def _shared(method, own: set[str]) -> dict[str, Any]:
    """The method's hyper-parameters that the command line gives as config flags (``beta``)."""
    return {f.name: getattr(method, f.name) for f in dataclasses.fields(method) if f.name in own}


def command(config, *, json: bool = True) -> str:
    """``gflab simulate ...`` (with ``--json``) that reruns ``config``: the same config, so the same
    store key.

    Args:
        config: any model's config.
        json: append ``--json``.

    Returns:
        One shell-quoted command line.
    """
    argv = command_args(config) + (["--json"] if json else [])
    return "gflab simulate " + " ".join(shlex.quote(a) for a in argv)
