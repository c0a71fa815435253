"""The promotion gate against the real MLflow registry: concurrent gates, the registry lock, errors."""

from __future__ import annotations

import threading
import time
import uuid

import mlflow
import numpy as np
import pandas as pd
import pytest

from fraudcore.features.definitions import FEATURE_SET, MODEL_FEATURES
from fraudcore.gate import run_gate
from fraudcore.models import model_class
from fraudcore.registry import CHAMPION, FEATURE_SET_TAG, ModelRegistry, RegistryError
from pipelines.promote import promote

pytestmark = pytest.mark.integration


def _rows(n: int, seed: int) -> pd.DataFrame:
    """Feature rows where fraud follows two features, with the columns the metrics need."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(MODEL_FEATURES))), columns=MODEL_FEATURES)
    signal = 2.0 * frame["amount_over_customer_mean_7d"] + 1.5 * frame["terminal_risk_7d"]
    frame["TX_FRAUD"] = (signal + rng.normal(size=n) > 4.0).astype("int8")
    frame["TX_DATETIME"] = pd.Timestamp("2018-08-08") + pd.to_timedelta(np.arange(n) % 7, unit="D")
    frame["CUSTOMER_ID"] = np.arange(n)
    return frame


@pytest.fixture(scope="module")
def registry_with_models(stack):
    """A model of its own with three versions: poor (champion), medium, good."""
    settings = stack.model_copy(update={"model_name": f"itest-gate-{uuid.uuid4().hex[:6]}"})
    registry = ModelRegistry(settings)
    train = _rows(3000, seed=1)
    rng = np.random.default_rng(2)
    labels = {
        "poor": rng.permutation(train["TX_FRAUD"].to_numpy()),
        "medium": np.where(rng.random(len(train)) < 0.3, 1 - train["TX_FRAUD"], train["TX_FRAUD"]),
        "good": train["TX_FRAUD"].to_numpy(),
    }
    mlflow.set_experiment(settings.model_name)
    versions = {}
    for name, y in labels.items():
        model = model_class("lightgbm")({"n_estimators": 40}).fit(train.assign(TX_FRAUD=y.astype("int8")))
        with mlflow.start_run(run_name=name) as run:
            mlflow.set_tag(FEATURE_SET_TAG, FEATURE_SET)
            mlflow.pyfunc.log_model(name="model", python_model=model)
        versions[name] = registry.register(run.info.run_id).version
    registry.set_alias(CHAMPION, versions["poor"])
    return settings, versions


class SlowRegistry(ModelRegistry):
    """Takes its time loading models: the window in which an unlocked gate would be overtaken."""

    def load_version(self, version: str):
        time.sleep(3)
        return super().load_version(version)


def test_concurrent_gates_leave_the_better_model_as_champion(registry_with_models):
    """A slow gate for the medium model starts first, a fast one for the good model a moment later.
    Without the lock both would compare with the poor champion and the slow one, moving the alias
    last, would leave the medium model as champion."""
    settings, versions = registry_with_models
    rows = _rows(4000, seed=3)
    decisions = {}

    def gate(name: str, registry: ModelRegistry) -> None:
        decisions[name] = run_gate(registry, versions[name], rows, FEATURE_SET, settings.gate_min_ap_gain)

    slow = threading.Thread(target=gate, args=("medium", SlowRegistry(settings)))
    fast = threading.Thread(target=gate, args=("good", ModelRegistry(settings)))
    slow.start()
    time.sleep(1)
    fast.start()
    slow.join(timeout=120)
    fast.join(timeout=120)
    assert decisions["medium"].promote and decisions["medium"].champion_version == versions["poor"]
    assert decisions["good"].promote and decisions["good"].champion_version == versions["medium"]
    registry = ModelRegistry(settings)
    assert registry.aliases()[CHAMPION] == versions["good"]
    tags = registry.version(versions["good"]).tags
    assert tags["gate_decision"] == "promoted" and tags["gate_compared_with"] == versions["medium"]
    # The lock is released: no leftover lock model.
    with pytest.raises(mlflow.exceptions.MlflowException):
        registry.client.get_registered_model(f"{settings.model_name}.gate-lock")


def test_a_lock_left_by_a_dead_gate_is_broken_after_the_timeout(registry_with_models):
    settings, _ = registry_with_models
    impatient = settings.model_copy(update={"gate_lock_timeout_s": 2.0})
    registry = ModelRegistry(impatient)
    registry.client.create_registered_model(f"{settings.model_name}.gate-lock", description="a crashed gate")
    started = time.monotonic()
    with registry.exclusive("test"):
        waited = time.monotonic() - started
    assert 2.0 <= waited < 10


def test_an_unreachable_registry_fails_the_gate_and_promotes_nothing(registry_with_models, monkeypatch):
    settings, versions = registry_with_models
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    dead = settings.model_copy(update={"mlflow_tracking_uri": "http://127.0.0.1:9"})
    with pytest.raises(RegistryError, match="failed"):
        run_gate(ModelRegistry(dead), versions["good"], _rows(500, seed=4), FEATURE_SET, 0.002)
    ModelRegistry(settings)  # point MLflow back at the live server for the tests that follow


def test_promotion_by_hand_moves_the_alias_and_records_why(registry_with_models):
    settings, versions = registry_with_models
    registry = ModelRegistry(settings)
    previous = promote(versions["poor"], "rollback drill", registry)
    assert registry.aliases()[CHAMPION] == versions["poor"]
    tags = registry.version(versions["poor"]).tags
    assert tags["gate_decision"] == "promoted by hand" and tags["gate_reason"] == "rollback drill"
    assert tags["gate_compared_with"] == previous
