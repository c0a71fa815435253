"""Parquet tables partitioned by day, ``<root>/date=YYYY-MM-DD/part-00000.parquet``, on S3 or local disk."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs
from tqdm.auto import tqdm

from fraudcore.schema import PARTITION_COLUMN

PART_FILE = "part-00000.parquet"


class DayPartitions:
    """One folder per day under ``root``; writing a day replaces that day only."""

    def __init__(self, filesystem: fs.FileSystem, root: str):
        self.filesystem = filesystem
        self.root = root

    def directory(self, day: dt.date) -> str:
        return f"{self.root}/{PARTITION_COLUMN}={day.isoformat()}"

    def replace(
        self, frame: pd.DataFrame, days: pd.Series, progress: bool = True, label: str = ""
    ) -> list[dt.date]:
        """Write the rows of each day in ``days`` (one date per row) over that day's folder."""
        written = []
        groups = frame.groupby(days, sort=True)
        for day, rows in tqdm(groups, desc=f"writing {label or self.root}", unit="day", disable=not progress):
            directory = self.directory(day)
            self.filesystem.delete_dir_contents(directory, missing_dir_ok=True)
            if not isinstance(self.filesystem, fs.S3FileSystem):  # object stores need no folders
                self.filesystem.create_dir(directory, recursive=True)
            table = pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False)
            pq.write_table(table, f"{directory}/{PART_FILE}", filesystem=self.filesystem, compression="zstd")
            written.append(day)
        return written

    def days(self) -> list[dt.date]:
        """The days present, sorted."""
        selector = fs.FileSelector(self.root, allow_not_found=True)
        prefix = f"{PARTITION_COLUMN}="
        infos = self.filesystem.get_file_info(selector)
        names = (info.base_name for info in infos if info.type == fs.FileType.Directory)
        return sorted(dt.date.fromisoformat(name[len(prefix) :]) for name in names if name.startswith(prefix))

    def read(self, days: list[dt.date], columns: list[str]) -> pa.Table:
        paths = [f"{self.directory(day)}/{PART_FILE}" for day in days]
        return ds.dataset(paths, filesystem=self.filesystem, format="parquet").to_table(columns=columns)
