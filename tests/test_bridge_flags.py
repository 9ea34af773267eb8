"""The ``gflab bridge`` flags generated from the config dataclasses' fields: each flag's default
is its field's default (the oracle: :func:`dataclasses.fields`), ``--help`` lists every such
flag, and the flags left at their defaults build the config's default."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json

import pytest

from gflab.cli import bridge, build_parser, main
from gflab.cli._fields import add_field_flags, flag_fields, flag_values
from gflab.cli.bridge import AnalyzeFlags, ProbeBenchFlags, RunFlags
from gflab.sims.bridge.analyze import analyze_checkpoints
from gflab.sims.bridge.bench import probe_overhead
from gflab.sims.bridge.dmf_run import BridgeDMFConfig
from gflab.sims.bridge.lora_run import BridgeLoRAConfig
from gflab.sims.bridge.prune_data import DataSpec
from gflab.sims.bridge.prune_run import MethodSpec, PruneConfig, TrainSpec
from gflab.sims.bridge.warmstart import WarmStartConfig

# subcommand -> the config dataclasses its flags fill
GENERATED = {
    "lora": (BridgeLoRAConfig, RunFlags),
    "dmf": (BridgeDMFConfig, RunFlags),
    "warmstart": (WarmStartConfig,),
    "prune": (DataSpec, MethodSpec, TrainSpec, PruneConfig),
    "bench": (ProbeBenchFlags,),
    "analyze": (AnalyzeFlags,),
}
# subcommand -> the command's configs (one a seed) of the parsed flags (prune: below, its methods
# are a list)
CONFIG = {
    "lora": lambda a: bridge.seed_configs(a, BridgeLoRAConfig, **bridge._lora_fixed(a)),
    "dmf": lambda a: bridge.seed_configs(a, BridgeDMFConfig, **bridge._dmf_fixed(a)),
    "warmstart": lambda a: [bridge._warmstart_config(a)],
}
# the function each flag dataclass's fields are the keyword arguments of
CALLED = {ProbeBenchFlags: probe_overhead, AnalyzeFlags: analyze_checkpoints}
CASES = [
    pytest.param(kind, cls, f.name, id=f"{kind}-{cls.__name__}-{f.name}")
    for kind, classes in GENERATED.items()
    for cls in classes
    for f in dataclasses.fields(cls)
    if "help" in f.metadata
]


def _flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def _parse(kind: str, *argv: str) -> argparse.Namespace:
    # analyze needs its checkpoint paths (not opened by the parser)
    return build_parser().parse_args(
        ["bridge", kind, *(["ck/"] if kind == "analyze" else []), *argv]
    )


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
    """The "unset" flags, those typed as text and the run flags not given (seed, every, device)
    reach the config as the field's default."""
    cls = GENERATED[kind][0]
    assert CONFIG[kind](_parse(kind)) == [cls()]


@pytest.mark.parametrize("kind", ["lora", "dmf"])
def test_run_flags_reach_every_seed_config(kind):
    """``--seeds`` gives one config a seed, each with ``--every`` and ``--device``."""
    cfgs = CONFIG[kind](_parse(kind, "--seeds", "3,1", "--every", "7", "--device", "cpu"))
    assert [(c.seed, c.every, c.device) for c in cfgs] == [(3, 7, "cpu"), (1, 7, "cpu")]


@pytest.mark.parametrize("kind", ["lora", "dmf"])
def test_run_flags_device_default_is_the_configs(kind):
    """Python and CLI agree on the device a run uses when none is asked for."""
    assert RunFlags().device == GENERATED[kind][0]().device


CALLED_CASES = [
    pytest.param(cls, f.name, id=f"{cls.__name__}-{f.name}")
    for cls in CALLED
    for f in dataclasses.fields(cls)
]


