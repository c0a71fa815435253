"""Point-in-time retrieval refuses to lose or duplicate rows (checked against a fake Feast store)."""

from __future__ import annotations

import pandas as pd
import pytest

from fraudcore.feature_store import RetrievalError, historical_state


class _Job:
    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def to_df(self) -> pd.DataFrame:
        return self.frame


class DroppingStore:
    """Answers a point-in-time join like Feast, minus the first row."""

    def get_feature_service(self, name: str) -> str:
        return name

    def get_historical_features(self, entity_df: pd.DataFrame, features) -> _Job:
        return _Job(entity_df.iloc[1:].assign(customer_tx_count_1d=1))


def test_a_lost_entity_row_raises_instead_of_becoming_a_zero_state():
    requests = pd.DataFrame(
        {
            "CUSTOMER_ID": [1, 2, 3],
            "TERMINAL_ID": [7, 8, 9],
            "TX_DATETIME": pd.to_datetime(["2018-04-01 10:00", "2018-04-01 11:00", "2018-04-01 12:00"]),
        }
    )
    with pytest.raises(RetrievalError, match="returned 2 rows for 3 lookups"):
        historical_state(DroppingStore(), requests)
