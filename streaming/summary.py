"""What the running consumers have done, from their /metrics: counts and latency percentiles.

``python -m streaming summary`` waits until the consumers are caught up (nothing consumed for a
few seconds, no lag), then prints events scored, alerts, dead letters and the end-to-end latency
percentiles (interpolated within the histogram's buckets, as Prometheus's histogram_quantile does).
"""

from __future__ import annotations

import time
from collections import defaultdict

from fraudcore.metrics_reader import metric_samples, total
from fraudcore.settings import Settings

LATENCY = "fraud_stream_end_to_end_latency_seconds"


def scrape(settings: Settings) -> dict[str, float]:
    """Every consumer's samples, summed over consumers (by name and labels)."""
    totals: dict[str, float] = defaultdict(float)
    for index in range(settings.stream_consumers):
        url = f"http://127.0.0.1:{settings.stream_metrics_port + index}/metrics"
        for key, value in metric_samples(url).items():
            totals[key] += value
    return totals


def latency_quantile(samples: dict[str, float], q: float) -> float:
    """The q-quantile of the end-to-end latency histogram (linear within a bucket)."""
    buckets = sorted(
        (float(k.split("le=")[1].split(",")[0].rstrip("}")), v)
        for k, v in samples.items()
        if k.startswith(f"{LATENCY}_bucket")
    )
    total = buckets[-1][1] if buckets else 0.0
    if total == 0:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = upper, count
    return lower


def wait_until_caught_up(
    settings: Settings, timeout_s: float = 300.0, quiet_s: float = 4.0
) -> dict[str, float]:
    """Scrape until nothing more is consumed for ``quiet_s`` and every partition's lag is 0."""
    deadline = time.monotonic() + timeout_s
    last, changed_at = -1.0, time.monotonic()
    while True:
        samples = scrape(settings)
        consumed = total(samples, "fraud_stream_events_consumed_total")
        if consumed != last:
            last, changed_at = consumed, time.monotonic()
        lag = total(samples, "fraud_stream_consumer_lag_events")
        if (
            consumed > 0 and lag == 0 and time.monotonic() - changed_at > quiet_s
        ) or time.monotonic() > deadline:
            return samples
        time.sleep(1.0)


def report(samples: dict[str, float]) -> str:
    rows = [
        ("events consumed", total(samples, "fraud_stream_events_consumed_total")),
        ("events scored", total(samples, "fraud_stream_events_scored_total")),
        ("alerts (score >= threshold)", total(samples, "fraud_stream_alerts_total")),
        ("dead-lettered", total(samples, "fraud_stream_events_dead_lettered_total")),
        ("labels read (every consumer reads all)", total(samples, "fraud_stream_labels_applied_total")),
    ]
    lines = [f"  {name:<40} {value:>12,.0f}" for name, value in rows]
    percentiles = ", ".join(
        f"p{int(q * 100)} {latency_quantile(samples, q) * 1000:,.0f} ms" for q in (0.5, 0.95, 0.99)
    )
    lines.append(f"  {'end-to-end latency':<40} {percentiles}")
    return "\n".join(lines)
