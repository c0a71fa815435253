"""The Spark batch job as a user runs it (``python -m batch``) against the real stack: one feature
definition with training and the real-time path, idempotent days, a killed run changes nothing,
inputs checked before anything is written, metrics pushed."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import mlflow
import numpy as np
import pandas as pd
import prometheus_client
import pytest
from pyarrow import fs

from batch.job import predictions_root
from fraudcore.data.generator import GeneratorConfig, generate_transactions
from fraudcore.data.lake import TransactionLake
from fraudcore.feature_repo import feast_objects
from fraudcore.feature_store import OnlineFeatureReader, feature_store, materialize, training_features
from fraudcore.features.compute import model_features
from fraudcore.features.definitions import FEATURE_SET
from fraudcore.features.offline import OfflineFeatureStore, compute_state_pandas
from fraudcore.metrics import REALTIME, build
from fraudcore.model_slots import ModelSlot
from fraudcore.models import model_class
from fraudcore.partitions import DayPartitions
from fraudcore.registry import CHAMPION, FEATURE_SET_TAG, ModelRegistry
from fraudcore.settings import REPO_ROOT
from fraudcore.storage import arrow_filesystem, ensure_buckets
from serving.schemas import TransactionRequest
from serving.scoring import RealtimeScorer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = pd.Timedelta(days=1)


def _batch(env: dict[str, str], *args: str, **popen) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "batch", "--master", "local[2]", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        **popen,
    )


def _register(registry: ModelRegistry, rows: pd.DataFrame, trees: int) -> str:
    model = model_class("lightgbm")({"n_estimators": trees}).fit(rows)
    with mlflow.start_run():
        mlflow.set_tag(FEATURE_SET_TAG, FEATURE_SET)
        example = rows[model.features].head(3)
        mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            input_example=example,
            signature=mlflow.models.infer_signature(example, model.predict(None, example)),
        )
        run_id = mlflow.active_run().info.run_id
    return registry.register(run_id).version


@pytest.fixture(scope="module")
def world(stack, stack_env):
    name = f"itest-batch-{uuid.uuid4().hex[:6]}"
    env = {
        **stack_env,
        "FRAUD_BUCKET": name,
        "FRAUD_MODEL_NAME": name,
        "FRAUD_FEAST_PROJECT": name.replace("-", "_"),
    }
    settings = stack.model_copy(
        update={"bucket": name, "model_name": name, "feast_project": env["FRAUD_FEAST_PROJECT"]}
    )
    ensure_buckets([name], settings)
    transactions = generate_transactions(
        GeneratorConfig(n_customers=400, n_terminals=800, n_days=50, seed=9), False
    )
    TransactionLake(settings).write(transactions, progress=False)
    first, last = transactions["TX_DATETIME"].min().date(), transactions["TX_DATETIME"].max().date()
    OfflineFeatureStore(settings).write(compute_state_pandas(transactions, first, last), progress=False)
    store = feature_store(settings)
    store.apply(feast_objects(settings))
    training = transactions[transactions["TX_DATETIME"] >= "2018-05-01"]
    rows = pd.concat(
        [training.reset_index(drop=True), model_features(transactions, training).reset_index(drop=True)],
        axis=1,
    )
    registry = ModelRegistry(settings)
    mlflow.set_experiment(name)
    versions = (_register(registry, rows, 30), _register(registry, rows, 60))
    registry.set_alias(CHAMPION, versions[0])
    days = [last - dt.timedelta(days=2), last]
    scored = _batch(env, "--date-from", str(days[0]), "--date-to", str(days[1]))
    assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr[-3000:]
    return {
        "env": env,
        "settings": settings,
        "store": store,
        "registry": registry,
        "transactions": transactions,
        "versions": versions,
        "days": days,
        "stdout": scored.stdout,
    }


def _published(world, first: dt.date, last: dt.date) -> pd.DataFrame:
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    partitions = DayPartitions(arrow_filesystem(world["settings"]), predictions_root(world["settings"]))
    columns = [
        "TRANSACTION_ID",
        "TX_DATETIME",
        "fraud_probability",
        "decision",
        "model_name",
        "model_version",
        "scored_at",
    ]
    return partitions.read(days, columns).to_pandas().sort_values("TRANSACTION_ID").reset_index(drop=True)


def test_metrics_of_the_run_are_pushed_to_the_pushgateway(world):
    """Right after the fixture's run (later tests push refused runs, which replace the group)."""
    with urllib.request.urlopen(f"{world['settings'].pushgateway_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    values = {
        line.split("{")[0]: line.split()[-1]
        for line in text.splitlines()
        if line.startswith("fraud_batch_") and 'job="fraud_batch"' in line
    }
    first, last = world["days"]
    assert values["fraud_batch_success"] == "1"
    assert float(values["fraud_batch_rows_scored"]) == len(_published(world, first, last))
    assert float(values["fraud_batch_duration_seconds"]) > 0 and "fraud_batch_model_info" in values


def test_every_transaction_is_scored_once_with_the_training_paths_features(world):
    first, last = world["days"]
    predictions = _published(world, first, last)
    transactions = world["transactions"]
    expected = transactions[
        (transactions["TX_DATETIME"].dt.date >= first) & (transactions["TX_DATETIME"].dt.date <= last)
    ]
    assert sorted(predictions["TRANSACTION_ID"]) == sorted(expected["TRANSACTION_ID"])
    assert set(predictions["model_version"]) == {world["versions"][0]}
    assert ((predictions["fraud_probability"] >= 0.5) == (predictions["decision"] == "fraud")).all()
    # The training path: Feast point-in-time state, the request step, the model.
    rows = expected.sort_values("TRANSACTION_ID").reset_index(drop=True)
    trained_on = training_features(world["store"], rows)
    offline = world["registry"].load_version(world["versions"][0]).score(trained_on)
    np.testing.assert_allclose(predictions["fraud_probability"], offline, rtol=0, atol=1e-6)
    assert "rows  flagged  mean_score" in world["stdout"] and "report:" in world["stdout"]


