"""Replays transactions into Kafka: ``transactions`` keyed by customer, their labels on ``labels``
keyed by terminal, each label ``LABEL_DELAY_DAYS`` (of event time) after its transaction.

Events go out in event-time order, a label before a transaction of the same instant (a request at
t may read the labels of transactions at t - delay). As fast as possible by default, or at
``rate`` transactions per second, or with event time compressed ``speedup`` times.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from kafka import KafkaProducer
from tqdm import tqdm

from fraudcore.data.lake import TransactionLake
from fraudcore.events import label_event, transaction_event
from fraudcore.features.terminal import DELAY_US
from fraudcore.features.windows import to_us
from fraudcore.schema import LABEL
from fraudcore.settings import Settings

#: Events a broken client might send (``--malformed``): not JSON, unknown version, missing field,
#: wrong type, negative amount.
MALFORMED = (
    b"{not json",
    b'{"schema_version": 9, "transaction_id": 1}',
    b'{"schema_version": 1, "transaction_id": 1, "customer_id": 2}',
    b'{"schema_version": 1, "transaction_id": 1, "tx_datetime": "2018-09-30T10:00:00", "customer_id": "2",'
    b' "terminal_id": 3, "tx_amount": 5.0}',
    b'{"schema_version": 1, "transaction_id": 1, "tx_datetime": "2018-09-30T10:00:00", "customer_id": 2,'
    b' "terminal_id": 3, "tx_amount": -5.0}',
)
#: How often (events) a paced replay checks its schedule, and the progress bar moves.
PACE_EVERY = 20
PROGRESS_EVERY = 5_000
#: How long the producer gathers a partition's records into one batch. Tansu's fetch cost grows
#: with the number of record batches a partition holds (each batch is an object of its storage):
#: at 2,000 events/s a 5 ms linger writes batches of 2-3 records and the broker's CPU climbs to
#: 70 % of a core within 40 s, with the stream's p99 at 104-120 ms; 25 ms keeps it under 30 % and
#: the p99 at 63-64 ms, the linger itself included (``benchmarks/results/stream.md``).
LINGER_MS = 25


@dataclass
class ReplaySummary:
    transactions: int
    labels: int
    seconds: float
    first: str
    last: str

    def __str__(self) -> str:
        rate = self.transactions / self.seconds if self.seconds else float("nan")
        return (
            f"replayed {self.transactions:,} transactions ({self.first} .. {self.last}) and "
            f"{self.labels:,} labels in {self.seconds:.1f} s ({rate:,.0f} transactions/s)"
        )


def load_transactions(
    settings: Settings, source: str, date_from: dt.date | None, date_to: dt.date | None
) -> pd.DataFrame:
    """Transactions to replay: the lake's days (``source="lake"``) or a parquet file, by time."""
    if source == "lake":
        frame = TransactionLake(settings).read(date_from, date_to)
    else:
        frame = pd.read_parquet(Path(source))
        day = frame["TX_DATETIME"].dt.date
        if date_from:
            frame = frame[day >= date_from]
        if date_to:
            frame = frame[day <= date_to]
    return frame.sort_values(["TX_DATETIME", "TRANSACTION_ID"], kind="stable").reset_index(drop=True)


def replay_order(
    transactions: pd.DataFrame, with_labels: bool = True, with_transactions: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(row, is_label) of every event in the order to send: by event time, labels first at a tie."""
    rows = np.arange(len(transactions))
    times = to_us(transactions["TX_DATETIME"])
    if not with_labels:
        return rows, np.zeros(len(rows), bool)
    if not with_transactions:
        return rows, np.ones(len(rows), bool)
    event_time = np.concatenate([times + DELAY_US, times])
    is_label = np.concatenate([np.ones(len(rows), bool), np.zeros(len(rows), bool)])
    order = np.lexsort((~is_label, event_time))  # by time, then labels (True) before transactions
    return np.concatenate([rows, rows])[order], is_label[order]


def replay(
    settings: Settings,
    transactions: pd.DataFrame,
    rate: float | None = None,
    speedup: float | None = None,
    with_labels: bool = True,
    progress: bool = True,
    malformed: int = 0,
    linger_ms: int = LINGER_MS,
    with_transactions: bool = True,
) -> ReplaySummary:
    """Send ``transactions`` (and their labels) in event-time order; ``linger_ms``: how long the
    client gathers records into one batch (``LINGER_MS``: a paced replay with a short linger writes
    many small batches, which Tansu reads back ever slower as they pile up).

    The order holds per partition only: the client sends each partition's batch when it is full or
    its linger is over, so a label may reach the broker after a later transaction (by up to
    ``linger_ms``), and a consumer reading that transaction at once scores it without the label.
    ``with_transactions=False`` sends the labels alone (a test or demo can send them first)."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        linger_ms=linger_ms,
        batch_size=256 * 1024,
        client_id="fraud-replay",
    )
    ids = transactions["TRANSACTION_ID"].to_numpy()
    times = to_us(transactions["TX_DATETIME"])
    customers = transactions["CUSTOMER_ID"].to_numpy()
    terminals = transactions["TERMINAL_ID"].to_numpy()
    amounts = transactions["TX_AMOUNT"].to_numpy()
    frauds = transactions[LABEL].to_numpy() if with_labels else None
    rows, is_label = replay_order(transactions, with_labels, with_transactions)
    started = time.monotonic()
    sent = labels = 0
    bar = tqdm(total=len(transactions), unit="tx", disable=not progress, desc="replay")
    for i, (row, label) in enumerate(zip(rows.tolist(), is_label.tolist(), strict=True)):
        if label:
            value = label_event(ids[row], times[row], terminals[row], frauds[row])
            producer.send(settings.topic_labels, key=str(terminals[row]).encode(), value=value)
            labels += 1
        else:
            value = transaction_event(ids[row], times[row], customers[row], terminals[row], amounts[row])
            producer.send(settings.topic_transactions, key=str(customers[row]).encode(), value=value)
            sent += 1
        if (rate or speedup) and i % PACE_EVERY == 0:
            _pace(started, sent, times[row] - times[0], rate, speedup)
        if i % PROGRESS_EVERY == 0:
            bar.n = sent
            bar.refresh()
    for i in range(malformed):  # what a broken client sends: each kind the consumer must dead-letter
        value = MALFORMED[i % len(MALFORMED)]
        producer.send(settings.topic_transactions, key=b"malformed", value=value)
    producer.flush()
    producer.close()
    bar.n = sent
    bar.close()
    return ReplaySummary(
        sent,
        labels,
        time.monotonic() - started,
        str(transactions["TX_DATETIME"].iloc[0]) if len(transactions) else "-",
        str(transactions["TX_DATETIME"].iloc[-1]) if len(transactions) else "-",
    )


def _pace(
    started: float, sent: int, event_elapsed_us: int, rate: float | None, speedup: float | None
) -> None:
    """Sleep until the wall clock catches up with the schedule (none: as fast as possible)."""
    if rate:
        due = started + sent / rate
    elif speedup:
        due = started + event_elapsed_us / 1e6 / speedup
    else:
        return
    wait = due - time.monotonic()
    if wait > 0:
        time.sleep(wait)
