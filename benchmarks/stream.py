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
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from benchmarks.processes import listening_process
from benchmarks.report import write_report
from fraudcore.events import Transaction, parse_label, parse_transaction, score_event
from fraudcore.features.definitions import LABEL_DELAY_DAYS
from fraudcore.gc_pauses import freeze_long_lived
from fraudcore.registry import CHAMPION, ModelRegistry
from fraudcore.settings import REPO_ROOT, Settings, as_env, get_settings
from infra.local.bootstrap import create_topics
from infra.local.health import free_port
from infra.local.services import tansu_command
from streaming.fetching import BACKLOG_WAIT_MS
from streaming.producer import load_transactions, replay
from streaming.record_writer import RecordWriter
from streaming.state import StreamState

START = dt.date(2018, 7, 1)


def _scenario(settings: Settings, label: str) -> tuple[Settings, dict[str, str]]:
    names = settings.stream_names(f"bench-{label}-{uuid.uuid4().hex[:6]}")
    scenario = settings.model_copy(update=names)
    create_topics(scenario)
    return scenario, as_env({**names, "kafka_bootstrap_servers": settings.kafka_bootstrap_servers})


@contextlib.contextmanager
def memory_broker() -> Iterator[str]:
    """A second Tansu broker with memory storage on a free port, for the side-by-side run."""
    port = free_port()
    command = tansu_command(f"tcp://127.0.0.1:{port}", "memory://tansu/")
    with listening_process(command, port, "the memory-storage Tansu broker", quiet=True):
        yield f"127.0.0.1:{port}"


