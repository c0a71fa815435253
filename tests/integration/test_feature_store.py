"""Feast on the real local stack: DuckDB point-in-time retrieval equals the definitions, online equals
offline (sqlite and Redis), no future transaction and no young label is ever read."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid

import numpy as np
import pandas as pd
import pytest

from fraudcore.feature_repo import feast_objects
from fraudcore.feature_store import feature_store, historical_state, materialize, online_state
from fraudcore.features.compute import window_state
from fraudcore.features.definitions import (
    CUSTOMER_KEY,
    CUSTOMER_STATE,
    LABEL_DELAY_DAYS,
    TERMINAL_KEY,
    TERMINAL_STATE,
)
from fraudcore.features.offline import OfflineFeatureStore, compute_state_pandas
from fraudcore.settings import Settings
from fraudcore.storage import ensure_buckets
from infra.local.health import free_port

pytestmark = pytest.mark.integration

TOLERANCE = {"rtol": 1e-9, "atol": 1e-9}
DAY = pd.Timedelta(days=1)
STATE = [*CUSTOMER_STATE, *TERMINAL_STATE]


def _isolated(stack: Settings, **overrides) -> Settings:
    """Settings with a bucket and Feast project of the test's own."""
    name = f"itest-{uuid.uuid4().hex[:8]}"
    settings = stack.model_copy(update={"bucket": name, "feast_project": name.replace("-", "_"), **overrides})
    ensure_buckets([settings.bucket], settings)
    return settings


def _publish(settings: Settings, transactions: pd.DataFrame, until: pd.Timestamp):
    first = transactions["TX_DATETIME"].min().date()
    state = compute_state_pandas(transactions, first, until.date())
    OfflineFeatureStore(settings).write(state, progress=False)
    store = feature_store(settings)
    store.apply(feast_objects(settings))
    return store


def _requests(transactions: pd.DataFrame, n: int, start: pd.Timestamp, days: int, seed: int) -> pd.DataFrame:
    """Requests of known customers and terminals at random instants of ``start + [0, days)``."""
    rng = np.random.default_rng(seed)
    pick = transactions.sample(n, random_state=seed)
    return pd.DataFrame(
        {
            "TRANSACTION_ID": np.arange(10**9, 10**9 + n),
            "TX_DATETIME": start + pd.to_timedelta(rng.integers(0, days * 86_400_000_000, n), unit="us"),
            CUSTOMER_KEY: pick[CUSTOMER_KEY].to_numpy(),
            TERMINAL_KEY: pick[TERMINAL_KEY].to_numpy(),
            "TX_AMOUNT": rng.uniform(1, 300, n).round(2),
        }
    )


@pytest.fixture(scope="module")
def horizon(small_transactions) -> pd.Timestamp:
    """Requests reach 40 days past the data: longer than every window and than the state TTL."""
    return small_transactions["TX_DATETIME"].max().normalize() + 40 * DAY


@pytest.fixture(scope="module")
def published(stack, small_transactions, horizon):
    settings = _isolated(stack)
    return settings, _publish(settings, small_transactions, horizon)


def _assert_states_equal(got: pd.DataFrame, expected: pd.DataFrame, columns: list[str]) -> None:
    for column in columns:
        np.testing.assert_allclose(
            got[column].astype(float).fillna(0), expected[column].astype(float), **TOLERANCE, err_msg=column
        )


