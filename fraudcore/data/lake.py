"""The raw transaction lake: Hive-partitioned parquet by day, ``raw/transactions/date=YYYY-MM-DD/``."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from pyarrow import fs

from fraudcore.partitions import DayPartitions
from fraudcore.schema import TRANSACTION_COLUMNS, conform, validate_transactions
from fraudcore.settings import Settings, get_settings
from fraudcore.storage import arrow_filesystem


class TransactionLake:
    """Writes and reads validated raw transactions under ``s3://<bucket>/<raw_prefix>``."""

    def __init__(
        self,
        settings: Settings | None = None,
        filesystem: fs.FileSystem | None = None,
        root: str | None = None,
    ):
        settings = settings or get_settings()
        self.root = root or f"{settings.bucket}/{settings.raw_prefix}"
        self.partitions = DayPartitions(filesystem or arrow_filesystem(settings), self.root)

    def write(self, transactions: pd.DataFrame, progress: bool = True) -> list[dt.date]:
        """Validate, then replace each day's partition with that day's rows; return the days written.

        Nothing is written when validation fails.
        """
        validate_transactions(transactions)
        return self.partitions.replace(
            transactions[TRANSACTION_COLUMNS], transactions["TX_DATETIME"], progress, "partitions"
        )

    def days(self) -> list[dt.date]:
        """The days present in the lake, sorted."""
        return self.partitions.days()

    def read(self, start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
        """Transactions of the days ``start`` to ``end`` inclusive (all days when omitted), by time."""
        days = [day for day in self.days() if (start is None or day >= start) and (end is None or day <= end)]
        if not days:
            return conform(pd.DataFrame({column: [] for column in TRANSACTION_COLUMNS}))
        frame = conform(self.partitions.read(days, TRANSACTION_COLUMNS).to_pandas())
        return frame.sort_values(["TX_DATETIME", "TRANSACTION_ID"], kind="stable").reset_index(drop=True)
