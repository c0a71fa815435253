"""The real-time fraud-scoring service: ``bentoml serve serving.service:FraudScoring`` (``make serve``).

``POST /predict`` scores one transaction, ``POST /predict_batch`` a list; ``/livez``, ``/readyz``
(ready once a champion is loaded and the online store answers) and ``/metrics`` come from
BentoML. Each worker loads ``models:/<model>@champion`` through the registry client, follows the
alias (hot swap) and, when a challenger exists, scores it in shadow.
"""

from __future__ import annotations

import os

# One OpenMP thread per worker: model threads oversubscribing the cores cost 2-3x CPU per request.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import logging
import time

import bentoml
from bentoml.exceptions import ServiceUnavailable

from fraudcore.feature_store import OnlineFeatureReader, server_feature_store
from fraudcore.gc_pauses import freeze_long_lived
from fraudcore.metrics import REALTIME, build
from fraudcore.model_slots import LoadedModel, ModelSlot, ModelWatcher
from fraudcore.registry import CHALLENGER, CHAMPION, ModelRegistry
from fraudcore.settings import get_settings
from serving.predict_route import LeanPredictRoute
from serving.schemas import Prediction, TransactionRequest
from serving.scoring import ModelUnavailable, RealtimeScorer
from serving.shadow import ShadowScorer, ShadowSink

log = logging.getLogger(__name__)
settings = get_settings()
METRICS = build(REALTIME, bentoml.metrics)
SCORING_PATHS = {"/predict": "predict", "/predict_batch": "predict_batch"}
UNTRACED_PATHS = [*SCORING_PATHS, "/livez", "/readyz", "/metrics"]
READY_CHECK_EVERY_S = 1.0


class RequestMetrics:
    """ASGI middleware: request duration per endpoint (validation and serialization included), and
    rejected or failed requests by kind (a 4xx never reaches the handler)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        endpoint = SCORING_PATHS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if endpoint is None:
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = {}

        async def record_status(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            METRICS["fraud_realtime_request_duration_seconds"].labels(endpoint=endpoint).observe(
                time.perf_counter() - started
            )
            code = status.get("code", 500)
            if 400 <= code < 500:
                METRICS["fraud_realtime_errors_total"].labels(kind="invalid_request").inc()
            elif code >= 500 and code != 503:
                METRICS["fraud_realtime_errors_total"].labels(kind="server_error").inc()


@bentoml.service(
    name="fraud_scoring",
    workers=settings.serving_workers,
    traffic={"timeout": 30},
    logging={"access": {"enabled": False}},  # a log line per request costs more than scoring it
    tracing={} if settings.serving_tracing else {"excluded_urls": UNTRACED_PATHS},
)
class FraudScoring:
    def __init__(self) -> None:
        registry = ModelRegistry(settings)
        self.reader = OnlineFeatureReader(server_feature_store(settings))
        self.champion = ModelSlot(registry, CHAMPION, self._swapped, settings.model_cache_dir)
        self.challenger = ModelSlot(registry, CHALLENGER, self._swapped, settings.model_cache_dir)
        slots = [self.champion]
        shadow = None
        if settings.serving_shadow:
            slots.append(self.challenger)
            shadow = ShadowScorer(
                self.challenger, ShadowSink(settings), METRICS, settings.serving_shadow_flush_s
            )
            shadow.start()
        for slot in slots:
            try:
                slot.refresh()
            except Exception as error:  # not ready until the watcher manages to load it
                log.warning("no %s model loaded at start: %s", slot.alias, error)
        self.scorer = RealtimeScorer(settings, self.reader, self.champion, METRICS, shadow)
        LeanPredictRoute.scorer = self.scorer
        ModelWatcher(slots, settings.serving_model_poll_s, self._refresh_failed).start()
        self._ready_checked_at, self._store_answers = 0.0, False
        freeze_long_lived()  # start-up objects out of the collector's way: no full-GC pauses on requests

    def _swapped(self, previous: LoadedModel | None, current: LoadedModel | None) -> None:
        info = METRICS["fraud_realtime_model_info"]
        if previous is not None:
            info.labels(role=previous.role, model_name=settings.model_name, version=previous.version).set(0)
        if current is not None:
            info.labels(role=current.role, model_name=settings.model_name, version=current.version).set(1)
            if previous is not None:
                METRICS["fraud_realtime_model_swaps_total"].labels(role=current.role).inc()

    def _refresh_failed(self, alias: str, error: Exception) -> None:
        METRICS["fraud_realtime_errors_total"].labels(kind=f"{alias}_refresh").inc()

    def __is_ready__(self) -> bool:
        """A champion is loaded and the online store answers (checked at most once a second)."""
        now = time.monotonic()
        if now - self._ready_checked_at > READY_CHECK_EVERY_S:
            try:
                self.reader.lookup([0], [0])
                self._store_answers = True
            except Exception as error:
                log.warning("online store not answering: %s", error)
                self._store_answers = False
            self._ready_checked_at = now
        return self.champion.current is not None and self._store_answers

    # Handlers are async and score inline: the work is a millisecond of CPU, and handing it to a
    # thread pool (BentoML's way with sync handlers) costs more than it saves.
    @bentoml.api(route="/predict")
    async def predict(self, transaction: TransactionRequest, /) -> Prediction:
        """Score one transaction."""
        try:
            return self.scorer.score([transaction])[0]
        except ModelUnavailable as error:
            raise ServiceUnavailable(str(error)) from error

    @bentoml.api(route="/predict_batch", batchable=True, max_batch_size=256, max_latency_ms=10)
    async def predict_batch(self, transactions: list[TransactionRequest], /) -> list[Prediction]:
        """Score a list of transactions in one lookup and one model call (concurrent lists are merged)."""
        try:
            return self.scorer.score(transactions)
        except ModelUnavailable as error:
            raise ServiceUnavailable(str(error)) from error


FraudScoring.add_asgi_middleware(RequestMetrics)  # outermost of the two: it times the lean route too
if settings.serving_lean_predict:
    FraudScoring.add_asgi_middleware(LeanPredictRoute)
