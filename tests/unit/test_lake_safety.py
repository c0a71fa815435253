"""The lake never loses a day: atomic replacement, crashes keep the old file, bad input writes nothing."""

from __future__ import annotations

import datetime as dt
import re
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from fraudcore.data.lake import TransactionLake
from fraudcore.data.reference import ReferenceDataUnreadable, load_reference
from fraudcore.partitions import MissingDaysError, PartialWriteError
from fraudcore.schema import SchemaViolation, conform

DAY_ONE = dt.date(2018, 4, 1)


@pytest.fixture
def lake(tmp_path) -> TransactionLake:
    return TransactionLake(filesystem=fs.LocalFileSystem(), root=str(tmp_path / "raw"))


@pytest.fixture
def filled(lake, small_transactions) -> TransactionLake:
    lake.write(small_transactions, progress=False)
    return lake


def _snapshot(lake: TransactionLake) -> tuple[list[dt.date], pd.DataFrame]:
    return lake.days(), lake.read()


def test_a_write_interrupted_between_old_and_new_data_keeps_the_old_day_whole(
    filled, small_transactions, monkeypatch
):
    before = _snapshot(filled)
    day_one = small_transactions[small_transactions["TX_DATETIME"].dt.date == DAY_ONE]
    real_write = pq.write_table

    def crash_midway(table, where, **kwargs):
        real_write(table.slice(0, 3), where, **kwargs)  # part of the new day is on disk...
        raise OSError("connection reset while uploading")  # ...then the writer dies

    monkeypatch.setattr(pq, "write_table", crash_midway)
    with pytest.raises(PartialWriteError, match=r"2018-04-01: connection reset"):
        filled.write(day_one.assign(TX_AMOUNT=day_one["TX_AMOUNT"] + 1), progress=False)
    monkeypatch.undo()
    days, rows = _snapshot(filled)
    assert days == before[0]
    pd.testing.assert_frame_equal(rows, before[1])
    folder = filled.partitions.directory(DAY_ONE)
    assert [
        info.base_name for info in filled.partitions.filesystem.get_file_info(fs.FileSelector(folder))
    ] == ["part-00000.parquet"]


def test_a_multi_day_write_that_fails_on_some_days_says_which_days_landed(
    filled, small_transactions, monkeypatch
):
    real_move = filled.partitions.filesystem.move
    broken_day = "date=2018-04-03"

    class FlakyFilesystem(fs.LocalFileSystem):
        pass

    def move(source, destination):
        if broken_day in destination:
            raise OSError("disk full")
        return real_move(source, destination)

    monkeypatch.setattr(filled.partitions, "filesystem", FlakyFilesystem())
    monkeypatch.setattr(filled.partitions.filesystem, "move", move, raising=False)
    first_week = small_transactions[small_transactions["TX_DATETIME"] < "2018-04-05"]
    with pytest.raises(PartialWriteError) as caught:
        filled.write(first_week.assign(TX_AMOUNT=first_week["TX_AMOUNT"] * 2), progress=False)
    error = caught.value
    assert [day.isoformat() for day in error.failed] == ["2018-04-03"]
    assert [day.isoformat() for day in error.landed] == ["2018-04-01", "2018-04-02", "2018-04-04"]
    monkeypatch.undo()
    kept = filled.read(dt.date(2018, 4, 3), dt.date(2018, 4, 3))
    original = small_transactions[small_transactions["TX_DATETIME"].dt.date == dt.date(2018, 4, 3)]
    np.testing.assert_array_equal(kept["TX_AMOUNT"], original["TX_AMOUNT"])


