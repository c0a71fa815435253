"""Ingest: the raw transactions a training run needs, from the S3 lake to one parquet file."""

from __future__ import annotations

from fraudcore.data.lake import TransactionLake
from fraudcore.data.summary import format_summary
from fraudcore.features.offline import feature_days_needed, raw_days_needed
from pipelines.steps.split import resolve_split, split_to_json


def ingest(train_start: str, train_end: str, test_days: int, output_path: str) -> str:
    """Write the split's raw days (with the feature look-back) to ``output_path``; return the split."""
    lake = TransactionLake()
    days = lake.days()
    split = resolve_split(train_start, train_end, test_days, days)
    first, last = raw_days_needed(*feature_days_needed(split.train_start, split.test_end))
    raw = lake.read(max(first, days[0]), last)
    raw.to_parquet(output_path, index=False)
    print(f"split: train {split.train_start}..{split.train_end}, test {split.test_start}..{split.test_end}")
    print(format_summary(raw))
    return split_to_json(split)
