"""The interface every fraud model implements, as an MLflow pyfunc model."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import mlflow.pyfunc
import numpy as np
import pandas as pd

from fraudcore.features.definitions import MODEL_FEATURES
from fraudcore.schema import LABEL


class FraudModel(mlflow.pyfunc.PythonModel):
    """Scores feature rows with the probability that the transaction is a fraud.

    Subclasses implement ``_fit`` and ``_score`` on a float32 matrix in ``features`` order;
    ``predict`` (the pyfunc entry point) accepts any frame that has those columns.
    """

    model_type: ClassVar[str]
    default_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: dict[str, Any] | None = None, features: list[str] | None = None):
        self.params = {**self.default_params, **(params or {})}
        self.features = list(features or MODEL_FEATURES)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [name for name in self.features if name not in frame.columns]
        if missing:
            raise ValueError(f"missing model features: {missing}")
        return frame[self.features].to_numpy(dtype=np.float32, na_value=0.0)

    def fit(self, train: pd.DataFrame) -> FraudModel:
        self._fit(self.matrix(train), train[LABEL].to_numpy(dtype=np.float32))
        return self

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Fraud probabilities of the rows of ``frame``."""
        return self._score(self.matrix(frame))

    def score_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Fraud probabilities from feature arrays by name (the real-time path: no frame)."""
        missing = [name for name in self.features if name not in columns]
        if missing:
            raise ValueError(f"missing model features: {missing}")
        return self._score(np.column_stack([columns[name] for name in self.features]).astype(np.float32))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return pd.DataFrame({"fraud_probability": self.score(model_input)})

    def use_threads(self, threads: int) -> FraudModel:
        """Score with this many threads (a serving worker scores one request at a time: 1 avoids
        waking a thread pool for every row)."""
        self.scoring_threads = threads
        return self

    def compile(self, cache_dir: Path) -> bool:
        """Switch to a faster scorer with the same probabilities, where the model has one (compiled
        into ``cache_dir``); returns whether it did."""
        return False

    def feature_importance(self) -> dict[str, float] | None:
        """The model's own importances, where it has them."""
        return None

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def _score(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError
