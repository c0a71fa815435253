"""The Kafka events of the platform: transactions, their labels and their scores, as JSON.

One definition for the producer, the stream consumer and the tests. A transaction event is

    {"schema_version": 1, "transaction_id": 7, "tx_datetime": "2018-08-08T10:15:02.000001",
     "customer_id": 12, "terminal_id": 345, "tx_amount": 57.19}

keyed by customer id (one customer's events stay in order on one partition). Its label
(``tx_fraud``) is published on the labels topic ``LABEL_DELAY_DAYS`` later, keyed by terminal id.
Times are naive UTC ISO-8601 strings with up to microseconds.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import orjson

from fraudcore.features.definitions import US_PER_SECOND

SCHEMA_VERSION = 1
EPOCH = dt.datetime(1970, 1, 1)
#: Header names of a dead-lettered event.
DLQ_REASON, DLQ_TOPIC, DLQ_PARTITION, DLQ_OFFSET = (
    "reason",
    "source_topic",
    "source_partition",
    "source_offset",
)


class InvalidEvent(ValueError):
    """An event that cannot be scored; ``str()`` names the field and the rule."""


@dataclass(frozen=True, slots=True)
class Transaction:
    transaction_id: int
    time_us: int  # microseconds since the epoch (UTC)
    customer_id: int
    terminal_id: int
    amount: float


@dataclass(frozen=True, slots=True)
class Label:
    transaction_id: int
    time_us: int  # the transaction's time, not the label's
    terminal_id: int
    fraud: int


def to_iso(time_us: int) -> str:
    return (EPOCH + dt.timedelta(microseconds=int(time_us))).isoformat()


def _time_us(value: object, field: str) -> int:
    if not isinstance(value, str):
        raise InvalidEvent(f"{field}: expected an ISO-8601 string, got {type(value).__name__}")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEvent(f"{field}: {value[:40]!r} is not an ISO-8601 time") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    delta = parsed - EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_SECOND + delta.microseconds


def _integer(event: dict, field: str) -> int:
    value = event.get(field)
    if value is None:
        raise InvalidEvent(f"{field}: missing")
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidEvent(f"{field}: expected an integer, got {type(value).__name__}")
    if value < 0:
        raise InvalidEvent(f"{field}: must be >= 0, got {value}")
    return value


def _decode(raw: bytes | None) -> dict:
    try:
        event = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError as error:
        raise InvalidEvent(f"not JSON: {error}") from None
    if not isinstance(event, dict):
        raise InvalidEvent(f"expected a JSON object, got {type(event).__name__}")
    version = event.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InvalidEvent(f"schema_version: {version!r} is not a known version (expected {SCHEMA_VERSION})")
    return event


def parse_transaction(raw: bytes | None) -> Transaction:
    """A transaction event's fields, checked; :class:`InvalidEvent` names what is wrong."""
    event = _decode(raw)
    if "tx_datetime" not in event:
        raise InvalidEvent("tx_datetime: missing")
    time_us = _time_us(event["tx_datetime"], "tx_datetime")
    amount = event.get("tx_amount")
    if amount is None:
        raise InvalidEvent("tx_amount: missing")
    if not isinstance(amount, int | float) or isinstance(amount, bool):
        raise InvalidEvent(f"tx_amount: expected a number, got {type(amount).__name__}")
    if not math.isfinite(amount) or amount < 0:
        raise InvalidEvent(f"tx_amount: must be a finite number >= 0, got {amount}")
    return Transaction(
        _integer(event, "transaction_id"),
        time_us,
        _integer(event, "customer_id"),
        _integer(event, "terminal_id"),
        float(amount),
    )


def parse_label(raw: bytes | None) -> Label:
    event = _decode(raw)
    if "tx_datetime" not in event:
        raise InvalidEvent("tx_datetime: missing")
    fraud = _integer(event, "tx_fraud")
    if fraud not in (0, 1):
        raise InvalidEvent(f"tx_fraud: must be 0 or 1, got {fraud}")
    return Label(
        _integer(event, "transaction_id"),
        _time_us(event["tx_datetime"], "tx_datetime"),
        _integer(event, "terminal_id"),
        fraud,
    )


def transaction_event(
    transaction_id: int, time_us: int, customer_id: int, terminal_id: int, amount: float
) -> bytes:
    return orjson.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "transaction_id": int(transaction_id),
            "tx_datetime": to_iso(time_us),
            "customer_id": int(customer_id),
            "terminal_id": int(terminal_id),
            "tx_amount": float(amount),
        }
    )


def label_event(transaction_id: int, time_us: int, terminal_id: int, fraud: int) -> bytes:
    return orjson.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "transaction_id": int(transaction_id),
            "tx_datetime": to_iso(time_us),
            "terminal_id": int(terminal_id),
            "tx_fraud": int(fraud),
        }
    )


def score_event(
    transaction: Transaction,
    probability: float,
    decision: str,
    model_name: str,
    version: str,
    scored_at_us: int,
) -> bytes:
    """The value written to the scores topic (and the alerts topic), keyed by transaction id."""
    return orjson.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "transaction_id": transaction.transaction_id,
            "tx_datetime": to_iso(transaction.time_us),
            "customer_id": transaction.customer_id,
            "terminal_id": transaction.terminal_id,
            "tx_amount": transaction.amount,
            "fraud_probability": float(probability),
            "decision": decision,
            "model_name": model_name,
            "model_version": version,
            "scored_at": to_iso(scored_at_us),
        }
    )
