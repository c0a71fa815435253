"""``python -m features job|apply|materialize|all``: the feature store against the configured stack."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

import pandas as pd

from fraudcore.data.lake import TransactionLake
from fraudcore.feature_repo import feast_objects
from fraudcore.feature_store import feature_store, materialize
from fraudcore.features.definitions import TERMINAL_HISTORY_DAYS
from fraudcore.features.offline import (
    OfflineFeatureStore,
    compute_state_pandas,
    compute_state_spark,
    raw_days_needed,
)


def run_job(start: dt.date | None, end: dt.date | None, engine: str) -> None:
    """Compute window-state rows stamped ``start .. end`` (default: the whole lake) and write them."""
    lake = TransactionLake()
    days = lake.days()
    if not days:
        raise SystemExit("the raw lake is empty: run `make data` first")
    start, end = start or days[0], end or days[-1]
    first, last = raw_days_needed(start, end)
    raw = lake.read(max(first, days[0]), last)
    started = time.monotonic()
    if engine == "spark":
        from fraudcore.spark import local_spark_session

        features = compute_state_spark(local_spark_session("feature-job"), raw, start, end)
    else:
        features = compute_state_pandas(raw, start, end)
    written = OfflineFeatureStore().write(features)
    print(f"feature job ({engine}): {written} rows for {start}..{end} in {time.monotonic() - started:.1f} s")


def apply() -> None:
    objects = feast_objects()
    feature_store().apply(objects)
    print(f"applied {len(objects)} Feast objects: " + ", ".join(sorted(o.name for o in objects)))


def materialize_online(end: dt.date | None) -> None:
    """Load the online store with each entity's event list as known at the end of ``end`` (default: the
    lake's last day)."""
    lake = TransactionLake()
    days = lake.days()
    if not days:
        raise SystemExit("the raw lake is empty: run `make data` first")
    last_day = end or days[-1]
    as_of = pd.Timestamp(last_day) + pd.Timedelta(days=1)
    started = time.monotonic()
    raw = lake.read(max(days[0], last_day - dt.timedelta(days=TERMINAL_HISTORY_DAYS)), last_day)
    written = materialize(feature_store(), raw, as_of.to_pydatetime())
    print(f"materialized event lists as of {as_of} ({written}) in {time.monotonic() - started:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m features", description=__doc__)
    parser.add_argument("command", choices=["job", "apply", "materialize", "all"])
    parser.add_argument("--start", type=dt.date.fromisoformat, help="first day of feature rows (job)")
    parser.add_argument(
        "--end", type=dt.date.fromisoformat, help="last day of feature rows (job, materialize)"
    )
    parser.add_argument("--engine", choices=["pandas", "spark"], default="pandas")
    args = parser.parse_args(argv)
    if args.command in ("job", "all"):
        run_job(args.start, args.end, args.engine)
    if args.command in ("apply", "all"):
        apply()
    if args.command in ("materialize", "all"):
        materialize_online(args.end)
    return 0


if __name__ == "__main__":
    sys.exit(main())
