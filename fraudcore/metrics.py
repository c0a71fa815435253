"""Every Prometheus metric of the platform, declared once: name, kind, help, labels and buckets.

Each path builds its metrics from these specs with the client its runtime needs
(``bentoml.metrics`` in the real-time service, ``prometheus_client`` elsewhere), so dashboards and
alert rules can read one list. Names follow ``fraud_<path>_<what>_<unit>``, in base units, with
``_total`` counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
SCORE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99)
#: Online state age: from a minute to a month.
AGE_BUCKETS = (60, 600, 3_600, 6 * 3_600, 86_400, 3 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: Literal["counter", "gauge", "histogram"]
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None


REALTIME = (
    MetricSpec(
        "fraud_realtime_request_duration_seconds",
        "histogram",
        "Time to answer a scoring request, inside the service, by endpoint.",
        ("endpoint",),
        LATENCY_BUCKETS,
    ),
    MetricSpec(
        "fraud_realtime_feature_lookup_duration_seconds",
        "histogram",
        "Online-store lookup of the requests' event lists and the request-time features.",
        (),
        LATENCY_BUCKETS,
    ),
    MetricSpec(
        "fraud_realtime_inference_duration_seconds",
        "histogram",
        "Model scoring, by role (champion on the response path, challenger in shadow).",
        ("role",),
        LATENCY_BUCKETS,
    ),
    MetricSpec(
        "fraud_realtime_fraud_probability",
        "histogram",
        "Fraud probabilities: returned (champion) and computed in shadow (challenger).",
        ("role",),
        SCORE_BUCKETS,
    ),
    MetricSpec("fraud_realtime_decisions_total", "counter", "Decisions returned, by outcome.", ("decision",)),
    MetricSpec(
        "fraud_realtime_errors_total",
        "counter",
        "Requests that failed, by kind (invalid_request, server_error, model_unavailable).",
        ("kind",),
    ),
    MetricSpec(
        "fraud_realtime_online_state_age_seconds",
        "histogram",
        "Request time minus when the online state used was written, by entity.",
        ("entity",),
        AGE_BUCKETS,
    ),
    MetricSpec(
        "fraud_realtime_new_entities_total",
        "counter",
        "Requests whose customer or terminal had no online state (scored with a new entity's defaults).",
        ("entity",),
    ),
    MetricSpec(
        "fraud_realtime_model_info",
        "gauge",
        "1 for the model version loaded in each role (champion, challenger).",
        ("role", "model_name", "version"),
    ),
    MetricSpec(
        "fraud_realtime_model_swaps_total", "counter", "Models swapped in without a restart.", ("role",)
    ),
    MetricSpec(
        "fraud_realtime_shadow_dropped_total",
        "counter",
        "Shadow scorings dropped because the shadow queue was full (the response path never waits).",
    ),
)

#: Pushed to the Pushgateway at the end of each batch run (and on failure): the last run's figures.
BATCH = (
    MetricSpec("fraud_batch_rows_scored", "gauge", "Transactions scored by the last batch run."),
    MetricSpec("fraud_batch_duration_seconds", "gauge", "Wall time of the last batch run."),
    MetricSpec("fraud_batch_flagged_ratio", "gauge", "Share of the last run's transactions decided fraud."),
    MetricSpec("fraud_batch_success", "gauge", "1 when the last batch run succeeded, 0 when it failed."),
    MetricSpec(
        "fraud_batch_last_run_timestamp_seconds", "gauge", "When the last batch run ended (Unix time)."
    ),
    MetricSpec(
        "fraud_batch_model_info", "gauge", "1 for the model version the last batch run used.", ("version",)
    ),
)

#: End-to-end latency of the stream (record written -> score flushed): 5 ms to 30 s.
STREAM_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
BATCH_SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1_000, 2_000, 5_000)

#: Served by each stream consumer process on /metrics.
STREAM = (
    MetricSpec("fraud_stream_events_consumed_total", "counter", "Transaction events read from Kafka."),
    MetricSpec(
        "fraud_stream_events_scored_total", "counter", "Transactions scored and written to the scores topic."
    ),
    MetricSpec(
        "fraud_stream_alerts_total", "counter", "Scores at or above the threshold, also on the alerts topic."
    ),
    MetricSpec(
        "fraud_stream_events_dead_lettered_total",
        "counter",
        "Malformed events sent to the dead-letter topic, by topic and the field (or rule) they broke.",
        ("topic", "field"),
    ),
    MetricSpec("fraud_stream_labels_applied_total", "counter", "Labels read into the terminals' state."),
    MetricSpec(
        "fraud_stream_label_waits_expired_total",
        "counter",
        "Batches scored before the labels feed reached their event time (waited stream_label_wait_s).",
    ),
    MetricSpec(
        "fraud_stream_batch_size_events", "histogram", "Events per micro-batch.", (), BATCH_SIZE_BUCKETS
    ),
    MetricSpec(
        "fraud_stream_batch_duration_seconds",
        "histogram",
        "Time to validate, score, write and commit one micro-batch.",
        (),
        STREAM_LATENCY_BUCKETS,
    ),
    MetricSpec(
        "fraud_stream_end_to_end_latency_seconds",
        "histogram",
        "From the transaction record's Kafka timestamp (written by the producer) to its score flushed.",
        (),
        STREAM_LATENCY_BUCKETS,
    ),
    MetricSpec(
        "fraud_stream_consumer_lag_events",
        "gauge",
        "Events on the partition not yet consumed by this consumer (high watermark - position).",
        ("partition",),
    ),
    MetricSpec(
        "fraud_stream_state_entities", "gauge", "Entities held in the consumer's feature state.", ("entity",)
    ),
    MetricSpec(
        "fraud_stream_state_events", "gauge", "Events held in the consumer's feature state.", ("entity",)
    ),
    MetricSpec(
        "fraud_stream_state_rebuild_seconds",
        "histogram",
        "Rebuilding the customers' state of newly assigned partitions from the transactions topic.",
        (),
        STREAM_LATENCY_BUCKETS,
    ),
    MetricSpec(
        "fraud_stream_online_push_delay_seconds",
        "histogram",
        "From a batch scored to its entities' event lists written to the Feast online store.",
        (),
        STREAM_LATENCY_BUCKETS,
    ),
    MetricSpec(
        "fraud_stream_model_info", "gauge", "1 for the champion version scoring.", ("model_name", "version")
    ),
    MetricSpec("fraud_stream_model_swaps_total", "counter", "Champions swapped in without a restart."),
    MetricSpec(
        "fraud_stream_ready",
        "gauge",
        "1 once the consumer has joined its group and rebuilt the state of its partitions.",
    ),
    MetricSpec(
        "fraud_stream_errors_total", "counter", "Failures by kind (online_push, model_refresh).", ("kind",)
    ),
)

ALL = REALTIME + BATCH + STREAM


def _gauge_options(client: ModuleType) -> dict[str, Any]:
    """Several worker processes (BentoML) report a gauge by its live maximum."""
    return {"multiprocess_mode": "livemax"} if client.__name__.startswith("bentoml") else {}


def build(specs: tuple[MetricSpec, ...], client: ModuleType, registry: Any = None) -> dict[str, Any]:
    """The metric objects of ``specs`` made with ``client`` (``prometheus_client`` or ``bentoml.metrics``),
    in ``registry`` when given (prometheus_client only: a run's own registry, to push it)."""
    extra = {"registry": registry} if registry is not None else {}
    made: dict[str, Any] = {}
    for spec in specs:
        if spec.kind == "counter":
            made[spec.name] = client.Counter(spec.name, spec.help, labelnames=spec.labels, **extra)
        elif spec.kind == "gauge":
            made[spec.name] = client.Gauge(
                spec.name, spec.help, labelnames=spec.labels, **_gauge_options(client), **extra
            )
        else:
            made[spec.name] = client.Histogram(
                spec.name, spec.help, labelnames=spec.labels, buckets=spec.buckets, **extra
            )
    return made
