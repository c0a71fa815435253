"""Resolve the pipeline's date parameters into a split; empty dates mean "the latest data in the lake"."""

from __future__ import annotations

import datetime as dt
import json

from fraudcore.evaluation import SplitDates
from fraudcore.features.definitions import LABEL_DELAY_DAYS
from fraudcore.features.offline import feature_days_needed, raw_days_needed

DEFAULT_TRAIN_DAYS = 7


def resolve_split(train_start: str, train_end: str, test_days: int, lake_days: list[dt.date]) -> SplitDates:
    """The split of the given ISO dates; empty ones mean the latest the lake allows.

    By default the test covers the lake's last ``test_days`` days and training the week before the delay.
    """
    if not lake_days:
        raise ValueError("the raw transaction lake is empty: load data first (make data)")
    if train_end:
        end = dt.date.fromisoformat(train_end)
    else:
        end = lake_days[-1] - dt.timedelta(days=test_days + LABEL_DELAY_DAYS)
    start = (
        dt.date.fromisoformat(train_start) if train_start else end - dt.timedelta(days=DEFAULT_TRAIN_DAYS - 1)
    )
    if start > end:
        raise ValueError(f"train_start {start} is after train_end {end}")
    split = SplitDates(start, end, test_days=test_days)
    needed_from, _ = raw_days_needed(*feature_days_needed(start, split.test_end))
    if needed_from < lake_days[0] or split.test_end > lake_days[-1]:
        raise ValueError(
            f"split {start}..{split.test_end} needs raw days {needed_from}..{split.test_end} "
            f"(feature look-back and TTL), the lake has {lake_days[0]}..{lake_days[-1]}"
        )
    return split


def split_to_json(split: SplitDates) -> str:
    return json.dumps(
        {
            "train_start": split.train_start.isoformat(),
            "train_end": split.train_end.isoformat(),
            "test_days": split.test_days,
        }
    )


def split_from_json(text: str) -> SplitDates:
    data = json.loads(text)
    return SplitDates(
        dt.date.fromisoformat(data["train_start"]),
        dt.date.fromisoformat(data["train_end"]),
        test_days=int(data["test_days"]),
    )
