"""``make bench-stream``: scored events per second of one consumer process beside the in-memory floor,
and end-to-end latency at a fixed rate.

Needs a running stack whose lake holds the reference dataset and a champion. Each run uses topics
and a consumer group of its own. Measured in one run:

1. Throughput: the events (and their labels) are replayed into Kafka first; one consumer process
   (``python -m streaming consume``, pushes to the online store on) then scores the backlog.
   Events/s = events / (first batch -> last batch), start-up reported apart.
2. Floor: the same events in the same micro-batches scored in this process from memory (parse,
   state, features, model, score serialization; no Kafka), with the time of each step; and the
   Kafka client alone (read the topic; write as many score records) to show where the time goes.
3. Latency: a consumer waits on fresh topics while the producer replays at a fixed rate;
   end-to-end = the score record's timestamp - the transaction record's timestamp.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
import uuid

import numpy as np
import orjson
import pandas as pd
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from benchmarks.report import write_report
from fraudcore.events import Transaction, parse_label, parse_transaction, score_event
from fraudcore.registry import CHAMPION, ModelRegistry
from fraudcore.settings import REPO_ROOT, Settings, get_settings
from infra.local.bootstrap import create_topics
from streaming.producer import load_transactions, replay
from streaming.state import StreamState

START = dt.date(2018, 7, 1)


def _scenario(settings: Settings, label: str) -> tuple[Settings, dict[str, str]]:
    prefix = f"bench-{label}-{uuid.uuid4().hex[:6]}"
    names = {
        "topic_transactions": f"{prefix}-tx",
        "topic_labels": f"{prefix}-labels",
        "topic_scores": f"{prefix}-scores",
        "topic_alerts": f"{prefix}-alerts",
        "topic_dead_letter": f"{prefix}-dlq",
        "stream_group_id": prefix,
    }
    scenario = settings.model_copy(update=names)
    create_topics(scenario)
    return scenario, {f"FRAUD_{k.upper()}": v for k, v in names.items()}


def _read_all(settings: Settings, topic: str, idle_s: float = 2.0) -> tuple[list, float]:
    """Every record of ``topic`` and the seconds spent reading them (the final idle wait left out)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        max_poll_records=settings.stream_max_batch,
    )
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    records: list = []
    started = last = time.monotonic()
    while time.monotonic() - last < idle_s:
        for batch in consumer.poll(timeout_ms=100).values():
            records += batch
            last = time.monotonic()
    consumer.close()
    return records, last - started


def _consume(env: dict[str, str], exit_when_idle_s: float, log_name: str) -> tuple[dict, subprocess.Popen]:
    log = REPO_ROOT / "reports" / log_name
    log.parent.mkdir(exist_ok=True)
    out = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streaming", "consume", "--exit-when-idle", str(exit_when_idle_s)],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    return {"log": log, "started": time.monotonic()}, process


def _summary(log_text: str) -> dict:
    line = next(x for x in log_text.splitlines() if "events in" in x and "scored" in x)
    scored = int(line.split("scored ")[1].split()[0])
    busy = float(line.split("events in ")[1].split()[0])
    wall = float(line.split("batches, ")[1].split()[0])
    return {"scored": scored, "busy_s": busy, "wall_s": wall}


def throughput(settings: Settings, transactions: pd.DataFrame) -> dict:
    scenario, env = _scenario(settings, "throughput")
    print(f"replaying {len(transactions):,} transactions and their labels ...", flush=True)
    replayed = replay(scenario, transactions, progress=True)
    print(replayed, flush=True)
    info, process = _consume(env, 5.0, "bench-stream-consumer.log")
    process.wait()
    text = info["log"].read_text()
    summary = _summary(text)
    assigned_at = next(
        (x.split(" ")[1] for x in text.splitlines() if "assigned" in x), None
    )  # hh:mm:ss,ms of the partition assignment
    started = dt.datetime.strptime(text.splitlines()[0][:23], "%Y-%m-%d %H:%M:%S,%f") if text else None
    startup = None
    if assigned_at and started:
        assigned = dt.datetime.strptime(f"{started.date()} {assigned_at}", "%Y-%m-%d %H:%M:%S,%f")
        startup = (assigned - started).total_seconds()
    rate = summary["scored"] / summary["wall_s"] if summary["wall_s"] else float("nan")
    print(f"consumer: {summary['scored']:,} events in {summary['wall_s']:.1f} s = {rate:,.0f}/s", flush=True)
    return {
        **summary,
        "events_per_second": round(rate),
        "startup_to_assignment_s": startup,
        "replay": str(replayed),
        "topics": env,
    }


