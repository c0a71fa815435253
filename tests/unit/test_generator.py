"""The synthetic generator reproduces the reference dataset's generative process."""

from __future__ import annotations

import pandas as pd
import pytest

from fraudcore.data.generator import ID_DAY_FACTOR, GeneratorConfig, generate_transactions
from fraudcore.schema import validate_transactions

# Measured on ../shared/data/fraud-handbook-transactions.parquet (183 days, 1,754,155 rows).
REFERENCE_FRAUD_RATE = 0.0084
REFERENCE_SCENARIO_SHARE_OF_ROWS = {1: 0.000555, 2: 0.005175, 3: 0.002640}
REFERENCE_ROWS_PER_DAY = 9_586


@pytest.fixture(scope="module")
def full_simulation() -> pd.DataFrame:
    return generate_transactions(GeneratorConfig(seed=3), progress=False)


def test_output_passes_the_schema_check(small_transactions):
    validate_transactions(small_transactions)


def test_same_seed_same_data_other_seed_other_data():
    config = GeneratorConfig(n_customers=100, n_terminals=200, n_days=5, seed=1)
    first, second = generate_transactions(config, False), generate_transactions(config, False)
    other = generate_transactions(GeneratorConfig(n_customers=100, n_terminals=200, n_days=5, seed=2), False)
    pd.testing.assert_frame_equal(first, second)
    assert not first["TX_AMOUNT"].equals(other["TX_AMOUNT"])


def test_times_are_consistent(small_transactions):
    tx = small_transactions
    start = pd.Timestamp(GeneratorConfig.start_date)
    assert (tx["TX_DATETIME"] == start + pd.to_timedelta(tx["TX_TIME_SECONDS"], unit="s")).all()
    assert (tx["TX_TIME_SECONDS"] // 86_400 == tx["TX_TIME_DAYS"]).all()
    assert tx["TX_DATETIME"].is_monotonic_increasing
    assert tx["TRANSACTION_ID"].is_monotonic_increasing and tx["TRANSACTION_ID"].is_unique


def test_ids_are_unique_across_days_and_shorter_reruns():
    """Ids say which day they belong to: a rerun over fewer days never reuses another day's ids."""
    long_run = generate_transactions(
        GeneratorConfig(n_customers=100, n_terminals=200, n_days=6, seed=1), False
    )
    short_rerun = generate_transactions(
        GeneratorConfig(n_customers=100, n_terminals=200, n_days=3, seed=2), False
    )
    kept_days = long_run[long_run["TX_TIME_DAYS"] >= 3]
    assert set(short_rerun["TRANSACTION_ID"]).isdisjoint(kept_days["TRANSACTION_ID"])
    first_id = long_run.groupby("TX_TIME_DAYS")["TRANSACTION_ID"].min()
    assert (first_id // ID_DAY_FACTOR).diff().dropna().eq(1).all()


def test_overall_fraud_rate_and_volume_match_reference(full_simulation):
    assert full_simulation["TX_FRAUD"].mean() == pytest.approx(REFERENCE_FRAUD_RATE, rel=0.10)
    rows_per_day = len(full_simulation) / GeneratorConfig.n_days
    assert rows_per_day == pytest.approx(REFERENCE_ROWS_PER_DAY, rel=0.05)


@pytest.mark.parametrize("scenario", [1, 2, 3])
def test_scenario_shares_match_reference(full_simulation, scenario):
    share = (full_simulation["TX_FRAUD_SCENARIO"] == scenario).mean()
    assert share == pytest.approx(REFERENCE_SCENARIO_SHARE_OF_ROWS[scenario], rel=0.25)


def test_scenario_rules_hold(full_simulation):
    tx = full_simulation
    assert ((tx["TX_FRAUD"] == 1) == (tx["TX_FRAUD_SCENARIO"] > 0)).all()
    # Scenario 1 is exactly "amount above 220" among transactions not later hit by scenarios 2-3.
    not_overridden = tx["TX_FRAUD_SCENARIO"].isin([0, 1])
    assert (
        (tx.loc[not_overridden, "TX_AMOUNT"] > 220) == (tx.loc[not_overridden, "TX_FRAUD_SCENARIO"] == 1)
    ).all()
    assert (tx["TX_AMOUNT"] >= 0).all()


def test_compromised_terminal_frauds_last_28_days(full_simulation):
    tx = full_simulation[full_simulation["TX_FRAUD_SCENARIO"] == 2]
    spans = tx.groupby("TERMINAL_ID")["TX_TIME_DAYS"].agg(lambda days: days.max() - days.min())
    # One compromise lasts at most 28 days; overlapping ones can chain, but most terminals are hit once.
    assert (spans < 28).mean() > 0.9


def test_compromised_customers_have_a_third_of_transactions_stolen(full_simulation):
    tx = full_simulation
    stolen = tx[tx["TX_FRAUD_SCENARIO"] == 3]
    assert len(stolen) > 0
    # Stolen amounts are multiplied by 5, so they are much larger than the genuine ones.
    assert stolen["TX_AMOUNT"].median() > 4 * tx.loc[tx["TX_FRAUD"] == 0, "TX_AMOUNT"].median()
