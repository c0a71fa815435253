"""``make bench-realtime``: the real-time service under open-loop load, beside its in-process floor.

Needs the running stack with a champion and a materialized online store (``make demo``), and the
service (``make serve``, which the make target starts). Requests use distinct customers and
terminals of the lake's last week, at instants just after the online store's as-of time. The
floor is the same scoring (online lookup, request-time features, champion) called in this
process without HTTP, one request after another and on each rate's schedule; each rate's load
comes from a second process (``benchmarks.loadgen``), against a bare ASGI app on the same
uvicorn setup (``benchmarks.bare_asgi``: what HTTP and the client cost alone), then the service.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.processes import listening_process
from benchmarks.report import RESULTS, write_report
from fraudcore.data.lake import TransactionLake
from fraudcore.feature_store import OnlineFeatureReader, feature_store
from fraudcore.features.online import state_from_event_arrays
from fraudcore.features.request import request_feature_arrays
from fraudcore.metrics import REALTIME, build
from fraudcore.metrics_reader import metric_samples, total
from fraudcore.model_slots import ModelSlot
from fraudcore.registry import CHAMPION, ModelRegistry
from fraudcore.settings import REPO_ROOT, get_settings
from infra.local.health import free_port
from serving.schemas import TransactionRequest
from serving.scoring import RealtimeScorer

RATES = (50, 200, 500, 1000)
#: Seconds each rate runs before it is measured (reported apart: the client opens its connections).
WARMUP_S = 2.0
#: Requests of the back-to-back floor and of its parts.
FLOOR_REQUESTS = 3000


def request_bodies(n: int = 20_000, seed: int = 0) -> list[dict]:
    """Transactions of distinct customers and terminals from the lake's last week, timed in the hour
    after the online store's as-of time (the end of the lake's last day)."""
    lake = TransactionLake()
    days = lake.days()
    recent = lake.read(days[-7], days[-1])
    as_of = pd.Timestamp(days[-1]) + pd.Timedelta(days=1)
    rng = np.random.default_rng(seed)
    pick = recent.sample(n, replace=len(recent) < n, random_state=seed)
    return [
        {
            "transaction_id": 10**14 + i,
            "customer_id": int(row.CUSTOMER_ID),
            "terminal_id": int(row.TERMINAL_ID),
            "amount": round(float(rng.uniform(1, 250)), 2),
            "timestamp": (as_of + pd.Timedelta(seconds=int(rng.integers(0, 3600)))).isoformat(),
        }
        for i, row in enumerate(pick.itertuples())
    ]


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1e3
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 3) for q in (50, 95, 99)}


def floor(bodies: list[dict], paced_s: float) -> dict:
    """The same scoring in this process: one request after another (the first ``FLOOR_REQUESTS``),
    and its parts; then every request body on each rate's schedule (``paced_s`` seconds each)."""
    settings = get_settings()
    import prometheus_client

    metrics = build(REALTIME, prometheus_client)
    reader = OnlineFeatureReader(feature_store(settings))
    champion = ModelSlot(ModelRegistry(settings), CHAMPION, lambda previous, current: None)
    champion.refresh()
    cache = settings.model_cache_dir
    compiled = cache is not None and champion.current.model.compile(cache)  # as the service scores
    scorer = RealtimeScorer(settings, reader, champion, metrics)
    requests = [TransactionRequest(**body) for body in bodies]
    for request in requests[:200]:  # warm up
        scorer.score([request])
    whole, lookup, state, features, predict = [], [], [], [], []
    model = champion.current.model
    for request in requests[:FLOOR_REQUESTS]:
        started = time.perf_counter()
        scorer.score([request])
        whole.append(time.perf_counter() - started)
        when = np.array([request.timestamp], dtype="datetime64[us]").astype(np.int64)
        t0 = time.perf_counter()
        found = reader.lookup([request.customer_id], [request.terminal_id])
        t1 = time.perf_counter()
        window_state = state_from_event_arrays(found, when)
        t2 = time.perf_counter()
        columns = request_feature_arrays(np.array([request.amount]), when, window_state)
        t3 = time.perf_counter()
        model.score_columns(columns)
        t4 = time.perf_counter()
        lookup.append(t1 - t0), state.append(t2 - t1), features.append(t3 - t2), predict.append(t4 - t3)
    paced = {_rate_key(rate): _paced(scorer.score, requests, rate, paced_s) for rate in RATES}
    return {
        "whole": _percentiles(whole),
        "paced": paced,
        "parts": {
            "online lookup (Feast, sqlite)": _percentiles(lookup),
            "window state from the event lists": _percentiles(state),
            "request-time features": _percentiles(features),
            f"model ({'compiled trees' if compiled else 'LightGBM'}, 1 thread)": _percentiles(predict),
        },
    }


