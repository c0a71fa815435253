"""The batch scoring job: raw days -> features as of each transaction -> champion (Spark UDF) ->
``s3://<bucket>/predictions/date=YYYY-MM-DD/part-00000.parquet``.

Spark writes each day's predictions as one file under a staging prefix of the run; only when every
day is written are they moved over the published days one by one (a server-side copy each, like
the lake's days), so a failed or killed run leaves no half-written day visible and a rerun replaces
a day's file, never adds to it. Metrics go to the Pushgateway at the end, and on failure.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass

import pandas as pd
import prometheus_client
from pyarrow import fs
from pyspark.sql import functions as F

from batch.features import feature_rows
from batch.inputs import BatchInputs, check_inputs, check_schema
from fraudcore.data.lake import TransactionLake
from fraudcore.features.definitions import MODEL_FEATURES
from fraudcore.metrics import BATCH, build
from fraudcore.partitions import DayPartitions, PartialWriteError
from fraudcore.registry import ModelRegistry
from fraudcore.settings import Settings, get_settings
from fraudcore.spark import spark_session
from fraudcore.storage import arrow_filesystem

PREDICTION_COLUMNS = [
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "fraud_probability",
    "decision",
    "model_name",
    "model_version",
    "scored_at",
]


@dataclass(frozen=True)
class BatchResult:
    days: list[dt.date]
    rows: int
    flagged: int
    model_version: str
    seconds: float
    summary: pd.DataFrame  # per day: rows, flagged, mean score


def predictions_root(settings: Settings) -> str:
    return f"{settings.bucket}/{settings.predictions_prefix}"


def run(
    date_from: dt.date,
    date_to: dt.date,
    version: str | None = None,
    master: str = "local[*]",
    settings: Settings | None = None,
    progress=print,
) -> BatchResult:
    """Score every transaction of ``date_from .. date_to`` and publish the days; push the metrics."""
    settings = settings or get_settings()
    started = time.monotonic()
    metrics_registry = prometheus_client.CollectorRegistry()
    metrics = build(BATCH, prometheus_client, metrics_registry)
    try:
        result = _run(settings, date_from, date_to, version, master, progress, started)
    except BaseException:
        metrics["fraud_batch_success"].set(0)
        metrics["fraud_batch_duration_seconds"].set(time.monotonic() - started)
        metrics["fraud_batch_last_run_timestamp_seconds"].set(time.time())
        _push(settings, metrics_registry, progress)
        raise
    metrics["fraud_batch_success"].set(1)
    metrics["fraud_batch_rows_scored"].set(result.rows)
    metrics["fraud_batch_flagged_ratio"].set(result.flagged / max(result.rows, 1))
    metrics["fraud_batch_duration_seconds"].set(result.seconds)
    metrics["fraud_batch_last_run_timestamp_seconds"].set(time.time())
    metrics["fraud_batch_model_info"].labels(version=result.model_version).set(1)
    _push(settings, metrics_registry, progress)
    return result


def _push(settings: Settings, registry: prometheus_client.CollectorRegistry, progress) -> None:
    try:
        prometheus_client.push_to_gateway(
            settings.pushgateway_url.split("://", 1)[-1], job="fraud_batch", registry=registry
        )
    except OSError as error:  # the run's outcome stands; say the metrics did not arrive
        progress(f"warning: could not push metrics to {settings.pushgateway_url}: {error}")


def _run(settings, date_from, date_to, version, master, progress, started) -> BatchResult:
    lake = TransactionLake(settings)
    registry = ModelRegistry(settings)
    inputs = check_inputs(lake, registry, date_from, date_to, version)
    progress(
        f"scoring {date_from}..{date_to} ({len(inputs.score_days)} days, {len(inputs.history_days)} days "
        f"of look-back) with {settings.model_name} version {inputs.model_version}"
    )
    spark = spark_session("fraud-batch-scoring", settings, master=master)
    spark.sparkContext.setLogLevel("ERROR")
    progress(f"spark session ({master}) in {time.monotonic() - started:.1f} s")
    raw = spark.read.parquet(
        *[f"s3a://{lake.partitions.directory(day)}/part-00000.parquet" for day in inputs.read_days]
    )
    check_schema(raw.schema)
    scored = _score(spark, raw, inputs, settings, date_from)
    staging = f"{predictions_root(settings)}/_staging/{uuid.uuid4().hex}"
    scored.repartition("date").write.partitionBy("date").parquet(f"s3a://{staging}")
    progress(f"scored and staged in {time.monotonic() - started:.1f} s")
    published = _publish(settings, staging, inputs)
    summary = _summary(settings, published)
    return BatchResult(
        published,
        int(summary["rows"].sum()),
        int(summary["flagged"].sum()),
        inputs.model_version,
        time.monotonic() - started,
        summary,
    )


def _score(spark, raw, inputs: BatchInputs, settings: Settings, date_from: dt.date):
    import mlflow.pyfunc

    model_uri = f"models:/{settings.model_name}/{inputs.model_version}"
    predict = mlflow.pyfunc.spark_udf(spark, model_uri, env_manager="local", result_type="double")
    features = feature_rows(raw, date_from.isoformat(), buckets=bucket_count(spark, settings))
    probability = predict(F.struct(*[F.col(f"`{name}`") for name in MODEL_FEATURES]))
    return (
        features.withColumn("fraud_probability", probability)
        .withColumn(
            "decision",
            F.when(F.col("fraud_probability") >= settings.serving_threshold, "fraud").otherwise("genuine"),
        )
        .withColumn("model_name", F.lit(settings.model_name))
        .withColumn("model_version", F.lit(inputs.model_version))
        .withColumn("scored_at", F.lit(dt.datetime.now(dt.UTC).replace(tzinfo=None)).cast("timestamp_ntz"))
        .withColumn("date", F.date_format("TX_DATETIME", "yyyy-MM-dd"))
        .select(*PREDICTION_COLUMNS, "date")
    )


def bucket_count(spark, settings: Settings) -> int:
    """How many entity buckets the per-entity feature functions run on (many small groups)."""
    return settings.spark_buckets_per_core * spark.sparkContext.defaultParallelism


def _publish(settings: Settings, staging: str, inputs: BatchInputs) -> list[dt.date]:
    """Move each staged day over its published file; the staging prefix is removed afterwards."""
    filesystem = arrow_filesystem(settings)
    target = DayPartitions(filesystem, predictions_root(settings))
    staged: dict[dt.date, str] = {}
    for info in filesystem.get_file_info(fs.FileSelector(staging, recursive=True)):
        folder = info.path.rsplit("/", 2)[-2]
        if info.path.endswith(".parquet") and folder.startswith("date="):
            day = dt.date.fromisoformat(folder[len("date=") :])
            if day in staged:
                raise RuntimeError(f"Spark staged more than one file for {day}")
            staged[day] = info.path
    landed, failed = [], {}
    for day in inputs.score_days:
        if day not in staged:
            failed[day] = RuntimeError("no predictions were staged for it")
            continue
        try:
            target.adopt(day, staged[day])
            landed.append(day)
        except Exception as error:
            failed[day] = error
    filesystem.delete_dir(staging)
    if failed:
        raise PartialWriteError(landed, failed)
    return landed


def _summary(settings: Settings, days: list[dt.date]) -> pd.DataFrame:
    """Rows, flagged transactions and mean score of each published day (read back)."""
    table = DayPartitions(arrow_filesystem(settings), predictions_root(settings)).read(
        days, ["TX_DATETIME", "fraud_probability", "decision"]
    )
    frame = table.to_pandas()
    frame["date"] = frame["TX_DATETIME"].dt.date
    summary = frame.groupby("date").agg(
        rows=("fraud_probability", "size"),
        flagged=("decision", lambda d: int((d == "fraud").sum())),
        mean_score=("fraud_probability", "mean"),
    )
    summary["flagged_%"] = (100 * summary["flagged"] / summary["rows"]).round(2)
    return summary
