"""Window states of customers and terminals, and the offline rows that record them exactly.

A window state is piecewise constant in request time: it changes only when a transaction enters
or leaves a window. The offline table holds one row per entity at each such instant, plus one at
every midnight while the state is not empty, each stamped one microsecond before the first
request it applies to. A point-in-time lookup at ``t - 1 us`` therefore returns the exact state
for a request at t, however long after the entity's last transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fraudcore.features.customer import (
    CUSTOMER_ACTIVE_DAYS,
    CUSTOMER_CHANGE_OFFSETS_US,
    customer_events,
    customer_state,
)
from fraudcore.features.definitions import (
    CUSTOMER_KEY,
    CUSTOMER_STATE,
    CUSTOMER_WINDOWS_VIEW,
    EVENT_TIMESTAMP,
    TERMINAL_KEY,
    TERMINAL_STATE,
    TERMINAL_WINDOWS_VIEW,
    US_PER_DAY,
)
from fraudcore.features.terminal import (
    TERMINAL_ACTIVE_DAYS,
    TERMINAL_CHANGE_OFFSETS_US,
    terminal_events,
    terminal_state,
)
from fraudcore.features.windows import EventLog, run_starts

#: A lookup for a request at t reads the state stamped at or before t minus this.
LOOKUP_BEFORE_US = 1


@dataclass(frozen=True)
class EntityWindows:
    """How one entity's window state is computed and when it changes."""

    view: str
    key: str
    columns: list[str]
    events: Callable[[pd.DataFrame], EventLog]
    state: Callable[[EventLog, np.ndarray, np.ndarray], dict[str, np.ndarray]]
    change_offsets_us: tuple[int, ...]
    active_days: tuple[int, int]

    def instants(self, events: EventLog) -> tuple[np.ndarray, np.ndarray]:
        """(entity, request time) pairs where the state changes, and every midnight it may be non-empty."""
        offsets = np.asarray(self.change_offsets_us, np.int64)
        change_entity = np.tile(events.entity, len(offsets))
        change_time = (events.time_us[None, :] + offsets[:, None]).ravel()
        midnight_entity, midnight_time = _active_midnights(events, *self.active_days)
        return np.r_[change_entity, midnight_entity], np.r_[change_time, midnight_time]


CUSTOMER_WINDOWS = EntityWindows(
    CUSTOMER_WINDOWS_VIEW,
    CUSTOMER_KEY,
    CUSTOMER_STATE,
    customer_events,
    customer_state,
    CUSTOMER_CHANGE_OFFSETS_US,
    CUSTOMER_ACTIVE_DAYS,
)
TERMINAL_WINDOWS = EntityWindows(
    TERMINAL_WINDOWS_VIEW,
    TERMINAL_KEY,
    TERMINAL_STATE,
    terminal_events,
    terminal_state,
    TERMINAL_CHANGE_OFFSETS_US,
    TERMINAL_ACTIVE_DAYS,
)
ENTITY_WINDOWS = (CUSTOMER_WINDOWS, TERMINAL_WINDOWS)


def _active_midnights(events: EventLog, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """(entity, midnight) for the days ``first .. last`` after each event's day, without repeats."""
    if len(events) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    day = events.time_us // US_PER_DAY
    keep = run_starts(events.entity, day)
    entity, day = events.entity[keep], day[keep]
    # Merge the day ranges [d + first, d + last] of one entity that touch or overlap.
    gap = np.r_[0, np.diff(day)] > last - first + 1
    starts_run = run_starts(entity) | gap
    run_first = day[starts_run] + first
    run_last = day[np.r_[starts_run[1:], True]] + last
    lengths = run_last - run_first + 1
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(entity[starts_run], lengths), (np.repeat(run_first, lengths) + offsets) * US_PER_DAY


def state_rows(spec: EntityWindows, transactions: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The offline rows of ``spec`` stamped on the days ``start .. end``.

    ``transactions`` must hold every transaction up to the end of ``end`` that these windows can
    see (``LOOKBACK_DAYS`` before ``start``); rows are stamped ``request time - 1 us``.
    """
    events = spec.events(transactions)
    entity, request_us = spec.instants(events)
    first_us = _day_us(start) + LOOKUP_BEFORE_US
    last_us = _day_us(end + dt.timedelta(days=1)) + LOOKUP_BEFORE_US
    inside = (request_us >= first_us) & (request_us < last_us)
    entity, request_us = entity[inside], request_us[inside]
    order = np.lexsort((request_us, entity))
    entity, request_us = entity[order], request_us[order]
    unique = run_starts(entity, request_us)
    entity, request_us = entity[unique], request_us[unique]
    state = spec.state(events, entity, request_us)
    stamps = pd.to_datetime(request_us - LOOKUP_BEFORE_US, unit="us", utc=True)
    frame = pd.DataFrame({spec.key: entity, EVENT_TIMESTAMP: stamps, **state})
    return frame[[spec.key, EVENT_TIMESTAMP, *spec.columns]]


def _day_us(day: dt.date) -> int:
    return int(pd.Timestamp(day).value // 1000)