@pytest.mark.parametrize(("cls", "name"), CALLED_CASES)
def test_flag_defaults_are_the_functions(cls, name):
    """Python and CLI defaults equal: each flag dataclass field's default is the default of the
    keyword argument of the same name (oracle: :func:`inspect.signature`)."""
    param = inspect.signature(CALLED[cls]).parameters[name]
    default = dataclasses.fields(cls)[[f.name for f in dataclasses.fields(cls)].index(name)].default
    assert (default, type(default)) == (param.default, type(param.default))


# a value for each bench/analyze flag, not its default, and its parsed form
GIVEN = {
    "model": ("tiny", "tiny"),
    "every": ("3", 3),
    "steps": ("5", 5),
    "optimizer": ("adamw", "adamw"),
    "device": ("cuda", "cuda"),
    "burn_in": ("40", 40),
    "scale": ("2.5", 2.5),
    "lora_alpha": ("16", 16.0),
    "adapter": ("b", "b"),
}
KIND_OF = {ProbeBenchFlags: "bench", AnalyzeFlags: "analyze"}


@pytest.mark.parametrize(("cls", "name"), CALLED_CASES)
def test_command_calls_the_function_with_the_flags(monkeypatch, cls, name):
    """``bridge bench``/``analyze`` pass every flag of their dataclass, the one given changed, as
    the keyword arguments of their function (the function replaced by a recorder)."""
    fn = CALLED[cls]
    seen = {}

    class Stop(Exception):
        pass

    def record(*args, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(inspect.getmodule(fn), fn.__name__, record)
    flag = "--" + name.replace("_", "-")
    args = _parse(KIND_OF[cls], flag, GIVEN[name][0])
    with pytest.raises(Stop):
        args.func(args)
    assert seen == {**dataclasses.asdict(cls()), name: GIVEN[name][1]}


BAD = [
    ("lora", "--seed", "x"),
    ("lora", "--seeds", "1,1"),
    ("dmf", "--seeds", "-1"),
    ("dmf", "--every", "2.5"),
    ("lora", "--seeds", "1", "--seed", "2"),
    ("dmf", "--no-store", "--store", "s"),
    ("bench", "--every", "x"),
    ("bench", "--steps", "1e3"),
    ("analyze", "ck/", "--burn-in", "x"),
    ("analyze", "ck/", "--scale", "nan"),
    ("analyze", "ck/", "--lora-alpha", "x"),
]


@pytest.mark.parametrize("argv", BAD, ids=["-".join(a) for a in BAD])
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_bad_generated_flag_exits_2_naming_it(capsys, argv, as_json):
    """A refused value of a generated flag: exit 2 and one line naming the flag (the last flag
    of ``argv``); with ``--json`` a JSON error object naming it."""
    with pytest.raises(SystemExit) as exc:  # argparse's refusal, in CleanParser's one line
        main(["bridge", *argv, *(["--json"] if as_json else [])])
    out, err = capsys.readouterr()
    flag = [a for a in argv if a.startswith("--")][-1]
    assert exc.value.code == 2
    if as_json:
        assert json.loads(out)["error"]["parameter"] == flag[2:]
    else:
        assert len(err.strip().splitlines()) == 1 and flag in err


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


def test_generator_switches_groups_and_parsers():
    """A ``bool`` field is a switch; fields of one ``group`` exclude each other; a ``type`` entry
    parses the flag."""

    @dataclasses.dataclass
    class Toy:
        a: int | None = dataclasses.field(default=None, metadata={"help": "a", "group": "g"})
        b: str | None = dataclasses.field(
            default=None, metadata={"help": "b", "group": "g", "type": str.upper}
        )
        on: bool = dataclasses.field(default=False, metadata={"help": "switch"})

    p = argparse.ArgumentParser()
    add_field_flags(p, Toy)
    assert vars(p.parse_args(["--b", "x", "--on"])) == {"a": None, "b": "X", "on": True}
    assert flag_values(p.parse_args([]), Toy) == dataclasses.asdict(Toy())
    with pytest.raises(SystemExit):
        p.parse_args(["--a", "1", "--b", "x"])
