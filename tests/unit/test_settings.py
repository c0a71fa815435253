"""Settings: local defaults, environment overrides, derived values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fraudcore.settings import Settings, port_of


def test_defaults_point_at_the_local_runtime():
    settings = Settings()
    assert settings.s3_endpoint_url == "http://127.0.0.1:8333"
    assert settings.mlflow_tracking_uri == "http://127.0.0.1:5000"
    assert settings.raw_uri == "s3://fraud/raw/transactions"
    assert set(settings.topics) == {
        "transactions",
        "labels",
        "fraud-scores",
        "fraud-alerts",
        "transactions-dlq",
    }


def test_environment_overrides_fields_and_nested_fields(monkeypatch):
    monkeypatch.setenv("FRAUD_S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("FRAUD_KAFKA_PARTITIONS", "8")
    monkeypatch.setenv("FRAUD_LOCAL__WEED_MASTER", "19333")
    settings = Settings()
    assert settings.s3_endpoint_url == "http://minio:9000"
    assert settings.kafka_partitions == 8
    assert settings.local.weed_master == 19333
    assert settings.s3_env()["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"


def test_bad_values_are_rejected_with_the_field_name(monkeypatch):
    monkeypatch.setenv("FRAUD_KAFKA_PARTITIONS", "many")
    with pytest.raises(ValidationError, match="kafka_partitions"):
        Settings()


def test_settings_are_immutable():
    with pytest.raises(ValidationError):
        Settings().bucket = "other"


@pytest.mark.parametrize(
    ("url", "port"),
    [("http://127.0.0.1:8333", 8333), ("127.0.0.1:9092", 9092), ("http://mlflow:5000/", 5000)],
)
def test_port_of(url, port):
    assert port_of(url) == port


def test_port_of_rejects_urls_without_port():
    with pytest.raises(ValueError, match="names no port"):
        port_of("http://minio")