def _rate_key(rate: float) -> str:
    """How a rate names its entry in the results' JSON."""
    return f"{rate:.0f}"


def _paced(score: Callable, requests: list[TransactionRequest], rate: float, duration: float) -> dict:
    """Open loop in this process: request i is scored at start + i / rate, the process asleep in
    between as an idle worker is (a plain sleep: its late wake-up counts, as a worker's would);
    latency counted from the scheduled moment, after ``WARMUP_S`` at the same rate."""
    warm = int(rate * WARMUP_S)
    latencies = []
    start = time.perf_counter() + 0.05
    for i in range(warm + int(rate * duration)):
        scheduled = start + i / rate
        if (delay := scheduled - time.perf_counter()) > 0:
            time.sleep(delay)
        score([requests[i % len(requests)]])
        if i >= warm:
            latencies.append(time.perf_counter() - scheduled)
    return _percentiles(latencies)


#: The service's duration histograms the report reads, and the labels of the response path.
SERVICE_DURATIONS = {
    "request": {"endpoint": "predict"},
    "feature_lookup": {},
    "inference": {"role": "champion"},
}


def _durations(url: str) -> dict[str, tuple[float, float]]:
    """Sum and count of each of ``SERVICE_DURATIONS`` on the response path, from ``/metrics``."""
    samples = metric_samples(f"{url}/metrics")
    return {
        name: tuple(
            total(samples, f"fraud_realtime_{name}_duration_seconds_{part}", **labels)
            for part in ("sum", "count")
        )
        for name, labels in SERVICE_DURATIONS.items()
    }


def _loadgen(url: str, rate: float, duration: float, requests_file: Path) -> dict:
    """One open-loop run of the load generator (a second process) against ``url``."""
    command = [sys.executable, "-m", "benchmarks.loadgen", "--url", url, "--rate", str(rate)]
    command += ["--duration", str(duration), "--requests", str(requests_file), "--warmup", str(WARMUP_S)]
    output = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _service_run(url: str, rate: float, duration: float, requests_file: Path) -> dict:
    """A load run against the service's ``/predict``, with the service's own mean durations."""
    before = _durations(url)
    run = _loadgen(f"{url}/predict", rate, duration, requests_file)
    after = _durations(url)
    if served := after["request"][1] - before["request"][1]:
        for name in SERVICE_DURATIONS:
            run[f"server_{name}_mean_ms"] = round(1e3 * (after[name][0] - before[name][0]) / served, 3)
    return run


