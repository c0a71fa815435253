"""Train: fit a model on the training set and log it to MLflow as a pyfunc model."""

from __future__ import annotations

import importlib.metadata
import json
import time

import mlflow
import pandas as pd
from mlflow.models import infer_signature

from fraudcore.features.definitions import FEATURE_SET
from fraudcore.models import model_class
from fraudcore.registry import FEATURE_SET_TAG
from fraudcore.schema import LABEL
from fraudcore.tracking import connect_mlflow

ARTIFACT_PATH = "model"
_REQUIREMENTS = ["lightgbm", "scikit-learn", "pandas", "numpy", "torch", "mlflow"]


def pip_requirements() -> list[str]:
    return [f"{name}=={importlib.metadata.version(name)}" for name in _REQUIREMENTS]


def train(train_path: str, model_type: str, hyperparameters: str, experiment: str, split_json: str) -> str:
    """Fit ``model_type`` with ``hyperparameters`` (JSON) and return the MLflow run id."""
    model = model_class(model_type)(json.loads(hyperparameters or "{}"))
    train_set = pd.read_parquet(train_path)
    connect_mlflow()
    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        mlflow.log_params({"model_type": model_type, **{k: str(v) for k, v in model.params.items()}})
        mlflow.log_params(
            {"split": split_json, "train_rows": len(train_set), "train_frauds": int(train_set[LABEL].sum())}
        )
        started = time.monotonic()
        model.fit(train_set)
        seconds = time.monotonic() - started
        mlflow.log_metric("training_seconds", seconds)
        mlflow.set_tag("training_device", getattr(model, "training_device", "cpu"))
        mlflow.set_tag(FEATURE_SET_TAG, FEATURE_SET)
        example = train_set[model.features].head(5)
        mlflow.pyfunc.log_model(
            name=ARTIFACT_PATH,
            python_model=model,
            input_example=example,
            signature=infer_signature(example, model.predict(None, example)),
            pip_requirements=pip_requirements(),
        )
        print(
            f"trained {model_type} on {len(train_set):,} rows in {seconds:.1f} s; "
            f"MLflow run {run.info.run_id}"
        )
        return run.info.run_id
