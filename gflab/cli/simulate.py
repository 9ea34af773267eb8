"""``gflab simulate dmf|lora``: one run, a readable summary or the JSON contract (``--json``)."""

from __future__ import annotations

import argparse
import re

import numpy as np

from gflab.cli._common import finite_float, float_list, print_json

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


DEFAULT_BETA = 1e-6

# argparse only treats -1 and -1.5 as negative numbers; let -1e-3 and -inf through as values too,
# so that `--alpha -1e-3` reaches validation ("alpha: expected a real number > 0") instead of
# failing with "expected one argument"
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-inf$")


def register(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="run one simulation (dmf or lora)",
        description="Run one simulation of a model of DESIGN §2.",
    )
    models = p.add_subparsers(dest="model", metavar="MODEL", required=True, parser_class=type(p))

    d = models.add_parser(
        "dmf",
        help="deep matrix completion (DESIGN §2.1)",
        epilog=DMF_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("--depth", type=int, required=True, help="number of factors L >= 2")
    d.add_argument("--n", type=int, required=True, help="matrix size n")
    d.add_argument(
        "--init", default="mimic", help="mimic | gaussian | tied-gaussian | identity | orthogonal"
    )
    d.add_argument(
        "--m", type=finite_float, default=float("inf"), help="mimic parameter m > 1 (inf: diagonal)"
    )
    d.add_argument("--alpha", type=finite_float, default=1e-3, help="init scale alpha > 0")
    d.add_argument(
        "--mask", default="diagonal", help="diagonal | block:K | superdiag | bernoulli:P"
    )
    d.add_argument("--target", default="ones", help="ones | const:W | lowrank:R")
    g = d.add_mutually_exclusive_group()
    g.add_argument(
        "--until-converged", action="store_true", help="run until the loss converges (default)"
    )
    g.add_argument("--t1", type=finite_float, help="integrate to flow time t1")
    d.add_argument("--t-max", type=finite_float, default=1e7, help="horizon for --until-converged")
    d.add_argument(
        "--method", default="adaptive", help="adaptive | gd:ETA (plain GD, needs --steps)"
    )
    d.add_argument("--steps", type=int, help="GD steps for --method gd:ETA")
    d.add_argument("--normalisation", default="sum", help="loss over observed entries: sum | mean")
    d.add_argument("--rtol", type=finite_float, default=1e-9)
    d.add_argument("--atol", type=finite_float, default=1e-14)
    d.add_argument("--n-save", type=int, default=200, help="saved time points")
    d.add_argument("--coupling", action="store_true", help="also save the tangent-kernel coupling")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--json", action="store_true", help="print the JSON contract")
    d.set_defaults(func=run_dmf)
    d._negative_number_matcher = _NEGATIVE_NUMBER

    lo = models.add_parser(
        "lora",
        help="LoRA-style factorisation (DESIGN §2.2)",
        epilog=LORA_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lo.add_argument("--rows", type=int, default=60)
    lo.add_argument("--cols", type=int, default=70)
    lo.add_argument("--rank", type=int, default=5)
    lo.add_argument(
        "--target-svals",
        type=float_list,
        default=(1.0, 2.0, 4.0, 8.0, 16.0),
        help="comma-separated target singular values (distinct, > 0)",
    )
    lo.add_argument("--flow", default="specgf", help="gf | specgf")
    lo.add_argument(
        "--beta",
        type=finite_float,
        help="smoothing beta of T_beta (specgf; default 1e-6 with the adaptive solver, 0 = exact polar with euler:DT)",
    )
    lo.add_argument("--gamma", type=finite_float, default=1e-3, help="init scale gamma > 0")
    lo.add_argument("--init", default="lora", help="lora (A=0) | gaussian (both)")
    lo.add_argument("--l2", type=finite_float, default=0.0, help="l2 regularisation lambda >= 0")
    lo.add_argument(
        "--method",
        default="adaptive",
        help="adaptive | euler:DT | gd:ETA | specgd:ETA | specgd-smooth:ETA | ns:ETA | muon:ETA",
    )
    g = lo.add_mutually_exclusive_group()
    g.add_argument("--t1", type=finite_float, help="flow horizon (adaptive, euler)")
    g.add_argument("--steps", type=int, help="steps (discrete methods)")
    lo.add_argument(
        "--aligned", action="store_true", help="target singular vectors = coordinate axes"
    )
    lo.add_argument("--momentum", type=finite_float, default=0.95, help="Muon momentum")
    lo.add_argument("--no-nesterov", action="store_true", help="Muon without Nesterov")
    lo.add_argument(
        "--shape-scale", default="none", help="Muon lr scaling: none | original | match_rms_adamw"
    )
    lo.add_argument(
        "--ns-dtype",
        default="float64",
        help="Newton-Schulz precision: float64 | float32 | bfloat16",
    )
    lo.add_argument("--rtol", type=finite_float, default=1e-8)
    lo.add_argument("--atol", type=finite_float, default=1e-12)
    lo.add_argument("--n-save", type=int, default=200)
    lo.add_argument("--seed", type=int, default=0)
    lo.add_argument("--json", action="store_true")
    lo.set_defaults(func=run_lora)
    _register_plasticity(models)
    lo._negative_number_matcher = _NEGATIVE_NUMBER


def run_dmf(args) -> int:
    from sims import DMFConfig, simulate_dmf

    cfg = DMFConfig(
        depth=args.depth,
        n=args.n,
        init=args.init,
        m=args.m,
        alpha=args.alpha,
        mask=args.mask,
        target=args.target,
        seed=args.seed,
        t1=args.t1,
        t_max=args.t_max,
        method=args.method,
        steps=args.steps,
        normalisation=args.normalisation,
        rtol=args.rtol,
        atol=args.atol,
        n_save=args.n_save,
        coupling=args.coupling,
    )
    res = simulate_dmf(cfg)
    return _emit(res, args.json)


def run_lora(args) -> int:
    from sims import LoRAConfig, simulate_lora

    t1 = args.t1
    kind = args.method.partition(":")[0]
    if t1 is None and args.steps is None and kind in ("adaptive", "euler"):
        t1 = 2.5 * float(np.sqrt(max(args.target_svals))) + 2.0 if args.flow == "specgf" else 20.0
    beta = args.beta
    if beta is None and args.flow == "specgf" and kind in ("adaptive", "specgd-smooth"):
        beta = DEFAULT_BETA  # recorded in the config; pass --beta to change it
    cfg = LoRAConfig(
        rows=args.rows,
        cols=args.cols,
        rank=args.rank,
        target_svals=args.target_svals,
        flow=args.flow,
        beta=beta,
        gamma=args.gamma,
        init=args.init,
        l2=args.l2,
        method=args.method,
        t1=t1,
        steps=args.steps,
        seed=args.seed,
        aligned=args.aligned,
        momentum=args.momentum,
        nesterov=not args.no_nesterov,
        shape_scale=args.shape_scale,
        ns_dtype=args.ns_dtype,
        rtol=args.rtol,
        atol=args.atol,
        n_save=args.n_save,
    )
    res = simulate_lora(cfg)
    return _emit(res, args.json)


def _emit(res, as_json: bool) -> int:
    if as_json:
        print_json(res.to_json())
        return 0 if res.status in ("converged", "t1_reached") else 1
    c = res.config
    print(
        f"model      {c['model']}  ({', '.join(f'{k}={v}' for k, v in c.items() if k in _SHOWN)})"
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
    return 0 if res.status in ("converged", "t1_reached") else 1


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


def _register_plasticity(models) -> None:
    p = models.add_parser(
        "dmf-plasticity",
        help="pretrain on one mask, resume vs scratch on another (DESIGN §2.1)",
        description="Phase 1 on --pretrain-mask, then phase 2 on --mask from phase 1's factors "
        "(resumed) and from the same init (scratch).",
        epilog=PLASTICITY_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--depth", type=int, required=True, help="number of factors L >= 2")
    p.add_argument("--n", type=int, required=True, help="matrix size n")
    p.add_argument(
        "--init", default="mimic", help="mimic | gaussian | tied-gaussian | identity | orthogonal"
    )
    p.add_argument(
        "--m", type=finite_float, default=float("inf"), help="mimic parameter m > 1 (inf: diagonal)"
    )
    p.add_argument("--alpha", type=finite_float, default=1e-3, help="init scale alpha > 0")
    p.add_argument(
        "--pretrain-mask",
        default="diagonal",
        help="phase-1 mask Ω1 (diagonal | block:K | superdiag | bernoulli:P)",
    )
    p.add_argument("--mask", default="superdiag", help="phase-2 mask Ω2")
    p.add_argument("--target", default="ones", help="ones | const:W | lowrank:R")
    p.add_argument(
        "--switch",
        type=finite_float,
        help="end of phase 1 (flow time; GD: steps); default: until converged",
    )
    p.add_argument(
        "--t-max", type=finite_float, default=1e7, help="horizon of each phase run until converged"
    )
    p.add_argument(
        "--method", default="adaptive", help="adaptive | gd:ETA (needs --switch and --steps)"
    )
    p.add_argument("--steps", type=int, help="phase-2 GD steps for --method gd:ETA")
    p.add_argument("--normalisation", default="sum", help="loss over observed entries: sum | mean")
    p.add_argument("--rtol", type=finite_float, default=1e-9)
    p.add_argument("--atol", type=finite_float, default=1e-14)
    p.add_argument("--n-save", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--json", action="store_true", help='print {"config", "pretrain", "resumed", "scratch"}'
    )
    p.set_defaults(func=run_plasticity)
    p._negative_number_matcher = _NEGATIVE_NUMBER  # `--alpha -1e-3` reaches validation


def run_plasticity(args) -> int:
    from sims.plasticity import PlasticityConfig, simulate_plasticity

    cfg = PlasticityConfig(
        depth=args.depth,
        n=args.n,
        init=args.init,
        m=args.m,
        alpha=args.alpha,
        pretrain_mask=args.pretrain_mask,
        mask=args.mask,
        target=args.target,
        seed=args.seed,
        switch=args.switch,
        t_max=args.t_max,
        method=args.method,
        steps=args.steps,
        normalisation=args.normalisation,
        rtol=args.rtol,
        atol=args.atol,
        n_save=args.n_save,
    )
    res = simulate_plasticity(cfg)
    phases = (res.pretrain, res.resumed, res.scratch)
    ok = all(r.status in ("converged", "t1_reached") for r in phases)
    if args.json:
        print_json(res.to_json())
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