def floor(settings: Settings, scenario_topics: dict[str, str]) -> dict:
    """The same events, micro-batches and model in this process, from memory; Kafka client costs."""
    topics = settings.model_copy(
        update={
            "topic_transactions": scenario_topics["FRAUD_TOPIC_TRANSACTIONS"],
            "topic_labels": scenario_topics["FRAUD_TOPIC_LABELS"],
        }
    )
    records, read_s = _read_all(topics, topics.topic_transactions)
    label_records, label_read_s = _read_all(topics, topics.topic_labels)
    registry = ModelRegistry(settings)
    version = registry.aliases()[CHAMPION]
    model = registry.load_version(version).use_threads(1)
    values = [r.value for r in records]
    labels = [parse_label(r.value) for r in label_records]
    steps = dict.fromkeys(["parse", "state", "features", "model", "serialize"], 0.0)
    outputs: list[tuple[bytes, bytes]] = []
    state = StreamState()
    state.add_labels(labels)  # labels applied up front: the floor does not wait for them
    batch_size = settings.stream_max_batch
    started = time.perf_counter()
    for first in range(0, len(values), batch_size):
        t0 = time.perf_counter()
        batch: list[Transaction] = [parse_transaction(v) for v in values[first : first + batch_size]]
        t1 = time.perf_counter()
        state.add_transactions(batch)
        t2 = time.perf_counter()
        features = state.features(batch)
        t3 = time.perf_counter()
        probability = model.score_columns(features).tolist()
        t4 = time.perf_counter()
        for transaction, p in zip(batch, probability, strict=True):
            decision = "fraud" if p >= settings.serving_threshold else "genuine"
            outputs.append(
                (
                    str(transaction.transaction_id).encode(),
                    score_event(transaction, p, decision, settings.model_name, version, 0),
                )
            )
        state.prune(batch)
        t5 = time.perf_counter()
        for name, seconds in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            steps[name] += seconds
    total = time.perf_counter() - started
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5, batch_size=256 * 1024
    )
    sink = f"{scenario_topics['FRAUD_TOPIC_SCORES']}-produce-only"
    t0 = time.perf_counter()
    for key, value in outputs:
        producer.send(sink, key=key, value=value)
    producer.flush()
    write_s = time.perf_counter() - t0
    producer.close()
    n = len(values)
    per_event_us = {name: round(seconds / n * 1e6, 2) for name, seconds in steps.items()}
    per_event_us["kafka_read"] = round(read_s / n * 1e6, 2)
    per_event_us["kafka_write_score"] = round(write_s / n * 1e6, 2)
    print(
        f"floor: {n:,} events in {total:.1f} s = {n / total:,.0f}/s; per event (us): {per_event_us}",
        flush=True,
    )
    return {
        "events": n,
        "seconds": round(total, 2),
        "events_per_second": round(n / total),
        "per_event_us": per_event_us,
        "labels_read_per_second": round(len(label_records) / label_read_s) if label_read_s else None,
    }


def latency(settings: Settings, transactions: pd.DataFrame, rate: float) -> dict:
    scenario, env = _scenario(settings, "latency")
    info, process = _consume(env, 8.0, "bench-stream-latency-consumer.log")
    deadline = time.monotonic() + 120
    while "assigned" not in info["log"].read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the consumer did not start:\n{info['log'].read_text()[-2000:]}")
        time.sleep(0.5)
    print(f"replaying {len(transactions):,} transactions at {rate:,.0f}/s ...", flush=True)
    replayed = replay(scenario, transactions, rate=rate, progress=True)
    process.wait()
    produced = {}
    for record in _read_all(scenario, scenario.topic_transactions)[0]:
        produced[orjson.loads(record.value)["transaction_id"]] = record.timestamp
    seconds = []
    for record in _read_all(scenario, scenario.topic_scores)[0]:
        tx_id = int(record.key)
        if tx_id in produced:
            seconds.append((record.timestamp - produced[tx_id]) / 1000)
    values = np.array(seconds)
    result = {
        "offered_rate": rate,
        "scored": len(values),
        "achieved_rate": round(len(transactions) / float(str(replayed).split(" in ")[1].split(" s")[0]), 1),
        **{f"p{q}_ms": round(float(np.percentile(values, q)) * 1000, 1) for q in (50, 95, 99)},
        "max_ms": round(float(values.max()) * 1000, 1),
    }
    print(f"latency at {rate:,.0f}/s: {result}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="transactions of the throughput run")
    parser.add_argument("--rate", type=float, default=2_000.0, help="offered rate of the latency run")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    args = parser.parse_args()
    settings = get_settings()
    days = max(1, args.events // 9_000 + 1)
    transactions = load_transactions(settings, "lake", START, START + dt.timedelta(days=days)).head(
        args.events
    )
    run = throughput(settings, transactions)
    base = floor(settings, run["topics"])
    later = load_transactions(settings, "lake", dt.date(2018, 8, 1), dt.date(2018, 8, 10))
    paced = latency(settings, later.head(int(args.rate * args.latency_seconds)), args.rate)
    ratio = run["events_per_second"] / base["events_per_second"]
    steps = base["per_event_us"]
    body = f"""
One consumer process (`python -m streaming consume`, LightGBM champion, micro-batches of
{settings.stream_max_batch}, online pushes on) on the local Tansu broker (S3 storage on SeaweedFS),
this 2-core machine, beside the floor: the same events and micro-batches scored in one process from
memory. {run["scored"]:,} transactions of the reference dataset from {START}, replayed with their
labels first; the consumer then scores the backlog.

| what | events/s |
|---|---|
| consumer process, first batch to last | **{run["events_per_second"]:,}** ({ratio:.0%} of the floor) |
| floor: parse + state + features + model + serialize, in memory | {base["events_per_second"]:,} |
| goal | 20,000 |

Consumer start-up (imports, champion loaded, labels read, group joined):
{run["startup_to_assignment_s"]} s.

Where the time goes, per event (us): parse {steps["parse"]}, state {steps["state"]}, features
{steps["features"]}, model {steps["model"]}, serialize {steps["serialize"]} — and in the Kafka
client alone: read {steps["kafka_read"]}, write one score record {steps["kafka_write_score"]}.

End-to-end latency (score record written - transaction record written) at a fixed
{paced["offered_rate"]:,.0f} transactions/s (achieved {paced["achieved_rate"]:,}/s, plus their labels),
{paced["scored"]:,} transactions: p50 **{paced["p50_ms"]} ms**, p95 {paced["p95_ms"]} ms,
p99 **{paced["p99_ms"]} ms**, max {paced["max_ms"]} ms (goal p99 <= 100 ms).
"""
    results = {"throughput": run, "floor": base, "latency": paced, "ratio_to_floor": round(ratio, 3)}
    _, md_path = write_report("stream", "Stream scoring benchmark", results, body)
    print(md_path.read_text())


if __name__ == "__main__":
    main()
