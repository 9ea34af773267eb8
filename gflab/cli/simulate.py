"""``gflab simulate dmf|lora|dmf-plasticity|dmf-dash|river|kleinman``: one run, a readable summary or the
JSON contract (``--json``)."""

from __future__ import annotations

import argparse

import numpy as np

from gflab.cli._common import finite_float, float_list, print_json
from gflab.theory.errors import GflabInputError

DMF_EXAMPLES = """examples:
  gflab simulate dmf --depth 3 --n 4 --init mimic --m 3 --alpha 1e-3 --mask diagonal --target ones --until-converged
  gflab simulate dmf --depth 2 --n 4 --m inf --alpha 1e-2 --mask block:2 --t1 100 --json
  gflab simulate dmf --depth 3 --n 30 --init gaussian --mask bernoulli:0.3 --target lowrank:2 --t1 200
"""

LORA_EXAMPLES = """examples:
  gflab simulate lora --rows 60 --cols 70 --rank 5 --target-svals 1,2,4,8,16 --flow specgf --beta 1e-6 --gamma 1e-3 --t1 6
  gflab simulate lora --flow gf --gamma 1e-3 --t1 12 --json
  gflab simulate lora --flow specgf --gamma 1e-3 --method muon:0.01 --steps 600
"""


_TYPES = {"int": int, "float": finite_float, "floats": float_list, "str": str}
_HELP = {
    "dmf": ("deep matrix completion (docs/theory.md §2.1)", DMF_EXAMPLES),
    "lora": ("LoRA-style factorisation (docs/theory.md §2.2)", LORA_EXAMPLES),
}


