"""``gflab simulate dmf|lora|dmf-plasticity|dmf-dash|river|kleinman|prune``: one run, a readable summary or the
JSON contract (``--json``)."""

from __future__ import annotations

import argparse

from gflab.cli._common import finite_float, float_list, print_json
from gflab.sims.models import MODELS
from gflab.theory.errors import GflabInputError

_TYPES = {"int": int, "float": finite_float, "floats": float_list, "str": str}


def _show(v) -> str:
    if hasattr(v, "spelling"):  # a method object: the spelling that selects it
        return v.spelling
    if isinstance(v, tuple):
        return ",".join(f"{x:g}" for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def add_table_flags(parser, model: str) -> None:
    """Every row of :func:`gflab.sims.schema.params` as a flag; only flags given reach the config.

    Args:
        parser: the model's ``argparse`` parser.
        model: the model's name (``"dmf"``, ``"lora"``, …).
    """
    from gflab.sims.schema import params

    for p in params(model):
        help_ = p.help
        if p.default is not None and not p.required and p.kind != "bool":
            help_ += f" (default: {_show(p.default)})"
        if p.kind == "bool":
            action = "store_false" if p.default is True else "store_true"
            parser.add_argument(
                p.flag, dest=p.name, action=action, default=argparse.SUPPRESS, help=help_
            )
            continue
        parser.add_argument(
            p.flag,
            dest=p.name,
            type=_TYPES[p.kind],
            required=p.required,
            default=argparse.SUPPRESS,
            metavar=p.name.upper(),
            help=help_,
        )


#: ``gflab simulate``: its one-line help and description (:func:`gflab.cli.build_parser`)
COMMAND = {
    "help": f"run one simulation ({', '.join(MODELS)})",
    "description": "Run one simulation of a model of docs/theory.md §2; the result goes "
    "through the result store ($GFLAB_STORE, default .gflab-cache/results).",
}


def add_flags(p) -> None:
    """``gflab simulate MODEL``: one subparser per registered model, its flags generated from
    the config table (:func:`add_table_flags`), plus ``--until-converged`` where the model has
    it and ``--json``.

    Args:
        p: the ``gflab simulate`` parser.
    """
    models = p.add_subparsers(dest="model", metavar="MODEL", required=True, parser_class=type(p))
    for name, model in MODELS.items():
        d = models.add_parser(
            name,
            help=model.summary,
            description="Flags are generated from the config's fields (sims/schema.py): the "
            "same table writes the command that reproduces a config.",
            epilog=model.examples,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_table_flags(d, name)
        if model.until_converged_flag:
            d.add_argument(
                "--until-converged",
                action="store_true",
                help="run until the loss converges (the default without --t1)",
            )
        d.add_argument("--json", action="store_true", help="print the JSON contract")
        d.set_defaults(func=run_model)


_NOT_CONFIG = {"func", "model", "command", "json", "until_converged"}


def config_of(args):
    """The config the parsed ``args`` describe (through the table of sims.schema).

    Args:
        args: the parsed ``gflab simulate MODEL`` arguments.

    Returns:
        The model's config object.

    Raises:
        GflabInputError: a bad value, or ``--t1`` together with ``--until-converged``.
    """
    from gflab.sims.schema import config_from_args

    values = {k: v for k, v in vars(args).items() if k not in _NOT_CONFIG}
    if getattr(args, "until_converged", False) and "t1" in values:
        raise GflabInputError("t1", "no --t1 with --until-converged", values["t1"])
    return config_from_args(args.model, values)


def store_key(config) -> str:
    """The result store's key of ``config`` (sims/store.py's function).

    Args:
        config: any model's config.

    Returns:
        The hex key of the config, the code it runs and the package versions.
    """
    from gflab.sims.store import ResultStore

    return ResultStore().key(config)


def run_model(args) -> int:
    """Run the model ``args.model`` through the result store; print its summary or JSON.

    Args:
      args: the parsed ``gflab simulate MODEL`` arguments.

    Returns:
      The exit status: 0 when the run ended as asked, 1 otherwise.
    """
    from gflab.sims.models import MODELS
    from gflab.sims.store import ResultStore

    model = MODELS[args.model]
    cfg = config_of(args)
    store = ResultStore()
    res, how = model.stored(cfg, store)
    key = store.key(cfg)
    if args.json:
        doc = model.to_json(res)
        print_json({"config": cfg.to_dict(), **doc, "store_key": key, "store": how})
    else:
        print("\n".join(model.describe(cfg, res)))
        print(f"store key  {key} ({how})")
        if how == "diverged" and not model.storable(res):
            print("status     diverged (a non-finite value: not stored)")
    return 0 if model.ok(res) else 1
