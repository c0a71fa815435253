"""Loader of the Fraud Detection Handbook's reference dataset, read by path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from fraudcore.schema import TRANSACTION_COLUMNS, SchemaViolation, conform
from fraudcore.settings import get_settings


class ReferenceDataMissing(FileNotFoundError):
    """The reference parquet is not where the settings say."""


class ReferenceDataUnreadable(ValueError):
    """The file is not a parquet file of transactions, or holds none in the range asked for."""


def load_reference(
    path: Path | None = None, start: dt.date | None = None, end: dt.date | None = None
) -> pd.DataFrame:
    """Transactions of the reference dataset between ``start`` and ``end`` (inclusive days)."""
    path = Path(path or get_settings().reference_data)
    if not path.is_file():
        raise ReferenceDataMissing(
            f"reference dataset not found at {path}; set FRAUD_REFERENCE_DATA to the parquet file"
        )
    try:
        dataset = ds.dataset(path, format="parquet")
    except (pa.ArrowInvalid, OSError) as error:
        raise ReferenceDataUnreadable(f"{path} is not a readable parquet file: {error}") from error
    missing = [column for column in TRANSACTION_COLUMNS if column not in dataset.schema.names]
    if missing:
        raise SchemaViolation([f"missing columns: {missing}"])
    condition = None
    if start is not None:
        condition = ds.field("TX_DATETIME") >= pd.Timestamp(start)
    if end is not None:
        before_end = ds.field("TX_DATETIME") < pd.Timestamp(end) + pd.Timedelta(days=1)
        condition = before_end if condition is None else condition & before_end
    frame = dataset.to_table(columns=TRANSACTION_COLUMNS, filter=condition).to_pandas()
    if frame.empty:
        raise ReferenceDataUnreadable(
            f"{path} holds no transactions between {start or 'its start'} and {end or 'its end'}"
        )
    return conform(frame)
