"""``make bench-realtime``: the real-time service under open-loop load, beside its in-process floor.

Needs the running stack with a champion and a materialized online store (``make demo``), and the
service (``make serve``, which the make target starts). Requests use distinct customers and
terminals of the lake's last week, at instants just after the online store's as-of time. The
floor is the same scoring (online lookup, request-time features, champion) called in this
process without HTTP; each rate's load comes from a second process (``benchmarks.loadgen``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pandas as pd

from benchmarks.report import RESULTS, write_report
from fraudcore.data.lake import TransactionLake
from fraudcore.feature_store import OnlineFeatureReader, feature_store
from fraudcore.features.online import state_from_event_arrays
from fraudcore.features.request import request_feature_arrays
from fraudcore.metrics import REALTIME, build
from fraudcore.model_slots import ModelSlot
from fraudcore.registry import CHAMPION, ModelRegistry
from fraudcore.settings import REPO_ROOT, get_settings
from serving.schemas import TransactionRequest
from serving.scoring import RealtimeScorer

RATES = (50, 200, 500, 1000)
#: Seconds each rate runs before it is measured (reported apart: the client opens its connections).
WARMUP_S = 2.0
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


def floor(bodies: list[dict]) -> dict:
    """The same scoring in this process, one request at a time, and its parts."""
    settings = get_settings()
    import prometheus_client

    metrics = build(REALTIME, prometheus_client)
    reader = OnlineFeatureReader(feature_store(settings))
    champion = ModelSlot(ModelRegistry(settings), CHAMPION, lambda previous, current: None)
    champion.refresh()
    cache = settings.model_cache_dir
    compiled = cache is not None and champion.current.model.compile(cache)  # as the service scores
    scorer = RealtimeScorer(settings, reader, champion, metrics)
    requests = [TransactionRequest(**body) for body in bodies[:FLOOR_REQUESTS]]
    for request in requests[:200]:  # warm up
        scorer.score([request])
    whole, lookup, state, features, predict = [], [], [], [], []
    model = champion.current.model
    for request in requests:
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
    return {
        "whole": _percentiles(whole),
        "parts": {
            "online lookup (Feast, sqlite)": _percentiles(lookup),
            "window state from the event lists": _percentiles(state),
            "request-time features": _percentiles(features),
            f"model ({'compiled trees' if compiled else 'LightGBM'}, 1 thread)": _percentiles(predict),
        },
    }


def _scrape(url: str) -> dict[str, float]:
    """Sums and counts of the service's duration histograms."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r"^(fraud_realtime_\w+_duration_seconds_(?:sum|count))(\{[^}]*\})? (\S+)$", line)
        if match and (
            'role="champion"' in (match.group(2) or "")
            or 'endpoint="predict"' in (match.group(2) or "")
            or not match.group(2)
        ):
            values[match.group(1)] = values.get(match.group(1), 0.0) + float(match.group(3))
    return values


def load(url: str, bodies: list[dict], duration: float) -> list[dict]:
    path = RESULTS / "realtime-requests.jsonl"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(body) for body in bodies) + "\n")
    runs = []
    try:
        for rate in RATES:
            before = _scrape(url)
            output = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.loadgen",
                    "--url",
                    f"{url}/predict",
                    "--rate",
                    str(rate),
                    "--duration",
                    str(duration),
                    "--requests",
                    str(path),
                    "--warmup",
                    str(WARMUP_S),
                ],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            after = _scrape(url)
            run = json.loads(output.strip().splitlines()[-1])
            served = after.get("fraud_realtime_request_duration_seconds_count", 0) - before.get(
                "fraud_realtime_request_duration_seconds_count", 0
            )
            if served:
                for name in ("request", "feature_lookup", "inference"):
                    key = f"fraud_realtime_{name}_duration_seconds_sum"
                    run[f"server_{name}_mean_ms"] = round(
                        1e3 * (after.get(key, 0) - before.get(key, 0)) / served, 3
                    )
            print(json.dumps(run), flush=True)
            runs.append(run)
            time.sleep(3)  # let a saturated service drain before the next rate
    finally:
        path.unlink(missing_ok=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per rate")
    args = parser.parse_args()
    settings = get_settings()
    bodies = request_bodies()
    print("in-process floor ...", flush=True)
    floor_result = floor(bodies)
    print(json.dumps(floor_result), flush=True)
    runs = load(settings.serving_url, bodies, args.duration)
    results = {
        "service": {"workers": settings.serving_workers, "shadow": settings.serving_shadow},
        "floor": floor_result,
        "http": runs,
    }
    two_hundred = next(run for run in runs if run["offered_rps"] == 200)
    overhead = two_hundred["p99_ms"] - floor_result["whole"]["p99_ms"]
    results["overhead_p99_ms_at_200_rps"] = round(overhead, 3)
    lines = [
        f"Service: `make serve`, {settings.serving_workers} BentoML workers, shadow "
        f"{'on' if settings.serving_shadow else 'off'}; load from a second process, open loop (latency from "
        "each request's scheduled send time), distinct customers and terminals of the lake's last week; "
        f"each rate measured for {args.duration:.0f} s after {WARMUP_S:.0f} s at the same rate (the client "
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
        f"**Floor** (the same lookup + features + model in-process, no HTTP, one request at a time): "
        f"p50 {whole['p50_ms']} ms, p95 {whole['p95_ms']} ms, p99 {whole['p99_ms']} ms.",
        "",
        "| part of the floor | p50 ms | p99 ms |",
        "| --- | --- | --- |",
        *[f"| {name} | {p['p50_ms']} | {p['p99_ms']} |" for name, p in floor_result["parts"].items()],
        "",
        f"Framework + HTTP overhead over the floor at 200 rps: **{overhead:.2f} ms p99** (goal ≤ 2 ms). "
        "Goals: p99 ≤ 5 ms at 200 rps, ≤ 20 ms at 500 rps.",
    ]
    paths = write_report("realtime", "Real-time scoring service", results, "\n".join(lines))
    print(f"wrote {paths[0]} and {paths[1]}")


if __name__ == "__main__":
    main()
