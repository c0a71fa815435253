"""Validate: schema and data-quality checks; a failure stops the run with the reason."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from fraudcore.evaluation import train_rows
from fraudcore.features.offline import feature_days_needed, raw_days_needed
from fraudcore.schema import LABEL, validate_transactions
from pipelines.steps.split import split_from_json

#: Fraud rates outside this range mean the labels are broken, not that fraud changed.
FRAUD_RATE_RANGE = (0.0001, 0.2)


class DataQualityError(ValueError):
    """The data is well-formed but unfit to train on."""


def quality_problems(raw: pd.DataFrame, split_json: str) -> list[str]:
    """Readable reasons why ``raw`` cannot train the split (empty when it can): every day from the
    feature look-back's first to the test's last must hold transactions."""
    split = split_from_json(split_json)
    problems = []
    present = set(raw["TX_DATETIME"].dt.date)
    first, last = raw_days_needed(*feature_days_needed(split.train_start, split.test_end))
    wanted = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    missing = [day.isoformat() for day in wanted if day not in present]
    if missing:
        problems.append(f"days without transactions: {missing[:10]}{' ...' if len(missing) > 10 else ''}")
    rate = float(raw[LABEL].mean()) if len(raw) else 0.0
    if not FRAUD_RATE_RANGE[0] <= rate <= FRAUD_RATE_RANGE[1]:
        problems.append(f"fraud rate {rate:.4%} outside {FRAUD_RATE_RANGE[0]:.2%}..{FRAUD_RATE_RANGE[1]:.0%}")
    if int(train_rows(raw, split)[LABEL].sum()) == 0:
        problems.append(f"no fraud in the training days {split.train_start}..{split.train_end}")
    return problems


def validate(input_path: str, split_json: str) -> dict[str, float]:
    """Check ``input_path``; raise with the reasons when it fails; return summary metrics."""
    raw = pd.read_parquet(input_path)
    validate_transactions(raw)
    problems = quality_problems(raw, split_json)
    if problems:
        raise DataQualityError("data quality checks failed:\n  - " + "\n  - ".join(problems))
    print(f"validated {len(raw):,} transactions")
    return {"rows": float(len(raw)), "fraud_rate": float(raw[LABEL].mean())}
