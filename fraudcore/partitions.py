"""Parquet tables partitioned by day, ``<root>/date=YYYY-MM-DD/part-00000.parquet``, on S3 or local disk.

Each day is one object written in one PUT under its final key, so replacing a day is atomic for
readers: they see the old rows or the new ones, never a missing day.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs
from tqdm.auto import tqdm

from fraudcore.schema import PARTITION_COLUMN

PART_FILE = "part-00000.parquet"
#: Days written at once (S3 PUTs wait on the network; encoding releases the GIL).
WRITE_THREADS = 4


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
        """Write the rows of each day in ``days`` (one date per row) over that day's file."""
        day_numbers = _day_numbers(days)
        order = np.argsort(day_numbers, kind="stable")
        table = pa.Table.from_pandas(frame.iloc[order].reset_index(drop=True), preserve_index=False)
        sorted_days = day_numbers[order]
        _, starts = np.unique(sorted_days, return_index=True)
        ends = np.r_[starts[1:], len(order)].astype(np.int64)
        slices = {
            dt.date(1970, 1, 1) + dt.timedelta(days=int(sorted_days[a])): table.slice(a, b - a)
            for a, b in zip(starts, ends, strict=True)
        }
        with ThreadPoolExecutor(WRITE_THREADS) as pool:
            futures = [pool.submit(self._write_day, day, rows) for day, rows in slices.items()]
            for future in tqdm(
                as_completed(futures),
                total=len(futures),
                desc=f"writing {label or self.root}",
                unit="day",
                disable=not progress,
            ):
                future.result()
        return sorted(slices)

    def _write_day(self, day: dt.date, rows: pa.Table) -> None:
        directory = self.directory(day)
        if not isinstance(self.filesystem, fs.S3FileSystem):  # object stores need no folders
            self.filesystem.create_dir(directory, recursive=True)
        pq.write_table(rows, f"{directory}/{PART_FILE}", filesystem=self.filesystem, compression="zstd")

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


def _day_numbers(days: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of dates, naive or UTC timestamps."""
    values = pd.Series(days)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return (pd.to_datetime(values).to_numpy("datetime64[D]")).astype(np.int64)
