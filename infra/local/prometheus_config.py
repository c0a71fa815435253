"""The local Prometheus configuration: the runtime's servers plus file-discovered platform services."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import yaml

from fraudcore.settings import REPO_ROOT, Settings

RULES_GLOB = REPO_ROOT / "infra" / "prometheus" / "rules" / "*.yml"


def scrape_config(settings: Settings, targets_dir: Path) -> dict:
    """Prometheus config; platform services (serving, consumers) register in ``targets_dir/*.json``."""

    def job(name: str, url: str, **extra: object) -> dict:
        return {"job_name": name, "static_configs": [{"targets": [urlparse(url).netloc]}], **extra}

    return {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "rule_files": [str(RULES_GLOB)],
        "scrape_configs": [
            job("prometheus", settings.prometheus_url),
            job("pushgateway", settings.pushgateway_url, honor_labels=True),
            job("mlflow", settings.mlflow_tracking_uri),
            job("seaweedfs", f"http://127.0.0.1:{settings.local.weed_metrics}"),
            {
                "job_name": "platform",
                "file_sd_configs": [{"files": [str(targets_dir / "*.json")], "refresh_interval": "5s"}],
            },
        ],
    }


def write(settings: Settings, prometheus_dir: Path) -> Path:
    """Write ``prometheus.yml`` (and the target folder) under ``prometheus_dir``."""
    targets_dir = prometheus_dir / "targets"
    targets_dir.mkdir(parents=True, exist_ok=True)
    path = prometheus_dir / "prometheus.yml"
    path.write_text(yaml.safe_dump(scrape_config(settings, targets_dir), sort_keys=False))
    return path
