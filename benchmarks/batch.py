"""``make bench-batch``: rows per second of the Spark batch path beside the in-process floor.

Needs a running stack whose lake holds the reference dataset and a champion. Measured side by
side in one run, over the same transactions: the Spark session's start-up; features + scoring on
Spark (``feature_rows`` + ``mlflow.pyfunc.spark_udf``, to Spark's no-op sink); scoring alone on
Spark (the feature rows cached first); and the floor, the same model's predict over the same
feature rows in this Python process with pandas. Then the whole job (``python -m batch``) over the
six months, publication to S3 included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time

from pyspark.sql import functions as F

from batch.features import feature_rows
from batch.inputs import check_inputs
from batch.job import bucket_count
from benchmarks.report import write_report
from fraudcore.data.lake import TransactionLake
from fraudcore.features.definitions import MODEL_FEATURES
from fraudcore.registry import ModelRegistry
from fraudcore.settings import REPO_ROOT, get_settings
from fraudcore.spark import spark_session

FIRST, LAST = dt.date(2018, 5, 8), dt.date(2018, 9, 30)  # scored days: 1.3 M transactions


def measure(first: dt.date, last: dt.date) -> dict:
    settings = get_settings()
    lake, registry = TransactionLake(settings), ModelRegistry(settings)
    inputs = check_inputs(lake, registry, first, last, None)
    started = time.monotonic()
    spark = spark_session("bench-batch", settings)
    spark.sparkContext.setLogLevel("ERROR")
    startup = time.monotonic() - started
    print(f"spark session: {startup:.1f} s", flush=True)
    import mlflow.pyfunc

    model_uri = f"models:/{settings.model_name}/{inputs.model_version}"
    predict = mlflow.pyfunc.spark_udf(spark, model_uri, env_manager="local", result_type="double")
    raw = spark.read.parquet(
        *[f"s3a://{lake.partitions.directory(day)}/part-00000.parquet" for day in inputs.read_days]
    )
    features = feature_rows(raw, first.isoformat(), buckets=bucket_count(spark, settings))
    score = predict(F.struct(*[F.col(f"`{name}`") for name in MODEL_FEATURES]))

    started = time.monotonic()
    features.withColumn("fraud_probability", score).write.format("noop").mode("overwrite").save()
    end_to_end = time.monotonic() - started
    cached = features.cache()
    rows = cached.count()
    print(f"features + scoring: {rows:,} rows in {end_to_end:.1f} s", flush=True)
    started = time.monotonic()
    cached.withColumn("fraud_probability", score).write.format("noop").mode("overwrite").save()
    scoring = time.monotonic() - started
    print(f"scoring alone: {scoring:.1f} s", flush=True)

    frame = cached.select(*[F.col(f"`{name}`") for name in MODEL_FEATURES]).toPandas()
    model = mlflow.pyfunc.load_model(model_uri)
    started = time.monotonic()
    model.predict(frame)
    floor = time.monotonic() - started
    print(f"floor (pandas, one process): {floor:.1f} s", flush=True)
    spark.stop()
    return {
        "rows": rows,
        "days": len(inputs.score_days),
        "spark_startup_seconds": round(startup, 2),
        "spark_features_and_scoring_seconds": round(end_to_end, 2),
        "spark_scoring_seconds": round(scoring, 2),
        "floor_scoring_seconds": round(floor, 2),
        "spark_features_and_scoring_rows_per_s": round(rows / end_to_end),
        "spark_scoring_rows_per_s": round(rows / scoring),
        "floor_rows_per_s": round(rows / floor),
        "spark_scoring_share_of_floor": round(floor / scoring, 3),
    }


def whole_job() -> dict:
    """The user's command over the reference dataset's six months, publication included."""
    days = TransactionLake().days()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "batch", "--date-from", str(days[0]), "--date-to", str(days[-1])],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    scored = next(
        line for line in result.stdout.splitlines() if line.startswith("scored ") and "transactions" in line
    )
    return {
        "first_day": str(days[0]),
        "last_day": str(days[-1]),
        "seconds": round(time.monotonic() - started, 1),
        "summary": scored,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-whole-job", action="store_true")
    args = parser.parse_args()
    results = {"throughput": measure(FIRST, LAST)}
    if not args.skip_whole_job:
        print("whole job over the lake ...", flush=True)
        results["whole_job"] = whole_job()
    t = results["throughput"]
    rows = [
        ("Spark: features (per entity bucket) + scoring (`spark_udf`)", "spark_features_and_scoring"),
        ("Spark: scoring alone (features cached)", "spark_scoring"),
        ("floor: the same model's predict over the same feature rows, pandas, one process", "floor_scoring"),
    ]
    lines = [
        f"{t['rows']:,} transactions ({t['days']} days, {FIRST} .. {LAST}) of the reference dataset, Spark "
        "`local[*]` on this machine, side by side in one run:",
        "",
        "| what | seconds | rows/s |",
        "| --- | --- | --- |",
        *[
            f"| {label} | {t[f'{key}_seconds']} | {t['rows'] / t[f'{key}_seconds']:,.0f} |"
            for label, key in rows
        ],
        "",
        f"Spark scoring reaches **{100 * t['spark_scoring_share_of_floor']:.0f} %** of the floor "
        f"(goal ≥ 50 %). The Spark session (JVM) starts in {t['spark_startup_seconds']} s, not counted.",
    ]
    if "whole_job" in results:
        job = results["whole_job"]
        lines += [
            "",
            f"Whole job, `python -m batch --date-from {job['first_day']} --date-to {job['last_day']}` (read, "
            f"features, scoring, staging, publication of each day, summary): **{job['seconds']} s**: "
            f"{job['summary']}.",
        ]
    paths = write_report("batch", "Batch scoring on Spark", results, "\n".join(lines))
    print(f"wrote {paths[0]} and {paths[1]}")


if __name__ == "__main__":
    main()
