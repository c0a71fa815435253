"""The one typed settings object of the platform, read from ``FRAUD_*`` environment variables.

Every default points at the embedded local runtime on 127.0.0.1; the Kubernetes charts set the
same variables to the in-cluster services. Clients only ever know endpoints (URLs), never how a
server was started.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class LocalRuntimePorts(BaseModel):
    """Ports of the local runtime's internal servers that no client talks to directly."""

    weed_master: int = 9333
    weed_volume: int = 8080
    weed_filer: int = 8888
    weed_metrics: int = 9327


class Settings(BaseSettings):
    """Platform configuration; ``FRAUD_<FIELD>`` overrides each field (nested: ``FRAUD_LOCAL__<FIELD>``)."""

    model_config = SettingsConfigDict(env_prefix="FRAUD_", env_nested_delimiter="__", frozen=True)

    state_dir: Path = Field(REPO_ROOT / ".platform", description="Logs, pids and data of local servers.")

    # Object store (SeaweedFS locally, MinIO on Kubernetes).
    s3_endpoint_url: str = "http://127.0.0.1:8333"
    s3_access_key: str = "fraudadmin"
    s3_secret_key: str = "fraudadmin-secret"
    s3_region: str = "us-east-1"
    bucket: str = "fraud"
    mlflow_bucket: str = "mlflow"
    kafka_bucket: str = "kafka"
    raw_prefix: str = "raw/transactions"
    predictions_prefix: str = "predictions"

    # MLflow tracking server and model registry.
    mlflow_tracking_uri: str = "http://127.0.0.1:5000"
    model_name: str = "fraud-detector"
    # Promotion gate: the challenger must beat the champion's average precision on the same rows
    # by at least this much; concurrent gates queue on a registry lock, broken after the timeout.
    gate_min_ap_gain: float = 0.002
    gate_lock_timeout_s: float = 600.0

    #: Scoring processes (real-time service, stream consumers) compile the champion's trees to
    #: native code in the background (same probabilities, ~7x faster), cached under state_dir.
    model_compile: bool = True

    # Feast feature store: online store in sqlite under state_dir, or Redis when a URL is given
    # (e.g. "127.0.0.1:6379"; the Kubernetes deployment sets it).
    feast_project: str = "fraud"
    feast_redis_url: str | None = None

    # Real-time scoring service (BentoML).
    serving_url: str = "http://127.0.0.1:3000"
    serving_workers: int = 2
    #: A fraud probability at or above this is answered "fraud".
    serving_threshold: float = 0.5
    #: How often the service checks whether the champion or challenger alias moved.
    serving_model_poll_s: float = 5.0
    #: Score each request with the challenger too, off the response path, when one exists (costs
    #: a second scoring per request in the serving process: off unless asked for).
    serving_shadow: bool = False
    serving_shadow_prefix: str = "shadow"
    serving_shadow_flush_s: float = 10.0
    #: OpenTelemetry spans for every request (BentoML's tracing middleware; set an exporter in
    #: BentoML's ``tracing`` config too). Off: the middleware skips every path, a saving of about
    #: 0.3 ms of CPU per request here, and nothing is exported without an exporter anyway.
    serving_tracing: bool = False
    #: ``POST /predict`` answered by a lean ASGI handler in the service (``serving.predict_route``:
    #: same models, scorer and errors) instead of BentoML's generic request path; off: BentoML's.
    serving_lean_predict: bool = True

    # Kafka-protocol broker.
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    #: Storage of the local Tansu broker: "s3" (topics in the kafka bucket: they survive restarts)
    #: or "memory" (gone with the broker; far faster for streaming on a small machine: see the
    #: stream benchmark).
    kafka_storage: Literal["s3", "memory"] = "s3"
    kafka_partitions: int = 4
    topic_transactions: str = "transactions"
    topic_labels: str = "labels"
    topic_scores: str = "fraud-scores"
    topic_alerts: str = "fraud-alerts"
    topic_dead_letter: str = "transactions-dlq"

    # Stream scoring consumers (Kafka consumer group).
    stream_group_id: str = "fraud-stream-scoring"
    #: Consumer processes `make stream` starts (each a service of the local runtime).
    stream_consumers: int = 2
    #: Consumer i serves /metrics on this port + i.
    stream_metrics_port: int = 8100
    #: Most events scored in one micro-batch (kafka-python's max_poll_records).
    stream_max_batch: int = 2000
    #: Before scoring, wait at most this long for the labels feed to reach the batch's event time.
    stream_label_wait_s: float = 2.0
    #: How often the consumer pushes changed entities' event lists to the Feast online store.
    stream_push_interval_s: float = 1.0

    # Spark jobs (batch scoring, feature job): the driver's heap (local[*] runs the executors in it).
    spark_driver_memory: str = "4g"
    #: Entities are grouped in this many buckets per core for the per-entity feature functions.
    spark_buckets_per_core: int = 32

    # Observability.
    prometheus_url: str = "http://127.0.0.1:9090"
    #: Expose Prometheus's HTTP reload/quit endpoints (--web.enable-lifecycle); off by default.
    prometheus_lifecycle: bool = False
    pushgateway_url: str = "http://127.0.0.1:9091"

    # Reference dataset (read by path, never copied into the repository).
    reference_data: Path = REPO_ROOT.parent / "shared" / "data" / "fraud-handbook-transactions.parquet"

    local: LocalRuntimePorts = LocalRuntimePorts()

    @property
    def topics(self) -> list[str]:
        """Every topic the platform uses."""
        return [
            self.topic_transactions,
            self.topic_labels,
            self.topic_scores,
            self.topic_alerts,
            self.topic_dead_letter,
        ]

    def stream_names(self, prefix: str) -> dict[str, str]:
        """Topic and consumer-group settings of a stream of its own (tests, benchmarks): each name
        starts with ``prefix``; pass to ``model_copy(update=...)``, or as ``FRAUD_*`` variables
        through :func:`as_env`."""
        return {
            "topic_transactions": f"{prefix}-tx",
            "topic_labels": f"{prefix}-labels",
            "topic_scores": f"{prefix}-scores",
            "topic_alerts": f"{prefix}-alerts",
            "topic_dead_letter": f"{prefix}-dlq",
            "stream_group_id": prefix,
        }

    @property
    def model_cache_dir(self) -> Path | None:
        """Where compiled models are cached (None: scoring processes do not compile)."""
        return self.state_dir.resolve() / "model-cache" if self.model_compile else None

    @property
    def buckets(self) -> list[str]:
        """Every bucket the platform uses."""
        return [self.bucket, self.mlflow_bucket, self.kafka_bucket]

    @property
    def raw_uri(self) -> str:
        """``s3://`` location of the Hive-partitioned raw transactions."""
        return f"s3://{self.bucket}/{self.raw_prefix}"

    def s3_env(self) -> dict[str, str]:
        """Environment variables that AWS SDKs and MLflow read to reach the object store."""
        return {
            "AWS_ACCESS_KEY_ID": self.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": self.s3_secret_key,
            "AWS_DEFAULT_REGION": self.s3_region,
            "AWS_REGION": self.s3_region,
            "MLFLOW_S3_ENDPOINT_URL": self.s3_endpoint_url,
            "AWS_ENDPOINT_URL_S3": self.s3_endpoint_url,
        }


def as_env(fields: dict[str, object]) -> dict[str, str]:
    """Settings fields as the ``FRAUD_*`` environment variables a child process reads."""
    return {f"FRAUD_{name.upper()}": str(value) for name, value in fields.items()}


def port_of(url: str) -> int:
    """The port of ``http://host:port`` or ``host:port``."""
    parsed = urlparse(url if "://" in url else f"tcp://{url}")
    if parsed.port is None:
        raise ValueError(f"{url!r} names no port")
    return parsed.port


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
