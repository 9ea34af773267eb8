"""``gflab bridge lora|dmf|warmstart|prune|bench|analyze``: measure real PyTorch training runs with gflab's
probes."""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gflab.cli._common import print_json
from gflab.cli._fields import add_field_flags, field_default, flag, flag_values
from gflab.cli._progress import Reporter, reporter

LORA_EXAMPLES = """examples:
  gflab bridge lora --model tiny --optimizer muon --steps 200
  gflab bridge lora --model minilm --optimizer adamw --steps 300 --modules query,value --json
  gflab bridge lora --model tiny --optimizer spec-exact --init small-random --seeds 0,1,2
  gflab bridge lora --model minilm --optimizer muon --device cuda --steps 1000 --out runs/
  gflab bridge lora --model tiny --optimizer amuse --beta1 0.6 --rho 0.8 --warmup-steps 20
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


WARMSTART_EXAMPLES = """examples:
  gflab bridge warmstart
  gflab bridge warmstart --fractions 0.1,0.5 --seeds 0,1 --json"""

ANALYZE_EXAMPLES = """examples:
  gflab bridge analyze out/                       # HF Trainer output: out/checkpoint-N/
  gflab bridge analyze out/checkpoint-100 out/checkpoint-200 --json
  gflab bridge analyze runs/step-*.pt --lora-alpha 16 --spectra
  gflab bridge analyze out/ --burn-in 200 --scale 2

