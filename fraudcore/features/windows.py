"""Exact time-window aggregates over an event log, for any number of (entity, instant) queries.

The one window engine of the platform: the offline feature job evaluates it at the instants a
state changes, the real-time service and the stream consumer at request time over the entity's
recent events from the online store, the batch job at each transaction's time. Sums are summed
element by element over each window (no running totals), so every path gets the same digits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from fraudcore.features.definitions import US_PER_DAY


def to_us(times: pd.Series | np.ndarray) -> np.ndarray:
    """Microseconds since the epoch of naive (UTC) datetimes."""
    return np.asarray(times, dtype="datetime64[ns]").astype(np.int64) // 1000


def run_starts(*keys: np.ndarray) -> np.ndarray:
    """For rows sorted by ``keys``: True where a row's keys differ from the previous row's."""
    if len(keys[0]) == 0:
        return np.zeros(0, bool)
    starts = np.empty(len(keys[0]), bool)
    starts[0] = True
    starts[1:] = keys[0][1:] != keys[0][:-1]
    for key in keys[1:]:
        starts[1:] |= key[1:] != key[:-1]
    return starts


def day_start_us(time_us: np.ndarray) -> np.ndarray:
    """Midnight (UTC) of each instant."""
    return time_us - np.mod(time_us, US_PER_DAY)


@dataclass(frozen=True)
class EventLog:
    """Events sorted by (entity, time), with value columns (amounts, labels...)."""

    entity: np.ndarray
    time_us: np.ndarray
    values: Mapping[str, np.ndarray]

    @classmethod
    def of(cls, entity: np.ndarray, time_us: np.ndarray, **values: np.ndarray) -> EventLog:
        entity, time_us = np.asarray(entity, np.int64), np.asarray(time_us, np.int64)
        order = np.lexsort((time_us, entity))
        columns = {name: np.asarray(column, np.float64)[order] for name, column in values.items()}
        return cls(entity[order], time_us[order], columns)

    @classmethod
    def of_sorted(cls, entity: np.ndarray, time_us: np.ndarray, **values: np.ndarray) -> EventLog:
        """``of`` for events that usually come sorted by (entity, time) already (per-entity lists):
        one linear check instead of a sort, and the sort only when the check fails."""
        entity, time_us = np.asarray(entity, np.int64), np.asarray(time_us, np.int64)
        step_entity, step_time = np.diff(entity), np.diff(time_us)
        if not ((step_entity > 0) | ((step_entity == 0) & (step_time >= 0))).all():
            return cls.of(entity, time_us, **values)
        return cls(entity, time_us, {name: np.asarray(column, np.float64) for name, column in values.items()})

    def __len__(self) -> int:
        return len(self.entity)

    @cached_property
    def _padded(self) -> dict[str, np.ndarray]:
        """Value columns with one trailing 0 (so a slice may end at the log's end for reduceat)."""
        return {name: np.append(np.asarray(column, np.float64), 0.0) for name, column in self.values.items()}

    @cached_property
    def _padded_times(self) -> np.ndarray:
        return np.append(self.time_us, 0)

    def where(self, keep: np.ndarray) -> EventLog:
        """The events where ``keep`` is true (still sorted)."""
        return EventLog(self.entity[keep], self.time_us[keep], {k: v[keep] for k, v in self.values.items()})

    @cached_property
    def _entities(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct entities and the index of each one's first event (plus the end)."""
        first = np.flatnonzero(run_starts(self.entity)) if len(self) else np.zeros(0, np.int64)
        return self.entity[first], np.append(first, len(self)).astype(np.int64)

    @cached_property
    def _search_keys(self) -> tuple[int, int, int, list[tuple[int, int, np.ndarray]]]:
        """(t0, t1, span, blocks): per block of entity ranks [start, end), the combined key
        rank_in_block * span + (time - t0 + 1) of its events, sorted. Blocks keep keys in 64 bits."""
        entities, first = self._entities
        t0, t1 = int(self.time_us.min()), int(self.time_us.max())
        span = t1 - t0 + 2  # query times are clipped to [t0 - 1, t1]: same answers, bounded keys
        block = max(1, (2**62) // span)
        blocks = []
        for start in range(0, len(entities), block):
            end = min(start + block, len(entities))
            rank = np.repeat(np.arange(end - start, dtype=np.int64), np.diff(first[start : end + 1]))
            blocks.append((start, end, rank * span + (self.time_us[first[start] : first[end]] - t0 + 1)))
        return t0, t1, span, blocks

    def events_up_to(self, entity: np.ndarray, time_us: np.ndarray) -> np.ndarray:
        """For each query, the index of the first event after (entity, time): events at ``time`` count.

        One binary search on a combined (entity rank, time) key, by blocks of entities small
        enough for the key to fit in 64 bits.
        """
        entity, time_us = np.asarray(entity, np.int64), np.asarray(time_us, np.int64)
        index = np.zeros(len(entity), np.int64)
        if len(self) == 0 or len(entity) == 0:
            return index
        entities, first = self._entities
        if len(entities) == 1:  # one entity's events (a single request's lists): search its times
            after = np.searchsorted(self.time_us, time_us, side="right")
            return np.where(entity == entities[0], after, np.where(entity < entities[0], 0, len(self)))
        rank = np.searchsorted(entities, entity)
        known = (rank < len(entities)) & (entities[np.minimum(rank, len(entities) - 1)] == entity)
        # An entity without events: an empty slice at the place it would take.
        index[~known] = first[rank[~known]]
        t0, t1, span, blocks = self._search_keys
        query_time = np.clip(time_us, t0 - 1, t1) - t0 + 1
        for start, end, event_key in blocks:
            asked = known if len(blocks) == 1 else known & (rank >= start) & (rank < end)
            query_key = (rank[asked] - start) * span + query_time[asked]
            index[asked] = first[start] + np.searchsorted(event_key, query_key, side="right")
        return index

    def windows(self, entity: np.ndarray, end_us: np.ndarray, widths_us: dict[int, int]) -> dict[int, Window]:
        """Per width w, the events of each query's entity with time in (end - w, end] (all window
        starts found in one search)."""
        entity, end_us = np.asarray(entity, np.int64), np.asarray(end_us, np.int64)
        hi = self.events_up_to(entity, end_us)
        widths = np.fromiter(widths_us.values(), np.int64, len(widths_us))
        starts = self.events_up_to(np.tile(entity, len(widths)), (end_us[None, :] - widths[:, None]).ravel())
        return {
            key: Window(self, lo, hi)
            for key, lo in zip(widths_us, starts.reshape(len(widths), -1), strict=True)
        }


class Window:
    """Per query, the slice ``lo:hi`` of an event log (empty when ``hi <= lo``)."""

    def __init__(self, log: EventLog, lo: np.ndarray, hi: np.ndarray):
        self.log, self.lo, self.hi = log, lo, hi
        self._count = np.maximum(hi - lo, 0)
        self._order: np.ndarray | None = None

    def count(self) -> np.ndarray:
        return self._count

    def sum(self, column: str, power: int = 1) -> np.ndarray:
        padded = self.log._padded[column]
        return self._reduce(np.add, padded if power == 1 else padded**power)

    def max(self, column: str) -> np.ndarray:
        """Largest value, 0 for an empty window (values are non-negative)."""
        return self._reduce(np.maximum, self.log._padded[column])

    def last_time(self) -> np.ndarray:
        """Time of the window's last event, 0 when empty."""
        return np.where(self._count > 0, self.log._padded_times[np.maximum(self.hi - 1, 0)], 0)

    def first_time(self) -> np.ndarray:
        """Time of the window's first event, 0 when empty."""
        return np.where(self._count > 0, self.log._padded_times[self.lo], 0)

    def _reduce(self, ufunc: np.ufunc, padded: np.ndarray) -> np.ndarray:
        """``ufunc`` over each slice, in element order; 0 when empty. ``padded``: the values with
        one trailing element, so a slice may end at the log's end.

        Slices are visited in order of their start so that ``reduceat`` also walks the gaps
        between them once: the cost is the windows' total length plus the log's.
        """
        m = len(self.lo)
        if m == 0:
            return np.zeros(0)
        if m == 1:  # one query (a real-time request): nothing to order
            bounds = np.array([self.lo[0], max(self.hi[0], self.lo[0])])
            return ufunc.reduceat(padded, bounds)[:1] if self._count[0] > 0 else np.zeros(1)
        if self._order is None:
            self._order = np.argsort(self.lo, kind="stable")
        order = self._order
        bounds = np.empty(2 * m, np.int64)
        bounds[0::2], bounds[1::2] = self.lo[order], np.maximum(self.hi[order], self.lo[order])
        reduced = ufunc.reduceat(padded, bounds)[0::2]
        out = np.empty(m)
        out[order] = reduced
        return np.where(self._count > 0, out, 0.0)
