"""The consumer's feature state: each customer's recent transactions and each terminal's labels.

Kept in memory as lists per entity and turned into window state with the shared functions
(``fraudcore.features``): the same windows as training, the real-time service and the batch job.
Customers live on the partition their events are keyed to (only that partition's consumer keeps
them); terminals' labels come from the labels topic, which every consumer reads whole.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Sequence

import numpy as np

from fraudcore.events import Label, Transaction
from fraudcore.features.customer import AMOUNT, customer_state
from fraudcore.features.definitions import CUSTOMER_HISTORY_DAYS, TERMINAL_HISTORY_DAYS, US_PER_DAY
from fraudcore.features.online import event_log_from_arrays
from fraudcore.features.request import request_feature_arrays
from fraudcore.features.terminal import FRAUD, terminal_state

CUSTOMER_KEEP_US = CUSTOMER_HISTORY_DAYS * US_PER_DAY
TERMINAL_KEEP_US = TERMINAL_HISTORY_DAYS * US_PER_DAY


class EntityEvents:
    """Per entity: event times (us, ascending) and one value per event, as ``array.array``s
    (``'q'``, ``'d'``): a batch's lists join into numpy arrays as bytes, not item by item."""

    def __init__(self, keep_us: int):
        self.keep_us = keep_us
        self.times: dict[int, array] = {}
        self.values: dict[int, array] = {}

    def __len__(self) -> int:
        return len(self.times)

    def events(self) -> int:
        return sum(len(t) for t in self.times.values())

    def add(self, entity: int, time_us: int, value: float) -> None:
        times = self.times.get(entity)
        if times is None:
            self.times[entity], self.values[entity] = array("q", (time_us,)), array("d", (value,))
            return
        values = self.values[entity]
        if times[-1] <= time_us:  # in order: the usual case
            times.append(time_us)
            values.append(value)
        else:  # late event: keep the lists sorted by time
            at = bisect.bisect_right(times, time_us)
            times.insert(at, time_us)
            values.insert(at, value)

    def prune(self, entities: Iterable[int], now_us: int) -> None:
        """Drop events of ``entities`` that no window of a request at or after ``now_us`` can see."""
        cutoff = now_us - self.keep_us
        for entity in entities:
            times = self.times.get(entity)
            if times is None or times[0] > cutoff:
                continue
            cut = bisect.bisect_right(times, cutoff)
            if cut == len(times):
                del self.times[entity], self.values[entity]
            else:
                del times[:cut], self.values[entity][:cut]

    def prune_all(self, now_us: int) -> None:
        self.prune(list(self.times), now_us)

    def drop(self, entities: Iterable[int]) -> None:
        for entity in entities:
            self.times.pop(entity, None)
            self.values.pop(entity, None)

    def lists_of(self, entities: Sequence[int]) -> tuple[list[array], list[array]]:
        """Each entity's time and value arrays (empty for an unknown entity)."""
        no_times, no_values = array("q"), array("d")
        return (
            [self.times.get(e, no_times) for e in entities],
            [self.values.get(e, no_values) for e in entities],
        )


class StreamState:
    """Customers' transactions (30 days) and terminals' labelled transactions (37 days)."""

    def __init__(self) -> None:
        self.customers = EntityEvents(CUSTOMER_KEEP_US)
        self.terminals = EntityEvents(TERMINAL_KEEP_US)

    def add_transactions(self, transactions: Sequence[Transaction]) -> None:
        add = self.customers.add
        for t in transactions:
            add(t.customer_id, t.time_us, t.amount)

    def add_labels(self, labels: Sequence[Label]) -> None:
        add = self.terminals.add
        for label in labels:
            add(label.terminal_id, label.time_us, float(label.fraud))

    def features(self, transactions: Sequence[Transaction]) -> dict[str, np.ndarray]:
        """The model's features of ``transactions`` at their own times (their own events must have
        been added: a window (t - w, t) leaves out the transaction at t and anything later)."""
        request_us = np.fromiter((t.time_us for t in transactions), np.int64, len(transactions))
        amounts = np.fromiter((t.amount for t in transactions), np.float64, len(transactions))
        customer_ids = [t.customer_id for t in transactions]
        terminal_ids = [t.terminal_id for t in transactions]
        state = {
            **_state_of(self.customers, customer_ids, request_us, AMOUNT, customer_state),
            **_state_of(self.terminals, terminal_ids, request_us, FRAUD, terminal_state),
        }
        return request_feature_arrays(amounts, request_us, state)

    def prune_all(self, now_us: int) -> None:
        """Drop every event no request at or after ``now_us`` can see (entities gone quiet too)."""
        self.customers.prune_all(now_us)
        self.terminals.prune_all(now_us)

    def prune(self, transactions: Sequence[Transaction], low_us: int | None = None) -> None:
        """Drop what later requests can no longer see, for the batch's entities: a customer's next
        transactions come after this batch's (one partition, in order); a terminal's may come from
        any partition, so only before ``low_us``, the earliest time any partition has reached
        (default: the batch's earliest, right when one partition is read)."""
        if not transactions:
            return
        now_us = min(t.time_us for t in transactions)
        self.customers.prune({t.customer_id for t in transactions}, now_us)
        self.terminals.prune({t.terminal_id for t in transactions}, now_us if low_us is None else low_us)


def _state_of(events: EntityEvents, ids: list[int], request_us: np.ndarray, name: str, state_function):
    """Window state of each request's entity: one event log of the batch's distinct entities."""
    distinct, position = np.unique(np.asarray(ids, np.int64), return_inverse=True)
    times, values = events.lists_of(distinct.tolist())
    log = event_log_from_arrays(times, values, name)
    return state_function(log, position.astype(np.int64), request_us)
