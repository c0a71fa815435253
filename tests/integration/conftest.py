"""A real local stack on its own ports and state folder, so a developer's running stack is untouched."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from fraudcore.settings import REPO_ROOT, Settings

# Clear of the default ports and of SeaweedFS's gRPC ports (each server port + 10000).
TEST_PORTS = {
    "FRAUD_S3_ENDPOINT_URL": "http://127.0.0.1:6334",
    "FRAUD_MLFLOW_TRACKING_URI": "http://127.0.0.1:6500",
    "FRAUD_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:6092",
    "FRAUD_PROMETHEUS_URL": "http://127.0.0.1:6090",
    "FRAUD_PUSHGATEWAY_URL": "http://127.0.0.1:6091",
    "FRAUD_LOCAL__WEED_MASTER": "6333",
    "FRAUD_LOCAL__WEED_VOLUME": "6080",
    "FRAUD_LOCAL__WEED_FILER": "6888",
    "FRAUD_LOCAL__WEED_METRICS": "6327",
    "FRAUD_SERVING_URL": "http://127.0.0.1:6300",
    "FRAUD_STREAM_METRICS_PORT": "6100",
}


def run_cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m infra.local ...`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "infra.local", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=check,
    )


@pytest.fixture(scope="session")
def stack_env(tmp_path_factory) -> dict[str, str]:
    return {**TEST_PORTS, "FRAUD_STATE_DIR": str(tmp_path_factory.mktemp("platform-state"))}


@pytest.fixture(scope="session")
def stack(stack_env) -> Iterator[Settings]:
    """Settings of a running stack; brought down at the end of the session whatever happened."""
    previous = {key: os.environ.get(key) for key in stack_env}
    os.environ.update(stack_env)
    try:
        started = run_cli(stack_env, "up", check=False)
        assert started.returncode == 0, f"make up failed:\n{started.stdout}\n{started.stderr}"
        yield Settings()
    finally:
        run_cli(stack_env, "down", check=False)
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
