"""Feature logic: windows, delayed labels, per-entity application, request features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudcore.features.customer import CUSTOMER_COLUMNS, customer_spending
from fraudcore.features.definitions import EVENT_TIMESTAMP, LABEL_DELAY_DAYS, REQUEST_FEATURES
from fraudcore.features.request import request_features
from fraudcore.features.terminal import TERMINAL_COLUMNS, terminal_risk


def _brute_customer(tx: pd.DataFrame, customer: int, at: pd.Timestamp, days: int) -> tuple[int, float]:
    rows = tx[
        (tx["CUSTOMER_ID"] == customer)
        & (tx["TX_DATETIME"] > at - pd.Timedelta(days=days))
        & (tx["TX_DATETIME"] <= at)
    ]
    return len(rows), rows["TX_AMOUNT"].mean()


def test_customer_windows_match_a_brute_force_count(small_transactions):
    features = customer_spending(small_transactions)
    assert list(features.columns) == CUSTOMER_COLUMNS
    for _, row in features.sample(40, random_state=1).iterrows():
        for days in (1, 7, 30):
            count, mean = _brute_customer(small_transactions, row["CUSTOMER_ID"], row[EVENT_TIMESTAMP], days)
            assert row[f"customer_nb_tx_{days}d"] == count
            assert row[f"customer_mean_amount_{days}d"] == pytest.approx(mean)


def test_customer_std_and_max_match_pandas_rolling(small_transactions):
    features = customer_spending(small_transactions).set_index(["CUSTOMER_ID", EVENT_TIMESTAMP])
    one = small_transactions[small_transactions["CUSTOMER_ID"] == small_transactions["CUSTOMER_ID"].iloc[0]]
    series = one.set_index("TX_DATETIME")["TX_AMOUNT"]
    expected_max = series.rolling("7d").max().groupby(level=0).last()
    expected_std = series.rolling("30d").std().fillna(0).groupby(level=0).last()
    got = features.loc[one["CUSTOMER_ID"].iloc[0]]
    np.testing.assert_allclose(got["customer_max_amount_7d"], expected_max.to_numpy())
    np.testing.assert_allclose(got["customer_std_amount_30d"], expected_std.to_numpy())


def test_terminal_rows_are_stamped_when_labels_arrive_and_use_no_younger_label(small_transactions):
    features = terminal_risk(small_transactions)
    assert list(features.columns) == TERMINAL_COLUMNS
    delay = pd.Timedelta(days=LABEL_DELAY_DAYS)
    for _, row in features.sample(40, random_state=2).iterrows():
        known_at = row[EVENT_TIMESTAMP]
        for days in (1, 7, 30):
            # Brute force: the terminal's transactions whose label is at least `delay` old at known_at.
            window = small_transactions[
                (small_transactions["TERMINAL_ID"] == row["TERMINAL_ID"])
                & (small_transactions["TX_DATETIME"] <= known_at - delay)
                & (small_transactions["TX_DATETIME"] > known_at - delay - pd.Timedelta(days=days))
            ]
            assert row[f"terminal_nb_tx_{days}d"] == len(window)
            expected = window["TX_FRAUD"].mean() if len(window) else 0.0
            assert row[f"terminal_risk_{days}d"] == pytest.approx(expected)


def test_changing_a_young_label_changes_no_terminal_row_before_it_is_known(small_transactions):
    flipped = small_transactions.copy()
    target = flipped.index[len(flipped) // 2]
    flipped.loc[target, "TX_FRAUD"] = 1 - flipped.loc[target, "TX_FRAUD"]
    label_known = flipped.loc[target, "TX_DATETIME"] + pd.Timedelta(days=LABEL_DELAY_DAYS)
    before = terminal_risk(small_transactions)
    after = terminal_risk(flipped)
    early = before[EVENT_TIMESTAMP] < label_known
    pd.testing.assert_frame_equal(before[early], after[early])
    assert not before[~early].equals(after[~early])


@pytest.mark.parametrize(
    ("function", "key"), [(customer_spending, "CUSTOMER_ID"), (terminal_risk, "TERMINAL_ID")]
)
def test_per_entity_groups_give_the_same_rows_as_one_pass(small_transactions, function, key):
    whole = function(small_transactions)
    grouped = pd.concat([function(group) for _, group in small_transactions.groupby(key)], ignore_index=True)
    pd.testing.assert_frame_equal(whole, grouped)


def test_request_features_flags_and_neutral_history():
    inputs = pd.DataFrame(
        {
            "TX_AMOUNT": [50.0, 300.0],
            "TX_DATETIME": pd.to_datetime(
                ["2018-04-07 03:00:00", "2018-04-09 12:00:00"]
            ),  # Saturday night, Monday noon
            "customer_mean_amount_1d": [25.0, np.nan],
            "customer_mean_amount_7d": [25.0, np.nan],
            "customer_mean_amount_30d": [20.0, np.nan],
            "customer_std_amount_7d": [5.0, np.nan],
            "customer_std_amount_30d": [0.0, np.nan],
            "customer_max_amount_1d": [40.0, np.nan],
            "customer_max_amount_7d": [60.0, np.nan],
        }
    )
    out = request_features(inputs)
    assert list(out.columns) == REQUEST_FEATURES
    first, second = out.iloc[0], out.iloc[1]
    assert (first["is_weekend"], first["is_night"]) == (1, 1)
    assert (second["is_weekend"], second["is_night"]) == (0, 0)
    assert first["amount_over_customer_mean_30d"] == pytest.approx(2.5)
    assert first["amount_zscore_7d"] == pytest.approx(5.0)
    assert first["amount_zscore_30d"] == pytest.approx(30.0)  # no spread yet: divided by 1
    assert first["customer_max_over_mean_7d"] == pytest.approx(3.0)
    assert second["amount_over_customer_mean_1d"] == 1.0  # a new customer: neutral ratio
    assert second["customer_max_over_mean_1d"] == 0.0
