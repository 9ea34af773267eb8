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

from gflab.sims import methods as M
from gflab.sims import terms as _terms
from gflab.sims.config import DMFConfig, LoRAConfig
from gflab.sims.dash import DashConfig
from gflab.sims.kleinman import KleinmanConfig
from gflab.sims.plasticity import PlasticityConfig
from gflab.sims.river import RiverConfig
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
    "default_lora_horizon",
]

# SpecGF's smoothing when none is given (recorded in the config): its field's default
DEFAULT_BETA = _terms.DEFAULT_BETA

MODELS: dict[str, type] = {
    "dmf": DMFConfig,
    "lora": LoRAConfig,
    "dmf-plasticity": PlasticityConfig,
    "dmf-dash": DashConfig,
    "river": RiverConfig,
    "kleinman": KleinmanConfig,
}

# the methods each model accepts (their hyper-parameters become flags)
_MODEL_METHODS = {
    "dmf": (M.Adaptive, M.GD),
    "lora": tuple(M.METHODS.values()),
    "dmf-plasticity": (M.Adaptive, M.GD),
    "dmf-dash": (M.Adaptive, M.GD),
    "river": (),  # one run of every optimiser of sims.river.METHODS, its steps are fields
    "kleinman": (),  # GD with their step, a field
}

# hyper-parameters carried by the method spelling or by another flag, not by a flag of their own
_IN_SPELLING = {"lr", "dt", "beta"}

_INITS = (
    "mimic | gaussian (independent factors, gflab's) | tied-gaussian (one draw for every factor:"
    " the [DMC] authors' 'gaussian') | identity | orthogonal"
)
_MASKS = "diagonal | block:K | superdiag | bernoulli:P"

HELP: dict[str, str] = {
    "depth": "number of factors L >= 2",
    "n": "matrix size n",
    "init": _INITS,
    "m": "mimic parameter m > 1 (inf: diagonal)",
    "alpha": "init scale alpha > 0 (W(0) ~ alpha)",
    "mask": _MASKS,
    "pretrain_mask": "phase-1 mask Ω1: " + _MASKS,
    "target": "ones | const:W | lowrank:R (U Vᵀ/√R)",
    "seed": "seed of every random draw (init, mask, target)",
    "t1": "horizon: integrate to flow time t1 (flows)",
    "t_max": "horizon of a flow run until converged",
    "method": "adaptive | euler:DT | gd:ETA | specgd:ETA | specgd-smooth:ETA | ns:ETA | muon:ETA",
    "steps": "number of steps of a discrete method",
    "normalisation": (
        "loss: sum = ½Σ_Ω R² | mean = ½Σ_Ω R²/|Ω| (Kleinman et al.) | full-mean = Σ_Ω R²/n²"
        " (the [DMC] authors' ((mask*W - mask*W*)**2).mean()); a flow's time or GD's step scales"
    ),
    "converge_tol": "stop when the loss / its value at W = 0 falls to this",
    "stop_loss": (
        "stop when the loss, in its normalisation, falls to this (GD: checked before each step,"
        " as the authors do; flows: at the root-found crossing); replaces --converge-tol; with"
        " gd, --steps becomes optional (default cap 1e6 steps, status max_steps if reached)"
    ),
    "n_save": "number of saved time points",
    "grid": "save grid of a flow: linear | log (default: linear with --t1, else log)",
    "coupling": "also save the tangent-kernel cross coupling",
    "mask_file": "observation mask from an n×n 0/1 .npy file (instead of --mask)",
    "target_file": "target from an n×n .npy file (instead of --target)",
    "pretrain_mask_file": "phase-1 mask Ω1 from an n×n 0/1 .npy file (instead of --pretrain-mask)",
    "init_file": (
        "initial factors from an .npz file holding W1 … WL, each n×n (W = W_L ⋯ W_1; instead of"
        " --init); its content enters the store key"
    ),
    "switch": "end of phase 1 (flow time; GD: steps); default: until converged",
    "rows": "rows of Y and A",
    "cols": "columns of Y and B",
    "rank": "inner dimension r",
    "target_svals": "comma-separated target singular values (distinct, > 0)",
    "flow": "gf | specgf",
    "beta": (
        "smoothing beta of T_beta: SpecGF flows and specgd-smooth (default"
        f" {_terms.DEFAULT_BETA!r}; 0 = the exact polar flow, euler:DT only); refused with --flow gf"
    ),
    "gamma": "init scale gamma > 0",
    "l2": "l2 regularisation lambda >= 0",
    "aligned": "target singular vectors = coordinate axes",
    "rtol": "adaptive: relative tolerance",
    "atol": "adaptive: absolute tolerance",
    "solver": "adaptive: diffrax solver (" + " | ".join(M.SOLVERS) + ")",
    "max_steps": "adaptive, euler: step budget of the solver",
    "momentum": "muon: momentum",
    "nesterov": "muon: Nesterov momentum; --no-nesterov turns it off",
    "ns_steps": "ns, muon: Newton-Schulz iterations",
    "ns_dtype": "ns, muon: Newton-Schulz precision (" + " | ".join(M.NS_DTYPES) + ")",
    "shape_scale": "muon: lr scaling (" + " | ".join(M.SHAPE_SCALES) + ")",
    "intervention": "at the switch: dash | shrink-perturb | reset (W_L to its init) | none",
    "floor": "DASH's floor λ, shrink-and-perturb's shrink factor (0 < λ ≤ 1)",
    "dash_alpha": "DASH's gradient averaging α (0 < α ≤ 1)",
    "dash_reduction": (
        "DASH's loss of one batch: sum = ½Σ_batch R² (gflab's) | mean = ½Σ_batch R²/|batch|"
        " (the authors' dash(): their criterion's mean)"
    ),
    "noise_std": "shrink-and-perturb: σ of the perturbation",
    "intervention_seed": "shrink-and-perturb: seed of the perturbation",
}

