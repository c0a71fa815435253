"""The transaction lake on the real S3 server (SeaweedFS): day replacement is atomic for readers."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import numpy as np
import pyarrow.parquet as pq
import pytest

from fraudcore.data.lake import TransactionLake
from fraudcore.partitions import PartialWriteError
from fraudcore.storage import ensure_buckets, s3_client

pytestmark = pytest.mark.integration

DAY_ONE = dt.date(2018, 4, 1)


@pytest.fixture
def lake(stack, small_transactions) -> TransactionLake:
    settings = stack.model_copy(update={"bucket": f"itest-lake-{uuid.uuid4().hex[:8]}"})
    ensure_buckets([settings.bucket], settings)
    lake = TransactionLake(settings)
    lake.write(small_transactions, progress=False)
    return lake


def test_day_replacement_on_s3_is_atomic_for_readers(lake, small_transactions):
    day_one = small_transactions[small_transactions["TX_DATETIME"].dt.date == DAY_ONE]
    versions = [day_one, day_one.iloc[: len(day_one) // 3]]
    seen, errors, stop = [], [], threading.Event()

    def read_repeatedly():
        reader = TransactionLake(lake.settings)  # its own S3 client, as another process would have
        while not stop.is_set():
            try:
                seen.append(len(reader.read(DAY_ONE, DAY_ONE)))
            except Exception as error:
                errors.append(error)

    thread = threading.Thread(target=read_repeatedly)
    thread.start()
    for i in range(12):
        lake.write(versions[i % 2], progress=False)
    stop.set()
    thread.join()
    assert errors == [] and len(seen) > 5 and set(seen) <= {len(v) for v in versions}


def test_a_crashed_s3_write_keeps_the_previous_day_whole(lake, small_transactions, monkeypatch):
    day_one = small_transactions[small_transactions["TX_DATETIME"].dt.date == DAY_ONE]
    real_write = pq.write_table

    def crash_midway(table, where, **kwargs):
        real_write(table.slice(0, 2), where, **kwargs)
        raise ConnectionError("S3 PUT interrupted")

    monkeypatch.setattr(pq, "write_table", crash_midway)
    with pytest.raises(PartialWriteError, match="S3 PUT interrupted"):
        lake.write(day_one.assign(TX_AMOUNT=0.0), progress=False)
    monkeypatch.undo()
    back = lake.read(DAY_ONE, DAY_ONE)
    np.testing.assert_array_equal(back["TX_AMOUNT"], day_one["TX_AMOUNT"])
    prefix = f"{lake.settings.raw_prefix}/date=2018-04-01/"
    listed = s3_client(lake.settings).list_objects_v2(Bucket=lake.settings.bucket, Prefix=prefix)
    objects = [item["Key"] for item in listed["Contents"] if not item["Key"].endswith("/")]  # no folders
    assert objects == [f"{prefix}part-00000.parquet"]