@contextmanager
def bare_http_server(workers: int) -> Iterator[str]:
    """``benchmarks.bare_asgi`` under uvicorn with the service's workers, loop and HTTP parser."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "benchmarks.bare_asgi:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--loop", "uvloop", "--http", "httptools"]
    command += ["--no-access-log", "--log-level", "warning"]
    with listening_process(command, port, "the bare ASGI server"):
        yield f"http://127.0.0.1:{port}"


def load(url: str, bodies: list[dict], duration: float, workers: int) -> tuple[list[dict], list[dict]]:
    """Each rate against the bare HTTP floor, then against the service (side by side per rate)."""
    requests_file = RESULTS / "realtime-requests.jsonl"
    RESULTS.mkdir(parents=True, exist_ok=True)
    requests_file.write_text("\n".join(json.dumps(body) for body in bodies) + "\n")
    bare_runs, runs = [], []
    try:
        with bare_http_server(workers) as bare_url:
            for rate in RATES:
                bare_runs.append(_loadgen(f"{bare_url}/predict", rate, duration, requests_file))
                print("bare HTTP", json.dumps(bare_runs[-1]), flush=True)
                runs.append(_service_run(url, rate, duration, requests_file))
                print("service", json.dumps(runs[-1]), flush=True)
                time.sleep(3)  # let a saturated service drain before the next rate
    finally:
        requests_file.unlink(missing_ok=True)
    return bare_runs, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per rate")
    args = parser.parse_args()
    settings = get_settings()
    bodies = request_bodies()
    print("in-process floor ...", flush=True)
    floor_result = floor(bodies, paced_s=args.duration)
    print(json.dumps(floor_result), flush=True)
    bare_runs, runs = load(settings.serving_url, bodies, args.duration, settings.serving_workers)
    at_200 = next(run for run in runs if run["offered_rps"] == 200)["p99_ms"]
    overhead = {
        "back_to_back": round(at_200 - floor_result["whole"]["p99_ms"], 3),
        "paced": round(at_200 - floor_result["paced"][_rate_key(200)]["p99_ms"], 3),
    }
    results = {
        "service": {"workers": settings.serving_workers, "shadow": settings.serving_shadow},
        "floor": floor_result,
        "bare_http": bare_runs,
        "http": runs,
        "overhead_p99_ms_at_200_rps": overhead,
    }
    paths = write_report("realtime", "Real-time scoring service", results, report(results, args.duration))
    print(f"wrote {paths[0]} and {paths[1]}")


def report(results: dict, duration: float) -> str:
    """The markdown body of the report."""
    service, floor_result, runs = results["service"], results["floor"], results["http"]
    overhead = results["overhead_p99_ms_at_200_rps"]
    lines = [
        f"Service: `make serve`, {service['workers']} BentoML workers, shadow "
        f"{'on' if service['shadow'] else 'off'}; load from a second process, open loop (latency from "
        "each request's scheduled send time), distinct customers and terminals of the lake's last week; "
        f"each rate measured for {duration:.0f} s after {WARMUP_S:.0f} s at the same rate (the client "
        "opens its connections then; its worst latency is reported apart).",
        "",
        "| offered rps | achieved rps | p50 ms | p95 ms | p99 ms | errors | warm-up worst ms "
        "| in the service, mean ms: request / lookup + features / model |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        errors = run["requests"] - run["ok"]
        inside = " / ".join(
            str(run.get(f"server_{part}_mean_ms", "-")) for part in ("request", "feature_lookup", "inference")
        )
        lines.append(
            f"| {run['offered_rps']:.0f} | {run['achieved_rps']} | {run['p50_ms']} | {run['p95_ms']} "
            f"| {run['p99_ms']} | {errors} | {run.get('warmup_max_ms')} | {inside} |"
        )
    whole = floor_result["whole"]
    lines += [
        "",
        f"**Floor** (the same lookup + features + model in-process, no HTTP, one request after another): "
        f"p50 {whole['p50_ms']} ms, p95 {whole['p95_ms']} ms, p99 {whole['p99_ms']} ms.",
        "",
        "| part of the floor | p50 ms | p99 ms |",
        "| --- | --- | --- |",
        *[f"| {name} | {p['p50_ms']} | {p['p99_ms']} |" for name, p in floor_result["parts"].items()],
        "",
        "Side by side at each rate: the floor **paced** (the same scoring in-process, each request at "
        "its scheduled moment, the process sleeping in between as the workers do) and the **bare HTTP** "
        "floor (`benchmarks/bare_asgi.py`: an ASGI app answering a constant prediction-sized body under "
        "uvicorn with the service's workers, uvloop and httptools, loaded by the same client).",
        "",
        "| offered rps | paced floor p50 / p99 ms | bare HTTP p50 / p99 ms | service p50 / p99 ms |",
        "| --- | --- | --- | --- |",
    ]
    for bare, run in zip(results["bare_http"], runs, strict=True):
        paced = floor_result["paced"][_rate_key(run["offered_rps"])]
        lines.append(
            f"| {run['offered_rps']:.0f} | {paced['p50_ms']} / {paced['p99_ms']} "
            f"| {bare['p50_ms']} / {bare['p99_ms']} | {run['p50_ms']} / {run['p99_ms']} |"
        )
    lines += [
        "",
        f"Framework + HTTP overhead over the floor at 200 rps: **{overhead['back_to_back']:.2f} ms p99** "
        f"over the back-to-back floor, {overhead['paced']:.2f} ms over the floor paced at 200 rps "
        "(goal ≤ 2 ms). Goals: p99 ≤ 5 ms at 200 rps, ≤ 20 ms at 500 rps.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
