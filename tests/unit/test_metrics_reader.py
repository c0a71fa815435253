"""Reading /metrics back: samples by name and labels, totals with and without a label filter."""

from __future__ import annotations

import prometheus_client

from fraudcore.metrics_reader import metric_samples, total
from infra.local.health import free_port


def test_samples_and_totals_from_a_served_registry():
    registry = prometheus_client.CollectorRegistry()
    labels = ("endpoint", "code")
    requests = prometheus_client.Counter("demo_requests", "Requests.", labels, registry=registry)
    requests.labels("predict", "200").inc(3)
    requests.labels("predict", "400").inc(2)
    requests.labels("predict_batch", "200").inc(5)
    latency = prometheus_client.Histogram("demo_latency_seconds", "Latency.", ("role",), registry=registry)
    latency.labels("champion").observe(0.25)
    latency.labels("challenger").observe(1.0)
    port = free_port()
    server, thread = prometheus_client.start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        samples = metric_samples(f"http://127.0.0.1:{port}/metrics")
    finally:
        server.shutdown()
        thread.join()

    assert samples["demo_requests_total{code=200,endpoint=predict}"] == 3
    assert total(samples, "demo_requests_total") == 10
    assert total(samples, "demo_requests_total", endpoint="predict") == 5
    assert total(samples, "demo_requests_total", endpoint="predict", code="400") == 2
    assert total(samples, "demo_latency_seconds_sum", role="champion") == 0.25
    assert total(samples, "demo_latency_seconds_count") == 2
    assert total(samples, "demo_requests_total", endpoint="predic") == 0  # whole values only


def test_a_process_that_does_not_answer_has_no_samples():
    assert metric_samples(f"http://127.0.0.1:{free_port()}/metrics") == {}
