"""Evaluate: handbook metrics on the delayed test week, curves and feature importances, logged to MLflow."""

from __future__ import annotations

import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

from fraudcore.evaluation import fraud_metrics
from fraudcore.schema import LABEL
from fraudcore.tracking import connect_mlflow
from pipelines.steps.train import ARTIFACT_PATH

IMPORTANCE_SAMPLE = 10_000


def _curves(scored: pd.DataFrame, directory: Path) -> list[Path]:
    fpr, tpr, _ = roc_curve(scored[LABEL], scored["score"])
    precision, recall, _ = precision_recall_curve(scored[LABEL], scored["score"])
    paths = []
    for name, x, y, xlabel, ylabel in [
        ("roc_curve", fpr, tpr, "false positive rate", "true positive rate"),
        ("pr_curve", recall, precision, "recall", "precision"),
    ]:
        figure, axes = plt.subplots(figsize=(5, 4))
        axes.plot(x, y)
        axes.set(xlabel=xlabel, ylabel=ylabel, title=name.replace("_", " "))
        path = directory / f"{name}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        paths.append(path)
    return paths


def permutation_importance(model, test: pd.DataFrame, seed: int = 0) -> dict[str, float]:
    """Drop in average precision when each feature is shuffled (any model type)."""
    rng = np.random.default_rng(seed)
    sample = test.sample(min(len(test), IMPORTANCE_SAMPLE), random_state=seed)
    baseline = average_precision_score(sample[LABEL], model.score(sample))
    drops = {}
    for feature in model.features:
        shuffled = sample.copy()
        shuffled[feature] = rng.permutation(shuffled[feature].to_numpy())
        drops[feature] = float(baseline - average_precision_score(sample[LABEL], model.score(shuffled)))
    return drops


def evaluate(run_id: str, test_path: str) -> dict[str, float]:
    """Score the test set with the logged model; log and return AUC ROC, AP and CP@100."""
    connect_mlflow()
    test = pd.read_parquet(test_path)
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/{ARTIFACT_PATH}").unwrap_python_model()
    scored = test.assign(score=model.score(test))
    metrics = fraud_metrics(scored)
    with mlflow.start_run(run_id=run_id), tempfile.TemporaryDirectory() as tmp:
        mlflow.log_metrics(metrics)
        for path in _curves(scored, Path(tmp)):
            mlflow.log_artifact(str(path), "evaluation")
        importances = permutation_importance(model, test)
        own = model.feature_importance()
        table = pd.DataFrame(
            {"feature": list(importances), "ap_drop_when_shuffled": list(importances.values())}
        )
        if own:
            table["model_importance"] = table["feature"].map(own)
        table = table.sort_values("ap_drop_when_shuffled", ascending=False)
        mlflow.log_table(table, "evaluation/feature_importance.json")
        print(table.head(10).to_string(index=False))
    print("test metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return metrics
