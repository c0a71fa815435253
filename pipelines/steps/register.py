"""Register and gate: a new registry version (alias challenger), promoted to champion only if better."""

from __future__ import annotations

from fraudcore.registry import GateDecision, ModelRegistry
from pipelines.steps.train import ARTIFACT_PATH


def register(run_id: str) -> str:
    """Register the run's model; return the new version number."""
    version = ModelRegistry().register(run_id, ARTIFACT_PATH)
    print(f"registered {version.name} version {version.version} as challenger")
    return str(version.version)


def gate(version: str) -> GateDecision:
    """Promote ``version`` to champion when it beats the champion's average precision."""
    decision = ModelRegistry().gate(version)
    print(f"gate: {'PROMOTED' if decision.promote else 'REFUSED'} version {version}: {decision.reason}")
    return decision
