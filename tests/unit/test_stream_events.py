"""Kafka events: what the producer writes parses back; each malformed event is named by its field."""

from __future__ import annotations

import orjson
import pytest

from fraudcore.events import InvalidEvent, label_event, parse_label, parse_transaction, transaction_event

GOOD = {
    "schema_version": 1,
    "transaction_id": 7,
    "tx_datetime": "2018-08-08T10:15:02.000001",
    "customer_id": 12,
    "terminal_id": 345,
    "tx_amount": 57.19,
}


def test_round_trip():
    event = transaction_event(7, 1_533_723_302_000_001, 12, 345, 57.19)
    parsed = parse_transaction(event)
    assert (parsed.transaction_id, parsed.time_us, parsed.customer_id, parsed.terminal_id, parsed.amount) == (
        7,
        1_533_723_302_000_001,
        12,
        345,
        57.19,
    )
    assert parse_transaction(orjson.dumps(GOOD)) == parsed
    label = parse_label(label_event(7, 1_533_723_302_000_001, 345, 1))
    assert (label.transaction_id, label.time_us, label.terminal_id, label.fraud) == (
        7,
        1_533_723_302_000_001,
        345,
        1,
    )


def test_a_zone_aware_time_is_read_as_utc():
    parsed = parse_transaction(orjson.dumps({**GOOD, "tx_datetime": "2018-08-08T12:15:02.000001+02:00"}))
    assert parsed.time_us == 1_533_723_302_000_001


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (None, "expected a JSON object"),
        (orjson.dumps({**GOOD, "schema_version": 2}), "schema_version"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "schema_version"}), "schema_version"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "customer_id"}), "customer_id: missing"),
        (orjson.dumps({**GOOD, "terminal_id": "345"}), "terminal_id: expected an integer"),
        (orjson.dumps({**GOOD, "transaction_id": 7.5}), "transaction_id: expected an integer"),
        (orjson.dumps({**GOOD, "customer_id": True}), "customer_id: expected an integer"),
        (orjson.dumps({**GOOD, "tx_amount": -1.0}), "tx_amount: must be a finite number >= 0"),
        (orjson.dumps({**GOOD, "tx_amount": "12"}), "tx_amount: expected a number"),
        (orjson.dumps({**GOOD, "tx_datetime": "yesterday"}), "tx_datetime: 'yesterday' is not an ISO-8601"),
        (orjson.dumps({**GOOD, "tx_datetime": 1533723302}), "tx_datetime: expected an ISO-8601 string"),
    ],
)
def test_malformed_events_name_the_field(raw, field):
    with pytest.raises(InvalidEvent) as error:
        parse_transaction(raw)
    assert str(error.value).startswith(field), str(error.value)


def test_a_label_must_be_0_or_1():
    with pytest.raises(InvalidEvent, match="tx_fraud: must be 0 or 1"):
        parse_label(orjson.dumps({**GOOD, "tx_fraud": 2}))
