"""The raw transaction lake: Hive-partitioned parquet by day, ``raw/transactions/date=YYYY-MM-DD/``."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from pyarrow import fs

from fraudcore.partitions import DayPartitions, MissingDaysError
from fraudcore.schema import TRANSACTION_COLUMNS, SchemaViolation, conform, validate_transactions
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
        self.settings = settings
        self.root = root or f"{settings.bucket}/{settings.raw_prefix}"
        self.partitions = DayPartitions(filesystem or arrow_filesystem(settings), self.root)

    def write(self, transactions: pd.DataFrame, progress: bool = True) -> list[dt.date]:
        """Validate, then replace each day's partition with that day's rows; return the days written.

        Nothing is written when validation fails, or when an id is already used by a day of the
        lake that this write does not replace. Each day is replaced atomically; when some days fail,
        :class:`~fraudcore.partitions.PartialWriteError` names the days written and the days kept.
        """
        validate_transactions(transactions)
        self._check_ids_unused_elsewhere(transactions)
        return self.partitions.replace(
            transactions[TRANSACTION_COLUMNS], transactions["TX_DATETIME"], progress, "partitions"
        )

    def _check_ids_unused_elsewhere(self, transactions: pd.DataFrame) -> None:
        replaced = set(transactions["TX_DATETIME"].dt.date.unique())
        others = [day for day in self.days() if day not in replaced]
        if not others:
            return
        existing = self.partitions.read(others, ["TRANSACTION_ID"]).column("TRANSACTION_ID").to_numpy()
        clash = transactions["TRANSACTION_ID"].isin(existing)
        if clash.any():
            rows = list(transactions.index[clash][:5])
            raise SchemaViolation(
                [
                    f"column TRANSACTION_ID: ids already used by other days of the lake in rows {rows}"
                    + (f" and {int(clash.sum()) - len(rows)} more" if clash.sum() > len(rows) else "")
                ]
            )

    def days(self) -> list[dt.date]:
        """The days present in the lake, sorted."""
        return self.partitions.days()

    def read(self, start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
        """Transactions of the days ``start`` to ``end`` inclusive (the lake's first and last day when
        omitted), by time. Every day of the range must hold rows: a missing or empty day raises
        :class:`~fraudcore.partitions.MissingDaysError` naming it, never an empty stretch."""
        present = self.days()
        if not present:
            raise MissingDaysError(f"the lake s3://{self.root}/ is empty: load data first (make data)")
        first, last = start or present[0], end or present[-1]
        if last < first:
            raise ValueError(f"empty range: {first} is after {last}")
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        frame = conform(self.partitions.read(days, TRANSACTION_COLUMNS).to_pandas())
        return frame.sort_values(["TX_DATETIME", "TRANSACTION_ID"], kind="stable").reset_index(drop=True)