# help that differs by model (the same field name means another thing, or accepts other values)
MODEL_HELP: dict[str, dict[str, str]] = {
    "lora": {
        "init": "lora (A = 0, B with gamma·N(0, 1) entries) | gaussian (A and B both gamma·N(0, 1))",
        "seed": "seed of the init and target draws",
        "init_file": (
            "initial factors from an .npz file holding A (rows×rank) and B (rank×cols) (instead"
            " of --init); its content enters the store key"
        ),
    },
}

MODEL_HELP["kleinman"] = {
    "depth": "number of factors L >= 1 (1: a single matrix, their convex baseline)",
    "seed": "their seed: the truth, the observations and the init (default: their config's 1)",
    "n": "matrix size n",
    "rank": "rank r of the truth W* = U Vᵀ/√r, rescaled to ‖W*‖_F = n",
    "n1": "entries observed in phase 1 (Ω1: the first N1 of the observation order)",
    "n2": "entries observed in phase 2 (Ω2: the first N2; Ω1 ⊂ Ω2)",
    "t_c": "comma-separated switch steps T_c (phase 2 starts from each)",
    "post_steps": "steps after the switch (their epoch_continue)",
    "lr": "GD step on the mean loss ½ mean_Ω (W − W*)²",
    "init_scale": "init scale: Gaussian factors with std init^{1/L}/√n",
    "draw": (
        "the problem's random draw: kleinman (their script's NumPy and torch generators, seeded"
        " as they seed them) | gflab (NumPy default_rng)"
    ),
    "schedule": (
        "kleinman (their loop: T_c + 1 steps on Ω1, the test error after post − 2 on Ω2) |"
        " gflab (T_c and post)"
    ),
    "problem_file": (
        "the problem from an .npz file: target (n×n), order (flat indices of the observed"
        " entries, in order), W1 … WL (W = W_L ⋯ W_1); replaces --draw"
    ),
}

# the river valley's own help (its field names are shared with other models: rows, beta, lr...)
RIVER_HELP: dict[str, str] = {
    "rows": "rows of W (at most 4096)",
    "cols": "columns of W (at most rows)",
    "bulk": "flat (bulk) columns, fewer than cols",
    "h_bulk": "curvature of the bulk columns",
    "h_wall": "curvature of the wall columns",
    "noise": "σ of the Gaussian gradient noise (0: deterministic)",
    "lr": "base learning rate of Muon (AMUSE's base step), Schedule-Free Muon and AMUSE",
    "lr_gd": "GD's step (default 1/h_wall)",
    "beta1": "AMUSE's β₁ in (0, 1]: the interpolation during the warmup",
    "rho": "AMUSE's ρ >= 0: how fast β rises to 1 after the warmup (0: β stays β₁)",
    "warmup_steps": "AMUSE's warmup T₀ >= 1 (linear lr warmup; fewer than steps; default: steps // 10)",
    "momentum": "Muon momentum μ in [0, 1) (Nesterov)",
    "r": "AMUSE's weight power r >= 0 (weights t^r·lr_t^p)",
    "weight_lr_power": "AMUSE's p >= 0 (weights t^r·lr_t^p)",
    "weight_decay": "decoupled weight decay on z (AMUSE) and W (Muon), >= 0",
    "aux_update_type": "adamw | sgd: Muon's shape scale 0.2·√max(m,n) or √max(1,m/n)",
    "steps": "number of steps (>= 8; steps × rows × cols within $GFLAB_MAX_MEMORY and"
    " $GFLAB_MAX_SECONDS)",
    "seed": "seed of the gradient noise",
}


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