Each checkpoint's step is the last number in its folder name (checkpoint-120) or, for a state-dict
file, in its file name (step-120.pt). The scale s = lora_alpha/r is read from adapter_config.json
beside the weights (peft's save_pretrained writes it); without one give --scale or --lora-alpha,
else s = 1 (the ranks and the equal-rate spread do not depend on s).
"""

PRUNE_EXAMPLES = """examples:
  gflab bridge prune --data digits --score dual --select hard,beta --ratios 0.5,0.9 --seeds 0,1,2
  gflab bridge prune --score dual,dynunc,el2n,forgetting,aum,random --select hard --json
  gflab bridge prune --data mnist1d --model cnn1d --epochs 50 --T 15 --label-noise 0.2
  gflab bridge prune --labelled 0.1 --score aum,dual --select budget,beta
"""

#: ``gflab bridge KIND``: its one-line help, its description (``None``: none) and its examples
KINDS = {
    "lora": ("LoRA fine-tuning of a BERT on a generated text task", None, LORA_EXAMPLES),
    "warmstart": (
        "DASH's warm-start protocol: an MLP on scikit-learn's digits (cold/warm/DASH/S&P)",
        None,
        WARMSTART_EXAMPLES,
    ),
    "prune": (
        "dataset pruning from training dynamics (DUAL, SemiPrune) on digits or MNIST-1D",
        "Train a proxy once per seed recording its training dynamics, score every example, "
        "select a coreset per method and pruning ratio, retrain each from scratch and report test "
        "accuracy (docs/pruning.md). Runs are stored: a rerun reads them.",
        PRUNE_EXAMPLES,
    ),
    "dmf": ("deep linear matrix completion in torch (docs/theory.md §2.1)", None, DMF_EXAMPLES),
    "bench": ("probe overhead per logged step vs a training step", None, BENCH_EXAMPLES),
    "analyze": (
        "the probe's spectra, ranks and equal-rate fits of saved LoRA adapters",
        "Measure saved LoRA adapters (peft checkpoints or torch state dicts) over training with "
        "the live probe's functions: sigma(s*B*A) from the r x r QR core in float64, effective "
        "and stable rank, and the sqrt(sigma_i) growth fits.",
        ANALYZE_EXAMPLES,
    ),
}


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


_STORE_HELP = "result store folder (default $GFLAB_STORE or .gflab-cache/results)"


@dataclass(frozen=True)
class RunFlags:
    """The flags ``gflab bridge lora`` and ``dmf`` share: which seeds run where, how often the
    probe logs, and where the runs go. ``None`` means "not given": the run config's own default
    (:func:`_seeds`, :func:`_run_fixed`).

    Attributes:
        device: ``auto``, ``cpu`` or ``cuda``, given to every run's config.
        seed: one seed (default: the config's seed, 0).
        seeds: several distinct seeds (excludes ``seed``).
        every: probe every k steps (default: the config's ``every``).
        json: print the JSON contract instead of the summary.
        quiet: no progress on stderr.
        out: a folder that also receives each run's JSON.
        store: the result store folder (default ``$GFLAB_STORE`` or ``.gflab-cache/results``).
        no_store: do not record the runs (excludes ``store``).
    """

    device: str = flag("auto | cpu | cuda (default auto)", "auto")
    seed: int | None = flag("one seed (default 0)", group="seed")
    seeds: tuple[int, ...] | None = flag("several seeds, e.g. 0,1,2", group="seed", type=_seed_list)
    every: int | None = flag("probe every k steps")
    json: bool = flag("print the JSON contract (docs/bridge.md)", False)
    quiet: bool = flag("no progress on stderr", False)
    out: str | None = flag("also write each run's JSON into DIR", metavar="DIR")
    store: str | None = flag(_STORE_HELP, group="store")
    no_store: bool = flag("do not record runs in the store", False, group="store")


@dataclass(frozen=True)
class ProbeBenchFlags:
    """``gflab bridge bench``'s flags: the arguments of
    :func:`gflab.sims.bridge.bench.probe_overhead` (the same defaults; a test compares them).

    Attributes:
        model: ``minilm`` or ``tiny``.
        every: probe every k steps.
        steps: training steps timed.
        optimizer: as ``gflab bridge lora --optimizer``.
        device: ``cpu``, ``cuda`` or ``auto``.
    """

    model: str = flag("minilm | tiny", "minilm")
    every: int = flag("probe every k steps", 10)
    steps: int = flag("training steps timed", 60)
    optimizer: str = flag("as in bridge lora", "muon")
    device: str = flag("cpu | cuda | auto", "cpu")


@dataclass(frozen=True)
class AnalyzeFlags:
    """``gflab bridge analyze``'s measurement flags: the keyword arguments of
    :func:`gflab.sims.bridge.analyze.analyze_checkpoints` (the same defaults; a test compares
    them).

    Attributes:
        burn_in: growth fits use steps >= this (default: the probe's burn-in of the steps).
        scale: s for every module.
        lora_alpha: s = lora_alpha/r for every module.
        adapter: the adapter's name when a state dict holds several.
    """

    burn_in: int | None = flag(
        "growth fits use steps >= this (default: first step + 20% of the span, at least the "
        "second checkpoint)"
    )
    scale: float | None = flag("s for every module (overrides config)")
    lora_alpha: float | None = flag(
        "s = lora_alpha/r for every module (overrides adapter_config.json)"
    )
    adapter: str | None = flag("adapter name when a state dict holds several")


#: ``gflab bridge``: its one-line help and description (:func:`gflab.cli.build_parser`)
COMMAND = {
    "help": "measure real PyTorch runs (LoRA fine-tuning, deep linear)",
    "description": "Apply gflab's measurements to real PyTorch training runs.",
}


def add_flags(p) -> None:
    """``gflab bridge KIND``: one subparser per kind of PyTorch run (lora, warmstart, prune,
    dmf, bench, analyze; :data:`KINDS`).

    Args:
        p: the ``gflab bridge`` parser.
    """
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True, parser_class=type(p))
    commands = {
        "lora": (_lora_flags, run_lora_cmd),
        "warmstart": (_warmstart_flags, run_warmstart_cmd),
        "prune": (_prune_flags, run_prune_cmd),
        "dmf": (_dmf_flags, run_dmf_cmd),
        "bench": (_bench_flags, run_bench_cmd),
        "analyze": (_analyze_flags, run_analyze_cmd),
    }
    for name, (add_kind_flags, run) in commands.items():
        summary, description, examples = KINDS[name]
        k = kinds.add_parser(
            name, help=summary, description=description, epilog=examples, formatter_class=_RAW
        )
        add_kind_flags(k)
        k.set_defaults(func=run)


def _lora_flags(lo) -> None:
    """``gflab bridge lora``'s flags."""
    from gflab.sims.bridge.lora_run import BridgeLoRAConfig

    add_field_flags(lo, BridgeLoRAConfig)
    lo.add_argument(
        "--no-nesterov", action="store_true", help="plain momentum instead of Nesterov's"
    )
    add_field_flags(lo, RunFlags)


def _warmstart_flags(w) -> None:
    """``gflab bridge warmstart``'s flags."""
    from gflab.sims.bridge.warmstart import WarmStartConfig

    add_field_flags(w, WarmStartConfig)
    w.add_argument("--json", action="store_true", help="print the runs and summary as JSON")
    w.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _dmf_flags(d) -> None:
    """``gflab bridge dmf``'s flags."""
    from gflab.sims.bridge.dmf_run import BridgeDMFConfig

    add_field_flags(d, BridgeDMFConfig)
    add_field_flags(d, RunFlags)


def _bench_flags(b) -> None:
    """``gflab bridge bench``'s flags."""
    add_field_flags(b, ProbeBenchFlags)
    b.add_argument("--json", action="store_true", help="print the measurements as JSON")


def _progress(rep: Reporter, label: str):
    """The run's :class:`gflab.sims.progress.Progress`: ``rep`` with the unit named ``label``."""
    return lambda done, total, info: rep(done, total, {**info, "unit": label})


def _seeds(args, config_cls) -> tuple[int, ...]:
    """The seeds of ``--seed``/``--seeds`` (neither: the seed of ``config_cls``'s default)."""
    if args.seeds is not None:
        return args.seeds
    return (field_default(config_cls, "seed") if args.seed is None else args.seed,)


def _check_out(args) -> None:
    """``--out`` must be a folder that can be written: checked before any training."""
    from gflab.theory.errors import GflabInputError

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
        from gflab.sims.store import ResultStore

        ResultStore(args.store).require_writable()


def _config(args, config_cls, **fixed):
    """``config_cls`` of the flags generated from its fields, then ``fixed`` (values no flag
    gives as it is); fields without a flag keep their defaults."""
    return config_cls(**{**flag_values(args, config_cls), **fixed})


def _run_fixed(args, config_cls) -> dict:
    """The run config's fields that :class:`RunFlags` give: ``device``, and ``every`` (when not
    given, ``config_cls``'s default)."""
    every = field_default(config_cls, "every") if args.every is None else args.every
    return {"device": args.device, "every": every}


def _run_seeds(args, config_cls, run, label, **fixed) -> list[dict]:
    """One ``run(config)`` per seed of ``--seed``/``--seeds``; the config's fields come from the
    flags of the same name, then ``fixed`` (values no flag gives as it is), then the seed; fields
    without a flag keep their defaults."""
    _check_out(args)
    _check_store(args)
    runs = []
    rep = reporter(args)
    for cfg in seed_configs(args, config_cls, **fixed):
        with rep:
            runs.append(run(cfg, progress=_progress(rep, f"{label(cfg)} seed {cfg.seed}")))
    return runs


def seed_configs(args, config_cls, **fixed) -> list:
    """The config of each seed of ``--seed``/``--seeds`` of ``gflab bridge lora|dmf``.

    Args:
        args: the parsed command line.
        config_cls: the run's config dataclass.
        **fixed: config fields no flag gives as it is (:func:`_lora_fixed`, :func:`_dmf_fixed`).

    Returns:
        One config a seed: the fields from their flags, then :class:`RunFlags`' ``device`` and
        ``every``, then ``fixed``, then the seed.
    """
    run = _run_fixed(args, config_cls)
    return [_config(args, config_cls, **run, **fixed, seed=s) for s in _seeds(args, config_cls)]


# the bridge lora flags only some optimizers read (a flag given with another is refused)
_LORA_FLAG_OWNERS = {
    "momentum": ("muon", "spec-exact", "amuse"),
    "no_nesterov": ("muon", "spec-exact"),
    "adjust_lr_fn": ("muon", "spec-exact", "sf-muon", "amuse"),
}


def _lora_fixed(args) -> dict:
    """The ``bridge lora`` config fields no flag gives as it is (``--modules``, ``--no-nesterov``);
    refuses a flag the optimizer does not read and fills the "unset" flags not
    given with their field's default."""
    from gflab.sims.bridge.lora_run import BridgeLoRAConfig
    from gflab.theory.errors import GflabInputError

    for name, owners in _LORA_FLAG_OWNERS.items():
        given = getattr(args, name) not in (None, False)
        if given and args.optimizer not in owners:
            raise GflabInputError(
                name,
                f"no --{name.replace('_', '-')} with --optimizer {args.optimizer} (only "
                f"{', '.join(owners)} use it)",
                getattr(args, name),
            )
        if getattr(args, name) is None:  # "unset" fields: the flag was not given
            setattr(args, name, field_default(BridgeLoRAConfig, name))
    return {
        "modules": tuple(m.strip() for m in args.modules.split(",") if m.strip()),
        "nesterov": not args.no_nesterov,
    }


def run_lora_cmd(args) -> int:
    """``gflab bridge lora``: fine-tune with LoRA per seed, record the adapters' spectra,
    store each run, and print the summary (the whole record with ``--json``).

    Args:
        args: the parsed command line.

    Returns:
        0 (bad flags raise ``GflabInputError``: exit code 2 from :func:`gflab.cli.main`).
    """
    from gflab.sims.bridge.lora_run import BridgeLoRAConfig, run_lora

    runs = _run_seeds(
        args, BridgeLoRAConfig, run_lora, lambda c: f"lora {c.optimizer}", **_lora_fixed(args)
    )
    return _finish(args, runs, "lora")


def _warmstart_config(args):
    """The :class:`~gflab.sims.bridge.warmstart.WarmStartConfig` of ``gflab bridge warmstart``'s
    flags (the comma-separated ones split and checked)."""
    from gflab.sims.bridge.warmstart import WarmStartConfig
    from gflab.theory.errors import GflabInputError

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
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    return _config(args, WarmStartConfig, fractions=fractions, seeds=seeds, kinds=kinds)


def run_warmstart_cmd(args) -> int:
    """``gflab bridge warmstart``: print the per-kind summary (or the whole JSON).

    Args:
        args: the parsed command line.

    Returns:
        0.
    """
    from gflab.sims.bridge.warmstart import run_warmstart

    cfg = _warmstart_config(args)
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


def _dmf_fixed(args) -> dict:
    """The ``bridge dmf`` config field no flag gives as it is: ``--observed`` (refused with
    ``--mask``; its field's default when not given)."""
    from gflab.sims.bridge.dmf_run import BridgeDMFConfig
    from gflab.theory.errors import GflabInputError

    if args.mask is not None and args.observed is not None:
        raise GflabInputError(
            "observed", "no --observed with --mask (the mask is Ω)", args.observed
        )
    observed = (
        field_default(BridgeDMFConfig, "observed") if args.observed is None else args.observed
    )
    return {"observed": observed}


def run_dmf_cmd(args) -> int:
    """``gflab bridge dmf``: deep linear matrix completion trained in torch with the
    probe attached; prints the final ranks and coupling, or the JSON record.

    Args:
        args: the parsed command line (``args.func`` is this function).

    Returns:
        Exit code 0 when the run finished.
    """
    from gflab.sims.bridge.dmf_run import BridgeDMFConfig, run_dmf

    runs = _run_seeds(
        args, BridgeDMFConfig, run_dmf, lambda c: f"dmf depth {c.depth}", **_dmf_fixed(args)
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
    from gflab.sims.bridge.record import store_run, to_json

    keys = []
    if not args.no_store:
        from gflab.sims.store import ResultStore

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


#: one line per key of ``bridge lora``'s summary, printed under it
LORA_SUMMARY_LEGEND = {
    "effective_rank_final": "exp(entropy of sigma_i/sum sigma) of s*B*A at the last log, "
    "mean over modules (1..r)",
    "stable_rank_final": "sum sigma_i^2 / sigma_1^2 of s*B*A at the last log, mean over modules",
    "equal_rate_spread": "median over modules of the spread of the sqrt(sigma_i) slopes "
    "(reading: below)",
    "equal_rate_spread_max": "largest spread over modules",
    "loss_final": "training loss, mean of the last 10 batches (the progress line's last value)",
    "train_accuracy": "accuracy on the training sentences after training",
    "eval_accuracy": "accuracy on the held-out sentences",
    "burn_in": "growth fits use the logged steps >= this",
    "n_modules": "LoRA modules measured",
}


def _print_lora_reading(doc: dict) -> None:
    """How to read the equal-rate spread of ``bridge lora`` (the bounds for rank r)."""
    from gflab.sims.bridge.probes import equal_rate_reading

    print("reading: " + equal_rate_reading(int(doc["config"]["rank"])))


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
    legend = LORA_SUMMARY_LEGEND if kind == "lora" else {}
    if len(payloads) > 1:
        print("  (each value: mean ± sample std over the seeds)")
    for key, val in doc["summary"].items():
        if not key.endswith("_std"):
            std = doc["summary"].get(key + "_std")
            text = f"{_fmt(val)}" + (f"  ± {_fmt(std)}" if std is not None else "")
            print(f"  {key:<26} {text:<18}" + (f"  {legend[key]}" if key in legend else ""))
    if kind == "lora":
        _print_lora_reading(doc)
    if payloads[0].get("store_key"):
        print(f"stored as {', '.join(p['store_key'][:12] for p in payloads)}")


def run_bench_cmd(args) -> int:
    """``gflab bridge bench``: seconds per probe call against a training step.

    Args:
        args: the flags (model, optimizer, steps, every, device, json).

    Returns:
        0, after printing the fractions (or their JSON).
    """
    from gflab.sims.bridge.bench import probe_overhead

    res = probe_overhead(**flag_values(args, ProbeBenchFlags))
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


# ----------------------------------------------------------------------------- bridge analyze


def _analyze_flags(a) -> None:
    """``gflab bridge analyze``'s arguments and flags."""
    a.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a folder of checkpoint-N/ folders, checkpoint folders, or .safetensors/.pt/.bin files",
    )
    add_field_flags(a, AnalyzeFlags)
    a.add_argument("--spectra", action="store_true", help="print sigma_i at every checkpoint")
    a.add_argument("--json", action="store_true", help="print the measurements as JSON")


def _print_analysis(res: dict, show_spectra: bool) -> None:
    steps = [int(t) for t in res["steps"]]
    cks = res["checkpoints"]
    summ = res["summary"]
    ranks = ",".join(str(r) for r in summ["ranks"])
    fmts = sorted({c["format"] for c in cks})
    print(
        f"bridge analyze  {len(cks)} checkpoints ({', '.join(fmts)}), steps {steps[0]}..{steps[-1]},"
        f" {summ['n_modules']} LoRA modules, r = {ranks}"
    )
    vals = sorted(set(res["scale"]["values"].values()))
    shown = ", ".join(f"{v:g}" for v in vals)
    print(f"scale s = {shown}  ({res['scale']['source']})")
    print(f"growth fits of sqrt(sigma_i) over steps >= {summ['burn_in']} (--burn-in)")
    width = max(len(n) for n in res["modules"])
    print(
        f"  {'module':<{width}}  eff.rank  stable  spread  min r2  sigma_i(s*B*A) at step {steps[-1]}"
    )
    for name, m in res["modules"].items():
        sig = " ".join(f"{v:.3g}" for v in m["singular_values"][-1])
        r2 = m["growth_r2"]
        r2min = float(np.min(r2)) if np.all(np.isfinite(r2)) else float("nan")
        print(
            f"  {name:<{width}}  {m['effective_rank'][-1]:8.3f}  {m['stable_rank'][-1]:6.3f}"
            f"  {_fmt(m['equal_rate_spread']):>6}  {_fmt(r2min):>6}  {sig}"
        )
        if show_spectra:
            for t, row in zip(steps, m["singular_values"], strict=True):
                print(f"      step {t:>8}  " + " ".join(f"{v:.4g}" for v in row))
    print(
        "  (eff.rank, stable: effective and stable rank of s*B*A at the last checkpoint; spread: "
        "equal_rate_spread of the module; min r2: worst R^2 of its sqrt(sigma_i) line fits)"
    )
    print("summary")
    for key in ("effective_rank_final", "stable_rank_final", "equal_rate_spread"):
        print(f"  {key:<26} {_fmt(summ[key])}  ({LORA_SUMMARY_LEGEND[key]})")
    print(f"  {'equal_rate_spread_max':<26} {_fmt(summ['equal_rate_spread_max'])}")
    print("reading: " + res["reading_rule"])


def run_analyze_cmd(args) -> int:
    """``gflab bridge analyze``: measure saved adapters; print a table (or the JSON).

    Args:
        args: the parsed command line.

    Returns:
        0.
    """
    from gflab.sims.bridge.analyze import analyze_checkpoints
    from gflab.sims.bridge.record import to_json

    res = analyze_checkpoints(args.paths, **flag_values(args, AnalyzeFlags))
    if args.json:
        print_json(to_json(res))
        return 0
    _print_analysis(res, args.spectra)
    return 0


def _name_list(allowed: tuple[str, ...]):
    def parse(text: str) -> tuple[str, ...]:
        vals = tuple(x.strip() for x in text.split(","))
        if not vals or any(v not in allowed for v in vals) or len(set(vals)) != len(vals):
            raise argparse.ArgumentTypeError(
                f"expected a comma list of distinct names among {', '.join(allowed)}; got {text!r}"
            )
        return vals

    return parse


def _prune_flags(p) -> None:
    """``gflab bridge prune``'s flags."""
    _add_prune_selection_flags(p)
    _add_prune_training_flags(p)


def _add_prune_selection_flags(p) -> None:
    """``gflab bridge prune``'s flags for what is pruned and how: the data, its scenario (noise,
    imbalance, corruption), the scores, the selectors and the ratios."""
    from gflab.sims.bridge.prune_data import DataSpec
    from gflab.sims.bridge.prune_run import SCORES, SELECTS, MethodSpec

    add_field_flags(p, DataSpec)
    p.add_argument(
        "--score",
        type=_name_list(SCORES),
        default=("dual", "random"),
        help="comma list: " + ", ".join(SCORES) + " (default dual,random)",
    )
    p.add_argument(
        "--select",
        type=_name_list(SELECTS),
        default=("hard", "beta"),
        help="comma list: " + ", ".join(SELECTS) + " (default hard,beta; every score is paired "
        "with every selector, except aum with beta; random ignores it)",
    )
    add_field_flags(p, MethodSpec)


def _add_prune_training_flags(p) -> None:
    """``gflab bridge prune``'s flags for training and running: the model, SGD, SemiPrune's
    labels, the executor, the dynamics budget, output and store."""
    from gflab.cli._common import float_list
    from gflab.sims.bridge.prune_run import PruneConfig, TrainSpec

    add_field_flags(p, TrainSpec)
    add_field_flags(p, PruneConfig, types={"ratios": float_list, "seeds": _seed_list})
    p.add_argument(
        "--executor",
        default=None,
        help="sweep executor (default local:2 on CPU, local:1 with --device cuda)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--store", default=None, help=_STORE_HELP)


def prune_config(args):
    """The :class:`gflab.sims.bridge.prune_run.PruneConfig` of ``gflab bridge prune``'s flags.

    Args:
        args: the parsed ``gflab bridge prune`` command line.

    Returns:
        The experiment.
    """
    from gflab.sims.bridge.prune_data import DataSpec
    from gflab.sims.bridge.prune_run import MethodSpec, PruneConfig, TrainSpec

    data = _config(args, DataSpec)
    model = args.model or ("cnn1d" if args.data == "mnist1d" else "mlp")
    train = _config(args, TrainSpec, model=model)
    common = flag_values(args, MethodSpec)
    methods = []
    for s in args.score:
        if s == "random":
            methods.append(MethodSpec(score="random", select="hard", **common))
            continue
        for sel in args.select:
            if not (s == "aum" and sel == "beta"):
                methods.append(MethodSpec(score=s, select=sel, **common))
    return _config(args, PruneConfig, data=data, train=train, methods=tuple(methods))


def run_prune_cmd(args) -> int:
    """``gflab bridge prune``: the accuracy table (or the whole report as JSON).

    Args:
        args: the parsed command line.

    Returns:
        0.
    """
    from gflab.sims.store import ResultStore
    from gflab.sims.sweep import parse_executor

    cfg = prune_config(args)  # every flag validated before anything runs
    executor = args.executor or (
        "local:1" if args.device == "cuda" else f"local:{min(2, os.cpu_count() or 1)}"
    )
    parse_executor(executor)
    if args.device == "cuda":
        from gflab.sims.bridge._torch import resolve_device

        resolve_device("cuda")
    store = ResultStore(args.store)
    from gflab.sims.bridge.prune_run import run_prune

    with reporter(args, desc="prune") as rep:
        out = run_prune(cfg, store, executor, progress=rep)
    if args.json:
        print_json(to_json_strict(out))
        return 0
    _print_prune(cfg, out)
    return 0


def to_json_strict(obj):
    """``obj`` as strict JSON values (NaN/inf as None, arrays as lists).

    Args:
        obj: a bridge run's record.

    Returns:
        The same structure with only JSON types.
    """
    from gflab.sims.bridge.record import to_json

    return to_json(obj)


def _pct(mean, sd) -> str:
    if mean is None:
        return "   n/a      "
    return f"{100 * mean:5.1f} ± {100 * sd:4.1f}" if sd is not None else f"{100 * mean:5.1f}       "


def _print_prune(cfg, out: dict) -> None:
    d, t = cfg.data, cfg.train
    scen = [f"{k} {getattr(d, k):g}" for k in ("label_noise", "corrupt") if getattr(d, k) > 0]
    scen += [f"long_tail {d.long_tail:g}"] if d.long_tail > 1 else []
    print(
        f"bridge prune  ({d.data}, N = {out['n_train']}, {t.model}, E = {t.epochs}, "
        f"seeds {list(cfg.seeds)}{', ' + ', '.join(scen) if scen else ''})"
    )
    f = out["full"]
    print(
        f"  full data            {_pct(f['test_accuracy_mean'], f['test_accuracy_sd'])} %"
        f"   ({f['epochs']} epochs, {f['seconds_mean']:.1f} s)"
    )
    if "pseudo_labels" in out:
        pl = out["pseudo_labels"]
        print(
            f"  pseudo-labels ({pl['method']}, {100 * pl['labelled']:g} % labelled): "
            f"{100 * pl['accuracy_mean']:.1f} % correct"
        )
    ratios = [f"{r:g}" for r in cfg.ratios]
    print("  test accuracy (%)    " + "".join(f"r = {r:<12}" for r in ratios) + "scoring cost")
    for name, rows in out["methods"].items():
        c = out["cost"][name]
        cells = "".join(
            f"{_pct(rows[r]['test_accuracy_mean'], rows[r]['test_accuracy_sd']):<16}"
            for r in ratios
        )
        empty = sum(sum(rows[r]["empty_classes"]) for r in ratios)
        cost = f"{c['score_epochs']}/{c['full_epochs']} ep, {c['proxy_seconds'] + c['score_seconds']:.2f} s"
        print(f"  {name:<20} {cells}{cost}" + (f"  ({empty} empty classes)" if empty else ""))
    sw = out["sweeps"]
    print(
        f"  runs: {sw['proxies']['done'] + sw['coresets']['done']} trained, "
        f"{sw['proxies']['read'] + sw['coresets']['read']} read from the store; "
        f"wall {out['wall_seconds']:.1f} s"
    )
