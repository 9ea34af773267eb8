"""Live spectra of one's own LoRA run: a plain-loop hook and a Hugging Face ``TrainerCallback``.

Both drive one :class:`gflab.sims.bridge.probes.LoRAProbe` (σ(s·B A) from the r×r QR core in float64,
σ(A), σ(B), effective and stable rank) and summarise with
:func:`gflab.sims.bridge.probes.lora_growth_summary` (the √σ_i growth fits and the equal-rate spread,
docs/theory.md §2.2), so what they record is what ``gflab bridge lora`` records and what
``gflab bridge analyze`` reads back from the adapters saved at the same steps
(docs/guides/measure-a-real-run.md).

::

    recorder = SpectraRecorder(every=10)
    for step in range(1, steps + 1):
        ...  # forward, backward, optimizer.step()
        recorder.step(model, step)
    print(recorder.result()["summary"])

    trainer = Trainer(model=peft_model, args=args, train_dataset=ds,
                      callbacks=[GflabSpectraCallback(every=10)])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from transformers import TrainerCallback

from gflab.sims.bridge.probes import LoRAProbe, default_burn_in, equal_rate_reading
from gflab.sims.bridge.record import to_json
from gflab.theory.errors import GflabInputError

__all__ = ["SpectraRecorder", "GflabSpectraCallback"]


class SpectraRecorder:
    """Plain-loop hook: ``recorder.step(model, step)`` after each optimizer step.

    The first call finds the model's peft LoRA modules (:func:`gflab.sims.bridge.probes.
    find_lora_modules`); every call whose ``step`` is a multiple of ``every`` records them. Call it
    once with step 0 before training to log the start (LoRA's B = 0 gives σ = 0 there).

    Args:
      every: record every ``every`` steps (≥ 1).
      adapter: the peft adapter's name.
      burn_in: growth fits use steps ≥ ``burn_in`` (default
        :func:`gflab.sims.bridge.probes.default_burn_in` of the logged steps).
    """

    def __init__(self, every: int = 10, adapter: str = "default", burn_in: int | None = None):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise GflabInputError("every", "an integer >= 1", every)
        if burn_in is not None and burn_in < 0:
            raise GflabInputError("burn_in", "a step >= 0", burn_in)
        self.every = every
        self.adapter = adapter
        self.burn_in = burn_in
        self.probe: LoRAProbe | None = None

    def step(self, model: Any, step: int) -> bool:
        """Record ``model``'s adapters if ``step`` is a multiple of ``every``.

        Args:
          model: the peft model being trained (the same object at every call).
          step: optimizer steps taken so far.

        Returns:
          Whether it recorded. A step at or before the last recorded one is ignored (a resumed
          Trainer's ``on_train_begin`` repeats its step); use a new recorder for a new run.
        """
        if self.probe is None:
            self.probe = LoRAProbe(model, every=self.every, adapter=self.adapter)
        if self.probe.steps and int(step) <= self.probe.steps[-1]:
            return False
        return self.probe.maybe_record(int(step))

    @property
    def steps(self) -> list[int]:
        """The recorded steps."""
        return [] if self.probe is None else list(self.probe.steps)

    def arrays(self) -> dict[str, dict[str, np.ndarray]]:
        """Per module the recorded float64 series (:meth:`gflab.sims.bridge.probes.LoRAProbe.arrays`)."""
        return {} if self.probe is None else self.probe.arrays()

    def result(self) -> dict:
        """What was recorded, in ``gflab bridge analyze``'s form.

        Returns:
          ``steps``, ``modules`` (series and growth fits per module), ``summary``
          (:func:`gflab.sims.bridge.probes.lora_growth_summary` plus ``n_modules``, ``ranks``) and
          ``reading_rule``.

        Raises:
          GflabInputError: (``steps``) nothing recorded yet.
        """
        if self.probe is None or not self.probe.steps:
            raise GflabInputError("steps", "at least one recorded step", "none recorded")
        burn = default_burn_in(self.probe.steps) if self.burn_in is None else self.burn_in
        modules, summary = self.probe.summary(burn)
        ranks = sorted({int(m["singular_values"].shape[1]) for m in modules.values()})
        summary.update(n_modules=len(modules), ranks=ranks)
        return {
            "steps": np.asarray(self.probe.steps, dtype=np.int64),
            "modules": modules,
            "summary": summary,
            "reading_rule": equal_rate_reading(max(ranks)),
        }

    def save(self, path: str | Path) -> Path:
        """Write :meth:`result` as strict JSON (NaN as null) to ``path``; returns the path.

        Args:
            path: the JSON file to write.
        """
        path = Path(path)
        path.write_text(json.dumps(to_json(self.result()), allow_nan=False))
        return path


class GflabSpectraCallback(TrainerCallback):
    """A ``transformers.TrainerCallback`` recording the adapters' spectra during ``Trainer.train``.

    Records at the start (``on_train_begin``, step ``state.global_step``) and after every optimizer
    step that is a multiple of ``every`` (``on_step_end``, before the Trainer saves a checkpoint of
    that step), on the main process only. With ``save_to`` the result is written as JSON when
    training ends. ``callback.recorder`` is the :class:`SpectraRecorder` (``.result()``).

    Args:
      every: record every ``every`` optimizer steps (match ``save_steps`` to compare with
        ``gflab bridge analyze`` on the checkpoints).
      adapter: the peft adapter's name.
      burn_in: as in :class:`SpectraRecorder`.
      save_to: a JSON file to write at the end of training, or None.
    """

    def __init__(
        self,
        every: int = 10,
        adapter: str = "default",
        burn_in: int | None = None,
        save_to: str | Path | None = None,
    ):
        self.recorder = SpectraRecorder(every=every, adapter=adapter, burn_in=burn_in)
        self.save_to = None if save_to is None else Path(save_to)

    def _record(self, state, model) -> None:
        if model is not None and state.is_world_process_zero:
            self.recorder.step(model, state.global_step)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        """Record the adapters before the first step (step 0).

        Args:
            args: the trainer's ``TrainingArguments`` (unused).
            state: the trainer's ``TrainerState``: only the main process records.
            control: the trainer's ``TrainerControl`` (unused).
            model: the model being trained (nothing is recorded without one).
            **kwargs: the other objects the trainer passes (unused).
        """
        self._record(state, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        """Record after an optimiser step, every ``every`` steps (arguments as
        :meth:`on_train_begin`).

        Args:
            args: ``TrainingArguments``.
            state: ``TrainerState`` (its ``global_step`` is the step recorded).
            control: ``TrainerControl``.
            model: the model.
            **kwargs: the rest the trainer passes.
        """
        self._record(state, model)

    def on_train_end(self, args, state, control, **kwargs):
        """Save what was recorded to ``save_to``, when given (main process only).

        Args:
            args: unused.
            state: tells whether this is the main process.
            control: unused.
            **kwargs: unused (the model and the rest the trainer passes).
        """
        if self.save_to is not None and state.is_world_process_zero and self.recorder.steps:
            self.recorder.save(self.save_to)

    def result(self) -> dict:
        """:meth:`SpectraRecorder.result` of what was recorded."""
        return self.recorder.result()
