"""Online state: each entity's recent events, from which the request step computes its windows.

The online store keeps, per customer, the times and amounts of its transactions in the longest
window, and per terminal the times and labels of its transactions whose labels are known and
still inside the longest delayed window. ``state_from_event_lists`` turns what a lookup returns
into window state with the same functions as the offline rows.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from itertools import chain

import numpy as np
import pandas as pd

from fraudcore.features.customer import AMOUNT, customer_events, customer_state
from fraudcore.features.definitions import (
    CUSTOMER_EVENT_AMOUNTS,
    CUSTOMER_EVENT_TIMES,
    CUSTOMER_EVENTS,
    CUSTOMER_HISTORY_DAYS,
    CUSTOMER_KEY,
    EVENT_TIMESTAMP,
    MAX_ONLINE_EVENTS,
    TERMINAL_EVENT_FRAUDS,
    TERMINAL_EVENT_TIMES,
    TERMINAL_EVENTS,
    TERMINAL_HISTORY_DAYS,
    TERMINAL_KEY,
    US_PER_DAY,
)
from fraudcore.features.terminal import DELAY_US, FRAUD, terminal_events, terminal_state
from fraudcore.features.windows import EventLog, run_starts, to_us


def _lists(events: EventLog, keep: np.ndarray, key: str, times: str, values: str, value: str) -> pd.DataFrame:
    """One row per entity: its kept events' times and values, stamped at its last kept event."""
    entity, time_us, column = events.entity[keep], events.time_us[keep], events.values[value][keep]
    if len(entity) == 0:
        return pd.DataFrame(columns=[key, EVENT_TIMESTAMP, times, values])
    starts = np.flatnonzero(run_starts(entity))
    ends = np.r_[starts[1:], len(entity)]
    first = np.maximum(starts, ends - MAX_ONLINE_EVENTS)
    cut = int((first > starts).sum())
    if cut:
        print(f"warning: {cut} {key} histories longer than {MAX_ONLINE_EVENTS} events were cut")
    return pd.DataFrame(
        {
            key: entity[starts],
            EVENT_TIMESTAMP: pd.to_datetime(time_us[ends - 1], unit="us", utc=True),
            times: [time_us[a:b].tolist() for a, b in zip(first, ends, strict=True)],
            values: [column[a:b].tolist() for a, b in zip(first, ends, strict=True)],
        }
    )


def customer_event_lists(transactions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Each customer's transactions in the longest window up to ``as_of``, stamped at its last one."""
    events = customer_events(transactions)
    end = int(to_us([as_of])[0])
    keep = (events.time_us <= end) & (events.time_us > end - CUSTOMER_HISTORY_DAYS * US_PER_DAY)
    lists = _lists(events, keep, CUSTOMER_KEY, CUSTOMER_EVENT_TIMES, CUSTOMER_EVENT_AMOUNTS, AMOUNT)
    return lists


def terminal_event_lists(transactions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Each terminal's transactions whose labels are known at ``as_of`` and still inside the longest
    delayed window, stamped when its last label arrived. Younger labels are left out."""
    events = terminal_events(transactions)
    end = int(to_us([as_of])[0])
    known = events.time_us + DELAY_US <= end
    keep = known & (events.time_us > end - TERMINAL_HISTORY_DAYS * US_PER_DAY)
    lists = _lists(events, keep, TERMINAL_KEY, TERMINAL_EVENT_TIMES, TERMINAL_EVENT_FRAUDS, FRAUD)
    if len(lists):
        lists[EVENT_TIMESTAMP] = lists[EVENT_TIMESTAMP] + pd.Timedelta(microseconds=DELAY_US)
        lists[TERMINAL_EVENT_FRAUDS] = [[int(v) for v in frauds] for frauds in lists[TERMINAL_EVENT_FRAUDS]]
    return lists


def event_log_from_lists(times: Sequence, values: Sequence, name: str) -> EventLog:
    """An event log whose entity is the position of each list (a missing list, None or NaN, has no
    events): what an online lookup returns."""
    times = [t if isinstance(t, list | np.ndarray) else () for t in times]  # None or NaN: no list
    values = [v if isinstance(v, list | np.ndarray) else () for v in values]
    lengths = np.fromiter((len(t) for t in times), np.int64, len(times))
    total = int(lengths.sum())
    flat_times = np.fromiter(chain.from_iterable(times), np.int64, total)
    flat_values = np.fromiter(chain.from_iterable(values), np.float64, total)
    return EventLog.of_sorted(np.repeat(np.arange(len(times)), lengths), flat_times, **{name: flat_values})


def event_log_from_arrays(times: Sequence[array], values: Sequence[array], name: str) -> EventLog:
    """``event_log_from_lists`` for ``array.array`` lists (``'q'`` times, ``'d'`` values, as the
    stream keeps its state): joined as bytes instead of item by item."""
    lengths = np.fromiter((len(t) for t in times), np.int64, len(times))
    flat_times = np.frombuffer(b"".join(times), np.int64)
    flat_values = np.frombuffer(b"".join(values), np.float64)
    if len(flat_values) != len(flat_times) or len(flat_times) != int(lengths.sum()):
        raise ValueError("event arrays: not 'q' times and 'd' values of the same lengths")
    return EventLog.of_sorted(np.repeat(np.arange(len(times)), lengths), flat_times, **{name: flat_values})


def state_from_event_arrays(lists: Mapping[str, Sequence], request_us: np.ndarray) -> dict[str, np.ndarray]:
    """Window state of requests from the event lists a lookup returned (one list per request and
    column, ``None`` when the entity has none), computed by the same functions as the offline rows."""
    rows = np.arange(len(request_us))
    customers = event_log_from_lists(lists[CUSTOMER_EVENT_TIMES], lists[CUSTOMER_EVENT_AMOUNTS], AMOUNT)
    terminals = event_log_from_lists(lists[TERMINAL_EVENT_TIMES], lists[TERMINAL_EVENT_FRAUDS], FRAUD)
    return {**customer_state(customers, rows, request_us), **terminal_state(terminals, rows, request_us)}


def state_from_event_lists(lookups: pd.DataFrame) -> pd.DataFrame:
    """Window state of requests (``TX_DATETIME``) from the event lists an online lookup returned."""
    lists = {name: lookups[name].tolist() for name in [*CUSTOMER_EVENTS, *TERMINAL_EVENTS]}
    state = state_from_event_arrays(lists, to_us(lookups["TX_DATETIME"]))
    return pd.DataFrame(state, index=lookups.index)
