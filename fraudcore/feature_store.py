"""The Feast feature store, configured from the platform settings (no YAML to keep in sync)."""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
from feast import FeatureStore, RepoConfig
from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
from tqdm.auto import tqdm

from fraudcore.features.definitions import (
    CUSTOMER_FEATURES,
    CUSTOMER_VIEW,
    FEATURE_SERVICE,
    FEATURE_TTL_DAYS,
    TERMINAL_FEATURES,
    TERMINAL_VIEW,
)
from fraudcore.features.request import request_features
from fraudcore.settings import Settings, get_settings

#: A scoring request at t reads the entity state stored strictly before t (never its own row).
LOOKUP_BEFORE = pd.Timedelta(milliseconds=1)


def repo_config(settings: Settings | None = None) -> RepoConfig:
    """Feast config: registry in S3, Dask offline store over S3 parquet, sqlite or Redis online store."""
    settings = settings or get_settings()
    # Feast's S3 registry and the Dask store's s3fs read credentials and endpoint from the environment.
    os.environ.update(settings.s3_env())
    os.environ["FEAST_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    if settings.feast_redis_url:
        online = {"type": "redis", "connection_string": settings.feast_redis_url}
    else:
        path = settings.state_dir.resolve() / "feast" / "online.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        online = SqliteOnlineStoreConfig(path=str(path))
    return RepoConfig(
        project=settings.feast_project,
        provider="local",
        registry={
            "registry_type": "file",
            "path": f"s3://{settings.bucket}/feast/registry.pb",
            "cache_ttl_seconds": 60,
        },
        offline_store={"type": "file"},
        online_store=online,
        entity_key_serialization_version=3,
        repo_path=None,
    )


def feature_store(settings: Settings | None = None) -> FeatureStore:
    return FeatureStore(config=repo_config(settings))


def entity_frame(transactions: pd.DataFrame) -> pd.DataFrame:
    """Feast entity rows for ``transactions``: their columns (keys, request, label...) and the lookup time."""
    frame = transactions.copy()
    # Feast keeps one row per (entity key, timestamp): nudge transactions of the same second apart
    # by microseconds, far less than LOOKUP_BEFORE, so each keeps its own row and the same stored state.
    twin_rank = frame.groupby("TX_DATETIME").cumcount()
    lookup = frame["TX_DATETIME"] - LOOKUP_BEFORE - pd.to_timedelta(twin_rank, unit="us")
    frame["event_timestamp"] = lookup.dt.tz_localize("UTC")
    return frame


def historical_features(
    store: FeatureStore, transactions: pd.DataFrame, progress: bool = True
) -> pd.DataFrame:
    """Point-in-time correct features of ``transactions`` from Feast's offline store, a week at a time.

    Week chunks bound the memory of the Dask store's join (it joins every stored row of an entity
    before filtering by time); smaller chunks pay Dask's fixed cost too often.
    """
    service = store.get_feature_service(FEATURE_SERVICE)
    entities = entity_frame(transactions)
    weeks = (entities["TX_DATETIME"] - entities["TX_DATETIME"].min()).dt.days // 7
    chunks = []
    for _, chunk in tqdm(
        entities.groupby(weeks, sort=True), desc="point-in-time join", unit="week", disable=not progress
    ):
        chunks.append(_naive_times(store.get_historical_features(entity_df=chunk, features=service).to_df()))
    joined = _restore_dropped_rows(store, entities, pd.concat(chunks, ignore_index=True))
    return joined.sort_values(["TX_DATETIME", "TRANSACTION_ID"], kind="stable").reset_index(drop=True)


def _naive_times(frame: pd.DataFrame) -> pd.DataFrame:
    """Feast hands request timestamps back in UTC; the platform's transactions are naive (UTC) times."""
    if isinstance(frame["TX_DATETIME"].dtype, pd.DatetimeTZDtype):
        frame["TX_DATETIME"] = (
            frame["TX_DATETIME"].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
        )
    return frame


def _restore_dropped_rows(store: FeatureStore, entities: pd.DataFrame, joined: pd.DataFrame) -> pd.DataFrame:
    """Put back the rows Feast's Dask store drops, with the features they really have.

    The Dask store loses an entity row when the entity has stored rows but none inside
    (lookup time - TTL, lookup time]. Such rows are looked up view by view (a view without a valid
    row gives no values) and their request features computed by the same function as Feast's.
    """
    dropped = entities[~entities["TRANSACTION_ID"].isin(joined["TRANSACTION_ID"])]
    if dropped.empty:
        return joined
    restored = dropped.copy()
    for view, names in [(CUSTOMER_VIEW, CUSTOMER_FEATURES), (TERMINAL_VIEW, TERMINAL_FEATURES)]:
        refs = [f"{view}:{name}" for name in names]
        found = store.get_historical_features(entity_df=dropped, features=refs).to_df()
        restored = restored.merge(found[["TRANSACTION_ID", *names]], on="TRANSACTION_ID", how="left")
    restored = pd.concat([restored, request_features(restored)], axis=1)
    print(f"restored {len(restored)} rows without recent stored state (dropped by Feast's Dask store)")
    return pd.concat([joined, restored[joined.columns]], ignore_index=True)


def materialize(store: FeatureStore, end: dt.datetime) -> dt.datetime:
    """Load the online store with each entity's latest state stamped within the TTL before ``end``.

    An explicit window rather than ``materialize_incremental``: that one starts from "now - TTL",
    which misses historical (replayed) data. Returns the window's start.
    """
    end = pd.Timestamp(end).tz_localize("UTC") if pd.Timestamp(end).tzinfo is None else pd.Timestamp(end)
    start = end - pd.Timedelta(days=FEATURE_TTL_DAYS)
    store.materialize(start_date=start.to_pydatetime(), end_date=end.to_pydatetime())
    return start.to_pydatetime()
