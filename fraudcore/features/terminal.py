"""Terminal risk windows: the terminal's labelled transactions in (t - delay - w, t - delay]."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraudcore.features.definitions import (
    LABEL_DELAY_DAYS,
    TERMINAL_FIRST_FRAUD,
    TERMINAL_HISTORY_DAYS,
    TERMINAL_KEY,
    TERMINAL_TX_SINCE_FIRST_FRAUD,
    TERMINAL_WINDOWS_DAYS,
    US_PER_DAY,
)
from fraudcore.features.windows import EventLog, Window, to_us
from fraudcore.schema import LABEL

FRAUD = "fraud"
DELAY_US = LABEL_DELAY_DAYS * US_PER_DAY


def terminal_events(transactions: pd.DataFrame) -> EventLog:
    """The terminals' transactions as an event log (labels)."""
    return EventLog.of(
        transactions[TERMINAL_KEY].to_numpy(),
        to_us(transactions["TX_DATETIME"]),
        fraud=transactions[LABEL].to_numpy(),
    )


def terminal_state(events: EventLog, terminal: np.ndarray, request_us: np.ndarray) -> dict[str, np.ndarray]:
    """Window state of ``terminal`` for a request at ``request_us``: transactions and frauds among
    its transactions in (t - delay - w, t - delay], whose labels are at least ``delay`` old; the
    time of the first of those frauds in the longest window, and the transactions from it on."""
    known_until = np.asarray(request_us, np.int64) - DELAY_US
    widths = {w: w * US_PER_DAY for w in TERMINAL_WINDOWS_DAYS}
    windows = events.windows(terminal, known_until, widths)
    state = {f"terminal_tx_count_{w}d": window.count() for w, window in windows.items()}
    state.update({f"terminal_fraud_count_{w}d": window.sum(FRAUD) for w, window in windows.items()})
    longest = max(TERMINAL_WINDOWS_DAYS)
    frauds = events.where(events.values[FRAUD] > 0)
    first = frauds.windows(terminal, known_until, {longest: widths[longest]})[longest].first_time()
    since_first = Window(events, events.events_up_to(terminal, first - 1), windows[longest].hi)
    state[TERMINAL_FIRST_FRAUD] = first
    state[TERMINAL_TX_SINCE_FIRST_FRAUD] = np.where(first > 0, since_first.count(), 0)
    return state


#: Request-time offsets after a transaction at e at which its terminal's state changes: its label
#: counts from e + delay and leaves window w at e + delay + w.
TERMINAL_CHANGE_OFFSETS_US = (DELAY_US, *(DELAY_US + w * US_PER_DAY for w in TERMINAL_WINDOWS_DAYS))
#: Days after a transaction's day whose midnight may see it in a window.
TERMINAL_ACTIVE_DAYS = (LABEL_DELAY_DAYS, TERMINAL_HISTORY_DAYS + 1)
