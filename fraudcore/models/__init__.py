"""Model classes: serving, batch and streaming import these to load a registered model.

Each class lives in its own module and is imported only when asked for, so loading a LightGBM
model never imports PyTorch.
"""

from __future__ import annotations

import importlib

from fraudcore.models.base import FraudModel

_CLASSES = {
    "lightgbm": "fraudcore.models.gbt:GradientBoostedFraudModel",
    "torch": "fraudcore.models.torch_mlp:TorchFraudModel",
}
#: The model types a training run can ask for.
MODEL_TYPES: tuple[str, ...] = tuple(_CLASSES)


def model_class(model_type: str) -> type[FraudModel]:
    """The class of ``model_type`` (one of ``MODEL_TYPES``)."""
    if model_type not in _CLASSES:
        raise ValueError(f"unknown model_type {model_type!r}; choose from {sorted(_CLASSES)}")
    module, name = _CLASSES[model_type].split(":")
    return getattr(importlib.import_module(module), name)


__all__ = ["MODEL_TYPES", "FraudModel", "model_class"]
