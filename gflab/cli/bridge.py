"""``gflab bridge lora|dmf|bench``: measure real PyTorch training runs with gflab's probes."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np

from gflab.cli._common import finite_float, print_json
from gflab.cli._progress import Reporter, reporter

LORA_EXAMPLES = """examples:
  gflab bridge lora --model tiny --optimizer muon --steps 200
  gflab bridge lora --model minilm --optimizer adamw --steps 300 --modules query,value --json
  gflab bridge lora --model tiny --optimizer spec-exact --init small-random --seeds 0,1,2
  gflab bridge lora --model minilm --optimizer muon --device cuda --steps 1000 --out runs/
"""

DMF_EXAMPLES = """examples:
  gflab bridge dmf --depth 3 --n 100 --rank 5 --observed 0.2 --alpha 1e-2 --steps 2000
  gflab bridge dmf --depth 2 --pretrain-observed 0.1 --switch-step 1000 --steps 3000 --json
  gflab bridge dmf --depth 3 --n 20 --mask block:4 --lr 2 --alpha 1e-3 --init orthogonal
"""

BENCH_EXAMPLES = """examples:
  gflab bridge bench
  gflab bridge bench --model tiny --every 10 --steps 100 --json
"""


_RAW = argparse.RawDescriptionHelpFormatter


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        msg = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not vals or any(v < 0 for v in vals):
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 0, got {text!r}")
    if len(set(vals)) != len(vals):
        raise argparse.ArgumentTypeError(f"expected distinct seeds, got {text!r}")
    return vals


def _common(p) -> None:
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--seed", type=int, default=None, help="one seed (default 0)")
    g.add_argument("--seeds", type=_seed_list, default=None, help="several seeds, e.g. 0,1,2")
    p.add_argument("--every", type=int, default=None, help="probe every k steps")
    p.add_argument("--json", action="store_true", help="print the JSON contract (docs/bridge.md)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--out", default=None, metavar="DIR", help="also write each run's JSON into DIR")
    s = p.add_mutually_exclusive_group()
    s.add_argument(
        "--store",
        default=None,
        help="result store folder (default $GFLAB_STORE or .gflab-cache/results)",
    )
    s.add_argument("--no-store", action="store_true", help="do not record runs in the store")


def register(sub) -> None:
    p = sub.add_parser(
        "bridge",
        help="measure real PyTorch runs (LoRA fine-tuning, deep linear)",
        description="Apply gflab's measurements to real PyTorch training runs.",
    )
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True, parser_class=type(p))

    lo = kinds.add_parser(
        "lora",
        help="LoRA fine-tuning of a BERT on a generated text task",
        epilog=LORA_EXAMPLES,
        formatter_class=_RAW,
    )
    lo.add_argument("--model", default="tiny", help="minilm (packaged all-MiniLM-L6-v2) | tiny")
    lo.add_argument(
        "--optimizer",
        default="muon",
        help="muon | adamw | spec-exact | sf-adamw | sf-muon | amuse (Schedule-Free: probes see y)",
    )
    lo.add_argument("--steps", type=int, default=200, help="training steps")
    lo.add_argument("--rank", type=int, default=8, help="LoRA rank r")
    lo.add_argument("--modules", default="query,value", help="comma-separated target modules")
    lo.add_argument("--init", default="lora", help="lora (B=0) | small-random | exchanged (A=0)")
    lo.add_argument(
        "--lr",
        type=finite_float,
        default=None,
        help="LoRA learning rate (default 0.02 muon/spec-exact/sf-muon/amuse, 2e-3 adamw/sf-adamw)",
    )
    lo.add_argument("--head-lr", type=finite_float, default=2e-3, help="AdamW lr of the head")
    lo.add_argument("--lora-alpha", type=finite_float, default=16.0, help="scale s = alpha/r")
    lo.add_argument("--weight-decay", type=finite_float, default=0.0, help="on LoRA matrices")
    lo.add_argument(
        "--head-weight-decay", type=finite_float, default=0.0, help="AdamW weight decay of the head"
    )
    lo.add_argument(
        "--momentum",
        type=finite_float,
        default=None,
        help="Muon/spec-exact momentum (default 0.95)",
    )
    lo.add_argument(
        "--no-nesterov", action="store_true", help="plain momentum instead of Nesterov's"
    )
    lo.add_argument(
        "--adjust-lr-fn",
        default=None,
        help="original | match_rms_adamw (muon, spec-exact, sf-muon, amuse; default original)",
    )
    lo.add_argument("--init-scale", type=finite_float, default=1e-3, help="std for small-random")
    lo.add_argument("--batch-size", type=int, default=32, help="examples per step")
    lo.add_argument(
        "--burn-in",
        type=int,
        default=None,
        help="steps excluded from growth fits (default 20%% of --steps)",
    )
    _common(lo)
    lo.set_defaults(func=run_lora_cmd)

    w = kinds.add_parser(
        "warmstart",
        help="DASH's warm-start protocol: an MLP on scikit-learn's digits (cold/warm/DASH/S&P)",
        epilog="examples:\n  gflab bridge warmstart\n"
        "  gflab bridge warmstart --fractions 0.1,0.5 --seeds 0,1 --json",
        formatter_class=_RAW,
    )
    w.add_argument("--fractions", default="0.1,0.3,0.5,0.7,0.9", help="pretrain fractions")
    w.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    w.add_argument("--width", type=int, default=64, help="hidden width of the MLP")
    w.add_argument("--lr", type=finite_float, default=0.05, help="learning rate")
    w.add_argument("--max-epochs", type=int, default=300, help="epochs at most per training")
    w.add_argument("--dash-floor", type=finite_float, default=0.3, help="DASH's λ")
    w.add_argument("--dash-alpha", type=finite_float, default=0.3, help="DASH's α")
    w.add_argument(
        "--kinds",
        default="warm,warm+dash,warm+sp,warm+reset",
        help="warm runs (cold always runs): warm, warm+dash, warm+sp, warm+reset, warm+l2init",
    )
    w.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    w.add_argument("--json", action="store_true", help="print the runs and summary as JSON")
    w.add_argument("--quiet", action="store_true", help="no progress on stderr")
    w.set_defaults(func=run_warmstart_cmd)

    d = kinds.add_parser(
        "dmf",
        help="deep linear matrix completion in torch (docs/theory.md §2.1)",
        epilog=DMF_EXAMPLES,
        formatter_class=_RAW,
    )
    d.add_argument("--depth", type=int, default=3, help="number of factors L")
    d.add_argument("--n", type=int, default=100, help="the target is n × n")
    d.add_argument("--rank", type=int, default=5, help="rank of the random target")
    d.add_argument(
        "--observed",
        type=finite_float,
        default=None,
        help="Bernoulli probability of Ω2 (default 0.2; not with --mask)",
    )
    d.add_argument("--mask", default=None, help="diagonal | block:K | superdiag (not Bernoulli)")
    d.add_argument("--alpha", type=finite_float, default=1e-2, help="init scale alpha")
    d.add_argument(
        "--init", default="gaussian", help="gaussian | tied-gaussian | identity | orthogonal"
    )
    d.add_argument("--steps", type=int, default=2000, help="gradient-descent steps")
    d.add_argument(
        "--lr",
        type=finite_float,
        default=None,
        help="GD step on the half-mean loss (default: half the stability bound 2/λ, λ the "
        "Gauss-Newton sharpness at the solution; ≈ 11.7 at n = 100, 3.0 at n = 30)",
    )
    d.add_argument(
        "--pretrain-observed",
        type=finite_float,
        default=None,
        help="Bernoulli probability of Ω1 ⊂ Ω2 trained before --switch-step",
    )
    d.add_argument(
        "--switch-step",
        type=int,
        default=0,
        help="last step on Ω1 (with --pretrain-observed; 0: no pretraining phase)",
    )
    d.add_argument(
        "--coupling-entries",
        type=int,
        default=256,
        help="observed entries used for the tangent-kernel coupling",
    )
    _common(d)
    d.set_defaults(func=run_dmf_cmd)

    b = kinds.add_parser(
        "bench",
        help="probe overhead per logged step vs a training step",
        epilog=BENCH_EXAMPLES,
        formatter_class=_RAW,
    )
    b.add_argument("--model", default="minilm", help="minilm | tiny")
    b.add_argument("--every", type=int, default=10, help="probe every k steps")
    b.add_argument("--steps", type=int, default=60, help="training steps timed")
    b.add_argument("--optimizer", default="muon", help="as in bridge lora")
    b.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    b.add_argument("--json", action="store_true", help="print the measurements as JSON")
    b.set_defaults(func=run_bench_cmd)


def _progress(rep: Reporter, label: str):
    """The run's :class:`sims.progress.Progress`: ``rep`` with the unit named ``label``."""
    return lambda done, total, info: rep(done, total, {**info, "unit": label})


