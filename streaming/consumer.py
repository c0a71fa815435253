"""The scoring consumer: micro-batches of transactions -> features -> champion -> scores and alerts.

Delivery is at least once, outputs idempotent by key: a batch's scores, alerts and dead letters
are flushed before its offsets are committed, and every output is keyed by transaction id, so a
consumer killed at any point re-scores at most the uncommitted batch, with the same result.

State: a customer's events live on the partition its transactions are keyed to. When a partition
is assigned (start, restart, rebalance), its customers' state is rebuilt by re-reading the
partition from the start of the retained log up to the committed offset (the transactions topic is
the state's changelog: exact, no duplicates); terminals' state is the labels topic, read whole by
every consumer (``streaming.labels``). Both cost one read of the retained events at start, and
bound the topics' retention from below (30 days of transactions, 37 of labels).
"""

from __future__ import annotations

import logging
import signal
import time
from collections import defaultdict

import prometheus_client
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from fraudcore.events import (
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_REASON,
    DLQ_TOPIC,
    InvalidEvent,
    Label,
    Transaction,
    parse_transaction,
    score_event,
)
from fraudcore.gc_pauses import freeze_long_lived
from fraudcore.metrics import STREAM, build
from fraudcore.model_slots import LoadedModel, ModelSlot
from fraudcore.settings import Settings
from streaming.fetching import BACKLOG_WAIT_MS, adapt_fetch_wait
from streaming.labels import LabelFeed
from streaming.membership import settle_before_leaving
from streaming.online_push import OnlinePusher, Snapshot
from streaming.record_writer import RecordWriter, key_partition
from streaming.state import StreamState

log = logging.getLogger(__name__)
#: How often the state-size gauges are recomputed (a pass over every entity).
STATE_REPORT_EVERY_S = 5.0
#: A batch slower than this is logged with where its time went.
SLOW_BATCH_S = 0.5
#: Longest wait for the last writes at shutdown (a batch's writes wait up to the writer's timeout).
CLOSE_TIMEOUT_S = 10.0
#: How often the whole state is swept of events no window can see (entities gone quiet).
SWEEP_EVERY_S = 60.0
#: Group membership: a member silent this long is dropped; heartbeats (and news of a rebalance) this often.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 1000
#: Longest wait at shutdown for a rebalance under way to finish before leaving the group.
SETTLE_TIMEOUT_S = 8.0


def _field_of(reason: str) -> str:
    """The field (or rule) a dead-letter reason names: its text before the first colon."""
    return reason.split(":", 1)[0][:40]


class _Stopped(Exception):
    """SIGTERM arrived while the consumer waited for a champion."""


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, owner: ScoringConsumer):
        self.owner = owner

    def on_partitions_revoked(self, revoked):
        self.owner.forget(revoked)

    def on_partitions_assigned(self, assigned):
        if self.owner.stopping:  # settling before leaving: the partitions' next owner reads them
            self.owner.consumer.pause(*assigned)
            return
        self.owner.to_rebuild.update(assigned)
        self.owner.joined = True


