"""The real-time service as a real process against the real stack: answers, refusals, training-serving
consistency, metrics scraped by Prometheus, hot swap without a failed request, shadow scores."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import mlflow
import numpy as np
import pandas as pd
import pytest
from pyarrow import fs

from fraudcore.data.generator import GeneratorConfig, generate_transactions
from fraudcore.feature_repo import feast_objects
from fraudcore.feature_store import feature_store, materialize
from fraudcore.features.compute import model_features
from fraudcore.features.definitions import FEATURE_SET, LABEL_DELAY_DAYS
from fraudcore.models import model_class
from fraudcore.registry import CHALLENGER, CHAMPION, FEATURE_SET_TAG, ModelRegistry
from fraudcore.storage import arrow_filesystem, ensure_buckets
from tests.integration.conftest import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = pd.Timedelta(days=1)


def _post(url: str, body) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _train_and_register(registry: ModelRegistry, rows: pd.DataFrame, trees: int) -> str:
    model = model_class("lightgbm")({"n_estimators": trees}).fit(rows)
    with mlflow.start_run():
        mlflow.set_tag(FEATURE_SET_TAG, FEATURE_SET)
        mlflow.pyfunc.log_model(name="model", python_model=model)
        run_id = mlflow.active_run().info.run_id
    return registry.register(run_id).version


@pytest.fixture(scope="module")
def service(stack, stack_env):
    """A lake of simulated days, two registered models (champion: the first), the online store
    materialized as of the end of the data, and the service started as `make serve` starts it."""
    name = f"itest-serve-{uuid.uuid4().hex[:6]}"
    env = {
        **stack_env,
        "FRAUD_BUCKET": name,
        "FRAUD_MODEL_NAME": name,
        "FRAUD_FEAST_PROJECT": name.replace("-", "_"),
        "FRAUD_SERVING_WORKERS": "1",
        "FRAUD_SERVING_SHADOW": "true",
        "FRAUD_SERVING_MODEL_POLL_S": "1",
        "FRAUD_SERVING_SHADOW_FLUSH_S": "1",
    }
    settings = stack.model_copy(
        update={"bucket": name, "model_name": name, "feast_project": env["FRAUD_FEAST_PROJECT"]}
    )
    ensure_buckets([name], settings)
    transactions = generate_transactions(
        GeneratorConfig(n_customers=400, n_terminals=800, n_days=50, seed=8), False
    )
    # Materialized once every label of the data is known (labels arrive 7 days late).
    as_of = transactions["TX_DATETIME"].max().normalize() + (LABEL_DELAY_DAYS + 1) * DAY
    store = feature_store(settings)
    store.apply(feast_objects(settings))
    materialize(store, transactions, as_of.to_pydatetime(), settings)
    training = transactions[transactions["TX_DATETIME"] >= "2018-05-01"]
    rows = pd.concat(
        [training.reset_index(drop=True), model_features(transactions, training).reset_index(drop=True)],
        axis=1,
    )
    registry = ModelRegistry(settings)
    mlflow.set_experiment(name)
    first, second = _train_and_register(registry, rows, 30), _train_and_register(registry, rows, 60)
    registry.set_alias(CHAMPION, first)
    registry.client.delete_registered_model_alias(name, CHALLENGER)
    started = run_cli(env, "up", "serving", check=False)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield {
            "url": settings.serving_url,
            "settings": settings,
            "registry": registry,
            "transactions": transactions,
            "as_of": as_of,
            "versions": (first, second),
            "env": env,
        }
    finally:
        run_cli(env, "down", "serving", check=False)


def _requests(service, n: int, seed: int) -> list[dict]:
    """Requests of known customers and terminals after the online store's as-of time."""
    rng = np.random.default_rng(seed)
    pick = service["transactions"].sample(n, random_state=seed)
    start = service["as_of"]
    return [
        {
            "transaction_id": 10**13 + seed * 1000 + i,
            "customer_id": int(row.CUSTOMER_ID),
            "terminal_id": int(row.TERMINAL_ID),
            "amount": round(float(rng.uniform(1, 300)), 2),
            "timestamp": (start + pd.Timedelta(seconds=int(rng.integers(0, 14 * 86_400)))).isoformat(),
        }
        for i, row in enumerate(pick.itertuples())
    ]


def test_served_scores_equal_the_models_offline_scores(service):
    requests = _requests(service, 60, seed=1)
    served = [_post(f"{service['url']}/predict", r) for r in requests]
    assert {status for status, _ in served} == {200}
    frame = pd.DataFrame(requests).rename(
        columns={"customer_id": "CUSTOMER_ID", "terminal_id": "TERMINAL_ID", "amount": "TX_AMOUNT"}
    )
    frame["TX_DATETIME"] = pd.to_datetime(frame["timestamp"])
    features = model_features(service["transactions"], frame)
    registry = service["registry"]
    offline = registry.load_version(service["versions"][0]).score(features)
    online = np.array([body["fraud_probability"] for _, body in served])
    np.testing.assert_allclose(online, offline, rtol=0, atol=1e-6)
    assert all(body["model_version"] == service["versions"][0] for _, body in served)
    assert not any(body["new_customer"] or body["new_terminal"] for _, body in served)
    assert all(body["customer_state_age_seconds"] >= LABEL_DELAY_DAYS * 86_400 for _, body in served)
    batch_status, batch = _post(f"{service['url']}/predict_batch", requests[:10])
    assert batch_status == 200 and [b["transaction_id"] for b in batch] == [
        r["transaction_id"] for r in requests[:10]
    ]
    np.testing.assert_allclose([b["fraud_probability"] for b in batch], offline[:10], atol=1e-6)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"transaction_id": 1, "customer_id"', None),  # not JSON
        (
            {"customer_id": 1, "terminal_id": 2, "amount": 3.0, "timestamp": "2018-08-01T10:00:00"},
            "transaction_id",
        ),
        (
            {
                "transaction_id": 1,
                "customer_id": "abc",
                "terminal_id": 2,
                "amount": 3.0,
                "timestamp": "2018-08-01T10:00:00",
            },
            "customer_id",
        ),
        (
            {
                "transaction_id": 1,
                "customer_id": 1,
                "terminal_id": 2,
                "amount": -3.0,
                "timestamp": "2018-08-01T10:00:00",
            },
            "amount",
        ),
        (
            {
                "transaction_id": 1,
                "customer_id": 1,
                "terminal_id": 2,
                "amount": 3.0,
                "timestamp": "last tuesday",
            },
            "timestamp",
        ),
    ],
)
def test_bad_requests_get_a_400_naming_the_field(service, body, field):
    status, answer = _post(f"{service['url']}/predict", body)
    assert status == 400
    if field is None:
        assert answer["detail"][0]["type"] == "json_invalid"
    else:
        assert field in [entry["loc"][-1] for entry in answer["detail"]]


