"""Leaving the consumer group only from a stable generation.

Tansu 0.6 keeps a group's leader when its last member leaves in the middle of a rebalance: every
member that joins afterwards is told that leader, waits in SyncGroup for an assignment the gone
leader never sends, and gets "rebalance in progress" again, for ever (seen with two consumers
stopped one after the other, as ``python -m infra.local down stream`` does: the second left while
the group rebalanced after the first; a broker restart cleared it). A member killed instead
expires with its session, and the group recovers. So before a consumer leaves, it lets a
rebalance under way finish: it polls with every partition paused (partitions assigned meanwhile
are paused as they arrive; nothing is scored, nothing committed) until it has been a stable
member for longer than a heartbeat interval, the time the broker takes to tell it of a
rebalance; bounded, then it leaves anyway. On Apache Kafka this only delays a shutdown by about
a heartbeat. Not covered: members stopped within one heartbeat of each other, where the first
may settle before the broker tells it of the second's rebalance.
"""

from __future__ import annotations

import logging
import time

from kafka import KafkaConsumer
from kafka.structs import MemberState

log = logging.getLogger(__name__)


def settle_before_leaving(consumer: KafkaConsumer, stable_for_s: float, timeout_s: float) -> bool:
    """Poll (every partition paused) until the member has been stable for ``stable_for_s``; False
    when ``timeout_s`` passed first. Records a poll may still return are dropped: their offsets
    are not committed, so the partition's next owner reads them."""
    coordinator = consumer._coordinator  # kafka-python keeps the member's state there, not public
    if coordinator.coordinator_unknown():  # no broker to leave: nothing to wait for
        return False
    deadline = time.monotonic() + timeout_s
    stable_since = None
    while time.monotonic() < deadline:
        consumer.pause(*consumer.assignment())
        consumer.poll(timeout_ms=100)
        stable = coordinator.state == MemberState.STABLE and not coordinator.need_rejoin()
        now = time.monotonic()
        if not stable:
            stable_since = None
        elif stable_since is None:
            stable_since = now
        elif now - stable_since >= stable_for_s:
            return True
    log.warning("the group was still rebalancing after %.0f s: leaving anyway", timeout_s)
    return False