def test_a_reader_never_sees_a_day_missing_while_it_is_replaced(filled, small_transactions):
    day_one = small_transactions[small_transactions["TX_DATETIME"].dt.date == DAY_ONE]
    versions = [day_one, day_one.iloc[: len(day_one) // 2]]
    sizes = {len(v) for v in versions}
    seen, errors, stop = [], [], threading.Event()

    def read_repeatedly():
        while not stop.is_set():
            try:
                seen.append(len(filled.read(DAY_ONE, DAY_ONE)))
            except Exception as error:  # a missing or half-written day
                errors.append(error)

    reader = threading.Thread(target=read_repeatedly)
    reader.start()
    for i in range(30):
        filled.write(versions[i % 2], progress=False)
    stop.set()
    reader.join()
    assert errors == [] and len(seen) > 5 and set(seen) <= sizes


def test_a_missing_or_empty_day_inside_a_range_is_an_error_naming_it(filled, small_transactions):
    filled.partitions.filesystem.delete_dir(filled.partitions.directory(dt.date(2018, 4, 5)))
    with pytest.raises(MissingDaysError, match=r"no data for day\(s\) \['2018-04-05'\]"):
        filled.read(dt.date(2018, 4, 4), dt.date(2018, 4, 6))
    with pytest.raises(MissingDaysError, match="2018-04-05"):
        filled.read()  # the whole lake: a gap inside it is an error too
    with pytest.raises(MissingDaysError, match=r"2018-05-01"):
        filled.read(dt.date(2018, 5, 1), dt.date(2018, 5, 2))  # after the lake's last day
    with pytest.raises(ValueError, match="empty range"):
        filled.read(dt.date(2018, 4, 3), dt.date(2018, 4, 2))
    pq.write_table(
        pa.Table.from_pandas(small_transactions.head(0), preserve_index=False),
        f"{filled.partitions.directory(dt.date(2018, 4, 6))}/part-00000.parquet",
        filesystem=filled.partitions.filesystem,
    )
    with pytest.raises(MissingDaysError, match=r"day\(s\) \['2018-04-06'\] hold no rows"):
        filled.read(dt.date(2018, 4, 6), dt.date(2018, 4, 7))


def _bad_inputs(tx: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, str]]:
    """Each bad input, and what its rejection must say."""
    half_label = tx.assign(TX_FRAUD=tx["TX_FRAUD"].astype("float64"))
    half_label.loc[7, "TX_FRAUD"] = 0.5
    nan_id = tx.assign(CUSTOMER_ID=tx["CUSTOMER_ID"].astype("float64"))
    nan_id.loc[4, "CUSTOMER_ID"] = np.nan
    fraction_id = tx.assign(TERMINAL_ID=tx["TERMINAL_ID"].astype("float64"))
    fraction_id.loc[2, "TERMINAL_ID"] = 12.5
    negative = tx.copy()
    negative.loc[[3, 8], "TX_AMOUNT"] = -2.0
    duplicate = tx.copy()
    duplicate.loc[6, "TRANSACTION_ID"] = duplicate.loc[5, "TRANSACTION_ID"]
    infinite = tx.copy()
    infinite.loc[1, "TX_AMOUNT"] = np.inf
    huge_id = tx.assign(CUSTOMER_ID=tx["CUSTOMER_ID"].astype("float64"))
    huge_id.loc[9, "CUSTOMER_ID"] = 2.0**63 + 4096
    return {
        "label 0.5": (half_label, "column TX_FRAUD: labels other than 0/1 in rows [7]"),
        "NaN in an integer column": (nan_id, "column CUSTOMER_ID: missing values in rows [4]"),
        "fraction in an integer column": (fraction_id, "column TERMINAL_ID: non-integer values in rows [2]"),
        "missing column": (tx.drop(columns="TX_AMOUNT"), "missing columns: ['TX_AMOUNT']"),
        "wrong type": (tx.assign(TX_AMOUNT=tx["TX_AMOUNT"].astype(str)), "column TX_AMOUNT: type object"),
        "negative amounts": (negative, "column TX_AMOUNT: negative amounts in rows [3, 8]"),
        "duplicate ids in a batch": (duplicate, "column TRANSACTION_ID: duplicate ids in rows [5, 6]"),
        "infinite amount": (infinite, "column TX_AMOUNT: infinite values in rows [1]"),
        "id beyond int64": (huge_id, "column CUSTOMER_ID: values outside int64 in rows [9]"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "label 0.5",
        "NaN in an integer column",
        "fraction in an integer column",
        "missing column",
        "wrong type",
        "negative amounts",
        "duplicate ids in a batch",
        "infinite amount",
        "id beyond int64",
    ],
)
def test_bad_input_is_rejected_with_its_reason_before_any_cast_and_nothing_is_written(
    filled, small_transactions, tmp_path, case
):
    frame, reason = _bad_inputs(small_transactions.head(50).copy())[case]
    before = _snapshot(filled)
    with pytest.raises(SchemaViolation, match=re.escape(reason)):
        conform(frame)  # the generator's and the loader's path
    path = tmp_path / f"{case}.parquet"
    frame.to_parquet(path, index=False)
    with pytest.raises(SchemaViolation, match=re.escape(reason)):
        filled.write(load_reference(path), progress=False)
    days, rows = _snapshot(filled)
    assert days == before[0]
    pd.testing.assert_frame_equal(rows, before[1])


def test_ids_already_used_by_another_day_are_rejected(filled, small_transactions):
    before = _snapshot(filled)
    other_day = small_transactions[small_transactions["TX_DATETIME"].dt.date == dt.date(2018, 4, 2)]
    reused = small_transactions[small_transactions["TX_DATETIME"].dt.date == DAY_ONE].copy()
    reused.iloc[:2, reused.columns.get_loc("TRANSACTION_ID")] = (
        other_day["TRANSACTION_ID"].iloc[:2].to_numpy()
    )
    with pytest.raises(SchemaViolation, match="ids already used by other days of the lake"):
        filled.write(reused, progress=False)
    pd.testing.assert_frame_equal(filled.read(), before[1])


def test_a_file_that_is_not_parquet_or_holds_nothing_is_rejected(tmp_path, small_transactions):
    not_parquet = tmp_path / "transactions.parquet"
    not_parquet.write_text("TRANSACTION_ID,TX_AMOUNT\n1,10.0\n")
    with pytest.raises(ReferenceDataUnreadable, match="is not a readable parquet file"):
        load_reference(not_parquet)
    empty_file = tmp_path / "empty.parquet"
    empty_file.write_bytes(b"")
    with pytest.raises(ReferenceDataUnreadable, match="is not a readable parquet file"):
        load_reference(empty_file)
    no_rows = tmp_path / "no-rows.parquet"
    small_transactions.head(0).to_parquet(no_rows)
    with pytest.raises(ReferenceDataUnreadable, match="holds no transactions"):
        load_reference(no_rows)
