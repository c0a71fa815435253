"""Request-time features: computed from the scoring request and the customer's stored state.

Feast runs this as an on-demand transformation, for training sets and online requests alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraudcore.features.definitions import MAX_WINDOWS_DAYS, STD_WINDOWS_DAYS, WINDOWS_DAYS

#: Hours 0..6 count as night (handbook).
NIGHT_LAST_HOUR = 6


def _positive_or_one(values: pd.Series) -> np.ndarray:
    values = values.astype("float64").fillna(0.0).to_numpy()
    return np.where(values > 0, values, 1.0)


def request_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """Request columns and stored customer features -> the model's request features.

    Missing history (a new customer) gives neutral values: ratios of 1 and z-scores of the raw
    amount over a spread of 1.
    """
    when = pd.to_datetime(inputs["TX_DATETIME"])
    amount = inputs["TX_AMOUNT"].astype("float64").to_numpy()
    out = pd.DataFrame(index=inputs.index)
    out["amount"] = amount
    out["is_weekend"] = (when.dt.weekday >= 5).astype("int64").to_numpy()
    out["is_night"] = (when.dt.hour <= NIGHT_LAST_HOUR).astype("int64").to_numpy()
    means = {
        w: inputs[f"customer_mean_amount_{w}d"].astype("float64").fillna(0.0).to_numpy() for w in WINDOWS_DAYS
    }
    for w in WINDOWS_DAYS:
        out[f"amount_over_customer_mean_{w}d"] = np.where(
            means[w] > 0, amount / np.where(means[w] > 0, means[w], 1), 1.0
        )
    for w in STD_WINDOWS_DAYS:
        out[f"amount_zscore_{w}d"] = (amount - means[w]) / _positive_or_one(
            inputs[f"customer_std_amount_{w}d"]
        )
    long_mean = _positive_or_one(inputs[f"customer_mean_amount_{max(WINDOWS_DAYS)}d"])
    for w in MAX_WINDOWS_DAYS:
        out[f"customer_max_over_mean_{w}d"] = (
            inputs[f"customer_max_amount_{w}d"].astype("float64").fillna(0.0) / long_mean
        )
    return out
