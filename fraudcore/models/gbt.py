"""Gradient-boosted trees (LightGBM)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np

from fraudcore.models.base import FraudModel


class GradientBoostedFraudModel(FraudModel):
    """LightGBM binary classifier; parameters are LightGBM's scikit-learn ones (defaults chosen on the
    validation week: ``make select-model``)."""

    model_type = "lightgbm"
    default_params: ClassVar[dict[str, Any]] = {
        "n_estimators": 800,
        "learning_rate": 0.02,
        "num_leaves": 31,
        "min_child_samples": 100,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "random_state": 0,
        "n_jobs": 2,
        "verbose": -1,
    }

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self.booster = lgb.LGBMClassifier(**self.params).fit(x, y.astype(int))

    def _score(self, x: np.ndarray) -> np.ndarray:
        threads = getattr(self, "scoring_threads", None)
        compiled = getattr(self, "compiled", None)
        if compiled is not None:
            return compiled.predict(np.asarray(x, np.float64), n_jobs=threads or 1)
        # The booster itself: the same probabilities as predict_proba, without its per-call checks
        # (0.03 ms instead of 0.5 ms for one row).
        return self.booster.booster_.predict(x, **({"num_threads": threads} if threads else {}))

    def compile(self, cache_dir: Path) -> bool:
        """Score with the trees compiled to native code from now on (see ``compiled``), once they
        give the booster's probabilities on probe rows; False (booster kept) when they do not."""
        from fraudcore.models.compiled import compiled_trees

        trees = compiled_trees(self.booster.booster_.model_to_string(), cache_dir)
        probe = np.random.default_rng(0).lognormal(0.0, 2.0, (256, len(self.features)))
        probe[:64] = 0.0
        expected = self.booster.booster_.predict(probe)
        if not np.allclose(trees.predict(probe, n_jobs=1), expected, rtol=0, atol=1e-9):
            return False
        self.compiled = trees
        return True

    def __getstate__(self) -> dict:
        """The compiled trees are a native library of this machine: never pickled."""
        return {k: v for k, v in self.__dict__.items() if k != "compiled"}

    def feature_importance(self) -> dict[str, float]:
        gains = self.booster.booster_.feature_importance(importance_type="gain")
        return dict(zip(self.features, (float(g) for g in gains / max(gains.sum(), 1e-12)), strict=True))
