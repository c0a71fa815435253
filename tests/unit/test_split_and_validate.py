"""Date resolution and data-quality reasons."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from pipelines.steps.split import resolve_split, split_from_json, split_to_json
from pipelines.steps.validate import quality_problems


def _lake(first: str, days: int) -> list[dt.date]:
    start = dt.date.fromisoformat(first)
    return [start + dt.timedelta(days=i) for i in range(days)]


def test_empty_dates_mean_the_latest_window_the_lake_allows():
    split = resolve_split("", "", 7, _lake("2018-04-01", 80))
    assert split.test_end == dt.date(2018, 6, 19)
    assert (split.train_start, split.train_end) == (dt.date(2018, 5, 30), dt.date(2018, 6, 5))


def test_explicit_dates_and_round_trip():
    split = resolve_split("2018-07-01", "2018-07-31", 7, _lake("2018-04-01", 183))
    assert split_from_json(split_to_json(split)) == split


def test_a_split_the_lake_cannot_feed_is_explained():
    with pytest.raises(ValueError, match=r"needs raw days .* look-back and TTL"):
        resolve_split("", "", 7, _lake("2018-04-01", 30))
    with pytest.raises(ValueError, match="lake is empty"):
        resolve_split("", "", 7, [])


def test_quality_problems_name_missing_days_and_missing_frauds(small_transactions):
    split = split_to_json(resolve_split("2018-04-02", "2018-04-03", 2, _lake("2018-01-01", 104)))
    assert quality_problems(small_transactions, split) == []
    no_fraud = small_transactions.assign(TX_FRAUD=small_transactions["TX_FRAUD"] * 0)
    reasons = quality_problems(no_fraud, split)
    assert any("fraud rate 0.0000%" in reason for reason in reasons)
    assert any("no fraud in the training days" in reason for reason in reasons)
    gap = small_transactions[small_transactions["TX_DATETIME"].dt.date != dt.date(2018, 4, 3)]
    assert any("days without transactions: ['2018-04-03']" in r for r in quality_problems(gap, split))
    assert pd.Timestamp("2018-04-03") not in set(gap["TX_DATETIME"].dt.normalize())