def params(model: str) -> list[Param]:
    """The table of ``model`` (a key of :data:`MODELS`): config fields first, then
    the hyper-parameters of its methods.

    Returns:
      A list of :class:`Param`.
    """
    cls = _model(model)
    helps = RIVER_HELP if model == "river" else {**HELP, **MODEL_HELP.get(model, {})}
    out: list[Param] = []
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = None if required else f.default
        out.append(Param(f.name, _kind(f.type), helps.get(f.name, ""), default, required))
    seen: dict[str, Param] = {}
    adaptive = getattr(cls, "ADAPTIVE_DEFAULTS", DMFConfig.ADAPTIVE_DEFAULTS)
    for mcls in _MODEL_METHODS[model]:
        for f in dataclasses.fields(mcls):
            if f.name in _IN_SPELLING:
                continue
            if f.name in seen:
                p = seen[f.name]
                seen[f.name] = dataclasses.replace(p, methods=p.methods + (mcls.name,))
                continue
            default = adaptive.get(f.name, f.default) if mcls is M.Adaptive else f.default
            seen[f.name] = Param(
                f.name, _kind(f.type), HELP.get(f.name, ""), default, False, (mcls.name,)
            )
    return out + list(seen.values())


def method_params(model: str) -> dict[str, tuple[str, ...]]:
    """Every hyper-parameter of ``model``'s methods, the step (``lr``, ``dt``) included → the
    names of the methods that have it (a sweep spec may set each, :func:`config_from_fields`)."""
    _model(model)
    out: dict[str, tuple[str, ...]] = {}
    for mcls in _MODEL_METHODS[model]:
        for f in dataclasses.fields(mcls):
            out[f.name] = out.get(f.name, ()) + (mcls.name,)
    return out


def _refuse_foreign(model: str, method_cls: type, values: dict, label=str) -> None:
    """A :class:`GflabInputError` naming the first hyper-parameter in ``values`` that
    ``method_cls`` lacks (and the methods that have it)."""
    have = {f.name for f in dataclasses.fields(method_cls)}
    owners = method_params(model)
    for name, v in values.items():
        if name not in have:
            mine = ", ".join(sorted(have)) or "none"
            raise GflabInputError(
                label(name),
                f"a method that has it: {'/'.join(owners.get(name, ()))} (not {method_cls.name},"
                f" whose hyper-parameters are {mine})",
                v,
            )


def config_from_fields(model: str, fields: dict[str, Any], label=str):
    """The config of a flat table of config fields and method hyper-parameters (a sweep point).

    Names that are fields of the config go to it (through :func:`gflab.sims.config.config_from_dict`);
    the others are hyper-parameters of its method (``rtol`` of ``adaptive``, ``lr`` of ``gd``):
    they replace the method's own values, so ``{"method": "gd:0.1", "lr": 0.2}`` is ``GD(0.2)``
    and a discrete spelling may leave out its step (``{"method": "gd", "lr": 0.2}``). A
    hyper-parameter the method lacks is refused, naming it.

    Args:
      model: ``dmf`` or ``lora``.
      fields: ``{name: value}``; ``method`` a spelling, a ``to_dict`` dict or a method object.
      label: maps a name to the parameter named in errors (``rtol`` → ``grid.rtol``).
    Returns:
      The validated config.
    """
    from gflab.sims.config import config_from_dict

    cls = _model(model)
    own = {f.name for f in dataclasses.fields(cls)}
    known = method_params(model)
    hyper = {k: v for k, v in fields.items() if k not in own}
    for name in hyper:
        if name not in known:
            raise GflabInputError(
                label(name),
                f"a field of {cls.__name__} or a hyper-parameter of its methods "
                f"({', '.join(known)})",
                name,
            )
    rest = {k: v for k, v in fields.items() if k in own}
    spelling = rest.get("method")
    if isinstance(spelling, str) and ":" in spelling:  # "gd:0.1" carries its step
        for step in ("lr", "dt"):
            if step in hyper:
                raise GflabInputError(
                    label(step),
                    f"one step: either in method {spelling!r} or as {step}",
                    hyper[step],
                )
    bare = M.METHODS.get(spelling) if isinstance(spelling, str) else None
    if bare is not None and bare is not M.Adaptive:  # "gd": its step comes from the table
        step = "dt" if bare is M.Euler else "lr"
        if step not in hyper:
            raise GflabInputError(label(step), f"a value with method {spelling}", None)
        rest["method"] = f"{spelling}:{hyper.pop(step)!r}"
    cfg = config_from_dict({"model": model, **rest})
    if not hyper:
        return cfg
    _refuse_foreign(model, type(cfg.method), hyper, label)
    return cfg.replace(method=dataclasses.replace(cfg.method, **hyper))


