"""One scoring consumer process, wired: metrics endpoint, champion that follows its alias, online pusher."""

from __future__ import annotations

import logging

import prometheus_client

from fraudcore.metrics import STREAM, build
from fraudcore.model_slots import LoadedModel, ModelSlot, ModelWatcher
from fraudcore.registry import CHAMPION, ModelRegistry
from fraudcore.settings import Settings
from streaming.consumer import ScoringConsumer
from streaming.online_push import OnlinePusher

log = logging.getLogger(__name__)


def consumer_name(index: int) -> str:
    return f"stream-consumer-{index}"


def run_consumer(settings: Settings, index: int = 0, exit_when_idle_s: float | None = None) -> None:
    """Serve /metrics on ``stream_metrics_port + index`` and score until SIGTERM."""
    metrics = build(STREAM, prometheus_client)
    prometheus_client.start_http_server(settings.stream_metrics_port + index, addr="127.0.0.1")

    def swapped(previous: LoadedModel | None, current: LoadedModel | None) -> None:
        info = metrics["fraud_stream_model_info"]
        if previous is not None:
            info.labels(model_name=settings.model_name, version=previous.version).set(0)
            metrics["fraud_stream_model_swaps_total"].inc()
        if current is not None:
            info.labels(model_name=settings.model_name, version=current.version).set(1)
            log.info("scoring with %s version %s", settings.model_name, current.version)

    champion = ModelSlot(ModelRegistry(settings), CHAMPION, swapped, settings.model_cache_dir)
    try:
        champion.refresh()
    except Exception as error:  # the consumer waits for one before scoring
        log.warning("no champion loaded at start: %s", error)
    ModelWatcher(
        [champion],
        settings.serving_model_poll_s,
        lambda alias, error: metrics["fraud_stream_errors_total"].labels(kind="model_refresh").inc(),
    ).start()
    pusher = None
    if settings.stream_push_interval_s > 0:
        pusher = OnlinePusher(settings, metrics)
        pusher.start()
    consumer = ScoringConsumer(settings, champion, consumer_name(index), pusher, metrics)
    consumer.run(max_idle_s=exit_when_idle_s)
