"""Models as objects: the one registry :data:`MODELS` (docs/theory.md §3).

Each model is a final subclass of :class:`Model` in a file of its own, owning its config class,
the methods it accepts, how it runs and how its result is stored and read back. The schema of
``gflab simulate`` flags, the command line, sweeps, tables of stored results and the JSON reader
iterate :data:`MODELS`; adding a model is one file here and one line below.
"""

from __future__ import annotations

from typing import Any

from gflab.sims.models._base import HELP, OK_STATUSES, Model, PhasesModel, SimResultModel
from gflab.sims.models.dash import Dash
from gflab.sims.models.dmf import DMF
from gflab.sims.models.kleinman import Kleinman
from gflab.sims.models.lora import LoRA
from gflab.sims.models.plasticity import Plasticity
from gflab.sims.models.prune import Prune
from gflab.sims.models.river import River
from gflab.theory.errors import GflabInputError

__all__ = [
    "Model",
    "SimResultModel",
    "PhasesModel",
    "MODELS",
    "HELP",
    "OK_STATUSES",
    "model_named",
    "model_of",
    "config_from_dict",
]

#: name → model: every model ``gflab simulate`` runs, in the order the command line lists them
MODELS: dict[str, Model] = {
    m.name: m for m in (DMF(), LoRA(), Plasticity(), Dash(), River(), Kleinman(), Prune())
}


def model_named(name: Any, parameter: str = "model") -> Model:
    """The model called ``name``, or a :class:`GflabInputError` naming ``parameter``.

    Args:
      name: a key of :data:`MODELS`.
      parameter: the parameter named in the error.
    Returns:
      The model.
    """
    model = MODELS.get(name) if isinstance(name, str) else None
    if model is None:
        raise GflabInputError(parameter, "one of " + ", ".join(MODELS), name)
    return model


def model_of(config: Any) -> Model:
    """The model of a config object, or of a ``to_dict()`` dict (its ``model`` key).

    Args:
      config: a config of a model of :data:`MODELS`, or its dict.
    Returns:
      The model.
    """
    name = config.get("model") if isinstance(config, dict) else getattr(config, "model", None)
    return model_named(name)


def config_from_dict(d: dict[str, Any]):
    """The config of a ``to_dict()`` dict (the JSON reader; the model is its ``model`` key).

    Args:
      d: ``{"model": NAME, field: value, ...}``.
    Returns:
      The validated config.
    """
    if not isinstance(d, dict):
        raise GflabInputError("config", "a JSON object with a model", d)
    d = dict(d)
    return model_named(d.pop("model", None)).from_dict(d)