def _model(model: str) -> type:
    if model not in MODELS:
        raise GflabInputError("model", "one of " + ", ".join(MODELS), model)
    return MODELS[model]


def default_lora_horizon(flow: str, target_svals) -> float:
    """SpecGF: 2.5 √s_max + 2 (every mode arrives near √s_i); GF: 20."""
    if flow != "specgf":
        return 20.0
    # a negative value is refused by the config's validation, not here (no math domain error)
    return 2.5 * math.sqrt(max(0.0, *(float(s) for s in target_svals))) + 2.0


def config_from_args(model: str, values: dict[str, Any]):
    """The config from parsed flag values (only the flags given; names are field names).

    Method hyper-parameters are refused when the chosen method does not have them (``--momentum``
    with ``--method gd:0.1``); LoRA fills SpecGF's default β and the default horizon.

    Args:
      model: a key of :data:`MODELS`.
      values: ``{field name: value}`` of the flags the user gave.
    Returns:
      The validated config.
    """
    cls = _model(model)
    table = {p.name: p for p in params(model)}
    values = dict(values)
    unknown = set(values) - set(table)
    if unknown:
        raise GflabInputError("arguments", "flags of gflab simulate " + model, sorted(unknown))
    spelling = values.get("method", "adaptive")
    mcls = M.METHODS.get(str(spelling).partition(":")[0])
    if mcls is None:
        M.parse_method(spelling)  # raises, naming the allowed spellings
    _refuse_foreign(model, mcls, {k: v for k, v in values.items() if table[k].methods})
    if model == "lora":
        flow = values.get("flow", "specgf")
        if "t1" not in values and "steps" not in values and not mcls.discrete:
            values["t1"] = default_lora_horizon(flow, values.get("target_svals", (1, 2, 4, 8, 16)))
    # hyper-parameters the config takes no keyword for (``solver``) go into its method object
    late = {
        k: values.pop(k)
        for k in list(values)
        if table[k].methods and k not in getattr(cls, "_METHOD_OPTIONS", ())
    }
    cfg = cls(**values)
    if late:
        cfg = cfg.replace(method=dataclasses.replace(cfg.method, **late))
    return cfg


def _fmt(kind: str, v: Any) -> str:
    if kind == "floats":
        return ",".join(repr(float(x)) for x in v)
    if isinstance(v, float):
        return "inf" if v == math.inf else repr(v)
    return str(v)


def command_args(config) -> list[str]:
    """The argument list after ``gflab simulate`` that rebuilds ``config`` (model first).

    Args:
      config: a config of a model of :data:`MODELS`.
    Returns:
      e.g. ``["dmf", "--depth", "3", "--n", "4", "--alpha", "0.01"]``.
    """
    model = config.model
    table = params(model)
    argv = [model]
    method = getattr(config, "method", None)  # the river valley has none (its steps are fields)
    for p in table:
        if p.methods:
            continue
        v = getattr(config, p.name)
        if p.name == "method":
            if method.name != "adaptive":
                argv += ["--method", method.spelling]
            continue
        if p.name in ("mask", "target", "pretrain_mask", "init") and v == "file":
            continue  # set by its --...-file flag
        if p.name == "t1" and v is None and model == "lora":
            continue
        if not p.required and v == p.default:
            continue
        if p.kind == "bool":
            argv.append(p.flag)  # --coupling, --aligned (defaults False)
            continue
        argv += [p.flag, _fmt(p.kind, v)]
    if method is None:
        return argv
    if isinstance(method, M.SmoothedSpecGD):
        argv += ["--beta", _fmt("float", method.beta)]
    base = _baseline(config)
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


def _baseline(config):
    """The method the CLI builds from the spelling alone (what unlisted flags leave in place)."""
    m = config.method
    if m.name == "adaptive":
        cls = type(config)
        return M.Adaptive(**getattr(cls, "ADAPTIVE_DEFAULTS", DMFConfig.ADAPTIVE_DEFAULTS))
    if isinstance(m, M.SmoothedSpecGD):
        return m
    return M.parse_method(m.spelling)


def command(config, *, json: bool = True) -> str:
    """``gflab simulate ...`` (with ``--json``) that reruns ``config``: the same config, so the same
    store key."""
    argv = command_args(config) + (["--json"] if json else [])
    return "gflab simulate " + " ".join(shlex.quote(a) for a in argv)