def _show(v) -> str:
    if isinstance(v, tuple):
        return ",".join(f"{x:g}" for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def add_table_flags(parser, model: str) -> None:
    """Every row of :func:`gflab.sims.schema.params` as a flag; only flags given reach the config."""
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


def register(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="run one simulation (dmf, lora, dmf-plasticity, dmf-dash, river, kleinman)",
        description="Run one simulation of a model of docs/theory.md §2.",
    )
    models = p.add_subparsers(dest="model", metavar="MODEL", required=True, parser_class=type(p))
    for model in ("dmf", "lora", "dmf-plasticity", "dmf-dash", "river", "kleinman"):
        helptext, epilog = _HELP[model]
        d = models.add_parser(
            model,
            help=helptext,
            description="Flags are generated from the config's fields (sims/schema.py): the "
            "same table writes the command that reproduces a config.",
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_table_flags(d, model)
        if model == "dmf":
            d.add_argument(
                "--until-converged",
                action="store_true",
                help="run until the loss converges (the default without --t1)",
            )
        d.add_argument("--json", action="store_true", help="print the JSON contract")
        run = {
            "dmf-plasticity": run_plasticity,
            "dmf-dash": run_dash,
            "river": run_river,
            "kleinman": run_kleinman,
        }
        d.set_defaults(func=run.get(model, run_model))


_NOT_CONFIG = {"func", "model", "command", "json", "until_converged"}


def config_of(args):
    """The config the parsed ``args`` describe (through the table of sims.schema)."""
    from gflab.sims.schema import config_from_args

    values = {k: v for k, v in vars(args).items() if k not in _NOT_CONFIG}
    if getattr(args, "until_converged", False) and "t1" in values:
        raise GflabInputError("t1", "no --t1 with --until-converged", values["t1"])
    return config_from_args(args.model, values)


def store_key(config) -> str:
    """The result store's key of ``config`` (sims/store.py's function)."""
    from gflab.sims.store import ResultStore

    return ResultStore().key(config)


def run_model(args) -> int:
    cfg = config_of(args)
    if args.model == "dmf":
        from gflab.sims import simulate_dmf

        res = simulate_dmf(cfg)
    else:
        from gflab.sims import simulate_lora

        res = simulate_lora(cfg)
    res.extra["store_key"] = store_key(cfg)
    return _emit(res, args.json)


def _emit(res, as_json: bool) -> int:
    if as_json:
        print_json(res.to_json())
        return 0 if res.status in ("converged", "t1_reached") else 1
    c = res.config
    print(
        f"model      {c['model']}  ({', '.join(f'{k}={_brief(v)}' for k, v in c.items() if k in _SHOWN)})"
    )
    print(f"status     {res.status}" + (f"  ({res.message})" if res.message else ""))
    unit = "step k" if res.time_unit == "k" else "time t"
    if res.final:
        f = res.final
        print(f"final {unit:<6} {f['time']:.6g}")
        print(f"loss       {f['loss']:.6g}")
        sv = np.asarray(f["singular_values"])[:8]
        print(
            "sing. vals "
            + " ".join(f"{v:.5g}" for v in sv)
            + (" ..." if len(f["singular_values"]) > 8 else "")
        )
        print(f"stable rank {f['stable_rank']:.6g}   effective rank {f['effective_rank']:.6g}")
        if "proxies" in f:
            print("proxies d_i " + " ".join(f"{v:.5g}" for v in np.asarray(f["proxies"])))
    s = res.stats
    print(
        f"solver     {s['solver']}: {s['steps']} steps, {s['wall_seconds']:.3g} s"
        f" (+{s['compile_seconds']:.3g} s compile)"
    )
    if "store_key" in res.extra:
        print(f"store key  {res.extra['store_key']}")
    return 0 if res.status in ("converged", "t1_reached") else 1


def _brief(v) -> str:
    """A method dict as ``muon(lr=0.01, momentum=0.95, ...)``; other values as they are."""
    if isinstance(v, dict) and "name" in v:
        return v["name"] + "(" + ", ".join(f"{k}={x}" for k, x in v.items() if k != "name") + ")"
    return str(v)


_SHOWN = (
    "depth",
    "n",
    "init",
    "m",
    "alpha",
    "mask",
    "target",
    "rows",
    "cols",
    "rank",
    "target_svals",
    "flow",
    "beta",
    "gamma",
    "l2",
    "method",
    "seed",
)


# ----------------------------------------------------------------------------- dmf-plasticity (DMC-5)

PLASTICITY_EXAMPLES = """examples:
  gflab simulate dmf-plasticity --depth 2 --n 4 --init mimic --m 3 --alpha 1e-3 --pretrain-mask diagonal --mask superdiag --target ones
  gflab simulate dmf-plasticity --depth 3 --n 6 --m inf --alpha 1e-3 --json
  gflab simulate dmf-plasticity --depth 2 --n 4 --switch 5 --json   (phase 1 stops at t = 5)
"""


def run_plasticity(args) -> int:
    from gflab.sims.plasticity import simulate_plasticity

    cfg = config_of(args)
    res = simulate_plasticity(cfg)
    phases = (res.pretrain, res.resumed, res.scratch)
    ok = all(r.status in ("converged", "t1_reached") for r in phases)
    if args.json:
        print_json({**res.to_json(), "store_key": store_key(cfg)})
        return 0 if ok else 1
    unit = "step k" if res.pretrain.time_unit == "k" else "time t"
    print(
        f"model      dmf-plasticity  (depth={cfg.depth}, n={cfg.n}, init={cfg.init}, m={cfg.m}, "
        f"alpha={cfg.alpha}, {cfg.pretrain_mask} -> {cfg.mask}, target={cfg.target})"
    )
    print(
        f"{'phase':<9} {'status':<11} {'stable rank':>12} {'eff. rank':>10} {'loss':>10} "
        f"{'test RMSE':>10} {'converged at ' + unit:>20}"
    )
    for name, r in zip(("pretrain", "resumed", "scratch"), phases, strict=True):
        f = r.final
        ttc = f.get("time", float("nan")) if r.status == "converged" else float("inf")
        print(
            f"{name:<9} {r.status:<11} {f['stable_rank']:>12.6g} {f['effective_rank']:>10.5g} "
            f"{f['loss']:>10.3g} {f['test_rmse']:>10.4g} {ttc:>20.6g}"
        )
    return 0 if ok else 1


# ----------------------------------------------------------------------------- dmf-dash (DASH-1)

DASH_EXAMPLES = """examples:
  gflab simulate dmf-dash --depth 2 --n 6 --m inf --alpha 1e-3 --floor 1e-4 --dash-alpha 1.0
  gflab simulate dmf-dash --depth 2 --n 6 --intervention shrink-perturb --floor 0.3 --json
  gflab simulate dmf-dash --depth 2 --n 6 --method gd:0.2 --switch 2000 --steps 4000 --json
results go through the result store ($GFLAB_STORE, default .gflab-cache/results): a rerun reads them
"""


def run_dash(args) -> int:
    from gflab.sims.dash import stored_dash

    cfg = config_of(args)
    res, how = stored_dash(cfg)
    phases = (res.pretrain, res.resumed, res.scratch, res.intervened)
    ok = all(r.status in ("converged", "t1_reached") for r in phases)
    if args.json:
        print_json({**res.to_json(), "store_key": store_key(cfg), "store": how})
        return 0 if ok else 1
    print(
        f"model      dmf-dash  (depth={cfg.depth}, n={cfg.n}, m={cfg.m}, alpha={cfg.alpha}, "
        f"{cfg.pretrain_mask} -> {cfg.mask}; {res.intervention.label()} at the switch)"
    )
    print(f"{'phase':<11} {'status':<11} {'stable rank':>12} {'test RMSE':>10}")
    for name, r in zip(("pretrain", "resumed", "scratch", "intervened"), phases, strict=True):
        f = r.final
        print(f"{name:<11} {r.status:<11} {f['stable_rank']:>12.6g} {f['test_rmse']:>10.4g}")
    print(f"store key  {store_key(cfg)} ({how})")
    return 0 if ok else 1


# ----------------------------------------------------------------------------- river (AMUSE-1/2)

RIVER_EXAMPLES = """examples:
  gflab simulate river --lr 0.03 --beta1 0.6 --rho 0.3 --warmup-steps 300 --noise 1e-4
  gflab simulate river --h-bulk 0.003 --noise 1e-4 --seed 1 --json
methods: GD, Muon (AMUSE's base step alone), sf-muon (AMUSE with rho = 0), AMUSE as published
results go through the result store ($GFLAB_STORE, default .gflab-cache/results): a rerun reads them
"""

_RIVER_SCALARS = ("steps_to_bulk_90", "wall_amplitude", "bulk_progress")


def run_river(args) -> int:
    from gflab.sims.result import json_safe
    from gflab.sims.river import stored_river

    cfg = config_of(args)
    res, how = stored_river(cfg)
    summary = {
        m: {q: {k: s[k] for k in _RIVER_SCALARS} for q, s in seqs.items()}
        for m, seqs in res.items()
    }
    if args.json:
        doc = {
            "config": cfg.to_dict(),
            "results": summary,
            "store_key": store_key(cfg),
            "store": how,
            "status": "diverged" if how == "diverged" else "finished",
        }
        print_json(json_safe(doc))
        return 1 if how == "diverged" else 0
    print(
        f"model      river  ({cfg.rows}x{cfg.cols}, bulk={cfg.bulk}, h_bulk={cfg.h_bulk:g}, "
        f"h_wall={cfg.h_wall:g}, noise={cfg.noise:g}, lr={cfg.lr:g}, steps={cfg.steps})"
    )
    print(
        f"AMUSE      beta1={cfg.beta1:g}, rho={cfg.rho:g}, warmup_steps={cfg.warmup_steps}, "
        f"momentum={cfg.momentum:g}, aux_update_type={cfg.aux_update_type} (sf-muon: rho=0)"
    )
    print(f"{'method':<12} {'k90 (bulk)':>11} {'wall ampl.':>11} {'bulk progress':>14}")
    for m, seqs in summary.items():
        for q, s in seqs.items():
            print(
                f"{m + '.' + q:<12} {s['steps_to_bulk_90']:>11.6g} {s['wall_amplitude']:>11.4g}"
                f" {s['bulk_progress']:>14.6g}"
            )
    print(f"store key  {store_key(cfg)} ({how})")
    if how == "diverged":
        print("status     diverged (a non-finite value: not stored)")
        return 1
    return 0


# ----------------------------------------------------------------------------- kleinman (critical period)

KLEINMAN_EXAMPLES = """examples:
  gflab simulate kleinman --depth 3 --seed 1 --n2 1250          (their protocol: about 4e5 GD steps)
  gflab simulate kleinman --depth 2 --n 30 --rank 2 --n1 135 --n2 270 --t-c 0,1000 --post-steps 3000
  gflab simulate kleinman --depth 3 --problem-file problem.npz --schedule gflab --json
"""


def run_kleinman(args) -> int:
    from gflab.sims.kleinman import simulate_kleinman

    cfg = config_of(args)
    res = simulate_kleinman(cfg)
    if args.json:
        print_json(res)
        return 0
    c = res["config"]
    print(
        f"model      kleinman  (depth={c['depth']}, seed={c['seed']}, n={c['n']}, rank={c['rank']},"
        f" N1={c['n1']} -> N2={c['n2']}, lr={c['lr']:g}, init={c['init_scale']:g},"
        f" draw={c['draw'] if 'problem_sha256' not in c else 'file'}, schedule={c['schedule']})"
    )
    print(f"{'T_c':>8} {'Ω1 steps':>9} {'Ω2 steps':>9} {'test error':>12}  top singular values")
    for tc, k1, err, sv in zip(
        res["t_c"], res["phase1_steps"], res["test_error"], res["singular_values"], strict=True
    ):
        print(
            f"{tc:>8} {k1:>9} {res['phase2_steps']:>9} {err:>12.6g}  "
            + " ".join(f"{v:.4g}" for v in sv[:6])
        )
    print(f"wall       {res['wall_seconds']:.3g} s")
    return 0


_HELP["kleinman"] = (
    "Kleinman et al.'s critical period in matrix completion (docs/reproduce-the-authors.md)",
    KLEINMAN_EXAMPLES,
)
_HELP["dmf-plasticity"] = (
    "pretrain on one mask, resume vs scratch on another (docs/theory.md §2.1)",
    PLASTICITY_EXAMPLES,
)
_HELP["dmf-dash"] = (
    "plasticity protocol with an intervention (DASH...) at the switch (docs/theory.md §2.4)",
    DASH_EXAMPLES,
)
_HELP["river"] = (
    "river valley: GD, Muon, Schedule-Free Muon, AMUSE as published (docs/dash-amuse.md)",
    RIVER_EXAMPLES,
)
