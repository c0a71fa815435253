"""A batch run's inputs are checked before anything is written: days, look-back, model, schema."""

from __future__ import annotations

import datetime as dt

import pytest
from pyarrow import fs
from pyspark.sql.types import ByteType, DoubleType, LongType, StructField, StructType, TimestampNTZType

from batch.inputs import BatchInputError, check_inputs, check_schema
from fraudcore.data.lake import TransactionLake


class FakeRegistry:
    name = "fraud-detector"

    def __init__(self, champion: str | None = "3"):
        self.champion = champion

    def aliases(self) -> dict[str, str]:
        return {"champion": self.champion} if self.champion else {}

    def version(self, version: str):
        return version


@pytest.fixture
def lake(tmp_path, small_transactions) -> TransactionLake:
    lake = TransactionLake(filesystem=fs.LocalFileSystem(), root=str(tmp_path / "raw"))
    lake.write(small_transactions, progress=False)
    return lake


def test_the_days_and_the_champion_are_resolved(lake):
    inputs = check_inputs(lake, FakeRegistry(), dt.date(2018, 4, 10), dt.date(2018, 4, 11), None)
    assert inputs.model_version == "3"
    assert inputs.score_days == [dt.date(2018, 4, 10), dt.date(2018, 4, 11)]
    assert inputs.history_days[0] == dt.date(2018, 4, 1)  # the look-back stops at the lake's first day
    assert inputs.read_days[-1] == dt.date(2018, 4, 11)


def test_a_missing_day_a_gap_in_the_look_back_and_a_missing_alias_are_named(lake):
    with pytest.raises(BatchInputError, match=r"no transactions in the lake for day\(s\) \['2018-04-15'\]"):
        check_inputs(lake, FakeRegistry(), dt.date(2018, 4, 14), dt.date(2018, 4, 15), None)
    lake.partitions.filesystem.delete_dir(lake.partitions.directory(dt.date(2018, 4, 3)))
    with pytest.raises(
        BatchInputError, match=r"\['2018-04-03'\] of the 37-day feature look-back are missing"
    ):
        check_inputs(lake, FakeRegistry(), dt.date(2018, 4, 10), dt.date(2018, 4, 10), None)
    with pytest.raises(BatchInputError, match="has no 'champion' alias"):
        check_inputs(lake, FakeRegistry(None), dt.date(2018, 4, 2), dt.date(2018, 4, 2), None)
    with pytest.raises(BatchInputError, match="is after"):
        check_inputs(lake, FakeRegistry(), dt.date(2018, 4, 12), dt.date(2018, 4, 11), None)


def test_a_schema_mismatch_names_the_column():
    good = [
        StructField("TRANSACTION_ID", LongType()),
        StructField("TX_DATETIME", TimestampNTZType()),
        StructField("CUSTOMER_ID", LongType()),
        StructField("TERMINAL_ID", LongType()),
        StructField("TX_AMOUNT", DoubleType()),
        StructField("TX_TIME_SECONDS", LongType()),
        StructField("TX_TIME_DAYS", LongType()),
        StructField("TX_FRAUD", ByteType()),
        StructField("TX_FRAUD_SCENARIO", ByteType()),
    ]
    check_schema(StructType(good))
    wrong = [*good[:4], StructField("TX_AMOUNT", LongType()), *good[5:8]]
    with pytest.raises(
        BatchInputError,
        match=r"column TX_AMOUNT: type bigint, expected double; missing column TX_FRAUD_SCENARIO",
    ):
        check_schema(StructType(wrong))
