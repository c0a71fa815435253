"""The handbook protocol: split, filtering of known-compromised customers, Card Precision@k."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from fraudcore.data.reference import load_reference
from fraudcore.evaluation import (
    SplitDates,
    card_precision_top_k,
    delayed_test_rows,
    fraud_metrics,
    train_rows,
)


def _scored(rows: list[tuple[str, int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["TX_DATETIME", "CUSTOMER_ID", "TX_FRAUD", "score"]).assign(
        TX_DATETIME=lambda f: pd.to_datetime(f["TX_DATETIME"])
    )


def test_card_precision_counts_cards_once_a_day_and_drops_detected_cards():
    scored = _scored(
        [
            ("2018-08-08 10:00", 1, 1, 0.9),
            ("2018-08-08 11:00", 1, 0, 0.8),  # card 1: fraud, detected
            ("2018-08-08 12:00", 2, 0, 0.7),
            ("2018-08-08 13:00", 3, 1, 0.1),  # card 3 missed (not in top 2)
            ("2018-08-09 10:00", 1, 1, 0.9),  # card 1 already detected: ignored on day 2
            ("2018-08-09 11:00", 3, 1, 0.5),
            ("2018-08-09 12:00", 4, 0, 0.4),
        ]
    )
    # Day 1: top 2 cards {1, 2}, one fraud -> 1/2. Day 2: cards {3, 4}, one fraud -> 1/2.
    assert card_precision_top_k(scored, k=2) == pytest.approx(0.5)
    assert card_precision_top_k(scored, k=1) == pytest.approx((1 + 1) / 2)


def test_split_dates_follow_the_delay():
    split = SplitDates.handbook()
    assert (split.test_start, split.test_end) == (dt.date(2018, 8, 8), dt.date(2018, 8, 14))


def test_handbook_split_counts(reference_path):
    data = load_reference(reference_path, dt.date(2018, 7, 1), dt.date(2018, 8, 14))
    split = SplitDates.handbook()
    train, test = train_rows(data, split), delayed_test_rows(data, split)
    assert (len(train), int(train["TX_FRAUD"].sum())) == (67_240, 598)
    assert (len(test), int(test["TX_FRAUD"].sum())) == (58_264, 385)
    # A longer training window ending the same day keeps the handbook's test set.
    longer = SplitDates(dt.date(2018, 7, 1), dt.date(2018, 7, 31))
    assert len(delayed_test_rows(data, longer)) == 58_264


def test_fraud_metrics_of_a_perfect_and_a_useless_score():
    rows = [("2018-08-08 10:00", c, int(c < 3), 0.0) for c in range(10)]
    perfect = _scored(rows).assign(score=lambda f: f["TX_FRAUD"].astype(float))
    assert fraud_metrics(perfect)["auc_roc"] == 1.0
    assert fraud_metrics(perfect)["average_precision"] == 1.0
    useless = perfect.assign(score=0.5)
    assert fraud_metrics(useless)["auc_roc"] == 0.5
