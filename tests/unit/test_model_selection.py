"""Model selection on validation weeks: the folds never read the test week, and the missed-fraud count."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from benchmarks.model_selection import LAST_LABEL_DAY, fold_splits, missed_without_known_fraud
from fraudcore.evaluation import SplitDates


def test_folds_end_on_the_last_label_day_and_keep_the_delay():
    splits = fold_splits(4)
    assert splits[0] == SplitDates(dt.date(2018, 6, 17), dt.date(2018, 7, 17))  # the test split, a week back
    assert max(s.test_end for s in splits) == LAST_LABEL_DAY < SplitDates.handbook().test_start
    for earlier, later in zip(splits[1:], splits, strict=False):
        assert later.test_start - earlier.test_start == dt.timedelta(days=7)
    for split in splits:
        assert split.test_start - split.train_end == dt.timedelta(days=8)
        assert (split.train_end - split.train_start).days + 1 == 31


def test_missed_fraud_card_days_count_those_without_a_known_terminal_fraud():
    rows = [  # (time, card, fraud, score, days since the terminal's first known fraud)
        ("2018-07-25 10:00", 1, 1, 0.9, 12.0),  # in the top 1: detected
        ("2018-07-25 11:00", 2, 1, 0.5, 0.0),  # missed, no known fraud at its terminal
        ("2018-07-25 12:00", 3, 1, 0.4, 9.0),  # missed, its terminal had a known fraud
        ("2018-07-25 13:00", 3, 1, 0.3, 0.0),  # same card-day: not only unrevealed terminals
        ("2018-07-26 10:00", 1, 1, 0.2, 0.0),  # detected yesterday: left out
        ("2018-07-26 11:00", 4, 0, 0.8, 0.0),  # genuine, takes the top 1
        ("2018-07-26 12:00", 2, 1, 0.1, 0.0),  # missed again, unrevealed
    ]
    scored = pd.DataFrame(
        rows,
        columns=["TX_DATETIME", "CUSTOMER_ID", "TX_FRAUD", "score", "terminal_days_since_first_known_fraud"],
    ).assign(TX_DATETIME=lambda f: pd.to_datetime(f["TX_DATETIME"]))
    assert missed_without_known_fraud(scored, k=1) == (3, 2)
