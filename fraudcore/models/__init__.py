"""Model classes: serving, batch and streaming import these to load a registered model."""

from fraudcore.models.base import FraudModel
from fraudcore.models.gbt import GradientBoostedFraudModel
from fraudcore.models.torch_mlp import TorchFraudModel

MODEL_TYPES: dict[str, type[FraudModel]] = {
    "lightgbm": GradientBoostedFraudModel,
    "torch": TorchFraudModel,
}

__all__ = ["MODEL_TYPES", "FraudModel", "GradientBoostedFraudModel", "TorchFraudModel"]
