"""Features of transactions computed straight from raw transactions (no feature store).

The batch job and the tests use this; it runs the same window and request functions as the
offline feature rows and the online event lists.
"""

from __future__ import annotations

import pandas as pd

from fraudcore.features.request import request_features
from fraudcore.features.state import ENTITY_WINDOWS
from fraudcore.features.windows import to_us


def window_state(history: pd.DataFrame, requests: pd.DataFrame) -> pd.DataFrame:
    """Customer and terminal window state of each request, from the transactions in ``history``.

    ``history`` must hold every transaction the requests' windows can see (``LOOKBACK_DAYS`` back).
    """
    request_us = to_us(requests["TX_DATETIME"])
    columns: dict = {}
    for spec in ENTITY_WINDOWS:
        columns.update(spec.state(spec.events(history), requests[spec.key].to_numpy(), request_us))
    return pd.DataFrame(columns, index=requests.index)


def model_features(history: pd.DataFrame, requests: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs for ``requests`` (amount, time, customer and terminal ids)."""
    state = window_state(history, requests)
    return request_features(pd.concat([requests[["TX_AMOUNT", "TX_DATETIME"]], state], axis=1))