def _seeds(args) -> tuple[int, ...]:
    if args.seeds is not None:
        return args.seeds
    return (0 if args.seed is None else args.seed,)


def _check_out(args) -> None:
    """``--out`` must be a folder that can be written: checked before any training."""
    from theory._validate import GflabInputError

    if not args.out:
        return
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise GflabInputError("out", "a folder (or a path to create one)", f"{out} (a file)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".gflab-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise GflabInputError(
            "out", "a writable folder", f"{out} ({e.strerror or type(e).__name__})"
        ) from None


def _check_store(args) -> None:
    if not args.no_store:
        from sims.store import ResultStore

        ResultStore(args.store).require_writable()


def _run_seeds(args, config_cls, run, label, **fixed) -> list[dict]:
    """One ``run(config)`` per seed of ``--seed``/``--seeds``; the config's fields come from the
    flags of the same name, then ``fixed`` (values no flag gives as it is), then the seed; fields
    without a flag keep their defaults."""
    _check_out(args)
    _check_store(args)
    fields = [f.name for f in dataclasses.fields(config_cls)]
    flags = {k: getattr(args, k) for k in fields if hasattr(args, k)}
    runs = []
    rep = reporter(args)
    for seed in _seeds(args):
        cfg = config_cls(**{**flags, **fixed, "seed": seed})
        with rep:
            runs.append(run(cfg, progress=_progress(rep, f"{label(cfg)} seed {seed}")))
    return runs


# the bridge lora flags only some optimizers read (a flag given with another is refused)
_LORA_FLAG_OWNERS = {
    "momentum": ("muon", "spec-exact"),
    "no_nesterov": ("muon", "spec-exact"),
    "adjust_lr_fn": ("muon", "spec-exact", "sf-muon", "amuse"),
}
_LORA_FLAG_DEFAULTS = {"momentum": 0.95, "no_nesterov": False, "adjust_lr_fn": "original"}


def run_lora_cmd(args) -> int:
    from sims.bridge.lora_run import BridgeLoRAConfig, run_lora
    from theory._validate import GflabInputError

    for name, owners in _LORA_FLAG_OWNERS.items():
        given = getattr(args, name) not in (None, False)
        if given and args.optimizer not in owners:
            raise GflabInputError(
                name,
                f"no --{name.replace('_', '-')} with --optimizer {args.optimizer} (only "
                f"{', '.join(owners)} use it)",
                getattr(args, name),
            )
        if getattr(args, name) is None:
            setattr(args, name, _LORA_FLAG_DEFAULTS[name])

    runs = _run_seeds(
        args,
        BridgeLoRAConfig,
        run_lora,
        lambda c: f"lora {c.optimizer}",
        modules=tuple(m.strip() for m in args.modules.split(",") if m.strip()),
        nesterov=not args.no_nesterov,
        every=args.every if args.every is not None else 10,
    )
    return _finish(args, runs, "lora")


def run_warmstart_cmd(args) -> int:
    """``gflab bridge warmstart``: print the per-kind summary (or the whole JSON)."""
    from sims.bridge.warmstart import WarmStartConfig, run_warmstart
    from theory._validate import GflabInputError

    try:
        fractions = tuple(float(x) for x in args.fractions.split(",") if x.strip())
    except ValueError:
        raise GflabInputError(
            "fractions", "comma-separated numbers in (0, 1)", args.fractions
        ) from None
    try:
        seeds = _seed_list(args.seeds)
    except argparse.ArgumentTypeError as e:
        raise GflabInputError("seeds", "distinct comma-separated integers >= 0", args.seeds) from e
    cfg = WarmStartConfig(
        fractions=fractions,
        seeds=seeds,
        width=args.width,
        lr=args.lr,
        max_epochs=args.max_epochs,
        dash_floor=args.dash_floor,
        dash_alpha=args.dash_alpha,
        kinds=tuple(k.strip() for k in args.kinds.split(",") if k.strip()),
        device=args.device,
    )
    with reporter(args, desc="warmstart") as rep:
        out = run_warmstart(cfg, progress=rep)
    if args.json:
        print_json(out)
        return 0
    print(f"bridge warmstart  (digits MLP width {cfg.width}, seeds {list(cfg.seeds)})")
    for kind, rows in out["summary"].items():
        for frac, v in rows.items():
            print(
                f"  {kind:11s} f={frac:4s} acc {v['test_accuracy_mean']:.4f} ± "
                f"{v['test_accuracy_std']:.4f}  erank(W1) {v['effective_rank_layer1_mean']:.2f}"
                f"  epochs {v['epochs_mean']:.0f}"
            )
    print(f"  wall {out['wall_seconds']:.1f} s")
    return 0


def run_dmf_cmd(args) -> int:
    from sims.bridge.dmf_run import BridgeDMFConfig, run_dmf
    from theory._validate import GflabInputError

    if args.mask is not None and args.observed is not None:
        raise GflabInputError(
            "observed", "no --observed with --mask (the mask is Ω)", args.observed
        )
    runs = _run_seeds(
        args,
        BridgeDMFConfig,
        run_dmf,
        lambda c: f"dmf depth {c.depth}",
        observed=0.2 if args.observed is None else args.observed,
        every=args.every if args.every is not None else 50,
    )
    code = _finish(args, runs, "dmf")
    return code if all(r["summary"]["status"] == "finished" for r in runs) else 1


def _aggregate(runs: list[dict]) -> dict:
    """Mean and standard deviation over seeds of every numeric summary entry."""
    out: dict = {}
    for key in runs[0]["summary"]:
        vals = [r["summary"][key] for r in runs]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            arr = np.asarray(vals, dtype=np.float64)
            arr = arr[np.isfinite(arr)]
            out[key] = float(arr.mean()) if arr.size else None
            out[key + "_std"] = float(arr.std(ddof=1)) if arr.size > 1 else None
    return out


def _finish(args, runs: list[dict], kind: str) -> int:
    from sims.bridge.record import store_run, to_json

    keys = []
    if not args.no_store:
        from sims.store import ResultStore

        store = ResultStore(args.store)
        keys = [store_run(store, r) for r in runs]
    payloads = [to_json(r) for r in runs]
    for p, k in zip(payloads, keys, strict=False):
        p["store_key"] = k
    if args.out:
        outdir = Path(args.out)
        outdir.mkdir(parents=True, exist_ok=True)
        for p in payloads:
            c = p["config"]
            tag = c.get("optimizer", f"depth{c.get('depth')}")
            path = outdir / f"bridge-{kind}-{c.get('model', 'dmf')}-{tag}-seed{c['seed']}.json"
            path.write_text(json.dumps(p, allow_nan=False))
    if len(payloads) == 1:
        doc = payloads[0]
    else:
        first = payloads[0]
        doc = {
            "config": first["config"],
            "device": first["device"],
            "torch_version": first["torch_version"],
            "seeds": [p["config"]["seed"] for p in payloads],
            "runs": payloads,
            "summary": to_json(_aggregate(runs)),
        }
    if args.json:
        print_json(doc)
        return 0
    _print_human(doc, payloads, kind)
    return 0


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else "nan"
    return "n/a" if v is None else str(v)


def _print_human(doc: dict, payloads: list[dict], kind: str) -> None:
    c = doc["config"]
    shown = (
        "model",
        "optimizer",
        "init",
        "rank",
        "modules",
        "lr",
        "steps",
        "depth",
        "n",
        "observed",
        "alpha",
        "pretrain_observed",
        "switch_step",
    )
    print(f"bridge {kind}  ({', '.join(f'{k}={c[k]}' for k in shown if k in c)})")
    print(
        f"device {doc['device']}  torch {doc['torch_version']}  seeds "
        f"{', '.join(str(p['config']['seed']) for p in payloads)}"
    )
    for key, val in doc["summary"].items():
        if not key.endswith("_std"):
            std = doc["summary"].get(key + "_std")
            print(f"  {key:<26} {_fmt(val)}" + (f"  ± {_fmt(std)}" if std is not None else ""))
    if payloads[0].get("store_key"):
        print(f"stored as {', '.join(p['store_key'][:12] for p in payloads)}")


def run_bench_cmd(args) -> int:
    from sims.bridge.bench import probe_overhead

    res = probe_overhead(
        model=args.model,
        every=args.every,
        steps=args.steps,
        optimizer=args.optimizer,
        device=args.device,
    )
    if args.json:
        print_json(res)
        return 0
    print(
        f"probe overhead  model {res['model']} ({res['n_modules']} LoRA modules), "
        f"device {res['device']}, torch {res['torch_version']}"
    )
    print(f"  training step           {res['train_seconds_per_step'] * 1e3:.2f} ms")
    print(
        f"  probe per logged step   {res['probe_seconds_per_log'] * 1e3:.2f} ms"
        f"  ({100 * res['per_log_fraction']:.2f} % of a step)"
    )
    print(
        f"  amortised at k = {res['every']:<3}    {100 * res['amortised_fraction']:.3f} %"
        f"  (goal <= {100 * res['goal_amortised_fraction']:.0f} %)"
    )
    return 0