def test_point_in_time_state_equals_the_definitions_at_random_instants(
    published, small_transactions, horizon
):
    _, store = published
    start = small_transactions["TX_DATETIME"].min()
    end = small_transactions["TX_DATETIME"].max()
    late_start = end + (LABEL_DELAY_DAYS + 31) * DAY  # past every window and the TTL, customers and terminals
    requests = pd.concat(
        [
            _requests(small_transactions, 400, start, (horizon - start).days, seed=5),
            _requests(small_transactions, 40, late_start, (horizon - late_start).days, seed=6),
        ],
        ignore_index=True,
    )
    # Same customer, terminal and instant twice, and a request at the exact time of a transaction.
    requests = pd.concat(
        [requests, requests.iloc[:3].assign(TRANSACTION_ID=lambda f: f["TRANSACTION_ID"] + 1)]
    )
    exact = small_transactions.iloc[[100]]
    requests = pd.concat([requests, exact[requests.columns]], ignore_index=True)
    got = historical_state(store, requests)
    assert len(got) == len(requests) and (got.index == requests.index).all()
    _assert_states_equal(got, window_state(small_transactions, requests), STATE)
    late = requests["TX_DATETIME"] >= late_start
    assert late.sum() >= 40 and (got.loc[late, STATE].fillna(0) == 0).all().all()


def test_no_future_transaction_and_no_young_label_reaches_a_state(stack, small_transactions, published):
    """Rewrite the future and the labels younger than the delay: offline states at t do not move."""
    _, store = published
    t = pd.Timestamp("2018-04-11 13:00:00")
    requests = _requests(small_transactions, 80, t, 1, seed=7).assign(TX_DATETIME=t)
    honest = historical_state(store, requests)
    tampered = small_transactions.copy()
    tampered.loc[tampered["TX_DATETIME"] >= t, "TX_AMOUNT"] *= 10
    young = tampered["TX_DATETIME"] > t - LABEL_DELAY_DAYS * DAY
    tampered.loc[young, "TX_FRAUD"] = (1 - tampered.loc[young, "TX_FRAUD"]).astype("int8")
    tampered_store = _publish(_isolated(stack), tampered, t.normalize() + DAY)
    pd.testing.assert_frame_equal(honest, historical_state(tampered_store, requests))
    later = requests.assign(TX_DATETIME=t + (LABEL_DELAY_DAYS + 1) * DAY)
    later_state = historical_state(store, later)[TERMINAL_STATE]
    assert not later_state.equals(window_state(tampered, later)[TERMINAL_STATE])


def test_a_request_without_an_entity_key_is_refused(published, small_transactions):
    _, store = published
    requests = _requests(small_transactions, 5, small_transactions["TX_DATETIME"].min(), 5, seed=1)
    broken = requests.astype({CUSTOMER_KEY: "float64"})
    broken.loc[2, CUSTOMER_KEY] = np.nan
    with pytest.raises(ValueError, match=r"column CUSTOMER_ID: missing entity keys in rows \[2\]"):
        historical_state(store, broken)


def _check_online_matches_offline(settings: Settings, transactions: pd.DataFrame, horizon: pd.Timestamp):
    """Event lists materialized as of T (labels known at T) give, at every later instant, the state
    the offline store gives for a data set whose labels end at T - delay."""
    as_of = transactions["TX_DATETIME"].max().normalize() + (LABEL_DELAY_DAYS + 1) * DAY
    store = _publish(settings, transactions, horizon)
    written = materialize(store, transactions, as_of.to_pydatetime(), settings)
    assert written["customer_recent_events"] > 100 and written["terminal_labelled_events"] > 100
    requests = _requests(transactions, 300, as_of, (horizon - as_of).days, seed=11)
    online = online_state(store, requests)
    offline = historical_state(store, requests)
    _assert_states_equal(online, offline.fillna(0), STATE)
    _assert_states_equal(online, window_state(transactions, requests), STATE)
    assert (online["customer_tx_count_30d"] > 0).sum() > 30 and (online["terminal_tx_count_30d"] > 0).any()


def test_sqlite_online_store_serves_what_training_sees(stack, small_transactions, horizon):
    _check_online_matches_offline(_isolated(stack), small_transactions, horizon)


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: run `make install` (Debian package redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def test_redis_online_store_serves_what_training_sees(stack, small_transactions, horizon, redis_url):
    _check_online_matches_offline(_isolated(stack, feast_redis_url=redis_url), small_transactions, horizon)
