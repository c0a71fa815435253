"""Terminal risk: number of transactions and fraud rate over 1, 7 and 30 days, from delayed labels only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraudcore.features.definitions import (
    EVENT_TIMESTAMP,
    LABEL_DELAY_DAYS,
    TERMINAL_FEATURES,
    TERMINAL_KEY,
    WINDOWS_DAYS,
)
from fraudcore.features.windows import NS_PER_DAY, window_start, window_sums
from fraudcore.schema import LABEL

TERMINAL_COLUMNS = [TERMINAL_KEY, EVENT_TIMESTAMP, *TERMINAL_FEATURES]


def terminal_risk(transactions: pd.DataFrame, delay_days: int = LABEL_DELAY_DAYS) -> pd.DataFrame:
    """The terminal's risk as known when each transaction's label arrives.

    For a transaction at time u, window w aggregates the terminal's transactions in (u - w, u] and
    their labels. The row is stamped ``u + delay_days``: the moment the last of those labels is
    known. A request at t therefore reads only labels at least ``delay_days`` old.
    """
    tx = transactions.sort_values([TERMINAL_KEY, "TX_DATETIME", "TRANSACTION_ID"], kind="stable")
    entity = tx[TERMINAL_KEY].to_numpy()
    time_ns = tx["TX_DATETIME"].to_numpy("datetime64[ns]").astype(np.int64)
    fraud = tx[LABEL].to_numpy(np.float64)
    ones = np.ones(len(tx))
    stamped = tx["TX_DATETIME"] + pd.Timedelta(days=delay_days)
    out: dict[str, np.ndarray] = {TERMINAL_KEY: entity, EVENT_TIMESTAMP: stamped.to_numpy()}
    risks = {}
    for w in WINDOWS_DAYS:
        start = window_start(entity, time_ns, w * NS_PER_DAY)
        n_tx, n_fraud = window_sums(ones, start), window_sums(fraud, start)
        out[f"terminal_nb_tx_{w}d"] = np.rint(n_tx).astype(np.int64)
        risks[f"terminal_risk_{w}d"] = np.divide(n_fraud, n_tx, out=np.zeros(len(tx)), where=n_tx > 0)
    frame = pd.DataFrame({**out, **risks})[TERMINAL_COLUMNS]
    return frame.drop_duplicates([TERMINAL_KEY, EVENT_TIMESTAMP], keep="last").reset_index(drop=True)
