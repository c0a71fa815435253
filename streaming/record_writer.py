"""The consumer's output writer: a micro-batch's records encoded straight into Kafka record batches.

``KafkaProducer.send`` spends ~25 us of Python per record (a future, the accumulator's locks, size
estimates, metadata checks); encoding the same record into the record-batch format costs ~2 us.
The consumer writes each micro-batch's outputs and waits for them before committing anyway, so it
needs none of that per-record machinery: ``RecordWriter`` buffers records per partition (the default
partitioner's rule, so keys land where a ``KafkaProducer`` puts them), and ``flush`` sends one
produce request per broker (``acks=all``), retries what the broker calls retriable after a metadata
refresh, and raises anything else. It is not thread-safe: one consumer loop uses it.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict, deque

import kafka.errors as errors
from kafka.net.compat import KafkaNetClient
from kafka.partitioner.default import murmur2
from kafka.protocol.producer import ProduceRequest
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.structs import TopicPartition

log = logging.getLogger(__name__)

#: A record batch is closed at this size; a partition's later records go in the next one.
BATCH_BYTES = 512 * 1024
ACKS_ALL = -1
RETRY_BACKOFF_S = 0.1

_Topic = ProduceRequest.TopicProduceData
_Partition = _Topic.PartitionProduceData


def key_partition(key: bytes | None, partitions: int) -> int:
    """The partition kafka-python's (and Java's) default partitioner gives a key (no key: any)."""
    if key is None:
        return random.randrange(partitions)
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class _OpenBatch:
    """The record batch a partition's records are appended to, and the next offset delta in it."""

    def __init__(self) -> None:
        self.builder = DefaultRecordBatchBuilder(
            magic=2,
            compression_type=0,
            is_transactional=False,
            producer_id=-1,
            producer_epoch=-1,
            base_sequence=-1,
            batch_size=BATCH_BYTES,
        )
        self.records = 0

    def append(self, timestamp_ms: int, key: bytes | None, value: bytes, headers: list) -> bool:
        """False when the batch is full (it always takes its first record)."""
        if self.builder.append(self.records, timestamp_ms, key, value, headers) is None:
            return False
        self.records += 1
        return True


class RecordWriter:
    """Buffered, acknowledged writes of keyed records, flushed by the caller."""

    def __init__(self, bootstrap_servers: str, client_id: str, timeout_s: float = 60.0):
        self.client = KafkaNetClient(
            bootstrap_servers=bootstrap_servers.split(","),
            client_id=client_id,
            # above the broker's own wait for acks (the request's timeout_ms): the client must not
            # give up on a slow acknowledged write and send it again
            request_timeout_ms=int(timeout_s * 1000) + 5000,
        )
        self.timeout_s = timeout_s
        self.partitions: dict[str, list[int]] = {}
        self.open: dict[TopicPartition, _OpenBatch] = {}
        self.closed: dict[TopicPartition, deque[bytes]] = defaultdict(deque)
        self.buffered = 0

    def send(self, topic: str, key: bytes | None, value: bytes, headers: list | None = None) -> None:
        """Buffer one record (timestamped now) for ``flush``."""
        partitions = self.partitions.get(topic) or self._partitions_of(topic)
        tp = TopicPartition(topic, partitions[key_partition(key, len(partitions))])
        now_ms = int(time.time() * 1000)
        batch = self.open.get(tp)
        if batch is None:
            batch = self.open[tp] = _OpenBatch()
        if not batch.append(now_ms, key, value, headers or []):
            self.closed[tp].append(bytes(batch.builder.build()))
            batch = self.open[tp] = _OpenBatch()
            batch.append(now_ms, key, value, headers or [])
        self.buffered += 1

    def flush(self, timeout_s: float | None = None) -> int:
        """Write every buffered record and wait for the brokers' acknowledgement; the count written.

        A partition takes one record batch per request, so a partition with several waits for the
        next round. Raises ``KafkaError`` on a non-retriable error or after ``timeout_s`` (default:
        the writer's).
        """
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        for tp, batch in self.open.items():
            self.closed[tp].append(bytes(batch.builder.build()))
        self.open.clear()
        written, deadline = self.buffered, time.monotonic() + timeout_s
        while self.closed:
            if time.monotonic() > deadline:
                unwritten = sorted(self.closed)
                raise errors.KafkaTimeoutError(f"records of {unwritten} not written in {timeout_s} s")
            if not self._write_round():
                time.sleep(RETRY_BACKOFF_S)
                self.client.poll(timeout_ms=1000, future=self.client.cluster.request_update())
        self.buffered = 0
        return written

    def discard(self) -> None:
        """Drop everything buffered (a batch that will not be committed, so will be read again)."""
        self.open.clear()
        self.closed.clear()
        self.buffered = 0

    def close(self) -> None:
        self.client.close()

    # --- internals ---

    def _partitions_of(self, topic: str) -> list[int]:
        """The topic's partitions, from the cluster's metadata (fetched once per topic)."""
        cluster, deadline = self.client.cluster, time.monotonic() + self.timeout_s
        cluster.add_topic(topic)
        while (known := cluster.partitions_for_topic(topic)) is None:
            if time.monotonic() > deadline:
                raise errors.KafkaTimeoutError(f"no metadata for topic {topic} in {self.timeout_s} s")
            self.client.poll(timeout_ms=1000, future=cluster.request_update())
        self.partitions[topic] = sorted(known)
        return self.partitions[topic]

    def _write_round(self) -> bool:
        """Send each partition's oldest batch, one request per leader; False if a retry is due."""
        by_leader: dict[int, list[TopicPartition]] = defaultdict(list)
        for tp in self.closed:
            leader = self.client.cluster.leader_for_partition(tp)
            if leader is None or leader == -1:
                return False
            by_leader[leader].append(tp)
        pending, clean = [], True
        for leader, tps in by_leader.items():
            topics: dict[str, list] = defaultdict(list)
            for tp in tps:
                topics[tp.topic].append(_Partition(index=tp.partition, records=self.closed[tp][0]))
            request = ProduceRequest(
                transactional_id=None,
                acks=ACKS_ALL,
                timeout_ms=int(self.timeout_s * 1000),
                topic_data=[_Topic(name=name, partition_data=parts) for name, parts in topics.items()],
                min_version=3,  # record batches (magic 2)
                max_version=9,
            )
            try:
                self.client.await_ready(leader, timeout_ms=int(self.timeout_s * 1000))
            except errors.KafkaError as error:
                log.warning("broker %s not ready: %s", leader, error)
                clean = False
                continue
            pending.append(self.client.send(leader, request))
        for future in pending:
            self.client.poll(timeout_ms=int(self.timeout_s * 1000), future=future)
            if not future.is_done or future.failed():
                timed_out = errors.KafkaTimeoutError("no produce response")
                error = future.exception if future.is_done else timed_out
                if not getattr(error, "retriable", False):
                    raise error
                log.warning("produce request failed, retrying: %s", error)
                clean = False
                continue
            clean &= self._settle(future.value)
        return clean

    def _settle(self, response) -> bool:
        """Drop the batches the brokers took; raise a non-retriable error; False if one must retry."""
        clean = True
        for topic in response.responses:
            for part in topic.partition_responses:
                tp = TopicPartition(topic.name, part.index)
                if part.error_code == 0:
                    self.closed[tp].popleft()
                    if not self.closed[tp]:
                        del self.closed[tp]
                    continue
                error = errors.for_code(part.error_code)
                if not error.retriable:
                    raise error(f"{tp}: {part.error_message or ''}")
                log.warning("writing %s failed, retrying: %s", tp, error.__name__)
                clean = False
        return clean
