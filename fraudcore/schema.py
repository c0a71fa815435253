"""The transaction schema and the check that guards every write of raw transactions."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Column name -> pandas dtype of a raw card transaction (the reference dataset's schema).
TRANSACTION_SCHEMA: dict[str, str] = {
    "TRANSACTION_ID": "int64",
    "TX_DATETIME": "datetime64[ns]",
    "CUSTOMER_ID": "int64",
    "TERMINAL_ID": "int64",
    "TX_AMOUNT": "float64",
    "TX_TIME_SECONDS": "int64",
    "TX_TIME_DAYS": "int64",
    "TX_FRAUD": "int8",
    "TX_FRAUD_SCENARIO": "int8",
}
TRANSACTION_COLUMNS: list[str] = list(TRANSACTION_SCHEMA)

#: The label. TX_FRAUD_SCENARIO tells how a fraud was simulated and must never be a feature.
LABEL = "TX_FRAUD"

#: Hive partition column of the raw data lake.
PARTITION_COLUMN = "date"

_MAX_ROWS_NAMED = 5


class SchemaViolation(ValueError):
    """Raised when transactions break the schema; ``problems`` names each column and the rows."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("transactions rejected:\n  - " + "\n  - ".join(problems))


def _rows(mask: pd.Series) -> str:
    rows = list(mask[mask].index[:_MAX_ROWS_NAMED])
    more = int(mask.sum()) - len(rows)
    return f"rows {rows}" + (f" and {more} more" if more > 0 else "")


def _dtype_matches(series: pd.Series, expected: str) -> bool:
    if expected.startswith("datetime64"):
        return pd.api.types.is_datetime64_any_dtype(series) and getattr(series.dt, "tz", None) is None
    return str(series.dtype) == expected


def validate_transactions(df: pd.DataFrame) -> None:
    """Raise :class:`SchemaViolation` unless ``df`` holds well-formed transactions.

    Checks: every column present with its type, no missing values, non-negative amounts, labels
    in {0, 1}, unique transaction ids.
    """
    problems: list[str] = []
    missing = [column for column in TRANSACTION_COLUMNS if column not in df.columns]
    if missing:
        problems.append(f"missing columns: {missing}")
    for column, expected in TRANSACTION_SCHEMA.items():
        if column in df.columns and not _dtype_matches(df[column], expected):
            problems.append(f"column {column}: type {df[column].dtype}, expected {expected}")
    if problems:
        raise SchemaViolation(problems)

    for column in TRANSACTION_COLUMNS:
        nulls = df[column].isna()
        if nulls.any():
            problems.append(f"column {column}: missing values in {_rows(nulls)}")
    negative = df["TX_AMOUNT"] < 0
    if negative.any():
        problems.append(f"column TX_AMOUNT: negative amounts in {_rows(negative)}")
    bad_label = ~df[LABEL].isin([0, 1])
    if bad_label.any():
        problems.append(f"column {LABEL}: labels other than 0/1 in {_rows(bad_label)}")
    duplicated = df["TRANSACTION_ID"].duplicated(keep=False)
    if duplicated.any():
        problems.append(f"column TRANSACTION_ID: duplicate ids in {_rows(duplicated)}")
    if problems:
        raise SchemaViolation(problems)


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Cast a frame that has every column to the schema's exact types and column order."""
    out = df[TRANSACTION_COLUMNS].copy()
    for column, dtype in TRANSACTION_SCHEMA.items():
        if dtype.startswith("datetime64"):
            out[column] = pd.to_datetime(out[column]).astype("datetime64[ns]")
        elif not np.issubdtype(out[column].dtype, np.dtype(dtype)):
            out[column] = out[column].astype(dtype)
    return out
