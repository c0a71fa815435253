"""Parquet tables partitioned by day, ``<root>/date=YYYY-MM-DD/part-00000.parquet``, on S3 or local disk.

A day is written beside its file (a temporary name no reader looks at), then moved over it: a
server-side copy on S3, a rename on disk, both atomic. Readers therefore see a day's old rows or
its new ones, never a missing or half-written day, and a crash leaves the previous file whole.
A day is listed only when its file exists.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs
from tqdm.auto import tqdm

from fraudcore.schema import PARTITION_COLUMN

PART_FILE = "part-00000.parquet"
#: Days written at once (S3 PUTs wait on the network; encoding releases the GIL).
WRITE_THREADS = 4


class PartialWriteError(RuntimeError):
    """Some days of a multi-day write failed; each failed day still holds its previous rows."""

    def __init__(self, landed: list[dt.date], failed: dict[dt.date, BaseException]):
        self.landed, self.failed = landed, failed
        reasons = "; ".join(f"{day}: {error}" for day, error in sorted(failed.items()))
        super().__init__(
            f"{len(failed)} day(s) not written, kept as they were: {reasons}. "
            f"{len(landed)} day(s) written: {[day.isoformat() for day in landed]}"
        )


class MissingDaysError(LookupError):
    """Days inside a range a reader needs are absent or empty."""


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
        ends = np.r_[starts[1:], len(order)].astype(np.int64)[: len(starts)]
        slices = {
            dt.date(1970, 1, 1) + dt.timedelta(days=int(sorted_days[a])): table.slice(a, b - a)
            for a, b in zip(starts, ends, strict=True)
        }
        landed: list[dt.date] = []
        failed: dict[dt.date, BaseException] = {}
        with ThreadPoolExecutor(WRITE_THREADS) as pool:
            futures = {pool.submit(self._write_day, day, rows): day for day, rows in slices.items()}
            for future in tqdm(
                as_completed(futures),
                total=len(futures),
                desc=f"writing {label or self.root}",
                unit="day",
                disable=not progress,
            ):
                error = future.exception()
                if error is None:
                    landed.append(futures[future])
                else:
                    failed[futures[future]] = error
        if failed:
            raise PartialWriteError(sorted(landed), failed)
        return sorted(landed)

    def _write_day(self, day: dt.date, rows: pa.Table) -> None:
        directory = self.directory(day)
        if not isinstance(self.filesystem, fs.S3FileSystem):  # object stores need no folders
            self.filesystem.create_dir(directory, recursive=True)
        temporary = f"{directory}/.{PART_FILE}.{uuid.uuid4().hex}.tmp"
        try:
            # Microsecond timestamps: the platform's resolution, and what Spark and DuckDB read.
            pq.write_table(
                rows, temporary, filesystem=self.filesystem, compression="zstd", coerce_timestamps="us"
            )
            if isinstance(self.filesystem, fs.S3FileSystem):
                self.filesystem.copy_file(temporary, f"{directory}/{PART_FILE}")  # one server-side copy
            else:
                self.filesystem.move(temporary, f"{directory}/{PART_FILE}")  # one rename
        finally:  # the day has landed (or not) by now: a leftover temporary file is only clutter
            with contextlib.suppress(Exception):
                self.filesystem.delete_file(temporary)

    def adopt(self, day: dt.date, source: str) -> None:
        """Make the parquet file ``source`` (on the same filesystem) the day's file, in one step: a
        server-side copy on S3, a rename on disk. For files another writer (Spark) produced."""
        directory = self.directory(day)
        if isinstance(self.filesystem, fs.S3FileSystem):
            self.filesystem.copy_file(source, f"{directory}/{PART_FILE}")
        else:
            self.filesystem.create_dir(directory, recursive=True)
            self.filesystem.move(source, f"{directory}/{PART_FILE}")

    def days(self) -> list[dt.date]:
        """The days whose file exists, sorted."""
        selector = fs.FileSelector(self.root, allow_not_found=True, recursive=True)
        prefix = f"{PARTITION_COLUMN}="
        days = []
        for info in self.filesystem.get_file_info(selector):
            folder = info.path.rsplit("/", 2)[-2] if info.path.count("/") else ""
            if info.type == fs.FileType.File and info.base_name == PART_FILE and folder.startswith(prefix):
                days.append(dt.date.fromisoformat(folder[len(prefix) :]))
        return sorted(days)

    def read(self, days: list[dt.date], columns: list[str]) -> pa.Table:
        """The rows of ``days``; raises :class:`MissingDaysError` naming each day absent or empty."""
        present = set(self.days())
        absent = [day.isoformat() for day in days if day not in present]
        if absent:
            raise MissingDaysError(f"{self.root}: no data for day(s) {absent}")
        with ThreadPoolExecutor(WRITE_THREADS) as pool:
            tables = list(pool.map(lambda day: self._read_day(day, columns), days))
        empty = [day.isoformat() for day, table in zip(days, tables, strict=True) if table.num_rows == 0]
        if empty:
            raise MissingDaysError(f"{self.root}: day(s) {empty} hold no rows")
        return pa.concat_tables(tables) if tables else pa.table({column: [] for column in columns})

    def _read_day(self, day: dt.date, columns: list[str], attempts: int = 5) -> pa.Table:
        """One day's file, fetched whole and parsed from memory.

        An object store serves a file in several requests (its size, then ranges); a replacement
        between them mixes two versions and the parse fails. Read again then: each attempt sees
        one version whole, the old or the new one.
        """
        path = f"{self.directory(day)}/{PART_FILE}"
        for attempt in range(attempts):
            with self.filesystem.open_input_file(path) as source:
                data = source.read()
            try:
                return pq.read_table(pa.BufferReader(data), columns=columns)
            except pa.ArrowInvalid:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")


def _day_numbers(days: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of dates, naive or UTC timestamps."""
    values = pd.Series(days)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return (pd.to_datetime(values).to_numpy("datetime64[D]")).astype(np.int64)
