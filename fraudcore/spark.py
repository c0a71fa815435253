"""Spark sessions for the platform's jobs (local[*] here, k8s:// on a cluster), with s3a on the
configured object store, and the pandas -> Spark schema mapping.

``python -m fraudcore.spark fetch-jars`` (run by ``make install``) puts the two jars s3a needs
(hadoop-aws and the AWS SDK bundle) beside the virtualenv: pyspark ships neither and Maven Central
is not reachable here, but the PyPI sdist ``sagemaker-pyspark`` carries both (Apache-2.0).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pandas as pd

from fraudcore.settings import Settings, get_settings

_SPARK_TYPES = {"int64": "bigint", "int32": "int", "int8": "tinyint", "float64": "double", "bool": "boolean"}
S3A_JARS = ("hadoop-aws-3.3.1.jar", "aws-java-sdk-bundle-1.11.901.jar")
JARS_SOURCE = "sagemaker-pyspark==1.4.5"
JARS_DIR = Path(sys.prefix) / "share" / "fraud-platform" / "spark-jars"


def spark_schema(frame: pd.DataFrame) -> str:
    """DDL schema (``"a bigint, b double"``) of a pandas frame, for ``applyInPandas``."""
    columns = []
    for name, dtype in frame.dtypes.items():
        kind = "timestamp" if pd.api.types.is_datetime64_any_dtype(dtype) else _SPARK_TYPES[str(dtype)]
        columns.append(f"`{name}` {kind}")
    return ", ".join(columns)


def s3a_jars(directory: Path = JARS_DIR) -> list[Path]:
    """The s3a jars; a clear error when ``make install`` has not fetched them."""
    jars = [directory / name for name in S3A_JARS]
    missing = [jar.name for jar in jars if not jar.is_file()]
    if missing:
        raise FileNotFoundError(
            f"s3a jars {missing} not in {directory}: run `make install` "
            "(`python -m fraudcore.spark fetch-jars`)"
        )
    return jars


def fetch_jars(directory: Path = JARS_DIR) -> list[Path]:
    """Download the sdist carrying the s3a jars and keep only them (idempotent)."""
    if all((directory / name).is_file() for name in S3A_JARS):
        return [directory / name for name in S3A_JARS]
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                JARS_SOURCE,
                "-d",
                tmp,
            ],
            check=True,
        )
        archive = next(Path(tmp).glob("*.tar.gz"))
        with tarfile.open(archive) as sdist:
            for member in sdist.getmembers():
                if Path(member.name).name in S3A_JARS:
                    with (
                        sdist.extractfile(member) as source,
                        (directory / Path(member.name).name).open("wb") as target,
                    ):
                        shutil.copyfileobj(source, target)
    return s3a_jars(directory)


def spark_session(app_name: str, settings: Settings | None = None, master: str = "local[*]", s3: bool = True):
    """A Spark session on loopback (``master`` local[*] by default), this interpreter for the Python
    workers, UTC time, Arrow transfers, and s3a on the configured object store."""
    settings = settings or get_settings()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "20000")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", str(max(2, os.cpu_count() or 2)))
        .config("spark.driver.memory", settings.spark_driver_memory)
    )
    if s3:
        hadoop = {
            "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            "fs.s3a.endpoint": settings.s3_endpoint_url,
            "fs.s3a.path.style.access": "true",
            "fs.s3a.connection.ssl.enabled": str(settings.s3_endpoint_url.startswith("https")).lower(),
            "fs.s3a.access.key": settings.s3_access_key,
            "fs.s3a.secret.key": settings.s3_secret_key,
            "fs.s3a.endpoint.region": settings.s3_region,
            "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
            # Hadoop 3.5 (pyspark 4.3) reads these as durations; the 3.3 jar's defaults are plain numbers.
            "fs.s3a.threads.keepalivetime": "60",
            "fs.s3a.connection.establish.timeout": "30000",
            "fs.s3a.connection.timeout": "200000",
            "fs.s3a.multipart.purge.age": "86400",
        }
        builder = builder.config("spark.jars", ",".join(str(jar) for jar in s3a_jars()))
        for key, value in hadoop.items():
            builder = builder.config(f"spark.hadoop.{key}", value)
    return builder.getOrCreate()


def local_spark_session(app_name: str, cores: int | str = "*"):
    """A ``local[cores]`` session without s3a (for jobs on in-memory data)."""
    return spark_session(app_name, master=f"local[{cores}]", s3=False)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m fraudcore.spark", description=__doc__)
    parser.add_argument("command", choices=["fetch-jars"])
    parser.parse_args()
    for jar in fetch_jars():
        print(f"s3a jar: {jar}")


if __name__ == "__main__":
    main()
