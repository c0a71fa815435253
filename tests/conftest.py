"""Shared fixtures: small synthetic data, and where the reference dataset lies."""

from __future__ import annotations

import pandas as pd
import pytest

from fraudcore.data.generator import GeneratorConfig, generate_transactions
from fraudcore.settings import Settings


@pytest.fixture(scope="session")
def small_transactions() -> pd.DataFrame:
    """Two weeks of a small simulated population (fast, deterministic)."""
    return generate_transactions(
        GeneratorConfig(n_customers=300, n_terminals=600, n_days=14, seed=11), progress=False
    )


@pytest.fixture(scope="session")
def reference_path():
    """The reference parquet; tests that need it are skipped, with the reason, where it is absent."""
    path = Settings().reference_data
    if not path.is_file():
        pytest.skip(f"reference dataset absent at {path} (set FRAUD_REFERENCE_DATA)")
    return path
