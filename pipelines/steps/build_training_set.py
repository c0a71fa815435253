"""Build training set: run the feature job into the offline store, then Feast point-in-time retrieval."""

from __future__ import annotations

import time

import pandas as pd

from fraudcore.evaluation import delayed_test_rows, train_rows
from fraudcore.feature_repo import feast_objects
from fraudcore.feature_store import feature_store, training_features
from fraudcore.features.offline import OfflineFeatureStore, compute_state_pandas, feature_days_needed
from fraudcore.schema import LABEL
from pipelines.steps.split import split_from_json


def build_training_set(raw_path: str, split_json: str, train_path: str, test_path: str) -> dict[str, float]:
    """Write the train and test feature tables; return their sizes."""
    split = split_from_json(split_json)
    raw = pd.read_parquet(raw_path)
    started = time.monotonic()
    state = compute_state_pandas(raw, *feature_days_needed(split.train_start, split.test_end))
    computed = time.monotonic()
    written = OfflineFeatureStore().write(state)
    print(
        f"feature job: {written} window-state rows computed in {computed - started:.1f} s, "
        f"written in {time.monotonic() - computed:.1f} s"
    )
    store = feature_store()
    store.apply(feast_objects())
    train, test = train_rows(raw, split), delayed_test_rows(raw, split)
    started = time.monotonic()
    both = training_features(store, pd.concat([train, test], keys=["train", "test"]))
    print(f"point-in-time retrieval of {len(both):,} rows in {time.monotonic() - started:.1f} s")
    train, test = both.loc["train"].reset_index(drop=True), both.loc["test"].reset_index(drop=True)
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
