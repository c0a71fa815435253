"""Request-time features: the transaction being scored combined with its customer's and terminal's state.

The last step of every path (training sets, real-time service, batch job, stream consumer): the
state comes from the offline store, the online store or raw events, and this turns it into the
model's inputs. A customer window counts the transaction being scored; ratios and z-scores
compare its amount with the customer's transactions before it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraudcore.features.definitions import (
    CUSTOMER_LAST_TX,
    CUSTOMER_STATE,
    DAYS_SINCE_LAST_TX_CAP,
    MAX_WINDOWS_DAYS,
    MODEL_FEATURES,
    STD_WINDOWS_DAYS,
    TERMINAL_FIRST_FRAUD,
    TERMINAL_STATE,
    TERMINAL_TX_SINCE_FIRST_FRAUD,
    TERMINAL_WINDOWS_DAYS,
    US_PER_DAY,
    WINDOWS_DAYS,
)
from fraudcore.features.windows import to_us

#: Features computed as integers (flags); every other feature is a float.
INTEGER_FEATURES = ("is_weekend", "is_night")
#: Hours 0..6 count as night (handbook).
NIGHT_LAST_HOUR = 6
US_PER_HOUR = 3_600 * 10**6
#: 1970-01-01 was a Thursday (Monday = 0).
EPOCH_WEEKDAY = 3


def empty_state_filled(state: pd.DataFrame) -> pd.DataFrame:
    """Missing state (an entity with nothing in any window, or never seen) is the empty state: zeros."""
    columns = [c for c in [*CUSTOMER_STATE, *TERMINAL_STATE] if c in state.columns]
    return state.assign(**{c: state[c].fillna(0) for c in columns})


def _ratio(numerator: np.ndarray, denominator: np.ndarray, default: float) -> np.ndarray:
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, default)


def request_features(requests: pd.DataFrame) -> pd.DataFrame:
    """Model features of requests (``TX_AMOUNT``, ``TX_DATETIME`` and state columns), as a frame."""
    state = empty_state_filled(requests)
    columns = {name: state[name].to_numpy(np.float64) for name in [*CUSTOMER_STATE, *TERMINAL_STATE]}
    amount = requests["TX_AMOUNT"].to_numpy(np.float64)
    features = request_feature_arrays(amount, to_us(requests["TX_DATETIME"]), columns)
    return pd.DataFrame(features, index=requests.index)[MODEL_FEATURES]


def request_feature_arrays(
    amount: np.ndarray, time_us: np.ndarray, column: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The request step on arrays: amounts, times (us since the epoch) and state columns (empty
    state = zeros) -> each model feature. The frame version above and the real-time service both
    call it.

    A new customer or terminal (empty state) gets: counts of 1 (the transaction itself) and 0,
    means equal to the amount, ratios of 1, z-scores of 0, fraud rates of 0 and
    ``DAYS_SINCE_LAST_TX_CAP`` days since the last transaction, and 0 days, transactions
    and fraud share since a first known fraud.
    """
    days = np.floor_divide(time_us, US_PER_DAY)
    out: dict[str, np.ndarray] = {
        "amount": amount,
        "is_weekend": ((days + EPOCH_WEEKDAY) % 7 >= 5).astype(np.int64),  # Saturday, Sunday
        "is_night": ((time_us - days * US_PER_DAY) // US_PER_HOUR <= NIGHT_LAST_HOUR).astype(np.int64),
    }
    count = {w: column[f"customer_tx_count_{w}d"] for w in WINDOWS_DAYS}
    total = {w: column[f"customer_amount_sum_{w}d"] for w in WINDOWS_DAYS}
    prior_mean = {w: _ratio(total[w], count[w], 0.0) for w in WINDOWS_DAYS}
    for w in WINDOWS_DAYS:
        out[f"customer_nb_tx_{w}d"] = count[w] + 1
    for w in WINDOWS_DAYS:
        out[f"customer_mean_amount_{w}d"] = (total[w] + amount) / (count[w] + 1)
    for w in WINDOWS_DAYS:
        out[f"amount_over_customer_mean_{w}d"] = _ratio(amount, prior_mean[w], 1.0)
    for w in STD_WINDOWS_DAYS:
        n = count[w]
        variance = (column[f"customer_amount_sumsq_{w}d"] - total[w] * prior_mean[w]) / np.maximum(n - 1, 1)
        std = np.sqrt(np.where(n >= 2, np.maximum(variance, 0.0), 0.0))
        out[f"amount_zscore_{w}d"] = _ratio(amount - prior_mean[w], std, 0.0)
    longest = max(WINDOWS_DAYS)
    for w in MAX_WINDOWS_DAYS:
        out[f"customer_max_over_mean_{w}d"] = _ratio(
            column[f"customer_amount_max_{w}d"], prior_mean[longest], 0.0
        )
    last = column[CUSTOMER_LAST_TX]
    since = (time_us - last) / US_PER_DAY
    out["customer_days_since_last_tx"] = np.where(
        last > 0, np.minimum(since, DAYS_SINCE_LAST_TX_CAP), DAYS_SINCE_LAST_TX_CAP
    )
    for w in TERMINAL_WINDOWS_DAYS:
        out[f"terminal_nb_tx_{w}d"] = column[f"terminal_tx_count_{w}d"]
    for w in TERMINAL_WINDOWS_DAYS:
        out[f"terminal_risk_{w}d"] = _ratio(
            column[f"terminal_fraud_count_{w}d"], column[f"terminal_tx_count_{w}d"], 0.0
        )
    first_fraud = column[TERMINAL_FIRST_FRAUD]
    out["terminal_days_since_first_known_fraud"] = np.where(
        first_fraud > 0, (time_us - first_fraud) / US_PER_DAY, 0.0
    )
    since_first = column[TERMINAL_TX_SINCE_FIRST_FRAUD]
    out["terminal_nb_tx_since_first_known_fraud"] = since_first
    frauds = column[f"terminal_fraud_count_{max(TERMINAL_WINDOWS_DAYS)}d"]
    out["terminal_risk_since_first_known_fraud"] = _ratio(frauds, since_first, 0.0)
    return out
