"""KFP v2 components: thin wrappers that call ``pipelines.steps`` inside the platform image.

Each function body is shipped to the executor as source, so imports live inside it.
"""

import os

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

#: Image with this repository installed (helm/ and the Makefile build it for Kubernetes).
IMAGE = os.environ.get("FRAUD_PIPELINE_IMAGE", "fraud-platform:0.1.0")


@dsl.component(base_image=IMAGE)
def ingest_op(train_start: str, train_end: str, test_days: int, raw: Output[Dataset]) -> str:
    """Raw transactions of the run's days (with the feature look-back); returns the resolved split."""
    from pipelines.steps.ingest import ingest

    return ingest(train_start, train_end, test_days, raw.path)


@dsl.component(base_image=IMAGE)
def validate_op(raw: Input[Dataset], split: str, summary: Output[Metrics]):
    """Schema and data-quality checks; fails the run with the reason (later steps run after it)."""
    from pipelines.steps.validate import validate

    for name, value in validate(raw.path, split).items():
        summary.log_metric(name, value)


@dsl.component(base_image=IMAGE)
def build_training_set_op(
    raw: Input[Dataset],
    split: str,
    train_set: Output[Dataset],
    test_set: Output[Dataset],
    sizes: Output[Metrics],
):
    """Feature job into the offline store, then Feast point-in-time retrieval."""
    from pipelines.steps.build_training_set import build_training_set

    for name, value in build_training_set(raw.path, split, train_set.path, test_set.path).items():
        sizes.log_metric(name, value)


@dsl.component(base_image=IMAGE)
def train_op(
    train_set: Input[Dataset],
    split: str,
    model_type: str,
    hyperparameters: str,
    experiment: str,
    model: Output[Model],
):
    """Fit the model (torch on CUDA where the node has a GPU) and log it to MLflow."""
    from pipelines.steps.train import train

    run_id = train(train_set.path, model_type, hyperparameters, experiment, split)
    model.metadata["mlflow_run_id"] = run_id
    model.metadata["model_type"] = model_type
    with open(model.path, "w") as pointer:
        pointer.write(f"runs:/{run_id}/model\n")


@dsl.component(base_image=IMAGE)
def evaluate_op(model: Input[Model], test_set: Input[Dataset], metrics: Output[Metrics]):
    """AUC ROC, average precision and Card Precision@100 on the delayed test week."""
    from pipelines.steps.evaluate import evaluate

    for name, value in evaluate(model.metadata["mlflow_run_id"], test_set.path).items():
        metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE)
def register_op(model: Input[Model]) -> str:
    """New registry version with alias challenger; returns its version number."""
    from pipelines.steps.register import register

    return register(model.metadata["mlflow_run_id"])


@dsl.component(base_image=IMAGE)
def gate_op(version: str, test_set: Input[Dataset], decision: Output[Metrics]) -> str:
    """Champion only if the challenger beats the champion's AP on the same rows by the set margin."""
    from pipelines.steps.register import gate

    outcome = gate(version, test_set.path)
    for name, value in outcome.metrics().items():
        decision.log_metric(name, value)
    return outcome.reason
