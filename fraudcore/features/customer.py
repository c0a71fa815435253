"""Customer spending: count, mean, spread and maximum of the customer's amounts over day windows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraudcore.features.definitions import (
    CUSTOMER_FEATURES,
    CUSTOMER_KEY,
    EVENT_TIMESTAMP,
    MAX_WINDOWS_DAYS,
    STD_WINDOWS_DAYS,
    WINDOWS_DAYS,
)
from fraudcore.features.windows import NS_PER_DAY, window_start, window_sums

#: Output columns, in order.
CUSTOMER_COLUMNS = [CUSTOMER_KEY, EVENT_TIMESTAMP, *CUSTOMER_FEATURES]


def customer_spending(transactions: pd.DataFrame) -> pd.DataFrame:
    """The customer's state after each of its transactions, stamped at the transaction time.

    Works on one customer's transactions (Spark ``applyInPandas``) or on many at once. Window
    (t - w, t] includes the transaction at t; a scoring request at t' > t reads this row, so a
    feature never uses a transaction after the moment it is read.
    """
    tx = transactions.sort_values([CUSTOMER_KEY, "TX_DATETIME", "TRANSACTION_ID"], kind="stable")
    entity = tx[CUSTOMER_KEY].to_numpy()
    time_ns = tx["TX_DATETIME"].to_numpy("datetime64[ns]").astype(np.int64)
    amount = tx["TX_AMOUNT"].to_numpy(np.float64)
    rows = np.arange(len(tx))
    out: dict[str, np.ndarray] = {CUSTOMER_KEY: entity, EVENT_TIMESTAMP: tx["TX_DATETIME"].to_numpy()}
    starts = {w: window_start(entity, time_ns, w * NS_PER_DAY) for w in WINDOWS_DAYS}
    for w, start in starts.items():
        out[f"customer_nb_tx_{w}d"] = rows - start + 1
    for w, start in starts.items():
        out[f"customer_mean_amount_{w}d"] = window_sums(amount, start) / (rows - start + 1)
    rolling = pd.Series(amount, index=tx["TX_DATETIME"]).groupby(entity)
    for w in STD_WINDOWS_DAYS:
        out[f"customer_std_amount_{w}d"] = rolling.rolling(f"{w}d").std().fillna(0.0).to_numpy()
    for w in MAX_WINDOWS_DAYS:
        out[f"customer_max_amount_{w}d"] = rolling.rolling(f"{w}d").max().to_numpy()
    frame = pd.DataFrame(out)[CUSTOMER_COLUMNS]
    # Several transactions in the same second: keep the state after the last one.
    return frame.drop_duplicates([CUSTOMER_KEY, EVENT_TIMESTAMP], keep="last").reset_index(drop=True)
