"""The reference dataset loader (skipped, with the reason, where the file is absent)."""

from __future__ import annotations

import datetime as dt

import pytest

from fraudcore.data.reference import ReferenceDataMissing, load_reference
from fraudcore.schema import validate_transactions


def test_handbook_training_week_matches_published_counts(reference_path):
    week = load_reference(reference_path, dt.date(2018, 7, 25), dt.date(2018, 7, 31))
    validate_transactions(week)
    assert len(week) == 67_240
    assert int(week["TX_FRAUD"].sum()) == 598
    assert week["TX_DATETIME"].min() >= dt.datetime(2018, 7, 25)
    assert week["TX_DATETIME"].max() < dt.datetime(2018, 8, 1)


def test_missing_file_says_how_to_point_at_it(tmp_path):
    with pytest.raises(ReferenceDataMissing, match="FRAUD_REFERENCE_DATA"):
        load_reference(tmp_path / "absent.parquet")
