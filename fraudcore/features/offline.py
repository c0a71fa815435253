"""The feature job: raw transactions -> offline feature tables (parquet in S3) for Feast.

Window-state rows (``fraudcore.features.state``) are computed in one process
(``engine="pandas"``) or per entity under Spark (``groupBy(entity).applyInPandas``) when the data
outgrows one machine; both run the same function. Event-list snapshots feed the online store.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from fraudcore.features.definitions import (
    CUSTOMER_EVENTS_VIEW,
    EVENT_TIMESTAMP,
    LOOKBACK_DAYS,
    TERMINAL_EVENTS_VIEW,
    WINDOW_STATE_TTL_DAYS,
)
from fraudcore.features.online import customer_event_lists, terminal_event_lists
from fraudcore.features.state import ENTITY_WINDOWS, EntityWindows, state_rows
from fraudcore.partitions import DayPartitions
from fraudcore.settings import Settings, get_settings
from fraudcore.storage import arrow_filesystem


def feature_days_needed(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """Days of stored state rows that lookups for requests in ``start .. end`` can read (the TTL back)."""
    return start - dt.timedelta(days=WINDOW_STATE_TTL_DAYS), end


def raw_days_needed(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """Raw days a job must read to compute every window of state rows stamped in ``start .. end``."""
    return start - dt.timedelta(days=LOOKBACK_DAYS), end


def compute_state_pandas(raw: pd.DataFrame, start: dt.date, end: dt.date) -> dict[str, pd.DataFrame]:
    """Every window view's rows stamped in ``start .. end``, computed in this process."""
    return {spec.view: state_rows(spec, raw, start, end) for spec in ENTITY_WINDOWS}


def _per_group(spec: EntityWindows, start: dt.date, end: dt.date):
    def apply(group: pd.DataFrame) -> pd.DataFrame:
        return state_rows(spec, group, start, end)

    return apply


def compute_state_spark(spark, raw: pd.DataFrame, start: dt.date, end: dt.date) -> dict[str, pd.DataFrame]:
    """The same rows, computed per entity group by Spark's ``applyInPandas``."""
    from fraudcore.spark import spark_schema

    frame = spark.createDataFrame(raw)
    out = {}
    for spec in ENTITY_WINDOWS:
        schema = spark_schema(state_rows(spec, raw.head(50), start, end))
        rows = frame.groupBy(spec.key).applyInPandas(_per_group(spec, start, end), schema=schema).toPandas()
        rows[EVENT_TIMESTAMP] = pd.to_datetime(rows[EVENT_TIMESTAMP]).dt.tz_localize("UTC")
        out[spec.view] = rows.sort_values([spec.key, EVENT_TIMESTAMP], kind="stable").reset_index(drop=True)
    return out


def event_list_snapshots(raw: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Each entity's event list as known at ``as_of`` (naive UTC), for the online store."""
    return {
        CUSTOMER_EVENTS_VIEW: customer_event_lists(raw, as_of),
        TERMINAL_EVENTS_VIEW: terminal_event_lists(raw, as_of),
    }


def offline_root(settings: Settings) -> str:
    """``bucket/prefix`` of the offline feature tables."""
    return f"{settings.bucket}/features"


def offline_glob(view: str, settings: Settings) -> str:
    """``s3://`` files of one view's offline table (the Feast batch source)."""
    return f"s3://{offline_root(settings)}/{view}/*/*.parquet"


class OfflineFeatureStore:
    """Offline feature tables under ``s3://<bucket>/features/<view>/date=YYYY-MM-DD/``."""

    def __init__(self, settings: Settings | None = None):
        settings = settings or get_settings()
        self.filesystem = arrow_filesystem(settings)
        self.root = offline_root(settings)

    def partitions(self, view: str) -> DayPartitions:
        return DayPartitions(self.filesystem, f"{self.root}/{view}")

    def write(self, features: dict[str, pd.DataFrame], progress: bool = True) -> dict[str, int]:
        """Replace each day partition present in ``features`` (by stamp day); return rows per view."""
        for view, frame in features.items():
            self.partitions(view).replace(frame, frame[EVENT_TIMESTAMP], progress, view)
        return {view: len(frame) for view, frame in features.items()}

    def write_snapshots(self, snapshots: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> dict[str, int]:
        """Write event-list snapshots into the partition of the day of ``as_of``."""
        for view, frame in snapshots.items():
            days = pd.Series([as_of.date()] * len(frame), index=frame.index)
            self.partitions(view).replace(frame, days, progress=False, label=view)
        return {view: len(frame) for view, frame in snapshots.items()}
