"""Objects every platform path expects to exist: buckets and Kafka topics."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from fraudcore.settings import Settings
from fraudcore.storage import ensure_buckets

T = TypeVar("T")


def retry(action: Callable[[], T], what: str, timeout_s: float = 30.0) -> T:
    """Call ``action`` until it succeeds or ``timeout_s`` passes.

    Servers accept requests a little after they start listening.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return action()
        except Exception as error:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} failed: {error}") from error
            time.sleep(0.5)


def create_buckets(settings: Settings) -> list[str]:
    """Create the platform's buckets; return those that were new."""
    return retry(lambda: ensure_buckets(settings.buckets, settings), "creating buckets")


def create_topics(settings: Settings) -> list[str]:
    """Create the platform's topics with ``kafka_partitions`` partitions; return those that were new."""

    def create() -> list[str]:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=10_000
        )
        try:
            existing = set(admin.list_topics())
            created = []
            for topic in settings.topics:
                if topic in existing:
                    continue
                try:
                    admin.create_topics([NewTopic(topic, settings.kafka_partitions, 1)])
                    created.append(topic)
                except TopicAlreadyExistsError:
                    pass
            return created
        finally:
            admin.close()

    return retry(create, "creating Kafka topics")