class ScoringConsumer:
    def __init__(
        self,
        settings: Settings,
        champion: ModelSlot,
        name: str = "stream-consumer",
        pusher: OnlinePusher | None = None,
        metrics: dict | None = None,
    ):
        self.settings, self.champion, self.name, self.pusher = settings, champion, name, pusher
        self.metrics = metrics or build(STREAM, prometheus_client)
        self.state = StreamState()
        self.writer = RecordWriter(settings.kafka_bootstrap_servers, name)
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.stream_group_id,
            client_id=name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.stream_max_batch,
            fetch_max_wait_ms=10,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        )
        self.labels = LabelFeed(settings, self._labels_read, self._dead_letter)
        self.to_rebuild: set[TopicPartition] = set()
        self.joined = False  # the group assigned this consumer its partitions (maybe none)
        self.partition_customers: dict[int, set[int]] = defaultdict(set)
        self.partition_time: dict[int, int] = {}  # event time (us) each partition has reached
        self.dirty_customers: set[int] = set()
        self.dirty_terminals: set[int] = set()
        self.changed_since = float("inf")
        self.last_push = self.last_sweep = time.monotonic()
        self.state_reported_at = 0.0
        self.stopping = False
        self.scored, self.busy_s = 0, 0.0  # for the closing summary line
        self.first_batch_at = self.last_batch_at = 0.0

    # --- lifecycle ---

    def run(self, max_idle_s: float | None = None) -> None:
        """Score until SIGTERM (or ``max_idle_s`` without events once the group assigned this
        consumer its partitions): finish the batch, commit, leave."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        started = time.monotonic()
        read = self.labels.catch_up(lambda: self.stopping)
        log.info("%s: %d labels read in %.1f s", self.name, read, time.monotonic() - started)
        freeze_long_lived()
        self.consumer.subscribe([self.settings.topic_transactions], listener=_Rebalance(self))
        idle_since = time.monotonic()
        while not self.stopping:
            records = self.consumer.poll(timeout_ms=100)
            returned = sum(len(batch) for batch in records.values())
            adapt_fetch_wait(self.consumer, returned, self.settings.stream_max_batch)
            if self.to_rebuild:
                self.rebuild(sorted(self.to_rebuild))
            if self.joined:
                self.metrics["fraud_stream_ready"].set(1)
            else:  # joining a group can take seconds on Tansu: not idle time
                idle_since = time.monotonic()
            if records:
                try:
                    self.process(records)
                except _Stopped:  # no champion yet and asked to stop: nothing of the batch committed
                    self.writer.discard()  # its dead letters are written when it is read again
                    break
                idle_since = time.monotonic()
            else:
                self.labels.poll()
                if self.writer.buffered:  # dead letters of malformed labels
                    self.writer.flush()
                self._report_lag()
                if max_idle_s is not None and time.monotonic() - idle_since > max_idle_s:
                    break
            self._push_if_due()
        self.close()

    def _stop(self, signum, frame) -> None:
        log.info("%s: signal %d, draining", self.name, signum)
        self.stopping = True

    def close(self) -> None:
        """Flush, push and leave, each bounded: with the broker gone nothing is committed anyway."""
        self.stopping = True  # also when idle: partitions assigned from now on stay paused
        log.info(
            "%s: scored %d events in %.2f s of batches, %.2f s from the first batch to the last",
            self.name,
            self.scored,
            self.busy_s,
            self.last_batch_at - self.first_batch_at,
        )
        self._push_if_due(force=True)
        if self.pusher is not None:
            self.pusher.stop()
        # Leaves the group (the partitions move at once), once a rebalance under way has finished.
        try:
            settle_before_leaving(self.consumer, 1.5 * HEARTBEAT_INTERVAL_MS / 1000, SETTLE_TIMEOUT_S)
        except Exception:  # leaving matters more than leaving cleanly
            log.warning("%s: could not wait for the group to settle", self.name, exc_info=True)
        self.consumer.close(autocommit=False)
        self.labels.close()
        try:
            self.writer.flush(CLOSE_TIMEOUT_S)  # left: dead letters of labels read since the last batch
        except KafkaError as error:
            log.warning("%s: last writes failed: %s", self.name, error)
        self.writer.close()

    # --- partitions ---

    def forget(self, revoked) -> None:
        """Drop the customers of partitions that moved to another consumer."""
        for tp in revoked:
            self.state.customers.drop(self.partition_customers.pop(tp.partition, set()))
            self.partition_time.pop(tp.partition, None)
            self.to_rebuild.discard(tp)

    def rebuild(self, partitions: list[TopicPartition]) -> None:
        """Customers' state of newly assigned partitions: their events before the committed offset."""
        started = time.monotonic()
        self.to_rebuild.clear()
        reader = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=BACKLOG_WAIT_MS,
            max_poll_records=20_000,
            client_id=f"{self.name}-rebuild",
        )
        try:
            until = {tp: self.consumer.committed(tp) or 0 for tp in partitions}
            todo = [tp for tp in partitions if until[tp] > 0]
            for tp in partitions:
                self.state.customers.drop(self.partition_customers.pop(tp.partition, set()))
            if todo:
                reader.assign(todo)
                reader.seek_to_beginning(*todo)
            events = 0
            while todo:
                for tp, records in reader.poll(timeout_ms=200).items():
                    kept = [r for r in records if r.offset < until[tp]]
                    transactions = []
                    for record in kept:
                        try:
                            transactions.append(parse_transaction(record.value))
                        except InvalidEvent:
                            continue  # dead-lettered when it was first read
                    self.state.add_transactions(transactions)
                    self.partition_customers[tp.partition].update(t.customer_id for t in transactions)
                    if transactions:
                        self.partition_time[tp.partition] = transactions[-1].time_us
                    events += len(transactions)
                todo = [tp for tp in todo if reader.position(tp) < until[tp]]
            if self.pusher is not None:  # pushed once: the last owner may have died before its push
                numbers = {tp.partition for tp in partitions}
                for number in numbers:
                    self.dirty_customers.update(self.partition_customers.get(number, ()))
                self.changed_since = min(self.changed_since, time.monotonic())
                self.dirty_terminals.update(
                    t for t in self.state.terminals.times if self._labels_partition(t) in numbers
                )
        finally:
            reader.close()
        freeze_long_lived()
        seconds = time.monotonic() - started
        self.metrics["fraud_stream_state_rebuild_seconds"].observe(seconds)
        log.info(
            "%s: partitions %s assigned, %d events replayed into state in %.1f s",
            self.name,
            [tp.partition for tp in partitions],
            events,
            seconds,
        )

    def _low_watermark_us(self) -> int | None:
        """The earliest event time any assigned partition has reached (None: one has not started):
        no later request of this consumer is earlier (each partition is read in order)."""
        reached = [self.partition_time.get(tp.partition) for tp in self.consumer.assignment()]
        return None if not reached or None in reached else min(reached)

    # --- one micro-batch ---

    def process(self, records: dict) -> None:
        started = time.monotonic()
        self.first_batch_at = self.first_batch_at or started
        transactions: list[Transaction] = []
        written_ms: list[int] = []
        last_offsets: dict[TopicPartition, int] = {}
        consumed = 0
        for tp, batch in records.items():
            customers = self.partition_customers[tp.partition]
            for record in batch:
                consumed += 1
                try:
                    transaction = parse_transaction(record.value)
                except InvalidEvent as error:
                    self._dead_letter(record, str(error))
                    continue
                transactions.append(transaction)
                written_ms.append(record.timestamp)
                customers.add(transaction.customer_id)
                self.partition_time[tp.partition] = transaction.time_us
            last_offsets[tp] = batch[-1].offset
        self.metrics["fraud_stream_events_consumed_total"].inc(consumed)
        self.metrics["fraud_stream_batch_size_events"].observe(consumed)
        parsed = time.monotonic()
        if transactions:
            self._score(transactions)
        scored = time.monotonic()
        self.writer.flush()
        flushed = time.monotonic()
        flushed_ms = time.time() * 1000
        self.consumer.commit(
            {tp: OffsetAndMetadata(offset + 1, None, -1) for tp, offset in last_offsets.items()}
        )
        if time.monotonic() - started > SLOW_BATCH_S:
            log.warning(
                "%s: slow batch of %d: parse %.3f s, score %.3f s, flush %.3f s, commit %.3f s",
                self.name,
                consumed,
                parsed - started,
                scored - parsed,
                flushed - scored,
                time.monotonic() - flushed,
            )
        latency = self.metrics["fraud_stream_end_to_end_latency_seconds"]
        for ms in written_ms:
            latency.observe(max(flushed_ms - ms, 0.0) / 1000)
        self.last_batch_at = time.monotonic()
        busy = self.last_batch_at - started
        self.busy_s += busy
        self.scored += len(transactions)
        self.metrics["fraud_stream_batch_duration_seconds"].observe(busy)
        self._report_state()

    def _score(self, transactions: list[Transaction]) -> None:
        loaded = self._champion()
        self.state.add_transactions(transactions)
        if not self.labels.wait_until(max(t.time_us for t in transactions)):
            self.metrics["fraud_stream_label_waits_expired_total"].inc()
        features = self.state.features(transactions)
        probability = loaded.model.score_columns(features)
        threshold = self.settings.serving_threshold
        scored_at_us = int(time.time() * 1e6)
        send = self.writer.send
        scores, alerts = self.settings.topic_scores, self.settings.topic_alerts
        model_name, version = self.settings.model_name, loaded.version
        flagged = 0
        for transaction, p in zip(transactions, probability.tolist(), strict=True):
            fraud = p >= threshold
            value = score_event(
                transaction, p, "fraud" if fraud else "genuine", model_name, version, scored_at_us
            )
            key = str(transaction.transaction_id).encode()
            send(scores, key=key, value=value)
            if fraud:
                send(alerts, key=key, value=value)
                flagged += 1
        self.metrics["fraud_stream_events_scored_total"].inc(len(transactions))
        self.metrics["fraud_stream_alerts_total"].inc(flagged)
        low = self._low_watermark_us()
        self.state.prune(transactions, low if low is not None else -(2**62))
        if low is not None and time.monotonic() - self.last_sweep > SWEEP_EVERY_S:
            self.state.prune_all(low)
            self.last_sweep = time.monotonic()
        if self.pusher is not None:
            self.dirty_customers.update(t.customer_id for t in transactions)
            self.changed_since = min(self.changed_since, time.monotonic())

    def _champion(self) -> LoadedModel:
        """The champion to score with; waits (without committing anything) while none is loaded."""
        while (loaded := self.champion.current) is None:
            if self.stopping:
                raise _Stopped
            log.warning("%s: no champion loaded yet, waiting", self.name)
            time.sleep(1.0)
            try:
                self.champion.refresh()
            except Exception as error:
                log.warning("%s: loading the champion failed: %s", self.name, error)
        return loaded

    def _labels_read(self, labels: list[Label]) -> None:
        self.state.add_labels(labels)
        self.metrics["fraud_stream_labels_applied_total"].inc(len(labels))
        if self.pusher is not None:
            self.dirty_terminals.update(label.terminal_id for label in labels)
            self.changed_since = min(self.changed_since, time.monotonic())

    def _dead_letter(self, record, reason: str) -> None:
        headers = [
            (DLQ_REASON, reason.encode()),
            (DLQ_TOPIC, record.topic.encode()),
            (DLQ_PARTITION, str(record.partition).encode()),
            (DLQ_OFFSET, str(record.offset).encode()),
        ]
        self.writer.send(
            self.settings.topic_dead_letter, key=record.key, value=record.value or b"", headers=headers
        )
        self.metrics["fraud_stream_events_dead_lettered_total"].labels(
            topic=record.topic, field=_field_of(reason)
        ).inc()

    # --- reporting ---

    def _report_lag(self) -> None:
        """Lag of every assigned partition: the fetch's high watermark minus the position read to."""
        lag = self.metrics["fraud_stream_consumer_lag_events"]
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                lag.labels(partition=str(tp.partition)).set(max(highwater - self.consumer.position(tp), 0))

    def _report_state(self) -> None:
        self._report_lag()
        if time.monotonic() - self.state_reported_at < STATE_REPORT_EVERY_S:
            return
        self.state_reported_at = time.monotonic()
        for entity, events in (("customer", self.state.customers), ("terminal", self.state.terminals)):
            self.metrics["fraud_stream_state_entities"].labels(entity=entity).set(len(events))
            self.metrics["fraud_stream_state_events"].labels(entity=entity).set(events.events())

    def _push_if_due(self, force: bool = False) -> None:
        """Hand the changed entities' lists to the online pusher every ``stream_push_interval_s``.

        Terminals are pushed by the consumer that owns the same-numbered transactions partition
        (labels and transactions have as many partitions), so each is written once; before this
        consumer owns any partition, changed terminals wait.
        """
        if self.pusher is None:
            return
        now = time.monotonic()
        if not force and now - self.last_push < self.settings.stream_push_interval_s:
            return
        self.last_push = now
        owned = {tp.partition for tp in self.consumer.assignment()}
        customers, terminals = self.state.customers, self.state.terminals
        snapshot = Snapshot(oldest_change=self.changed_since)
        for c in self.dirty_customers:
            snapshot.customers[c] = (list(customers.times.get(c, ())), list(customers.values.get(c, ())))
        if owned:
            for t in self.dirty_terminals:
                if self._labels_partition(t) in owned:
                    snapshot.terminals[t] = (
                        list(terminals.times.get(t, ())),
                        list(terminals.values.get(t, ())),
                    )
            self.dirty_terminals = set()
        self.dirty_customers = set()
        self.changed_since = float("inf") if not self.dirty_terminals else self.changed_since
        self.pusher.submit(snapshot)

    def _labels_partition(self, terminal_id: int) -> int:
        """The labels partition of a terminal (the default partitioner's rule on its key)."""
        return key_partition(str(terminal_id).encode(), max(len(self.labels.partitions), 1))
