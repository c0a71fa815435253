"""The feature job gives identical window-state rows in one process and under Spark's applyInPandas."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from fraudcore.features.offline import compute_state_pandas, compute_state_spark
from fraudcore.spark import local_spark_session

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spark():
    session = local_spark_session("feature-job-test", cores=2)
    yield session
    session.stop()


def test_pandas_and_spark_feature_jobs_agree(spark, small_transactions):
    start, end = dt.date(2018, 4, 5), dt.date(2018, 4, 14)
    local = compute_state_pandas(small_transactions, start, end)
    distributed = compute_state_spark(spark, small_transactions, start, end)
    assert set(local) == set(distributed)
    for view, frame in local.items():
        assert len(frame) > 1000
        pd.testing.assert_frame_equal(frame, distributed[view], check_dtype=False, rtol=1e-12)
