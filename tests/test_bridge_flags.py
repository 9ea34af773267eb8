"""The ``gflab bridge`` flags generated from the config dataclasses' fields: each flag's default
is its field's default (the oracle: :func:`dataclasses.fields`), ``--help`` lists every such
flag, and the flags left at their defaults build the config's default."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from gflab.cli import bridge, build_parser
from gflab.cli._fields import add_field_flags, flag_fields
from gflab.sims.bridge.dmf_run import BridgeDMFConfig
from gflab.sims.bridge.lora_run import BridgeLoRAConfig
from gflab.sims.bridge.prune_data import DataSpec
from gflab.sims.bridge.prune_run import MethodSpec, PruneConfig, TrainSpec
from gflab.sims.bridge.warmstart import WarmStartConfig

# subcommand -> the config dataclasses its flags fill
GENERATED = {
    "lora": (BridgeLoRAConfig,),
    "dmf": (BridgeDMFConfig,),
    "warmstart": (WarmStartConfig,),
    "prune": (DataSpec, MethodSpec, TrainSpec, PruneConfig),
}
# subcommand -> the command's config of the parsed flags (prune: below, its methods are a list)
CONFIG = {
    "lora": lambda a: bridge._config(a, BridgeLoRAConfig, 0, bridge._lora_fixed(a)),
    "dmf": lambda a: bridge._config(a, BridgeDMFConfig, 0, bridge._dmf_fixed(a)),
    "warmstart": bridge._warmstart_config,
}
CASES = [
    pytest.param(kind, cls, f.name, id=f"{kind}-{cls.__name__}-{f.name}")
    for kind, classes in GENERATED.items()
    for cls in classes
    for f in dataclasses.fields(cls)
    if "help" in f.metadata
]


def _flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def _subparser(kind: str) -> argparse.ArgumentParser:
    top = build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    kinds = next(
        a for a in sub.choices["bridge"]._actions if isinstance(a, argparse._SubParsersAction)
    )
    return kinds.choices[kind]


def _oracle(f: dataclasses.Field):
    """What the flag must hold when not given, straight from the field."""
    if f.metadata.get("unset"):
        return None  # "not given": the command fills f.default (test below)
    if isinstance(f.default, tuple):
        return ",".join(str(v) for v in f.default)  # typed as comma-separated text
    return f.default


@pytest.mark.parametrize(("kind", "cls", "name"), CASES)
def test_cli_default_is_the_field_default(kind, cls, name):
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    action = next(a for a in _subparser(kind)._actions if _flag(f) in a.option_strings)
    want = _oracle(f) if action.type is None or f.metadata.get("unset") else f.default
    assert action.default == want
    assert type(action.default) is type(want)  # 16 vs 16.0 would pass == alone
    assert action.help.replace("%%", "%") == f.metadata["help"]
    assert action.choices == f.metadata.get("choices")


@pytest.mark.parametrize("kind", sorted(GENERATED))
def test_help_mentions_every_field_flag(kind):
    text = _subparser(kind).format_help().split()
    flags = [_flag(f) for cls in GENERATED[kind] for f in flag_fields(cls)]
    missing = [fl for fl in flags if fl not in text]
    assert flags and not missing


@pytest.mark.parametrize("kind", sorted(CONFIG))
def test_no_flags_build_the_default_config(kind):
    """The "unset" flags and those typed as text reach the config as the field's default."""
    (cls,) = GENERATED[kind]
    assert CONFIG[kind](build_parser().parse_args(["bridge", kind])) == cls()


PRUNE_METHOD_FLAGS = [f.name for f in flag_fields(MethodSpec)]


@pytest.mark.parametrize(
    "part",
    ["data", "train", "ratios", "seeds", "labelled", "semi_method", "dynamics_budget_gib"]
    + PRUNE_METHOD_FLAGS,
)
def test_prune_no_flags_build_the_default_specs(part):
    """``bridge prune`` without flags: its data, training and run fields are the dataclasses'
    defaults; every method's hyper-parameters are :class:`MethodSpec`'s (the methods themselves
    are the ``--score`` × ``--select`` list, not a field default)."""
    cfg = bridge.prune_config(build_parser().parse_args(["bridge", "prune"]))
    if part in PRUNE_METHOD_FLAGS:
        assert {getattr(m, part) for m in cfg.methods} == {getattr(MethodSpec(), part)}
    else:
        assert getattr(cfg, part) == getattr(PruneConfig(), part)


def test_generator_types_defaults_and_escapes():
    """The generator on a toy config: int/float/optional/tuple/unset fields and a ``%`` help."""

    @dataclasses.dataclass
    class Toy:
        n: int = dataclasses.field(default=3, metadata={"help": "count"})
        x: float | None = dataclasses.field(default=None, metadata={"help": "10% of n"})
        names: tuple = dataclasses.field(default=("a", "b"), metadata={"help": "names"})
        m: float = dataclasses.field(default=0.5, metadata={"help": "m", "unset": True})
        hidden: int = 7

    p = argparse.ArgumentParser()
    add_field_flags(p, Toy)
    assert vars(p.parse_args([])) == {"n": 3, "x": None, "names": "a,b", "m": None}
    assert vars(p.parse_args(["--n", "4", "--x", "2.5", "--m", "1"])) == {
        "n": 4,
        "x": 2.5,
        "names": "a,b",
        "m": 1.0,
    }
    assert "10% of n" in p.format_help()
    with pytest.raises(SystemExit):  # NaN refused as the other float flags
        p.parse_args(["--x", "nan"])