def test_batch_scores_equal_the_realtime_scorers(world):
    """A day after the data, one transaction per customer and terminal: the batch job (from the lake)
    and the real-time scorer (from the online store materialized at the start of that day) agree.
    The terminals are ones that get no new label during the day (no transaction 7 days earlier):
    in production such labels reach the online store by push, which this test does not run."""
    settings, transactions = world["settings"], world["transactions"]
    new_day = pd.Timestamp(world["days"][1]) + DAY
    rng = np.random.default_rng(4)
    customers = rng.choice(transactions["CUSTOMER_ID"].unique(), 80, replace=False)
    labelled_during_the_day = transactions.loc[
        (transactions["TX_DATETIME"] >= new_day - 7 * DAY)
        & (transactions["TX_DATETIME"] < new_day - 6 * DAY),
        "TERMINAL_ID",
    ]
    quiet = np.setdiff1d(transactions["TERMINAL_ID"].unique(), labelled_during_the_day.unique())
    terminals = rng.choice(quiet, 80, replace=False)
    day = pd.DataFrame(
        {
            "TRANSACTION_ID": np.arange(9 * 10**12, 9 * 10**12 + 80),
            "TX_DATETIME": new_day + pd.to_timedelta(np.sort(rng.integers(3600, 80_000, 80)), unit="s"),
            "CUSTOMER_ID": customers,
            "TERMINAL_ID": terminals,
            "TX_AMOUNT": rng.uniform(1, 300, 80).round(2),
            "TX_TIME_SECONDS": 0,
            "TX_TIME_DAYS": 0,
            "TX_FRAUD": np.zeros(80, dtype="int8"),
            "TX_FRAUD_SCENARIO": np.zeros(80, dtype="int8"),
        }
    ).astype({"TX_TIME_SECONDS": "int64", "TX_TIME_DAYS": "int64"})
    TransactionLake(settings).write(day, progress=False)
    materialize(world["store"], transactions, new_day.to_pydatetime(), settings)
    scored = _batch(world["env"], "--date-from", str(new_day.date()))
    assert scored.returncode == 0, scored.stderr[-3000:]
    batch = _published(world, new_day.date(), new_day.date())
    slot = ModelSlot(world["registry"], CHAMPION, lambda previous, current: None)
    slot.refresh()
    metrics = build(REALTIME, prometheus_client, prometheus_client.CollectorRegistry())
    scorer = RealtimeScorer(settings, OnlineFeatureReader(world["store"]), slot, metrics)
    requests = [
        TransactionRequest(
            transaction_id=int(r.TRANSACTION_ID),
            customer_id=int(r.CUSTOMER_ID),
            terminal_id=int(r.TERMINAL_ID),
            amount=float(r.TX_AMOUNT),
            timestamp=r.TX_DATETIME.to_pydatetime(),
        )
        for r in day.itertuples()
    ]
    realtime = {p.transaction_id: p.fraud_probability for p in scorer.score(requests)}
    np.testing.assert_allclose(
        batch["fraud_probability"], batch["TRANSACTION_ID"].map(realtime), rtol=0, atol=1e-6
    )


def test_a_rerun_replaces_the_days_and_a_killed_run_changes_nothing(world):
    first, last = world["days"]
    before = _published(world, first, last)
    again = _batch(world["env"], "--date-from", str(first), "--date-to", str(last))
    assert again.returncode == 0, again.stderr[-3000:]
    after = _published(world, first, last)
    assert len(after) == len(before)
    np.testing.assert_allclose(after["fraud_probability"], before["fraud_probability"], atol=1e-12)
    assert (after["scored_at"] > before["scored_at"]).all()
    # A run with another model, killed while Spark writes: the published days stay whole and as they were.
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batch",
            "--master",
            "local[2]",
            "--date-from",
            str(first),
            "--date-to",
            str(last),
            "--model-version",
            world["versions"][1],
        ],
        cwd=REPO_ROOT,
        env={**os.environ, **world["env"]},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    filesystem = arrow_filesystem(world["settings"])
    staging = f"{predictions_root(world['settings'])}/_staging"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if filesystem.get_file_info(staging).type != fs.FileType.NotFound:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed = _published(world, first, last)
    pd.testing.assert_frame_equal(killed, after)


def test_missing_inputs_stop_the_run_before_anything_is_written(world):
    first, last = world["days"]
    before = _published(world, first, last)
    beyond = _batch(world["env"], "--date-from", str(last + dt.timedelta(days=30)))
    assert beyond.returncode == 2 and "no transactions in the lake for day(s)" in beyond.stderr
    assert "nothing was written" in beyond.stderr
    world["registry"].client.delete_registered_model_alias(world["settings"].model_name, CHAMPION)
    try:
        no_alias = _batch(world["env"], "--date-from", str(first))
        assert no_alias.returncode == 2 and "has no 'champion' alias" in no_alias.stderr
    finally:
        world["registry"].set_alias(CHAMPION, world["versions"][0])
    pd.testing.assert_frame_equal(_published(world, first, last), before)
