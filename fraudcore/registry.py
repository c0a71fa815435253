"""The model-registry client: register versions, gate promotion, load the champion."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import mlflow.pyfunc
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from fraudcore.settings import Settings, get_settings

CHAMPION = "champion"
CHALLENGER = "challenger"
#: The metric the promotion gate compares.
GATE_METRIC = "average_precision"


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str


def decide_promotion(candidate: float, champion: float | None, metric: str = GATE_METRIC) -> GateDecision:
    """Promote when there is no champion, or when the candidate's metric is strictly better."""
    if champion is None:
        return GateDecision(True, f"no champion yet; candidate {metric}={candidate:.4f}")
    if candidate > champion:
        return GateDecision(True, f"candidate {metric}={candidate:.4f} beats champion {champion:.4f}")
    return GateDecision(False, f"candidate {metric}={candidate:.4f} does not beat champion {champion:.4f}")


class ModelRegistry:
    """The platform's registered model (``settings.model_name``) in MLflow."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.name = self.settings.model_name
        mlflow.set_tracking_uri(self.settings.mlflow_tracking_uri)
        uri = self.settings.mlflow_tracking_uri
        mlflow.set_registry_uri(uri)
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def register(self, run_id: str, artifact_path: str = "model") -> ModelVersion:
        """Register the run's model as a new version with alias ``challenger``."""
        version = mlflow.register_model(f"runs:/{run_id}/{artifact_path}", self.name)
        self.client.set_registered_model_alias(self.name, CHALLENGER, version.version)
        return version

    def version_by_alias(self, alias: str) -> ModelVersion | None:
        try:
            return self.client.get_model_version_by_alias(self.name, alias)
        except MlflowException:
            return None

    def metric(self, version: ModelVersion, key: str = GATE_METRIC) -> float | None:
        return self.client.get_run(version.run_id).data.metrics.get(key)

    def gate(self, version: str) -> GateDecision:
        """Promote ``version`` to champion if it beats the current one; record the decision on it."""
        candidate = self.client.get_model_version(self.name, version)
        candidate_metric = self.metric(candidate)
        if candidate_metric is None:
            raise ValueError(f"version {version} has no {GATE_METRIC} metric: evaluate it first")
        champion = self.version_by_alias(CHAMPION)
        decision = decide_promotion(candidate_metric, self.metric(champion) if champion else None)
        if decision.promote:
            self.client.set_registered_model_alias(self.name, CHAMPION, version)
        self.client.set_model_version_tag(
            self.name, version, "gate_decision", "promoted" if decision.promote else "refused"
        )
        self.client.set_model_version_tag(self.name, version, "gate_reason", decision.reason)
        self.client.set_tag(candidate.run_id, "gate_decision", "promoted" if decision.promote else "refused")
        self.client.set_tag(candidate.run_id, "gate_reason", decision.reason)
        return decision

    def load(self, alias: str = CHAMPION) -> mlflow.pyfunc.PyFuncModel:
        """The model behind ``models:/<name>@<alias>`` (its class is imported from fraudcore.models)."""
        return mlflow.pyfunc.load_model(f"models:/{self.name}@{alias}")
