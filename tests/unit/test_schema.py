"""The schema check rejects bad transactions with the column and rows, and nothing is written."""

from __future__ import annotations

import pandas as pd
import pytest
from pyarrow import fs

from fraudcore.data.lake import TransactionLake
from fraudcore.schema import SchemaViolation, validate_transactions


def _rejection(frame: pd.DataFrame) -> str:
    with pytest.raises(SchemaViolation) as caught:
        validate_transactions(frame)
    return str(caught.value)


def test_good_frame_passes(small_transactions):
    validate_transactions(small_transactions)


def test_missing_column_is_named(small_transactions):
    assert "missing columns: ['TX_AMOUNT']" in _rejection(small_transactions.drop(columns="TX_AMOUNT"))


def test_wrong_type_is_named(small_transactions):
    bad = small_transactions.assign(CUSTOMER_ID=small_transactions["CUSTOMER_ID"].astype(str))
    assert "column CUSTOMER_ID: type object, expected int64" in _rejection(bad)


def test_timezone_aware_datetime_is_rejected(small_transactions):
    bad = small_transactions.assign(TX_DATETIME=small_transactions["TX_DATETIME"].dt.tz_localize("UTC"))
    assert "column TX_DATETIME" in _rejection(bad)


def test_negative_amounts_name_the_rows(small_transactions):
    bad = small_transactions.copy()
    bad.loc[[3, 17], "TX_AMOUNT"] = -1.0
    assert "column TX_AMOUNT: negative amounts in rows [3, 17]" in _rejection(bad)


def test_duplicate_ids_name_the_rows(small_transactions):
    bad = small_transactions.copy()
    bad.loc[5, "TRANSACTION_ID"] = bad.loc[4, "TRANSACTION_ID"]
    assert "column TRANSACTION_ID: duplicate ids in rows [4, 5]" in _rejection(bad)


def test_missing_values_and_bad_labels_are_reported_together(small_transactions):
    bad = small_transactions.copy()
    bad["TX_AMOUNT"] = bad["TX_AMOUNT"].astype("float64")
    bad.loc[2, "TX_AMOUNT"] = float("nan")
    bad.loc[9, "TX_FRAUD"] = 7
    message = _rejection(bad)
    assert "column TX_AMOUNT: missing values in rows [2]" in message
    assert "column TX_FRAUD: labels other than 0/1 in rows [9]" in message


def test_many_bad_rows_are_summarised(small_transactions):
    bad = small_transactions.copy()
    bad.loc[:99, "TX_AMOUNT"] = -5.0
    assert "rows [0, 1, 2, 3, 4] and 95 more" in _rejection(bad)


def test_lake_writes_nothing_on_rejection(small_transactions, tmp_path):
    lake = TransactionLake(filesystem=fs.LocalFileSystem(), root=str(tmp_path / "raw"))
    bad = small_transactions.copy()
    bad.loc[len(bad) - 1, "TX_AMOUNT"] = -1.0
    with pytest.raises(SchemaViolation):
        lake.write(bad, progress=False)
    assert not (tmp_path / "raw").exists()
    assert lake.days() == []


def test_lake_round_trip_and_partition_replace(small_transactions, tmp_path):
    lake = TransactionLake(filesystem=fs.LocalFileSystem(), root=str(tmp_path / "raw"))
    written = lake.write(small_transactions, progress=False)
    assert len(written) == 14
    assert sorted(p.name for p in (tmp_path / "raw").iterdir())[0] == "date=2018-04-01"
    pd.testing.assert_frame_equal(lake.read(), small_transactions)
    # Rewriting a day replaces that day's partition only.
    first_day = small_transactions[small_transactions["TX_TIME_DAYS"] == 0].head(10)
    lake.write(first_day, progress=False)
    again = lake.read()
    assert len(again) == len(small_transactions) - (small_transactions["TX_TIME_DAYS"] == 0).sum() + 10
    day_two = written[1]
    assert len(lake.read(day_two, day_two)) == (small_transactions["TX_TIME_DAYS"] == 1).sum()
