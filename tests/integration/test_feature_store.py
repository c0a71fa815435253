"""Feast on the real local stack: point-in-time correctness, no leakage, online stores (sqlite, Redis)."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import time
import uuid

import numpy as np
import pandas as pd
import pytest

from fraudcore.feature_repo import feast_objects
from fraudcore.feature_store import feature_store, historical_features, materialize
from fraudcore.features.customer import customer_spending
from fraudcore.features.definitions import (
    CUSTOMER_FEATURES,
    EVENT_TIMESTAMP,
    LABEL_DELAY_DAYS,
    MODEL_FEATURES,
    TERMINAL_FEATURES,
)
from fraudcore.features.offline import OfflineFeatureStore, compute_features_pandas
from fraudcore.features.terminal import terminal_risk
from fraudcore.settings import Settings
from fraudcore.storage import ensure_buckets

pytestmark = pytest.mark.integration

START, END = dt.date(2018, 4, 1), dt.date(2018, 4, 14)
REQUEST_TIME = pd.Timestamp("2018-04-12 00:00:01")


def _isolated(stack: Settings, **overrides) -> Settings:
    """Settings with a bucket and Feast project of the test's own."""
    name = f"itest-{uuid.uuid4().hex[:8]}"
    settings = stack.model_copy(update={"bucket": name, "feast_project": name.replace("-", "_"), **overrides})
    ensure_buckets([settings.bucket], settings)
    return settings


def _publish(settings: Settings, transactions: pd.DataFrame):
    OfflineFeatureStore(settings).write(compute_features_pandas(transactions, START, END), progress=False)
    store = feature_store(settings)
    store.apply(feast_objects(settings))
    return store


def _requests(transactions: pd.DataFrame, n: int = 60) -> pd.DataFrame:
    """Scoring requests at REQUEST_TIME for customers and terminals with history."""
    rng = np.random.default_rng(5)
    history = transactions[transactions["TX_DATETIME"] < REQUEST_TIME]
    pick = history.sample(n, random_state=3)
    return pd.DataFrame(
        {
            "TRANSACTION_ID": np.arange(10**9, 10**9 + n),
            "TX_DATETIME": REQUEST_TIME,
            "CUSTOMER_ID": pick["CUSTOMER_ID"].to_numpy(),
            "TERMINAL_ID": pick["TERMINAL_ID"].to_numpy(),
            "TX_AMOUNT": rng.uniform(1, 300, n).round(2),
        }
    )


def _latest_before(rows: pd.DataFrame, key: str, entity: int, moment: pd.Timestamp) -> pd.Series | None:
    mine = rows[
        (rows[key] == entity)
        & (rows[EVENT_TIMESTAMP] < moment)
        & (rows[EVENT_TIMESTAMP] >= moment - pd.Timedelta(days=30))
    ]
    return None if mine.empty else mine.iloc[-1]


@pytest.fixture(scope="module")
def published(stack, small_transactions):
    settings = _isolated(stack)
    return settings, _publish(settings, small_transactions)


def test_retrieval_returns_the_latest_state_strictly_before_each_request(published, small_transactions):
    _, store = published
    requests = _requests(small_transactions)
    got = historical_features(store, requests, progress=False).set_index("TRANSACTION_ID")
    assert len(got) == len(requests)
    customers, terminals = customer_spending(small_transactions), terminal_risk(small_transactions)
    for _, request in requests.iterrows():
        row = got.loc[request["TRANSACTION_ID"]]
        customer = _latest_before(customers, "CUSTOMER_ID", request["CUSTOMER_ID"], request["TX_DATETIME"])
        terminal = _latest_before(terminals, "TERMINAL_ID", request["TERMINAL_ID"], request["TX_DATETIME"])
        for names, expected in [(CUSTOMER_FEATURES, customer), (TERMINAL_FEATURES, terminal)]:
            for name in names:
                if expected is None:
                    assert pd.isna(row[name]) or row[name] == 0
                else:
                    assert row[name] == pytest.approx(expected[name]), name
        assert row["amount"] == request["TX_AMOUNT"]
    assert set(MODEL_FEATURES) <= set(got.columns)


def test_no_future_transaction_and_no_young_label_reaches_a_feature(stack, small_transactions, published):
    """Rewrite the future and the labels younger than the delay: features at REQUEST_TIME do not move."""
    _, store = published
    requests = _requests(small_transactions)
    honest = historical_features(store, requests, progress=False).set_index("TRANSACTION_ID")

    tampered = small_transactions.copy()
    future = tampered["TX_DATETIME"] >= REQUEST_TIME
    young_label = tampered["TX_DATETIME"] > REQUEST_TIME - pd.Timedelta(days=LABEL_DELAY_DAYS)
    tampered.loc[future, "TX_AMOUNT"] *= 10
    tampered.loc[young_label, "TX_FRAUD"] = (1 - tampered.loc[young_label, "TX_FRAUD"]).astype("int8")
    settings = _isolated(stack)
    tampered_store = _publish(settings, tampered)
    seen = historical_features(tampered_store, requests, progress=False).set_index("TRANSACTION_ID")
    pd.testing.assert_frame_equal(honest[MODEL_FEATURES], seen[MODEL_FEATURES])
    # Control: the tampering is visible to requests made after the labels arrive.
    later = requests.assign(
        TX_DATETIME=REQUEST_TIME + pd.Timedelta(days=LABEL_DELAY_DAYS + 1),
        TRANSACTION_ID=requests["TRANSACTION_ID"] + 1000,
    )
    later_honest = historical_features(store, later, progress=False)
    later_seen = historical_features(tampered_store, later, progress=False)
    assert not later_honest[TERMINAL_FEATURES].equals(later_seen[TERMINAL_FEATURES])


def _online(store, requests: pd.DataFrame) -> pd.DataFrame:
    rows = [
        {
            "CUSTOMER_ID": int(r.CUSTOMER_ID),
            "TERMINAL_ID": int(r.TERMINAL_ID),
            "TX_AMOUNT": float(r.TX_AMOUNT),
            "TX_DATETIME": r.TX_DATETIME.to_pydatetime(),
        }
        for r in requests.itertuples()
    ]
    return store.get_online_features(
        features=store.get_feature_service("fraud_model_v1"), entity_rows=rows
    ).to_df()


def _check_online_matches_offline(settings: Settings, small_transactions: pd.DataFrame):
    store = _publish(settings, small_transactions)
    end = pd.Timestamp(END) + pd.Timedelta(days=1)
    materialize(store, end)
    requests = _requests(small_transactions).assign(TX_DATETIME=end)
    online = _online(store, requests)
    offline = historical_features(store, requests, progress=False)
    for name in MODEL_FEATURES:
        np.testing.assert_allclose(
            online[name].astype(float).fillna(0),
            offline[name].astype(float).fillna(0),
            rtol=1e-9,
            err_msg=name,
        )


def test_sqlite_online_store_serves_what_training_sees(stack, small_transactions):
    _check_online_matches_offline(_isolated(stack), small_transactions)


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: run `make install` (Debian package redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
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


def test_redis_online_store_serves_what_training_sees(stack, small_transactions, redis_url):
    _check_online_matches_offline(_isolated(stack, feast_redis_url=redis_url), small_transactions)
