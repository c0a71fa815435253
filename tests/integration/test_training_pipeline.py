"""The KFP pipeline end to end with the local runner on a small simulated lake: champion, then a refusal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from mlflow.tracking import MlflowClient

from fraudcore.data.generator import GeneratorConfig, generate_transactions
from fraudcore.data.lake import TransactionLake
from fraudcore.registry import CHALLENGER, CHAMPION, ModelRegistry
from fraudcore.settings import REPO_ROOT
from fraudcore.storage import ensure_buckets
from pipelines.report import evaluation_table

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
