"""Build training set: run the feature job into the offline store, then Feast point-in-time retrieval."""

from __future__ import annotations

import time

import pandas as pd

from fraudcore.evaluation import delayed_test_rows, train_rows
from fraudcore.feature_repo import feast_objects
from fraudcore.feature_store import feature_store, historical_features
from fraudcore.features.offline import OfflineFeatureStore, compute_features_pandas, feature_days_needed
from fraudcore.schema import LABEL
from pipelines.steps.split import split_from_json


def build_training_set(raw_path: str, split_json: str, train_path: str, test_path: str) -> dict[str, float]:
    """Write the train and test feature tables; return their sizes."""
    split = split_from_json(split_json)
    raw = pd.read_parquet(raw_path)
    started = time.monotonic()
    features = compute_features_pandas(raw, *feature_days_needed(split.train_start, split.test_end))
    written = OfflineFeatureStore().write(features)
    print(f"feature job: {written} rows in {time.monotonic() - started:.1f} s")
    store = feature_store()
    store.apply(feast_objects())
    train = historical_features(store, train_rows(raw, split))
    test = historical_features(store, delayed_test_rows(raw, split))
    train.to_parquet(train_path, index=False)
    test.to_parquet(test_path, index=False)
    print(
        f"training set {len(train):,} rows ({int(train[LABEL].sum())} frauds), "
        f"test set {len(test):,} rows ({int(test[LABEL].sum())} frauds)"
    )
    return {
        "train_rows": float(len(train)),
        "delayed_test_rows": float(len(test)),
        "train_frauds": float(train[LABEL].sum()),
        "test_frauds": float(test[LABEL].sum()),
    }
