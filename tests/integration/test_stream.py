"""The stream consumer as real processes against the real broker (Tansu): SIGKILL at random moments
loses and double-scores nothing, malformed events go to the dead-letter topic, a rebalance keeps the
state whole, and the online state the stream pushes equals the batch feature functions'."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import ClassVar

import mlflow
import numpy as np
import orjson
import pandas as pd
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from fraudcore.data.generator import GeneratorConfig, generate_transactions
from fraudcore.events import DLQ_OFFSET, DLQ_PARTITION, DLQ_REASON, transaction_event
from fraudcore.feature_repo import feast_objects
from fraudcore.feature_store import feature_store, online_state
from fraudcore.features.compute import model_features, window_state
from fraudcore.features.definitions import CUSTOMER_STATE, FEATURE_SET, TERMINAL_STATE
from fraudcore.features.windows import to_us
from fraudcore.metrics_reader import metric_samples, total
from fraudcore.models import model_class
from fraudcore.registry import CHAMPION, FEATURE_SET_TAG, ModelRegistry
from fraudcore.settings import REPO_ROOT, Settings, as_env
from infra.local.bootstrap import create_topics
from streaming.producer import replay
from streaming.record_writer import RecordWriter
from tests.integration.conftest import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EVENTS = 50_000


@pytest.fixture(scope="module", autouse=True)
def _no_consumer_left_behind():
    yield
    for consumer in Consumer.started:
        if consumer.process.poll() is None:
            consumer.kill()


@pytest.fixture(scope="module")
def stream(stack, stack_env, tmp_path_factory):
    """50,000 simulated transactions over a month, a champion trained on their features, a Feast
    project for the online pushes."""
    name = f"itest-stream-{uuid.uuid4().hex[:6]}"
    env = {
        **stack_env,
        "FRAUD_MODEL_NAME": name,
        "FRAUD_FEAST_PROJECT": name.replace("-", "_"),
        "FRAUD_SERVING_MODEL_POLL_S": "1",
        "FRAUD_STREAM_PUSH_INTERVAL_S": "0",
    }
    settings = stack.model_copy(update={"model_name": name, "feast_project": env["FRAUD_FEAST_PROJECT"]})
    transactions = generate_transactions(
        GeneratorConfig(n_customers=820, n_terminals=1200, n_days=31, seed=21), False
    ).head(EVENTS)
    features = model_features(transactions, transactions)
    rows = pd.concat([transactions, features], axis=1)
    model = model_class("lightgbm")({"n_estimators": 40}).fit(rows[rows["TX_DATETIME"] >= "2018-04-09"])
    registry = ModelRegistry(settings)  # points mlflow at the stack's server
    mlflow.set_experiment(name)
    with mlflow.start_run():
        mlflow.set_tag(FEATURE_SET_TAG, FEATURE_SET)
        mlflow.pyfunc.log_model(name="model", python_model=model)
        run_id = mlflow.active_run().info.run_id
    version = registry.register(run_id).version
    registry.set_alias(CHAMPION, version)
    feature_store(settings).apply(feast_objects(settings))
    return {
        "name": name,
        "env": env,
        "settings": settings,
        "transactions": transactions,
        "offline": pd.Series(model.score(features), index=transactions["TRANSACTION_ID"].to_numpy()),
        "version": version,
        "logs": tmp_path_factory.mktemp("stream-logs"),
    }


def _scenario(stream, label: str, **extra: str) -> tuple[dict, Settings]:
    """Topics and a consumer group of this scenario's own."""
    names = stream["settings"].stream_names(f"{stream['name']}-{label}")
    env = {**stream["env"], **as_env(names), **extra}
    settings = stream["settings"].model_copy(update=names)
    create_topics(settings)
    return env, settings


class Consumer:
    """``python -m streaming consume`` as a real process (killed at the end of the module if alive)."""

    started: ClassVar[list[Consumer]] = []

    def __init__(self, stream, env: dict, index: int = 0):
        Consumer.started.append(self)
        self.log = Path(stream["logs"]) / f"{env['FRAUD_STREAM_GROUP_ID']}-{index}-{time.monotonic_ns()}.log"
        self.port = int(env["FRAUD_STREAM_METRICS_PORT"]) + index
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streaming", "consume", "--index", str(index)],
                cwd=REPO_ROOT,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_assigned(self, timeout_s: float = 90) -> None:
        _wait(lambda: "assigned" in self.log.read_text() or self.process.poll() is not None, timeout_s)
        assert self.process.poll() is None, self.log.read_text()[-3000:]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)

    def scored_so_far(self) -> float:
        """Events this process has scored (its ``/metrics``; 0 before the server answers)."""
        samples = metric_samples(f"http://127.0.0.1:{self.port}/metrics")
        return total(samples, "fraud_stream_events_scored_total")

    def wait_scored(self, events: float, timeout_s: float = 120) -> None:
        """Until this process has scored ``events`` (or exited)."""
        _wait(lambda: self.scored_so_far() >= events or self.process.poll() is not None, timeout_s, 0.02)

    def scored(self) -> int:
        line = next(
            line for line in self.log.read_text().splitlines() if "scored" in line and "events in" in line
        )
        return int(line.split("scored ")[1].split()[0])


