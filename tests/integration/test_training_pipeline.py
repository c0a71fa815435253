"""The KFP pipeline end to end with the local runner on a small simulated lake: champion, then a refusal."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid

import pytest
from mlflow.tracking import MlflowClient

from batch.job import predictions_root
from fraudcore.data.generator import GeneratorConfig, generate_transactions
from fraudcore.data.lake import TransactionLake
from fraudcore.evaluation import delayed_test_rows, fraud_metrics
from fraudcore.partitions import DayPartitions
from fraudcore.registry import CHALLENGER, CHAMPION, ModelRegistry
from fraudcore.settings import REPO_ROOT
from fraudcore.storage import arrow_filesystem, ensure_buckets
from pipelines.report import evaluation_table
from pipelines.steps.split import split_from_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# 51 days of feature look-back and TTL + a training week + the 7-day delay + a test week.
SMALL_LAKE = GeneratorConfig(n_customers=800, n_terminals=1600, n_days=73, seed=21)
WORSE = {"n_estimators": 2, "num_leaves": 2, "learning_rate": 0.01, "colsample_bytree": 0.2}


@pytest.fixture(scope="module")
def pipeline_env(stack, stack_env):
    name = f"itest-train-{uuid.uuid4().hex[:6]}"
    env = {
        **stack_env,
        "FRAUD_BUCKET": name,
        "FRAUD_MODEL_NAME": name,
        "FRAUD_FEAST_PROJECT": name.replace("-", "_"),
    }
    settings = stack.model_copy(
        update={"bucket": name, "model_name": name, "feast_project": env["FRAUD_FEAST_PROJECT"]}
    )
    ensure_buckets([name], settings)
    TransactionLake(settings).write(generate_transactions(SMALL_LAKE, progress=False), progress=False)
    return env, settings


def _train(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.run_local", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def test_first_run_registers_a_champion_and_a_worse_run_is_refused(pipeline_env):
    env, settings = pipeline_env
    first = _train(env)
    output = first.stdout + first.stderr
    for step in [
        "ingest-op",
        "validate-op",
        "build-training-set-op",
        "train-op",
        "evaluate-op",
        "register-op",
        "gate-op",
    ]:
        assert step in output, f"step {step} did not run"
    client = MlflowClient(settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias(settings.model_name, CHAMPION)
    metrics = client.get_run(champion.run_id).data.metrics
    assert metrics["auc_roc"] > 0.75 and 0 < metrics["average_precision"] <= 1
    assert 0 <= metrics["card_precision_at_100"] <= 1
    assert champion.tags["gate_decision"] == "promoted"
    artifacts = {a.path for a in client.list_artifacts(champion.run_id, "evaluation")}
    assert {
        "evaluation/roc_curve.png",
        "evaluation/pr_curve.png",
        "evaluation/feature_importance.json",
    } <= artifacts

    second = _train(env, "--hyperparameters", json.dumps(WORSE))
    assert "REFUSED" in second.stdout + second.stderr
    challenger = client.get_model_version_by_alias(settings.model_name, CHALLENGER)
    assert challenger.version != champion.version
    assert client.get_model_version_by_alias(settings.model_name, CHAMPION).version == champion.version
    assert challenger.tags["gate_decision"] == "refused"
    assert "does not beat champion" in challenger.tags["gate_reason"]

    table = evaluation_table(ModelRegistry(settings))
    assert f"champion: v{champion.version} lightgbm promoted" in table
    assert f"challenger: v{challenger.version} lightgbm refused" in table

    # Serving paths load the champion by alias, through the model class in fraudcore.
    model = ModelRegistry(settings).load()
    assert model.metadata.run_id == champion.run_id
    assert type(model.unwrap_python_model()).__module__ == "fraudcore.models.gbt"


def test_batch_predictions_of_the_test_week_give_the_pipelines_metrics(pipeline_env):
    """One feature definition, two paths: the handbook metrics computed from the Spark batch job's
    predictions equal those the pipeline's evaluate step logged for the champion."""
    env, settings = pipeline_env
    registry = ModelRegistry(settings)
    champion = registry.version_by_alias(CHAMPION)
    logged = registry.client.get_run(champion.run_id).data.metrics
    split = split_from_json(registry.client.get_run(champion.run_id).data.params["split"])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "batch",
            "--master",
            "local[2]",
            "--date-from",
            str(split.test_start),
            "--date-to",
            str(split.test_end),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    days = [split.test_start + dt.timedelta(days=i) for i in range(split.test_days)]
    predictions = (
        DayPartitions(arrow_filesystem(settings), predictions_root(settings))
        .read(days, ["TRANSACTION_ID", "fraud_probability", "model_version"])
        .to_pandas()
    )
    assert set(predictions["model_version"]) == {champion.version}
    lake = TransactionLake(settings).read(split.train_start - dt.timedelta(days=7), split.test_end)
    test_rows = delayed_test_rows(lake, split)
    scored = test_rows.merge(predictions, on="TRANSACTION_ID").rename(columns={"fraud_probability": "score"})
    assert len(scored) == len(test_rows)
    for name, value in fraud_metrics(scored).items():
        assert value == pytest.approx(logged[name], abs=1e-9), name
