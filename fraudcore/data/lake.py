"""The raw transaction lake: Hive-partitioned parquet by day, ``raw/transactions/date=YYYY-MM-DD/``."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs
from tqdm.auto import tqdm

from fraudcore.schema import PARTITION_COLUMN, TRANSACTION_COLUMNS, conform, validate_transactions
from fraudcore.settings import Settings, get_settings
from fraudcore.storage import arrow_filesystem

PART_FILE = "part-00000.parquet"


class TransactionLake:
    """Writes and reads validated raw transactions under ``s3://<bucket>/<raw_prefix>``."""

    def __init__(
        self,
        settings: Settings | None = None,
        filesystem: fs.FileSystem | None = None,
        root: str | None = None,
    ):
        settings = settings or get_settings()
        self.filesystem = filesystem or arrow_filesystem(settings)
        self.root = root or f"{settings.bucket}/{settings.raw_prefix}"

    def partition_dir(self, day: dt.date) -> str:
        return f"{self.root}/{PARTITION_COLUMN}={day.isoformat()}"

    def write(self, transactions: pd.DataFrame, progress: bool = True) -> list[dt.date]:
        """Validate, then replace each day's partition with that day's rows; return the days written.

        Nothing is written when validation fails.
        """
        validate_transactions(transactions)
        days = transactions["TX_DATETIME"].dt.date
        written = []
        for day, rows in tqdm(
            transactions.groupby(days, sort=True), desc="writing partitions", unit="day", disable=not progress
        ):
            directory = self.partition_dir(day)
            self.filesystem.delete_dir_contents(directory, missing_dir_ok=True)
            if not isinstance(self.filesystem, fs.S3FileSystem):  # object stores need no folders
                self.filesystem.create_dir(directory, recursive=True)
            table = pa.Table.from_pandas(rows[TRANSACTION_COLUMNS], preserve_index=False)
            pq.write_table(table, f"{directory}/{PART_FILE}", filesystem=self.filesystem, compression="zstd")
            written.append(day)
        return written

    def days(self) -> list[dt.date]:
        """The days present in the lake, sorted."""
        selector = fs.FileSelector(self.root, allow_not_found=True)
        prefix = f"{PARTITION_COLUMN}="
        names = (
            info.base_name
            for info in self.filesystem.get_file_info(selector)
            if info.type == fs.FileType.Directory
        )
        return sorted(dt.date.fromisoformat(name[len(prefix) :]) for name in names if name.startswith(prefix))

    def read(self, start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
        """Transactions of the days ``start`` to ``end`` inclusive (all days when omitted), by time."""
        days = [day for day in self.days() if (start is None or day >= start) and (end is None or day <= end)]
        if not days:
            return conform(pd.DataFrame({column: [] for column in TRANSACTION_COLUMNS}))
        paths = [f"{self.partition_dir(day)}/{PART_FILE}" for day in days]
        table = ds.dataset(paths, filesystem=self.filesystem, format="parquet").to_table(
            columns=TRANSACTION_COLUMNS
        )
        frame = conform(table.to_pandas())
        return frame.sort_values(["TX_DATETIME", "TRANSACTION_ID"], kind="stable").reset_index(drop=True)