def _wait(predicate, timeout_s: float, every_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every_s)


def _read(settings: Settings, topic: str, idle_s: float = 2.0) -> list:
    """Every record of ``topic`` (end offsets are not trusted on Tansu: read until quiet)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False, fetch_max_wait_ms=50
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records, quiet_since = [], time.monotonic()
        while time.monotonic() - quiet_since < idle_s:
            for batch in consumer.poll(timeout_ms=200).values():
                records += batch
                quiet_since = time.monotonic()
        return records
    finally:
        consumer.close()


def _scores(settings: Settings) -> dict[int, list[dict]]:
    scores: dict[int, list[dict]] = {}
    for record in _read(settings, settings.topic_scores):
        scores.setdefault(int(record.key), []).append(orjson.loads(record.value))
    return scores


def _check_scores(stream, scores: dict[int, list[dict]], ids) -> None:
    """Every id scored; copies of one id agree; each equals offline scoring at the same instant."""
    missing = set(ids) - set(scores)
    assert not missing, f"{len(missing)} transactions never scored, e.g. {sorted(missing)[:5]}"
    for copies in scores.values():
        assert len({c["fraud_probability"] for c in copies}) == 1, copies
    ids = list(ids)
    streamed = np.array([scores[i][0]["fraud_probability"] for i in ids])
    np.testing.assert_allclose(streamed, stream["offline"].loc[ids].to_numpy(), rtol=0, atol=1e-6)
    assert {c["model_version"] for copies in scores.values() for c in copies} == {stream["version"]}


def _replay_in_background(settings: Settings, transactions: pd.DataFrame, rate: float) -> threading.Thread:
    """A paced replay of the transactions, their labels sent first (a label batch that reaches the
    broker after a transaction would be missing from that transaction's score: see ``replay``);
    batches of 100 ms (a 5 ms linger at this rate writes one S3 object per record or two on Tansu,
    which the 2-core machine's SeaweedFS then reads back one by one)."""
    replay(settings, transactions, progress=False, with_transactions=False)
    thread = threading.Thread(
        target=replay,
        args=(settings, transactions, rate),
        kwargs={"progress": False, "linger_ms": 100, "with_labels": False},
    )
    thread.start()
    return thread


@pytest.fixture(scope="module")
def killed_run(stream):
    """50,000 events (and their labels) in Kafka; the consumer scoring them is SIGKILLed at random
    moments mid-stream and restarted, then left to finish.

    Each kill comes once the consumer has scored a random 10-60 % of what is left, read from its
    /metrics, not after a fixed delay: how fast it scores depends on how busy the machine is."""
    env, settings = _scenario(stream, "crash", FRAUD_STREAM_PUSH_INTERVAL_S="0.5")
    replay(settings, stream["transactions"], progress=False)
    rng = np.random.default_rng(7)
    scored_at_kills: list[int] = []
    for _ in range(3):
        consumer = Consumer(stream, env)
        consumer.wait_assigned()
        left = EVENTS - (scored_at_kills[-1] if scored_at_kills else 0)
        consumer.wait_scored(float(rng.uniform(0.1, 0.6)) * left)
        consumer.kill()
        scored_at_kills.append(len(_scores(settings)))
    consumer = Consumer(stream, env)
    consumer.wait_assigned()  # running (its SIGTERM handler set) even if the others scored it all
    ids = set(stream["transactions"]["TRANSACTION_ID"])
    _wait(lambda: set(_scores(settings)) >= ids, 300, every_s=5)
    assert consumer.terminate() == 0, consumer.log.read_text()[-3000:]
    return {"settings": settings, "scored_at_kills": scored_at_kills}


def test_sigkill_loses_nothing_and_scores_each_transaction_once_after_dedup(stream, killed_run):
    settings = killed_run["settings"]
    mid_stream = [n for n in killed_run["scored_at_kills"] if 0 < n < EVENTS]
    assert len(mid_stream) == 3, killed_run["scored_at_kills"]  # killed while scoring, not before or after
    scores = _scores(settings)
    _check_scores(stream, scores, stream["transactions"]["TRANSACTION_ID"])
    assert len(scores) == EVENTS  # nothing else in the topic
    alerts = {int(r.key) for r in _read(settings, settings.topic_alerts)}
    flagged = {i for i, copies in scores.items() if copies[0]["decision"] == "fraud"}
    assert alerts == flagged


def test_online_state_pushed_by_the_stream_equals_the_batch_feature_functions(stream, killed_run):
    """After the replayed month, each entity's online state at one instant equals what the batch
    job's feature functions compute from the raw transactions for the same instant."""
    transactions = stream["transactions"]
    instant = transactions["TX_DATETIME"].max() + pd.Timedelta(seconds=1)
    pairs = transactions[["CUSTOMER_ID", "TERMINAL_ID"]].drop_duplicates("CUSTOMER_ID")
    pairs = pd.concat(
        [pairs, transactions[["CUSTOMER_ID", "TERMINAL_ID"]].drop_duplicates("TERMINAL_ID")],
        ignore_index=True,
    )
    requests = pairs.assign(TX_DATETIME=instant)
    store = feature_store(stream["settings"])
    columns = [*CUSTOMER_STATE, *TERMINAL_STATE]

    def pushed_state_matches() -> bool:
        online = online_state(store, requests)[columns]
        return np.allclose(online.to_numpy(np.float64), expected.to_numpy(np.float64), rtol=0, atol=1e-9)

    expected = window_state(transactions, requests)[columns]
    _wait(pushed_state_matches, 30, every_s=1)  # the last pushes land within a push interval
    online = online_state(store, requests)[columns]
    pd.testing.assert_frame_equal(online.astype(float), expected.astype(float), rtol=0, atol=1e-9)
    assert (expected["terminal_fraud_count_30d"] > 0).any() and (expected["customer_tx_count_30d"] > 0).any()


def test_malformed_events_go_to_the_dead_letter_topic_with_their_reason(stream, stack, stack_env):
    """Consumers started as services of the local runtime (``make stream``); Prometheus scrapes them."""
    env, settings = _scenario(stream, "dlq", FRAUD_STREAM_CONSUMERS="1")
    good = stream["transactions"].head(400)
    malformed = {
        b"{not json": "not JSON",
        b'{"schema_version": 9}': "schema_version",
        orjson.dumps({"schema_version": 1, "transaction_id": 1, "customer_id": 2}): "tx_datetime: missing",
        orjson.dumps(
            {
                "schema_version": 1,
                "transaction_id": 1,
                "tx_datetime": "2018-04-02T10:00:00",
                "customer_id": "two",
                "terminal_id": 3,
                "tx_amount": 5.0,
            }
        ): "customer_id: expected an integer",
        orjson.dumps(
            {
                "schema_version": 1,
                "transaction_id": 1,
                "tx_datetime": "2018-04-02T10:00:00",
                "customer_id": 2,
                "terminal_id": 3,
                "tx_amount": -5.0,
            }
        ): "tx_amount: must be a finite number >= 0",
    }
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, linger_ms=5)
    bad = iter(malformed)
    times = to_us(good["TX_DATETIME"])
    for i, row in enumerate(good.itertuples()):
        value = transaction_event(
            row.TRANSACTION_ID, times[i], row.CUSTOMER_ID, row.TERMINAL_ID, row.TX_AMOUNT
        )
        producer.send(settings.topic_transactions, key=str(row.CUSTOMER_ID).encode(), value=value)
        if i % 60 == 0:
            raw = next(bad, None)
            if raw is not None:
                producer.send(settings.topic_transactions, key=b"bad", value=raw)
    producer.flush()
    started = run_cli(env, "up", "stream", check=False)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        status = run_cli(env, "status", "stream", check=False)
        assert "stream-consumer-0" in status.stdout and "healthy" in status.stdout, status.stdout
        ids = set(good["TRANSACTION_ID"])
        _wait(lambda: set(_scores(settings)) >= ids, 120, every_s=2)
        letters = _read(settings, settings.topic_dead_letter)
        reasons = {}
        for record in letters:
            headers = dict(record.headers)
            assert int(headers[DLQ_PARTITION]) >= 0 and int(headers[DLQ_OFFSET]) >= 0
            reasons[record.value] = headers[DLQ_REASON].decode()
        assert set(reasons) == set(malformed)
        for raw, reason in malformed.items():
            assert reasons[raw].startswith(reason), (raw, reasons[raw])
        scores = _scores(settings)
        assert set(scores) == ids  # every good event scored, nothing else
        deadline, result = time.monotonic() + 40, []
        query = 'sum(fraud_stream_events_dead_lettered_total{service="stream"}) >= 5'
        while time.monotonic() < deadline and not result:
            url = f"{settings.prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
            with urllib.request.urlopen(url, timeout=5) as response:
                result = json.load(response)["data"]["result"]
            time.sleep(1)
        assert result, "Prometheus never scraped the consumer's dead-letter count"
    finally:
        stopped = run_cli(env, "down", "stream", check=False)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def test_a_consumer_joining_then_one_leaving_keeps_every_score_and_the_state(stream):
    env, settings = _scenario(stream, "rebalance")
    transactions = stream["transactions"].head(20_000)
    first = Consumer(stream, env, 0)
    first.wait_assigned()
    # 40 s of events: the second consumer (10-20 s to start on two busy cores) joins mid-stream,
    # and the first leaves while events still flow.
    producer = _replay_in_background(settings, transactions, rate=500)
    second = Consumer(stream, env, 1)
    second.wait_assigned()
    time.sleep(3)
    assert producer.is_alive(), "the replay ended before the second consumer joined: too slow a machine"
    assert first.terminate() == 0, first.log.read_text()[-3000:]  # leaves: the second takes over
    producer.join()
    _wait(lambda: set(_scores(settings)) >= set(transactions["TRANSACTION_ID"]), 180, every_s=3)
    assert second.terminate() == 0, second.log.read_text()[-3000:]
    assert first.scored() > 0 and second.scored() > 0
    replayed = [
        int(line.split("assigned, ")[1].split()[0])
        for line in second.log.read_text().splitlines()
        if "events replayed into state" in line
    ]
    assert max(replayed) > 0, replayed  # took over partitions and rebuilt their customers' state
    _check_scores(stream, _scores(settings), transactions["TRANSACTION_ID"])


def test_a_new_member_joins_after_the_members_stopped_one_after_the_other(stream):
    """As ``python -m infra.local down stream`` then ``up stream`` do: the last member used to leave
    while the group rebalanced after the first, and Tansu then kept it as the group's leader, so
    no later member ever got partitions (see ``streaming.membership``)."""
    env, _ = _scenario(stream, "restart")
    first = Consumer(stream, env, 0)
    first.wait_assigned()
    second = Consumer(stream, env, 1)
    second.wait_assigned()
    assert second.terminate() == 0, second.log.read_text()[-3000:]
    assert first.terminate() == 0, first.log.read_text()[-3000:]
    third = Consumer(stream, env, 2)
    third.wait_assigned(timeout_s=60)
    assert third.terminate() == 0, third.log.read_text()[-3000:]


def test_the_record_writer_puts_each_key_where_kafka_python_does_with_headers_and_acks(stream):
    """The consumer's writer (record batches built directly, one request per broker) against the
    real broker: every record read back once, on the partition ``KafkaProducer`` picks for its key,
    with its headers; more than one batch's worth of bytes per partition."""
    _, settings = _scenario(stream, "writer")
    ours, theirs = settings.topic_scores, settings.topic_alerts  # both 4 partitions
    keys = [str(i).encode() for i in range(6_000)]
    value = b"x" * 400  # 6,000 x 400 B: several 512 KiB batches per partition
    writer = RecordWriter(settings.kafka_bootstrap_servers, "itest-writer")
    for key in keys:
        writer.send(ours, key=key, value=value, headers=[("reason", key)])
    assert writer.flush() == len(keys)
    writer.close()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    for key in keys:
        producer.send(theirs, key=key, value=b"")
    producer.flush()
    producer.close()
    where: dict[str, dict[bytes, int]] = {ours: {}, theirs: {}}
    reader = KafkaConsumer(
        ours, theirs, bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    deadline = time.monotonic() + 60
    while sum(map(len, where.values())) < 2 * len(keys) and time.monotonic() < deadline:
        for tp, records in reader.poll(timeout_ms=500).items():
            for record in records:
                assert record.key not in where[tp.topic], "a record written twice"
                where[tp.topic][record.key] = tp.partition
                if tp.topic == ours:
                    assert record.value == value and record.headers == [("reason", record.key)]
    reader.close()
    assert where[ours] == where[theirs] and len(where[ours]) == len(keys)
    assert set(where[ours].values()) == {0, 1, 2, 3}
