"""MLflow client set-up shared by every step that logs runs or reads the registry."""

from __future__ import annotations

import mlflow
from mlflow.tracking import MlflowClient
from mlflow.utils import plugins

from fraudcore.settings import Settings, get_settings

_HEADER_PLUGINS = "mlflow.request_header_provider"
_unfiltered_entry_points = plugins.get_entry_points


def _entry_points_without_feast(group: str) -> list:
    """Feast 0.67 registers an MLflow request-header plugin that imports all of Feast (about 6 s)
    on a process's first MLflow request and forwards the pod's Kubernetes service-account token
    to the MLflow server. The platform needs neither: leave it out."""
    found = _unfiltered_entry_points(group)
    if group != _HEADER_PLUGINS:
        return found
    return [entry for entry in found if not entry.value.startswith("feast.")]


# Before the first request: MLflow reads the plugins when its header registry is first imported.
plugins.get_entry_points = _entry_points_without_feast


def connect_mlflow(settings: Settings | None = None) -> MlflowClient:
    """Point MLflow's tracking and registry at the platform's server; return a client for it."""
    uri = (settings or get_settings()).mlflow_tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)
