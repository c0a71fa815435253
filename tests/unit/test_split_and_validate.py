"""Date resolution and data-quality reasons."""

from __future__ import annotations

import datetime as dt

import pytest

from fraudcore.data.generator import GeneratorConfig, generate_transactions
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


@pytest.fixture(scope="module")
def two_months():
    """Enough days for a two-day split and its feature look-back."""
    return generate_transactions(GeneratorConfig(n_customers=200, n_terminals=400, n_days=51, seed=4), False)


def test_quality_problems_name_missing_days_and_missing_frauds(two_months):
    split = split_to_json(resolve_split("2018-05-10", "2018-05-11", 2, _lake("2018-04-01", 51)))
    assert quality_problems(two_months, split) == []
    no_fraud = two_months.assign(TX_FRAUD=two_months["TX_FRAUD"] * 0)
    reasons = quality_problems(no_fraud, split)
    assert any("fraud rate 0.0000%" in reason for reason in reasons)
    assert any("no fraud in the training days" in reason for reason in reasons)
    gap = two_months[two_months["TX_DATETIME"].dt.date != dt.date(2018, 5, 11)]
    assert any("days without transactions: ['2018-05-11']" in r for r in quality_problems(gap, split))


def test_a_day_missing_in_the_feature_look_back_is_named(two_months):
    """The look-back starts 38 days before training (37 of windows, 1 of state TTL)."""
    split = split_to_json(resolve_split("2018-05-10", "2018-05-11", 2, _lake("2018-04-01", 51)))
    gap = two_months[two_months["TX_DATETIME"].dt.date != dt.date(2018, 4, 2)]
    assert any("days without transactions: ['2018-04-02']" in r for r in quality_problems(gap, split))