def test_an_unknown_customer_and_terminal_are_scored_as_new_and_flagged(service):
    status, body = _post(
        f"{service['url']}/predict",
        {
            "transaction_id": 5,
            "customer_id": 10**9,
            "terminal_id": 10**9,
            "amount": 20.0,
            "timestamp": "2018-06-01T09:00:00",
        },
    )
    assert status == 200 and body["new_customer"] and body["new_terminal"]
    assert body["customer_state_age_seconds"] is None and 0 <= body["fraud_probability"] <= 1


def _metric(settings, query: str) -> list[dict]:
    url = f"{settings.prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]["result"]


def test_metrics_move_and_prometheus_scrapes_them(service):
    with urllib.request.urlopen(f"{service['url']}/metrics", timeout=5) as response:
        text = response.read().decode()
    for name in [
        'fraud_realtime_request_duration_seconds_count{endpoint="predict"}',
        'fraud_realtime_errors_total{kind="invalid_request"}',
        'fraud_realtime_decisions_total{decision="genuine"}',
        "fraud_realtime_feature_lookup_duration_seconds_count",
        'fraud_realtime_online_state_age_seconds_count{entity="customer"}',
    ]:
        line = next(line for line in text.splitlines() if line.startswith(name))
        assert float(line.split()[-1]) > 0, line
    deadline, result = time.monotonic() + 40, []
    while time.monotonic() < deadline and not result:
        result = _metric(service["settings"], 'sum(fraud_realtime_decisions_total{service="serving"}) > 0')
        time.sleep(1)
    assert result, "Prometheus never scraped the service's decisions"


def test_a_new_champion_is_swapped_in_without_a_failed_request(service):
    registry, (first, second) = service["registry"], service["versions"]
    requests = _requests(service, 200, seed=2)
    answers: list[tuple[int, str]] = []
    stop = threading.Event()

    def keep_asking():
        i = 0
        while not stop.is_set():
            status, body = _post(f"{service['url']}/predict", requests[i % len(requests)])
            answers.append((status, body.get("model_version", "")))
            i += 1

    worker = threading.Thread(target=keep_asking)
    worker.start()
    time.sleep(1.5)
    registry.set_alias(CHAMPION, second)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(version == second for _, version in answers[-5:]):
        time.sleep(0.2)
    time.sleep(1)
    stop.set()
    worker.join()
    assert {status for status, _ in answers} == {200}, "a request failed during the swap"
    versions = [version for _, version in answers]
    assert versions[0] == first and versions[-1] == second
    swapped_at = versions.index(second)
    assert set(versions[swapped_at:]) == {second}  # one switch, no flapping


def test_a_challenger_is_scored_in_shadow_and_both_scores_are_kept(service):
    registry, (first, second) = service["registry"], service["versions"]
    registry.set_alias(CHALLENGER, first)  # the previous champion, now challenger
    time.sleep(2.5)  # the watcher loads it
    requests = _requests(service, 40, seed=3)
    answers = [_post(f"{service['url']}/predict", r)[1] for r in requests]
    assert all(a["model_version"] == second for a in answers)  # the response is the champion's
    settings = service["settings"]
    filesystem = arrow_filesystem(settings)
    deadline, records = time.monotonic() + 20, pd.DataFrame()
    while time.monotonic() < deadline:
        files = [
            info.path
            for info in filesystem.get_file_info(
                fs.FileSelector(
                    f"{settings.bucket}/{settings.serving_shadow_prefix}",
                    allow_not_found=True,
                    recursive=True,
                )
            )
            if info.path.endswith(".parquet")
        ]
        if files:
            records = pd.concat([pd.read_parquet(path, filesystem=filesystem) for path in files])
            if set(r["transaction_id"] for r in requests) <= set(records["transaction_id"]):
                break
        time.sleep(1)
    ours = records[records["transaction_id"].isin([r["transaction_id"] for r in requests])]
    assert len(ours) == len(requests)
    assert set(ours["challenger_version"]) == {first} and set(ours["champion_version"]) == {second}
    served = {a["transaction_id"]: a["fraud_probability"] for a in answers}
    np.testing.assert_allclose(ours["champion_probability"], ours["transaction_id"].map(served), atol=1e-9)
    with urllib.request.urlopen(f"{service['url']}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'fraud_realtime_fraud_probability_count{role="challenger"}' in text
