"""Measure your own LoRA run with gflab: live during training, and afterwards from saved adapters.

A tiny BERT (2 layers, hidden 32, random weights) with peft LoRA adapters (r = 4, lora_alpha 8,
so s = 2) learns a synthetic token task on the CPU in a few seconds, twice:

1. a plain PyTorch loop with :class:`gflab.sims.bridge.callbacks.SpectraRecorder`
   (``recorder.step(model, step)`` after each optimizer step), saving the adapters with
   ``model.save_pretrained(out/plain/checkpoint-N)`` at the recorded steps;
2. a Hugging Face ``Trainer`` with :class:`gflab.sims.bridge.callbacks.GflabSpectraCallback`, saving
   ``checkpoint-N/`` every ``every`` steps as Trainer does.

Then ``gflab bridge analyze`` on either folder prints the same spectra, ranks and equal-rate fits
as were recorded live. Run::

    python examples/bridge_own_run.py [OUT_DIR]        # default ./bridge-own-run, ~10 s on a CPU
    gflab bridge analyze OUT_DIR/plain
    gflab bridge analyze OUT_DIR/trainer --json

See docs/guides/measure-a-real-run.md and docs/bridge.md.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch

from gflab.sims.bridge.callbacks import GflabSpectraCallback, SpectraRecorder

VOCAB, LENGTH, N_EXAMPLES = 40, 8, 64


def tiny_lora_model(seed: int = 0, rank: int = 4, lora_alpha: float = 8.0):
    """A 2-layer BERT (hidden 32) with LoRA on ``query`` and ``value`` (peft), seeded."""
    from peft import LoraConfig, get_peft_model
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    conf = BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=LENGTH,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=2,
    )
    lcfg = LoraConfig(
        r=rank,
        lora_alpha=lora_alpha,
        target_modules=["query", "value"],
        lora_dropout=0.0,
        task_type="SEQ_CLS",
    )
    with warnings.catch_warnings():
        # peft 0.21 reads a deprecated transformers 5 attribute; nothing a user can change
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        return get_peft_model(BertForSequenceClassification(conf), lcfg)


def token_task(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random token sequences; the label says whether the first token is in the lower half."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (N_EXAMPLES, LENGTH), generator=g)
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": (ids[:, 0] < VOCAB // 2).long(),
    }


def plain_loop(out: Path, steps: int = 12, every: int = 3, seed: int = 0) -> SpectraRecorder:
    """Train with a plain loop, record live every ``every`` steps, save adapters at those steps."""
    model = tiny_lora_model(seed)
    batch = token_task(seed)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    recorder = SpectraRecorder(every=every)
    recorder.step(model, 0)  # the start (B = 0 under peft's init: every sigma is 0)
    model.save_pretrained(out / "checkpoint-0")
    for step in range(1, steps + 1):
        loss = model(**batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if recorder.step(model, step):  # True at the steps it recorded
            model.save_pretrained(out / f"checkpoint-{step}")
    return recorder


def with_trainer(out: Path, steps: int = 12, every: int = 3, seed: int = 0):
    """Train with HF ``Trainer`` and the callback; checkpoints every ``every`` steps in ``out``."""
    from transformers import Trainer, TrainingArguments

    model = tiny_lora_model(seed)
    data = token_task(seed)
    rows = [{k: v[i] for k, v in data.items()} for i in range(N_EXAMPLES)]
    args = TrainingArguments(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=16,
        learning_rate=1e-2,
        save_strategy="steps",
        save_steps=every,  # = the callback's every: one checkpoint per recorded step
        save_only_model=True,
        logging_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=seed,
    )
    callback = GflabSpectraCallback(every=every, save_to=out / "gflab-spectra.json")
    Trainer(model=model, args=args, train_dataset=rows, callbacks=[callback]).train()
    return callback


def main(out: Path) -> None:
    from gflab.sims.bridge.analyze import analyze_checkpoints

    torch.set_num_threads(1)  # small matrices: more threads only contend
    for name, run in (("plain", plain_loop), ("trainer", with_trainer)):
        live = run(out / name).result()
        saved = analyze_checkpoints([out / name])
        live_steps = [int(t) for t in live["steps"]]
        saved_steps = [int(t) for t in saved["steps"]]
        rows = [live_steps.index(t) for t in saved_steps]  # Trainer saves no checkpoint-0
        worst = max(
            float(abs(m["singular_values"] - live["modules"][n]["singular_values"][rows]).max())
            for n, m in saved["modules"].items()
        )
        print(
            f"{name:8s} live steps {live_steps}, checkpoints {saved_steps}; equal-rate spread "
            f"{live['summary']['equal_rate_spread']:.3f}; largest |live - saved| sigma {worst:.1e}"
        )
    print(f"now: gflab bridge analyze {out / 'plain'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "bridge-own-run"))
