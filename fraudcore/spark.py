"""A Spark session for the platform's jobs, and pandas -> Spark schema mapping."""

from __future__ import annotations

import os
import sys

import pandas as pd

_SPARK_TYPES = {"int64": "bigint", "int32": "int", "int8": "tinyint", "float64": "double", "bool": "boolean"}


def spark_schema(frame: pd.DataFrame) -> str:
    """DDL schema (``"a bigint, b double"``) of a pandas frame, for ``applyInPandas``."""
    columns = []
    for name, dtype in frame.dtypes.items():
        kind = "timestamp" if pd.api.types.is_datetime64_any_dtype(dtype) else _SPARK_TYPES[str(dtype)]
        columns.append(f"`{name}` {kind}")
    return ", ".join(columns)


def local_spark_session(app_name: str, cores: int | str = "*"):
    """A ``local[cores]`` session on loopback, with this interpreter for the Python workers and UTC time."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
