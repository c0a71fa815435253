"""The feature job: raw transactions -> offline feature tables (parquet in S3) for Feast.

One implementation of the feature logic, run in one process (``engine="pandas"``) or under Spark
(``groupBy(entity).applyInPandas``) when the data outgrows one machine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd

from fraudcore.features.customer import customer_spending
from fraudcore.features.definitions import (
    CUSTOMER_KEY,
    CUSTOMER_VIEW,
    EVENT_TIMESTAMP,
    FEATURE_TTL_DAYS,
    LOOKBACK_DAYS,
    TERMINAL_KEY,
    TERMINAL_VIEW,
)
from fraudcore.features.terminal import terminal_risk
from fraudcore.partitions import DayPartitions
from fraudcore.settings import Settings, get_settings
from fraudcore.storage import arrow_filesystem

#: view name -> (entity key, feature function)
FEATURE_JOBS: dict[str, tuple[str, Callable[[pd.DataFrame], pd.DataFrame]]] = {
    CUSTOMER_VIEW: (CUSTOMER_KEY, customer_spending),
    TERMINAL_VIEW: (TERMINAL_KEY, terminal_risk),
}


def feature_days_needed(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """Days of stored feature rows that lookups for requests in ``start .. end`` can read (the TTL back)."""
    return start - dt.timedelta(days=FEATURE_TTL_DAYS), end


def raw_days_needed(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """Raw days a job must read to fill every window of feature rows stamped in ``start .. end``."""
    return start - dt.timedelta(days=LOOKBACK_DAYS), end


def _within(frame: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    day = frame[EVENT_TIMESTAMP].dt.normalize()
    return frame[(day >= pd.Timestamp(start)) & (day <= pd.Timestamp(end))].reset_index(drop=True)


def compute_features_pandas(raw: pd.DataFrame, start: dt.date, end: dt.date) -> dict[str, pd.DataFrame]:
    """Every view's rows stamped in ``start .. end``, computed in this process."""
    return {view: _within(function(raw), start, end) for view, (_, function) in FEATURE_JOBS.items()}


def _one_argument(function: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Spark passes the group key too to functions of more than one parameter (defaults included)."""

    def apply(group: pd.DataFrame) -> pd.DataFrame:
        return function(group)

    return apply


def compute_features_spark(spark, raw: pd.DataFrame, start: dt.date, end: dt.date) -> dict[str, pd.DataFrame]:
    """The same rows, computed per entity group by Spark's ``applyInPandas``."""
    from fraudcore.spark import spark_schema

    frame = spark.createDataFrame(raw)
    out = {}
    for view, (key, function) in FEATURE_JOBS.items():
        schema = spark_schema(function(raw.head(50)))
        rows = frame.groupBy(key).applyInPandas(_one_argument(function), schema=schema).toPandas()
        rows[EVENT_TIMESTAMP] = pd.to_datetime(rows[EVENT_TIMESTAMP]).astype("datetime64[ns]")
        rows = rows.sort_values([key, EVENT_TIMESTAMP], kind="stable").reset_index(drop=True)
        out[view] = _within(rows, start, end)
    return out


def offline_root(settings: Settings) -> str:
    """``bucket/prefix`` of the offline feature tables."""
    return f"{settings.bucket}/features"


def offline_uri(view: str, settings: Settings) -> str:
    """``s3://`` folder of one view's offline table (the Feast batch source)."""
    return f"s3://{offline_root(settings)}/{view}/"


class OfflineFeatureStore:
    """Offline feature tables under ``s3://<bucket>/features/<view>/date=YYYY-MM-DD/``."""

    def __init__(self, settings: Settings | None = None):
        settings = settings or get_settings()
        self.filesystem = arrow_filesystem(settings)
        self.root = offline_root(settings)

    def write(self, features: dict[str, pd.DataFrame], progress: bool = True) -> dict[str, int]:
        """Replace each day partition present in ``features``; return rows written per view."""
        for view, frame in features.items():
            stamped = frame.assign(**{EVENT_TIMESTAMP: frame[EVENT_TIMESTAMP].dt.tz_localize("UTC")})
            partitions = DayPartitions(self.filesystem, f"{self.root}/{view}")
            partitions.replace(stamped, stamped[EVENT_TIMESTAMP].dt.date, progress, view)
        return {view: len(frame) for view, frame in features.items()}
