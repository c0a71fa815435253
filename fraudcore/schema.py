"""The transaction schema and the checks that guard every write of raw transactions.

Incoming data is checked before anything is cast (``conform``): a label of 0.5 is rejected, not
rounded to 0; a missing value or a fraction in an integer column, a missing column or a wrong
type is named with its column, the rule it breaks and its first rows. ``validate_transactions``
checks the exact types as well, for frames that are already conformed.
"""

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
#: The simulator's fraud scenarios (0: genuine).
SCENARIOS = (0, 1, 2, 3)

#: Hive partition column of the raw data lake.
PARTITION_COLUMN = "date"

_MAX_ROWS_NAMED = 5


class SchemaViolation(ValueError):
    """Raised when transactions break the schema; ``problems`` names each column, rule and rows."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("transactions rejected:\n  - " + "\n  - ".join(problems))


def _rows(mask: pd.Series) -> str:
    rows = list(mask[mask].index[:_MAX_ROWS_NAMED])
    more = int(mask.sum()) - len(rows)
    return f"rows {rows}" + (f" and {more} more" if more > 0 else "")


def _type_problem(column: str, series: pd.Series, exact: bool) -> str | None:
    """Why ``series`` cannot hold ``column`` (None when it can). ``exact``: the dtype itself must match."""
    expected = TRANSACTION_SCHEMA[column]
    if expected.startswith("datetime64"):
        if not pd.api.types.is_datetime64_any_dtype(series):
            return f"column {column}: type {series.dtype}, expected naive (UTC) {expected}"
        if getattr(series.dt, "tz", None) is not None:
            return f"column {column}: type {series.dtype} has a time zone, expected naive (UTC) {expected}"
        return (
            f"column {column}: type {series.dtype}, expected {expected}"
            if exact and str(series.dtype) != expected
            else None
        )
    if exact:
        return (
            None
            if str(series.dtype) == expected
            else f"column {column}: type {series.dtype}, expected {expected}"
        )
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    return None if numeric else f"column {column}: type {series.dtype}, expected {expected}"


def _value_problems(df: pd.DataFrame) -> list[str]:
    problems = []
    for column in TRANSACTION_COLUMNS:
        missing = df[column].isna()
        if missing.any():
            problems.append(f"column {column}: missing values in {_rows(missing)}")
    for column, dtype in TRANSACTION_SCHEMA.items():
        values = df[column]
        if dtype.startswith("datetime") or not pd.api.types.is_numeric_dtype(values):
            continue
        infinite = pd.Series(np.isinf(values.to_numpy(np.float64)), index=df.index)
        if infinite.any():
            problems.append(f"column {column}: infinite values in {_rows(infinite)}")
        if dtype.startswith("int"):
            finite = values.notna() & ~infinite
            fractional = (
                finite & (values != np.floor(values))
                if pd.api.types.is_float_dtype(values)
                else finite & False
            )
            if fractional.any():
                problems.append(f"column {column}: non-integer values in {_rows(fractional)}")
            limits = np.iinfo(dtype)
            as_float = values.astype("float64")
            outside = finite & ((as_float < limits.min) | (as_float >= float(limits.max) + 1))
            if outside.any():
                problems.append(f"column {column}: values outside {dtype} in {_rows(outside)}")
    negative = df["TX_AMOUNT"] < 0
    if negative.any():
        problems.append(f"column TX_AMOUNT: negative amounts in {_rows(negative)}")
    bad_label = df[LABEL].notna() & ~df[LABEL].isin([0, 1])
    if bad_label.any():
        problems.append(f"column {LABEL}: labels other than 0/1 in {_rows(bad_label)}")
    bad_scenario = df["TX_FRAUD_SCENARIO"].notna() & ~df["TX_FRAUD_SCENARIO"].isin(SCENARIOS)
    if bad_scenario.any():
        problems.append(
            f"column TX_FRAUD_SCENARIO: values outside {list(SCENARIOS)} in {_rows(bad_scenario)}"
        )
    duplicated = df["TRANSACTION_ID"].duplicated(keep=False)
    if duplicated.any():
        problems.append(f"column TRANSACTION_ID: duplicate ids in {_rows(duplicated)}")
    return problems


def transaction_problems(df: pd.DataFrame, exact_types: bool = True) -> list[str]:
    """Every reason ``df`` is not a frame of well-formed transactions (empty when it is)."""
    missing = [column for column in TRANSACTION_COLUMNS if column not in df.columns]
    if missing:
        return [f"missing columns: {missing}"]
    problems = [p for column in TRANSACTION_COLUMNS if (p := _type_problem(column, df[column], exact_types))]
    return problems or _value_problems(df)


def validate_transactions(df: pd.DataFrame) -> None:
    """Raise :class:`SchemaViolation` unless ``df`` holds well-formed transactions of the exact types."""
    problems = transaction_problems(df, exact_types=True)
    if problems:
        raise SchemaViolation(problems)


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Check ``df`` (types that can hold the schema's values, every value rule), then cast it to the
    schema's exact types and column order. Raises :class:`SchemaViolation` before any cast."""
    problems = transaction_problems(df, exact_types=False)
    if problems:
        raise SchemaViolation(problems)
    out = df[TRANSACTION_COLUMNS].copy()
    for column, dtype in TRANSACTION_SCHEMA.items():
        if str(out[column].dtype) != dtype:
            out[column] = out[column].astype(dtype)
    return out
