"""Scoring a batch of requests: online lookup, request-time features, champion, decision.

No web framework here: the BentoML service calls it per request, and the benchmark calls it
in-process as the floor the HTTP path is compared with.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence

import numpy as np

from fraudcore.feature_store import OnlineFeatureReader
from fraudcore.model_slots import ModelSlot
from fraudcore.settings import Settings
from serving.schemas import Prediction, TransactionRequest
from serving.shadow import ShadowBatch, ShadowScorer

EPOCH = dt.datetime(1970, 1, 1)


class ModelUnavailable(RuntimeError):
    """No champion is loaded (none registered yet, or the registry was unreachable at start)."""


class RealtimeScorer:
    """Scores requests with the champion; hands them to the shadow scorer when a challenger exists."""

    def __init__(
        self,
        settings: Settings,
        reader: OnlineFeatureReader,
        champion: ModelSlot,
        metrics: dict,
        shadow: ShadowScorer | None = None,
    ):
        self.settings, self.reader, self.champion, self.metrics, self.shadow = (
            settings,
            reader,
            champion,
            metrics,
            shadow,
        )

    def score(self, requests: Sequence[TransactionRequest]) -> list[Prediction]:
        loaded = self.champion.current
        if loaded is None:
            self.metrics["fraud_realtime_errors_total"].labels(kind="model_unavailable").inc(len(requests))
            raise ModelUnavailable("no champion model is loaded yet")
        started = time.perf_counter()
        times = np.array([r.timestamp for r in requests], dtype="datetime64[us]")
        request_us = times.astype(np.int64)
        amounts = np.array([r.amount for r in requests], np.float64)
        features = self.reader.features(
            [r.customer_id for r in requests], [r.terminal_id for r in requests], amounts, request_us
        )
        looked_up = time.perf_counter()
        probability = loaded.model.score_columns(features.columns)
        scored = time.perf_counter()
        self.metrics["fraud_realtime_feature_lookup_duration_seconds"].observe(looked_up - started)
        self.metrics["fraud_realtime_inference_duration_seconds"].labels(role="champion").observe(
            scored - looked_up
        )
        if self.shadow is not None:
            ids = np.array([r.transaction_id for r in requests], np.int64)
            self.shadow.submit(ShadowBatch(features.columns, ids, times, loaded.version, probability))
        return [
            self._prediction(r, p, loaded.version, features, i)
            for i, (r, p) in enumerate(zip(requests, probability, strict=True))
        ]

    def _prediction(
        self, request: TransactionRequest, probability: float, version: str, features, i: int
    ) -> Prediction:
        threshold = self.settings.serving_threshold
        decision = "fraud" if probability >= threshold else "genuine"
        ages = {}
        for entity, written in (
            ("customer", features.customer_state_at[i]),
            ("terminal", features.terminal_state_at[i]),
        ):
            if written > 0:
                ages[entity] = (request.timestamp - _from_seconds(written)).total_seconds()
                self.metrics["fraud_realtime_online_state_age_seconds"].labels(entity=entity).observe(
                    ages[entity]
                )
            else:
                ages[entity] = None
                self.metrics["fraud_realtime_new_entities_total"].labels(entity=entity).inc()
        self.metrics["fraud_realtime_fraud_probability"].labels(role="champion").observe(probability)
        self.metrics["fraud_realtime_decisions_total"].labels(decision=decision).inc()
        return Prediction(
            transaction_id=request.transaction_id,
            fraud_probability=float(probability),
            decision=decision,
            threshold=threshold,
            model_name=self.settings.model_name,
            model_version=version,
            new_customer=ages["customer"] is None,
            new_terminal=ages["terminal"] is None,
            customer_state_age_seconds=ages["customer"],
            terminal_state_age_seconds=ages["terminal"],
        )


def _from_seconds(seconds: int) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=int(seconds))