def _read_all(settings: Settings, topic: str, idle_s: float = 2.0) -> tuple[list, float]:
    """Every record of ``topic`` and the seconds spent reading them (the final idle wait left out)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_wait_ms=BACKLOG_WAIT_MS,
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
    port = free_port()  # its own metrics port: `make stream`'s consumers may hold theirs
    process = subprocess.Popen(
        [sys.executable, "-m", "streaming", "consume", "--exit-when-idle", str(exit_when_idle_s)],
        cwd=REPO_ROOT,
        env={**os.environ, **env, "FRAUD_STREAM_METRICS_PORT": str(port)},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    return {"log": log, "launched": dt.datetime.now()}, process


def _assigned_at(log_text: str) -> dt.datetime:
    """When the consumer got its partitions (its log line's timestamp)."""
    line = next(x for x in log_text.splitlines() if "assigned," in x and "streaming.consumer" in x)
    return dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


def _push_delays(log_text: str) -> str:
    line = next((x for x in log_text.splitlines() if "online pushes:" in x), "")
    return line.split("online pushes: ", 1)[1] if line else "none"


def _summary(log_text: str) -> dict:
    line = next(x for x in log_text.splitlines() if "events in" in x and "scored" in x)
    scored = int(line.split("scored ")[1].split()[0])
    busy = float(line.split("events in ")[1].split()[0])
    wall = float(line.split("batches, ")[1].split()[0])
    return {"scored": scored, "busy_s": busy, "wall_s": wall}


def compile_champion(settings: Settings) -> float | None:
    """Compile the champion's trees into the cache the consumer loads them from (seconds; None when
    compiling is off); the consumer then starts on the compiled scorer."""
    if settings.model_cache_dir is None:
        return None
    registry = ModelRegistry(settings)
    model = registry.load_version(registry.aliases()[CHAMPION])
    started = time.monotonic()
    model.compile(settings.model_cache_dir)
    seconds = time.monotonic() - started
    print(f"champion compiled (or loaded from the cache) in {seconds:.1f} s", flush=True)
    return round(seconds, 1)


def throughput(settings: Settings, transactions: pd.DataFrame) -> dict:
    scenario, env = _scenario(settings, "throughput")
    print(f"replaying {len(transactions):,} transactions and their labels ...", flush=True)
    replayed = replay(scenario, transactions, progress=True)
    print(replayed, flush=True)
    info, process = _consume(env, 5.0, "bench-stream-consumer.log")
    process.wait()
    text = info["log"].read_text()
    summary = _summary(text)
    startup = _assigned_at(text) - info["launched"]
    rate = summary["scored"] / summary["wall_s"] if summary["wall_s"] else float("nan")
    print(f"consumer: {summary['scored']:,} events in {summary['wall_s']:.1f} s = {rate:,.0f}/s", flush=True)
    return {
        **summary,
        "events_per_second": round(rate),
        "startup_to_assignment_s": round(startup.total_seconds(), 1),
        "online_push": _push_delays(text),
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
    if settings.model_cache_dir is not None:
        model.compile(settings.model_cache_dir)  # as the consumer scores: compiled trees
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
    sink = f"{scenario_topics['FRAUD_TOPIC_SCORES']}-produce-only"
    writer = RecordWriter(settings.kafka_bootstrap_servers, "bench-floor-writer")
    t0 = time.perf_counter()
    for first in range(0, len(outputs), batch_size):  # as the consumer writes: a flush per batch
        for key, value in outputs[first : first + batch_size]:
            writer.send(sink, key=key, value=value)
        writer.flush()
    write_s = time.perf_counter() - t0
    writer.close()
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5, batch_size=256 * 1024
    )
    t0 = time.perf_counter()
    for key, value in outputs:  # the same records through kafka-python's producer, for reference
        producer.send(f"{sink}-producer", key=key, value=value)
    producer.flush()
    producer_s = time.perf_counter() - t0
    producer.close()
    n = len(values)
    per_event_us = {name: round(seconds / n * 1e6, 2) for name, seconds in steps.items()}
    per_event_us["kafka_read"] = round(read_s / n * 1e6, 2)
    per_event_us["kafka_write_score"] = round(write_s / n * 1e6, 2)
    per_event_us["kafka_producer_send"] = round(producer_s / n * 1e6, 2)
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


def latency(settings: Settings, transactions: pd.DataFrame, rate: float, warmup_s: float) -> dict:
    """End-to-end latency of the transactions written after the first ``warmup_s`` seconds (a fresh
    consumer first catches up with what arrived while it fetched its first batches: reported apart),
    also split by phase: before labels flow (the first ``LABEL_DELAY_DAYS`` of event time) and once
    they do (twice the records, a label wait per batch: the steady state of a live system)."""
    scenario, env = _scenario(settings, "latency")
    info, process = _consume(env, 30.0, "bench-stream-latency-consumer.log")
    deadline = time.monotonic() + 120
    while "assigned" not in info["log"].read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the consumer did not start:\n{info['log'].read_text()[-2000:]}")
        time.sleep(0.5)
    print(f"replaying {len(transactions):,} transactions at {rate:,.0f}/s ...", flush=True)
    freeze_long_lived()  # as `python -m streaming produce` does: no full-GC stall of the sender
    started_ms = time.time() * 1000
    replayed = replay(scenario, transactions, rate=rate, progress=True)
    process.wait()
    produced = {}
    for record in _read_all(scenario, scenario.topic_transactions)[0]:
        produced[orjson.loads(record.value)["transaction_id"]] = record.timestamp
    labels_from = transactions["TX_DATETIME"].min() + pd.Timedelta(days=LABEL_DELAY_DAYS)
    with_labels = set(transactions.loc[transactions["TX_DATETIME"] >= labels_from, "TRANSACTION_ID"].tolist())
    seconds, warmup, phase = [], [], {"before_labels": [], "with_labels": []}
    for record in _read_all(scenario, scenario.topic_scores)[0]:
        tx_id = int(record.key)
        if tx_id in produced:
            delay = (record.timestamp - produced[tx_id]) / 1000
            if produced[tx_id] < started_ms + warmup_s * 1000:
                warmup.append(delay)
                continue
            seconds.append(delay)
            phase["with_labels" if tx_id in with_labels else "before_labels"].append(delay)
    values = np.array(seconds)
    if len(values) == 0:
        scored = len(warmup)
        return {"offered_rate": rate, "scored": 0, "scored_in_warmup": scored, "offered": len(transactions)}
    result = {
        "offered_rate": rate,
        "scored": len(values),
        "achieved_rate": round(len(transactions) / float(str(replayed).split(" in ")[1].split(" s")[0]), 1),
        **{f"p{q}_ms": round(float(np.percentile(values, q)) * 1000, 1) for q in (50, 95, 99)},
        "max_ms": round(float(values.max()) * 1000, 1),
        "warmup_s": warmup_s,
        "warmup_max_ms": round(max(warmup, default=0.0) * 1000, 1),
        **{
            name: {
                "scored": len(v),
                **{f"p{q}_ms": round(float(np.percentile(v, q)) * 1000, 1) for q in (50, 99)},
            }
            for name, v in phase.items()
            if v
        },
    }
    print(f"latency at {rate:,.0f}/s: {result}", flush=True)
    return result


HEADER = (
    "| broker | consumer events/s (of the floor) | Kafka client: read us/event | write us/event "
    "| start-up | latency p50 / p95 / p99 ms | p50 / p99 ms before labels flow; with labels |"
)
BROKERS = {
    "s3": "the runtime's Tansu, S3 storage on SeaweedFS (`make up`)",
    "memory": "Tansu with memory storage, started by the benchmark",
}


def _row(name: str, throughput: dict, floor: dict, latency: dict) -> str:
    run, base, paced = throughput, floor, latency
    ratio = run["events_per_second"] / base["events_per_second"]
    steps = base["per_event_us"]
    latency = (
        f"{paced['p50_ms']} / {paced['p95_ms']} / **{paced['p99_ms']}**"
        if paced.get("scored")
        else "none after the warm-up: the consumer fell behind and the broker stopped delivering"
        + (f" ({paced['scored_in_warmup']:,} of {paced['offered']:,} scored)" if "offered" in paced else "")
    )
    phases = "; ".join(
        f"{paced[p]['p50_ms']} / {paced[p]['p99_ms']}" for p in ("before_labels", "with_labels") if p in paced
    )
    return (
        f"| {BROKERS[name]} | **{run['events_per_second']:,}** ({ratio:.0%}) | {steps['kafka_read']} | "
        f"{steps['kafka_write_score']} | {run['startup_to_assignment_s']} s | {latency} | {phases or '-'} |"
    )


def render(results: dict, settings: Settings) -> str:
    """The markdown body of the report, from the measured results."""
    setup = results["setup"]
    first = results["brokers"]["s3"]["floor"]
    steps = first["per_event_us"]
    compiled = " compiled with lleaves" if results["model_compile"] else ""
    rows = "\n".join(_row(name, **results["brokers"][name]) for name in BROKERS)
    return f"""
One consumer process (`python -m streaming consume`, LightGBM champion{compiled}, micro-batches of
{settings.stream_max_batch}, online pushes every {settings.stream_push_interval_s} s) on this
2-core machine, on two brokers, beside the floor: the same events and micro-batches scored in one
process from memory. Throughput: {setup["events"]:,} transactions of the reference dataset from
{START}, replayed with their labels first, then scored from the backlog (first batch to last).
Latency: a waiting consumer, {setup["paced_events"]:,} transactions offered at {setup["rate"]:,.0f}/s
(plus their labels); end-to-end = score record written - transaction record written, over the
transactions written after a {setup["warmup_s"]:.0f} s warm-up (a fresh consumer's first seconds:
worst {results["brokers"]["memory"]["latency"].get("warmup_max_ms")} ms on the memory broker).

Floor: **{first["events_per_second"]:,} events/s** (parse {steps["parse"]}, state {steps["state"]},
features {steps["features"]}, model {steps["model"]}, serialize {steps["serialize"]} us per event).
Kafka client costs, measured apart on the same records: read (kafka-python consumer), write (the
consumer's record writer, a flush per micro-batch; the same records through `KafkaProducer.send`:
{steps.get("kafka_producer_send", "-")} us per event on the runtime broker).
Goals: 20,000 events/s per consumer; p99 <= 100 ms at {setup["rate"]:,.0f}/s.

{HEADER}
|---|---|---|---|---|---|---|
{rows}

Start-up: imports, champion loaded (compiled trees from the cache), every label read, group joined.
Online pushes on the runtime broker's run: {results["brokers"]["s3"]["throughput"]["online_push"]}.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="transactions of the throughput run")
    parser.add_argument("--rate", type=float, default=2_000.0, help="offered rate of the latency run")
    parser.add_argument("--latency-seconds", type=float, default=30.0, help="measured after the warm-up")
    parser.add_argument("--warmup-seconds", type=float, default=10.0)
    parser.add_argument("--render", type=Path, help="only write the report from a raw results file")
    args = parser.parse_args()
    settings = get_settings()
    raw = REPO_ROOT / "reports" / "bench-stream-results.json"
    if args.render:
        results = json.loads(args.render.read_text())
    else:
        results = measure(settings, args)
        raw.write_text(json.dumps(results, indent=2, default=str))  # kept if the report below fails
    _, md_path = write_report("stream", "Stream scoring benchmark", results, render(results, settings))
    print(md_path.read_text())


def measure(settings: Settings, args: argparse.Namespace) -> dict:
    days = max(1, args.events // 9_000 + 1)
    transactions = load_transactions(settings, "lake", START, START + dt.timedelta(days=days)).head(
        args.events
    )
    later = load_transactions(settings, "lake", dt.date(2018, 8, 1), dt.date(2018, 8, 10))
    paced_events = later.head(int(args.rate * (args.warmup_seconds + args.latency_seconds)))
    results: dict = {
        "setup": {
            "events": len(transactions),
            "paced_events": len(paced_events),
            "rate": args.rate,
            "warmup_s": args.warmup_seconds,
        },
        "compile_s": compile_champion(settings),
        "model_compile": settings.model_compile,
        "brokers": {},
    }
    with memory_broker() as memory:
        for name, bootstrap in (("s3", settings.kafka_bootstrap_servers), ("memory", memory)):
            print(f"--- broker: {BROKERS[name]} ({bootstrap})", flush=True)
            on = settings.model_copy(update={"kafka_bootstrap_servers": bootstrap})
            run = throughput(on, transactions)
            base = floor(on, run["topics"])
            paced = latency(on, paced_events, args.rate, args.warmup_seconds)
            results["brokers"][name] = {"throughput": run, "floor": base, "latency": paced}
    return results


if __name__ == "__main__":
    main()
