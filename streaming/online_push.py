"""Pushes the entities a consumer changed to the Feast online store, off the scoring path.

Every ``stream_push_interval_s`` the consumer hands over a copy of the changed customers' and
terminals' event lists; a background thread sends them to a writer process, which writes them
through the views' push sources, so the real-time service reads what the stream has seen. The
writer is a process, not a thread: building the frames and Feast's write hold the GIL for tens to
hundreds of milliseconds per push, which a thread would take from the scoring loop (the tail of
the stream's latency). It writes the views behind the push sources directly (what a push to the
online store does, without re-reading the registry from S3 on every push, as ``FeatureStore.push``
does in Feast 0.67). The delay from a batch scored to its lists written is measured
(``fraud_stream_online_push_delay_seconds``).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from feast import FeatureStore

from fraudcore.feature_store import server_feature_store
from fraudcore.features.definitions import (
    CUSTOMER_EVENT_AMOUNTS,
    CUSTOMER_EVENT_TIMES,
    CUSTOMER_EVENTS_VIEW,
    CUSTOMER_KEY,
    EVENT_TIMESTAMP,
    TERMINAL_EVENT_FRAUDS,
    TERMINAL_EVENT_TIMES,
    TERMINAL_EVENTS_VIEW,
    TERMINAL_KEY,
)
from fraudcore.features.terminal import DELAY_US
from fraudcore.settings import Settings

log = logging.getLogger(__name__)
RETRY_AFTER_S = 1.0


@dataclass
class Snapshot:
    """Event lists to write, and when the oldest change among them was scored (monotonic)."""

    customers: dict[int, tuple[list, list]] = field(default_factory=dict)
    terminals: dict[int, tuple[list, list]] = field(default_factory=dict)
    oldest_change: float = float("inf")

    def merge(self, newer: Snapshot) -> None:
        self.customers.update(newer.customers)
        self.terminals.update(newer.terminals)
        self.oldest_change = min(self.oldest_change, newer.oldest_change)


def _frame(
    lists: dict[int, tuple[list, list]], key: str, times: str, values: str, delay_us: int, as_int: bool
):
    ids = list(lists)
    rows_times = [lists[i][0] for i in ids]
    rows_values = [[int(v) for v in lists[i][1]] if as_int else lists[i][1] for i in ids]
    # An entity whose events all left the windows is pushed with empty lists, stamped at the epoch
    # (read back as "no state": a new entity's defaults, the same as empty windows).
    stamps = [(t[-1] + delay_us) if t else 0 for t in rows_times]
    return pd.DataFrame(
        {
            key: ids,
            EVENT_TIMESTAMP: pd.to_datetime(stamps, unit="us", utc=True),
            times: rows_times,
            values: rows_values,
        }
    )


def write_snapshot(store: FeatureStore, snapshot: Snapshot) -> None:
    """Write a snapshot's lists to the online store (the writer process calls it)."""
    if snapshot.customers:
        frame = _frame(
            snapshot.customers, CUSTOMER_KEY, CUSTOMER_EVENT_TIMES, CUSTOMER_EVENT_AMOUNTS, 0, False
        )
        store.write_to_online_store(CUSTOMER_EVENTS_VIEW, frame, allow_registry_cache=True)
    if snapshot.terminals:
        frame = _frame(
            snapshot.terminals, TERMINAL_KEY, TERMINAL_EVENT_TIMES, TERMINAL_EVENT_FRAUDS, DELAY_US, True
        )
        store.write_to_online_store(TERMINAL_EVENTS_VIEW, frame, allow_registry_cache=True)


def _writer(connection, settings: Settings) -> None:
    """The writer process: a snapshot in, ``None`` or the error's text out, until ``None`` comes."""
    store = server_feature_store(settings)
    connection.send(None)  # ready
    while (snapshot := connection.recv()) is not None:
        try:
            write_snapshot(store, snapshot)
            connection.send(None)
        except Exception as error:
            connection.send(f"{type(error).__name__}: {error}")


class WriterProcess:
    """A writer process and the pipe to it (started with ``spawn``: the consumer has threads)."""

    def __init__(self, settings: Settings):
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_writer, args=(child, settings), name="online-push", daemon=True
        )
        self.process.start()
        child.close()
        self.connection.recv()  # raises EOFError if it died on the way up

    def write(self, snapshot: Snapshot) -> None:
        self.connection.send(snapshot)
        if (error := self.connection.recv()) is not None:
            raise RuntimeError(error)

    def close(self, timeout_s: float) -> None:
        with contextlib.suppress(OSError):  # already gone
            self.connection.send(None)
        self.process.join(timeout_s)
        if self.process.is_alive():
            self.process.kill()


class OnlinePusher(threading.Thread):
    """Hands snapshots to the writer process, one at a time; the ones that arrive meanwhile merge."""

    def __init__(self, settings: Settings, metrics: dict):
        super().__init__(name="online-push", daemon=True)
        self.settings, self.metrics = settings, metrics
        self.pending: Snapshot | None = None
        self.delays: deque[float] = deque(maxlen=100_000)  # seconds, for the closing log line
        self.ready = threading.Condition()
        self.stopped = False
        self.writer: WriterProcess | None = None

    def submit(self, snapshot: Snapshot) -> None:
        """Queue a snapshot (merged into the one waiting, if the writer is busy)."""
        if not snapshot.customers and not snapshot.terminals:
            return
        with self.ready:
            if self.pending is None:
                self.pending = snapshot
            else:
                self.pending.merge(snapshot)
            self.ready.notify()

    def run(self) -> None:
        try:
            self.writer = WriterProcess(self.settings)  # up before the first push is due
        except Exception as error:  # retried with the first push
            log.warning("online push writer did not start: %s", error)
        while True:
            with self.ready:
                while self.pending is None and not self.stopped:
                    self.ready.wait()
                if self.pending is None:
                    break
                snapshot, self.pending = self.pending, None
            try:
                if self.writer is None:
                    self.writer = WriterProcess(self.settings)
                self.writer.write(snapshot)
                delay = time.monotonic() - snapshot.oldest_change
                self.metrics["fraud_stream_online_push_delay_seconds"].observe(delay)
                self.delays.append(delay)
            except Exception as error:  # store down or writer gone: keep the lists, newer ones win, retry
                log.warning("online push failed, retrying: %s", error)
                self.metrics["fraud_stream_errors_total"].labels(kind="online_push").inc()
                if isinstance(error, EOFError | OSError) and self.writer is not None:
                    self.writer.close(timeout_s=1.0)
                    self.writer = None  # a new writer process on the next try
                with self.ready:
                    if self.pending is not None:
                        snapshot.merge(self.pending)
                    self.pending = snapshot
                time.sleep(RETRY_AFTER_S)
        if self.writer is not None:
            self.writer.close(timeout_s=10.0)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Write what is queued, then end the thread and the writer; log the delays seen."""
        with self.ready:
            self.stopped = True
            self.ready.notify()
        self.join(timeout_s)
        if self.delays:
            p50, p99 = np.percentile(np.array(self.delays), [50, 99])
            log.info(
                "online pushes: %d, delay from scored to written p50 %.3f s, p99 %.3f s, max %.3f s",
                len(self.delays),
                p50,
                p99,
                max(self.delays),
            )
