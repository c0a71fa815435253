"""Shadow scoring: every request is also scored by the challenger, off the response path.

The request path only puts the request's features on a bounded queue (never waits; a full queue
drops and counts). A background thread scores them with the challenger, records the scores as a
metric series of their own, and keeps both models' scores for each transaction in parquet files
under ``s3://<bucket>/<prefix>/date=YYYY-MM-DD/`` so a promotion can be judged on live traffic.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fraudcore.model_slots import ModelSlot
from fraudcore.settings import Settings
from fraudcore.storage import arrow_filesystem

log = logging.getLogger(__name__)
SHADOW_COLUMNS = [
    "transaction_id",
    "tx_datetime",
    "scored_at",
    "champion_version",
    "champion_probability",
    "challenger_version",
    "challenger_probability",
]


@dataclass
class ShadowBatch:
    columns: dict[str, np.ndarray]  # the model features the champion was given
    transaction_id: np.ndarray
    tx_datetime: np.ndarray  # datetime64[us]
    champion_version: str
    champion_probability: np.ndarray


class ShadowSink:
    """Appends shadow records to new parquet files (one writer per process, never overwriting)."""

    def __init__(self, settings: Settings):
        self.filesystem = arrow_filesystem(settings)
        self.root = f"{settings.bucket}/{settings.serving_shadow_prefix}"
        self.writer = uuid.uuid4().hex[:12]
        self.sequence = 0

    def write(self, records: pd.DataFrame) -> str:
        day = pd.Timestamp(records["scored_at"].iloc[0]).date().isoformat()
        self.sequence += 1
        path = f"{self.root}/date={day}/{self.writer}-{self.sequence:06d}.parquet"
        pq.write_table(
            pa.Table.from_pandas(records[SHADOW_COLUMNS], preserve_index=False),
            path,
            filesystem=self.filesystem,
        )
        return path


class ShadowScorer(threading.Thread):
    """Scores queued batches with the challenger and flushes the records every ``flush_s`` seconds."""

    def __init__(
        self, challenger: ModelSlot, sink: ShadowSink, metrics: dict, flush_s: float, maxsize: int = 10_000
    ):
        super().__init__(name="shadow-scorer", daemon=True)
        self.challenger, self.sink, self.metrics, self.flush_s = challenger, sink, metrics, flush_s
        self.queue: queue.Queue[ShadowBatch] = queue.Queue(maxsize)
        self.pending: list[pd.DataFrame] = []
        self.stopped = threading.Event()

    def submit(self, batch: ShadowBatch) -> None:
        """Hand a batch over without waiting; drop it (counted) when the queue is full."""
        if self.challenger.current is None:
            return
        try:
            self.queue.put_nowait(batch)
        except queue.Full:
            self.metrics["fraud_realtime_shadow_dropped_total"].inc(len(batch.transaction_id))

    def run(self) -> None:
        last_flush = time.monotonic()
        while not self.stopped.is_set():
            try:
                self._score(self._gather())
            except queue.Empty:
                pass
            except Exception as error:  # a broken challenger never stops the thread (or the service)
                log.warning("shadow scoring failed: %s", error)
                self.metrics["fraud_realtime_errors_total"].labels(kind="shadow").inc()
            if self.pending and time.monotonic() - last_flush >= self.flush_s:
                self.flush()
                last_flush = time.monotonic()

    def _gather(self, wait_s: float = 0.2, most: int = 512) -> ShadowBatch:
        """The batches queued in the next ``wait_s`` seconds (up to ``most`` rows), as one: one model
        call for many requests keeps the shadow's share of the CPU small."""
        batches = [self.queue.get(timeout=min(1.0, self.flush_s))]
        deadline = time.monotonic() + wait_s
        while (
            sum(len(b.transaction_id) for b in batches) < most and (left := deadline - time.monotonic()) > 0
        ):
            try:
                batches.append(self.queue.get(timeout=left))
            except queue.Empty:
                break
        if len(batches) == 1:
            return batches[0]
        return ShadowBatch(
            {name: np.concatenate([b.columns[name] for b in batches]) for name in batches[0].columns},
            np.concatenate([b.transaction_id for b in batches]),
            np.concatenate([b.tx_datetime for b in batches]),
            batches[-1].champion_version,
            np.concatenate([b.champion_probability for b in batches]),
        )

    def _score(self, batch: ShadowBatch) -> None:
        loaded = self.challenger.current
        if loaded is None:
            return
        started = time.perf_counter()
        probability = loaded.model.score_columns(batch.columns)
        self.metrics["fraud_realtime_inference_duration_seconds"].labels(role="challenger").observe(
            time.perf_counter() - started
        )
        for value in probability:
            self.metrics["fraud_realtime_fraud_probability"].labels(role="challenger").observe(value)
        self.pending.append(
            pd.DataFrame(
                {
                    "transaction_id": batch.transaction_id,
                    "tx_datetime": batch.tx_datetime,
                    "scored_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
                    "champion_version": batch.champion_version,
                    "champion_probability": batch.champion_probability,
                    "challenger_version": loaded.version,
                    "challenger_probability": probability,
                }
            )
        )

    def flush(self) -> None:
        """Write the records gathered since the last flush (kept for the next one if the store fails)."""
        if not self.pending:
            return
        records = pd.concat(self.pending, ignore_index=True)
        try:
            self.sink.write(records)
            self.pending = []
        except Exception as error:
            log.warning("writing %d shadow records failed, kept for the next flush: %s", len(records), error)
