"""The labels feed: every consumer reads the whole labels topic into its terminals' state.

Labels of transactions at e arrive at e + delay; a request at t reads only labels of transactions
at or before t - delay (``fraudcore.features.terminal``), so a label that arrives early is never
read too soon. Before a batch whose latest transaction is at T is scored, the feed waits (at most
``stream_label_wait_s``) until every label partition has delivered a label due at or after T or
had nothing more to read at its last fetch. A label that reaches the broker after the transactions
that need it (producers order records per partition only) is applied from the next batches on:
exact offline equality holds for labels that were in the broker before their transactions.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition

from fraudcore.events import InvalidEvent, Label, parse_label
from fraudcore.features.terminal import DELAY_US
from fraudcore.settings import Settings
from streaming.fetching import BACKLOG_WAIT_MS, adapt_fetch_wait

LABELS_PER_POLL = 20_000


class LabelFeed:
    def __init__(
        self,
        settings: Settings,
        on_labels: Callable[[list[Label]], None],
        on_invalid: Callable[[object, str], None],
    ):
        self.on_labels, self.on_invalid = on_labels, on_invalid
        self.wait_s = settings.stream_label_wait_s
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=BACKLOG_WAIT_MS,
            max_poll_records=LABELS_PER_POLL,
            client_id="fraud-stream-labels",
        )
        partitions = self.consumer.partitions_for_topic(settings.topic_labels) or set()
        self.partitions = [TopicPartition(settings.topic_labels, p) for p in sorted(partitions)]
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_beginning(*self.partitions)
        #: Per partition, when (event time, us) the latest label read became due.
        self.due_us = dict.fromkeys(self.partitions, -1)
        self.applied = 0

    def caught_up(self, tp: TopicPartition) -> bool:
        """Every label the broker held at the partition's last fetch has been read (the fetch's
        high watermark: exact on Tansu, where ListOffsets answers stale end offsets)."""
        highwater = self.consumer.highwater(tp)
        return highwater is not None and self.consumer.position(tp) >= highwater

    def catch_up(self, stopping=lambda: False) -> int:
        """Read every label the broker holds now (at start: the terminals' whole history)."""
        before = self.applied
        while not all(self.caught_up(tp) for tp in self.partitions) and not stopping():
            self.poll(timeout_ms=200)
        return self.applied - before

    def poll(self, timeout_ms: int = 0) -> int:
        got = self.consumer.poll(timeout_ms=timeout_ms)
        adapt_fetch_wait(self.consumer, sum(len(r) for r in got.values()), LABELS_PER_POLL)
        labels: list[Label] = []
        for tp, records in got.items():
            for record in records:
                try:
                    label = parse_label(record.value)
                except InvalidEvent as error:
                    self.on_invalid(record, str(error))
                    continue
                labels.append(label)
                self.due_us[tp] = max(self.due_us[tp], label.time_us + DELAY_US)
        if labels:
            self.on_labels(labels)
            self.applied += len(labels)
        return len(labels)

    def ready_for(self, time_us: int) -> bool:
        """No label due before ``time_us`` can still be missing: each partition has delivered a
        label due at or after it, or holds nothing more than what was read."""
        return all(self.due_us[tp] >= time_us or self.caught_up(tp) for tp in self.partitions)

    def wait_until(self, time_us: int) -> bool:
        """Read labels until those due before ``time_us`` are in; False when it gave up waiting
        (``stream_label_wait_s``: labels may lag behind transactions in a live system)."""
        self.poll()
        deadline = time.monotonic() + self.wait_s
        while not self.ready_for(time_us):
            if time.monotonic() > deadline:
                return False
            self.poll(timeout_ms=20)
        return True

    def close(self) -> None:
        self.consumer.close()
