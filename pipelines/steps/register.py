"""Register and gate: a new registry version (alias challenger), promoted to champion only if better."""

from __future__ import annotations

import mlflow
import pandas as pd

from fraudcore.features.definitions import FEATURE_SET
from fraudcore.gate import GateDecision, run_gate
from fraudcore.registry import ModelRegistry
from pipelines.steps.train import ARTIFACT_PATH


def register(run_id: str) -> str:
    """Register the run's model; return the new version number."""
    version = ModelRegistry().register(run_id, ARTIFACT_PATH)
    print(f"registered {version.name} version {version.version} as challenger")
    return str(version.version)


def gate(version: str, evaluation_path: str) -> GateDecision:
    """Score ``version`` and the champion on the candidate's evaluation rows; promote by the margin."""
    registry = ModelRegistry()
    rows = pd.read_parquet(evaluation_path)
    decision = run_gate(registry, version, rows, FEATURE_SET, registry.settings.gate_min_ap_gain)
    with mlflow.start_run(run_id=registry.version(version).run_id):
        mlflow.log_metrics(decision.metrics())
        mlflow.set_tags({key: value for key, value in decision.tags().items() if key != "gate_metrics"})
    print(f"gate: {'PROMOTED' if decision.promote else 'REFUSED'} version {version}: {decision.reason}")
    return decision
