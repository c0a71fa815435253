"""Customer spending windows: the customer's transactions in (t - w, t) for a request at time t."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraudcore.features.definitions import (
    CUSTOMER_HISTORY_DAYS,
    CUSTOMER_KEY,
    CUSTOMER_LAST_TX,
    MAX_WINDOWS_DAYS,
    STD_WINDOWS_DAYS,
    US_PER_DAY,
    WINDOWS_DAYS,
)
from fraudcore.features.windows import EventLog, to_us

AMOUNT = "amount"


def customer_events(transactions: pd.DataFrame) -> EventLog:
    """The customers' transactions as an event log (amounts)."""
    return EventLog.of(
        transactions[CUSTOMER_KEY].to_numpy(),
        to_us(transactions["TX_DATETIME"]),
        amount=transactions["TX_AMOUNT"].to_numpy(),
    )


def customer_state(events: EventLog, customer: np.ndarray, request_us: np.ndarray) -> dict[str, np.ndarray]:
    """Window state of ``customer`` for a request at ``request_us``: its transactions in (t - w, t).

    The transaction being scored is not part of it (the request step adds it); transactions of
    the same customer in the same microsecond are not either.
    """
    before = np.asarray(request_us, np.int64) - 1
    # (t - w, t) is (t - w, t - 1 us] on the microsecond grid.
    windows = events.windows(customer, before, {w: w * US_PER_DAY - 1 for w in WINDOWS_DAYS})
    state: dict[str, np.ndarray] = {}
    for w, window in windows.items():
        state[f"customer_tx_count_{w}d"] = window.count()
    for w, window in windows.items():
        state[f"customer_amount_sum_{w}d"] = window.sum(AMOUNT)
    for w in STD_WINDOWS_DAYS:
        state[f"customer_amount_sumsq_{w}d"] = windows[w].sum(AMOUNT, power=2)
    for w in MAX_WINDOWS_DAYS:
        state[f"customer_amount_max_{w}d"] = windows[w].max(AMOUNT)
    state[CUSTOMER_LAST_TX] = windows[CUSTOMER_HISTORY_DAYS].last_time()
    return state


#: Request-time offsets after a transaction at e at which its customer's state changes: it enters
#: every window just after e and leaves window w at e + w.
CUSTOMER_CHANGE_OFFSETS_US = (1, *(w * US_PER_DAY for w in WINDOWS_DAYS))
#: Days after a transaction's day whose midnight may see it in a window.
CUSTOMER_ACTIVE_DAYS = (1, CUSTOMER_HISTORY_DAYS + 1)
