"""How long a fetch waits on the broker: short at the live edge, longer while reading a backlog.

Tansu on S3 storage answers a fetch with what it reads from S3 within ``fetch_max_wait_ms``:
10 ms keeps the latency of fresh events low but returns a few record batches per round trip
(10,000 small-batch events: 4.2 s at 10 ms, 1.2 s at 200 ms). A reader switches between the two
by how much the last poll returned.
"""

from __future__ import annotations

from kafka import KafkaConsumer

LIVE_WAIT_MS = 10
BACKLOG_WAIT_MS = 200


def adapt_fetch_wait(consumer: KafkaConsumer, returned: int, batch: int) -> None:
    """Wait longer per fetch while polls come back at least half full, shortly otherwise."""
    wait = BACKLOG_WAIT_MS if returned >= batch // 2 else LIVE_WAIT_MS
    # kafka-python reads this per fetch request; it has no public setter.
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is not None:
        fetcher.config["fetch_max_wait_ms"] = wait
