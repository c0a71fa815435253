"""Every metric is declared once, named fraud_<path>_<what>_<unit>, counters ending in _total."""

from __future__ import annotations

import prometheus_client

from fraudcore.metrics import ALL, BATCH, build

PATHS = ("realtime", "batch", "stream", "training")


def test_names_follow_the_convention_and_are_unique():
    names = [spec.name for spec in ALL]
    assert len(names) == len(set(names))
    for spec in ALL:
        assert spec.name.split("_")[0] == "fraud" and spec.name.split("_")[1] in PATHS, spec.name
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name
        assert not spec.name.endswith(("_milliseconds", "_ms", "_percent")), spec.name
        if spec.kind == "histogram":
            assert spec.buckets and list(spec.buckets) == sorted(spec.buckets), spec.name


def test_a_runs_own_registry_holds_its_metrics():
    registry = prometheus_client.CollectorRegistry()
    metrics = build(BATCH, prometheus_client, registry)
    metrics["fraud_batch_success"].set(1)
    exported = prometheus_client.generate_latest(registry).decode()
    assert "fraud_batch_success 1.0" in exported
    assert "fraud_batch_success" not in prometheus_client.generate_latest().decode()  # not the global one
