"""End to end through the real local servers: up, a round trip through each, down.

The tests run in file order: the last one brings the stack down and checks nothing is left.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import mlflow
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from mlflow.tracking import MlflowClient

from fraudcore.data.lake import TransactionLake
from fraudcore.storage import s3_client
from infra.local.process import ManagedProcess, group_members, process_alive
from infra.local.services import all_services
from tests.integration.conftest import run_cli

pytestmark = pytest.mark.integration

SERVICES = ["seaweedfs", "kafka", "mlflow", "pushgateway", "prometheus"]


def _pids(settings) -> dict[str, int]:
    return {name: ManagedProcess(name, settings.state_dir).pid for name in SERVICES}


def test_up_twice_is_harmless(stack, stack_env):
    before = _pids(stack)
    again = run_cli(stack_env, "up")
    assert again.stdout.count("already running") == len(SERVICES), again.stdout
    assert _pids(stack) == before
    status = run_cli(stack_env, "status")
    assert status.stdout.count("healthy") == len(SERVICES), status.stdout


def test_s3_put_get_list(stack):
    client = s3_client(stack)
    buckets = {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}
    assert set(stack.buckets) <= buckets
    key = f"tests/{uuid.uuid4()}.txt"
    client.put_object(Bucket=stack.bucket, Key=key, Body=b"fraud")
    assert client.get_object(Bucket=stack.bucket, Key=key)["Body"].read() == b"fraud"
    listed = client.list_objects_v2(Bucket=stack.bucket, Prefix="tests/")["Contents"]
    assert key in {item["Key"] for item in listed}


def test_wrong_credentials_are_refused(stack):
    intruder = stack.model_copy(update={"s3_secret_key": "wrong"})
    with pytest.raises(Exception, match=r"SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId"):
        s3_client(intruder).list_objects_v2(Bucket=stack.bucket)


def test_transaction_lake_on_s3(stack, small_transactions):
    lake = TransactionLake(stack)
    assert len(lake.write(small_transactions, progress=False)) == 14
    listed = s3_client(stack).list_objects_v2(
        Bucket=stack.bucket, Prefix=f"{stack.raw_prefix}/date=2018-04-01/"
    )
    objects = [item["Key"] for item in listed["Contents"] if not item["Key"].endswith("/")]  # no folders
    assert objects == [f"{stack.raw_prefix}/date=2018-04-01/part-00000.parquet"]
    back = lake.read()
    assert len(back) == len(small_transactions)
    assert back["TRANSACTION_ID"].tolist() == small_transactions["TRANSACTION_ID"].tolist()


def test_mlflow_logs_a_run_and_reads_it_back(stack, tmp_path):
    mlflow.set_tracking_uri(stack.mlflow_tracking_uri)
    mlflow.set_experiment("integration-test")
    artifact = tmp_path / "note.txt"
    artifact.write_text("stored in S3")
    with mlflow.start_run() as run:
        mlflow.log_param("model", "test")
        mlflow.log_metric("auc", 0.9)
        mlflow.log_artifact(str(artifact))
    client = MlflowClient(stack.mlflow_tracking_uri)
    stored = client.get_run(run.info.run_id)
    assert stored.data.params == {"model": "test"}
    assert stored.data.metrics == {"auc": 0.9}
    downloaded = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="note.txt", dst_path=str(tmp_path / "back")
    )
    assert Path(downloaded).read_text() == "stored in S3"
    # The artifact really lives in the object store's MLflow bucket.
    keys = [item["Key"] for item in s3_client(stack).list_objects_v2(Bucket=stack.mlflow_bucket)["Contents"]]
    assert any(key.endswith(f"{run.info.run_id}/artifacts/note.txt") for key in keys)


def _consume(settings, group: str, topic: str, stop_after: int, timeout_s: float = 30.0) -> list:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    records, deadline = [], time.monotonic() + timeout_s
    try:
        while len(records) < stop_after and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500, max_records=100).values():
                records.extend(batch)
        # Commit exactly what was processed: the next offset after the last record of each partition.
        offsets = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
        if offsets:
            consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()})
    finally:
        consumer.close()
    return records


@pytest.fixture(scope="module")
def produced(stack) -> tuple[str, set[str]]:
    topic = stack.topic_transactions
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, linger_ms=5, acks="all")
    values = {f"event-{i}" for i in range(1000)}
    for value in sorted(values):
        producer.send(topic, key=value.encode(), value=value.encode())
    producer.flush()
    producer.close()
    return topic, values


def test_platform_topics_exist(stack):
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    try:
        assert set(stack.topics) <= set(admin.list_topics())
    finally:
        admin.close()


def test_kafka_consumer_group_resumes_from_committed_offsets(stack, produced):
    topic, values = produced
    first = _consume(stack, "itest-group", topic, stop_after=300)
    second = _consume(stack, "itest-group", topic, stop_after=len(values) - len(first))
    first_values = [r.value.decode() for r in first]
    second_values = [r.value.decode() for r in second]
    assert 300 <= len(first_values) < len(values)
    assert set(first_values).isdisjoint(second_values), "events scored twice"
    assert sorted(first_values + second_values) == sorted(values), "events lost"


def test_kafka_messages_and_offsets_survive_a_broker_restart(stack, stack_env, produced):
    topic, values = produced
    run_cli(stack_env, "down", "kafka")
    run_cli(stack_env, "up", "kafka")
    replay = _consume(stack, f"replay-{uuid.uuid4()}", topic, stop_after=len(values))
    assert {r.value.decode() for r in replay} == values
    # The group that read everything has nothing left after the restart.
    assert _consume(stack, "itest-group", topic, stop_after=1, timeout_s=8) == []


def _promql(settings, query: str) -> list[dict]:
    url = f"{settings.prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]["result"]


def test_prometheus_scrapes_the_servers(stack):
    deadline, result = time.monotonic() + 40, []
    while time.monotonic() < deadline:
        result = _promql(stack, 'up{job=~"seaweedfs|mlflow|pushgateway"} == 1')
        if len(result) == 3:
            break
        time.sleep(1)
    assert sorted(series["metric"]["job"] for series in result) == ["mlflow", "pushgateway", "seaweedfs"]


def test_killed_server_is_reported_down_and_restarted_by_up(stack, stack_env):
    pid = ManagedProcess("pushgateway", stack.state_dir).pid
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    status = run_cli(stack_env, "status", check=False)
    assert status.returncode == 1
    assert any(line.split()[:2] == ["pushgateway", "down"] for line in status.stdout.splitlines()), (
        status.stdout
    )
    restarted = run_cli(stack_env, "up")
    assert "pushgateway  started" in restarted.stdout


def test_down_leaves_no_process(stack, stack_env):
    pids = _pids(stack)
    assert all(pids.values())
    run_cli(stack_env, "down")
    assert [name for name, pid in pids.items() if process_alive(pid) or group_members(pid)] == []
    assert all(not (stack.state_dir / "pids" / f"{s.name}.pid").exists() for s in all_services(stack))
    status = run_cli(stack_env, "status", check=False)
    assert status.returncode == 1 and status.stdout.count(" down ") == len(SERVICES)
    # Bring it back for the test modules that follow (up after down must work too).
    run_cli(stack_env, "up")
