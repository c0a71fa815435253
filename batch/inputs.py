"""Everything a batch run needs, checked before anything is written: the days, their schema, the model."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fraudcore.data.lake import TransactionLake
from fraudcore.features.definitions import LOOKBACK_DAYS
from fraudcore.registry import CHAMPION, ModelRegistry
from fraudcore.schema import TRANSACTION_SCHEMA

#: The Spark type each transaction column must have in the lake's files.
SPARK_TYPES = {"int64": "bigint", "int8": "tinyint", "float64": "double", "datetime64[ns]": "timestamp_ntz"}


class BatchInputError(ValueError):
    """A day, a column or the model a batch run needs is missing or wrong; nothing was written."""


@dataclass(frozen=True)
class BatchInputs:
    score_days: list[dt.date]
    history_days: list[dt.date]  # the look-back before the first scored day, as far as the lake goes
    model_version: str

    @property
    def read_days(self) -> list[dt.date]:
        return self.history_days + self.score_days


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def check_inputs(
    lake: TransactionLake, registry: ModelRegistry, date_from: dt.date, date_to: dt.date, version: str | None
) -> BatchInputs:
    """The days to read and the model version to use; :class:`BatchInputError` naming what is missing."""
    if date_to < date_from:
        raise BatchInputError(f"--date-from {date_from} is after --date-to {date_to}")
    present = set(lake.days())
    score_days = _days(date_from, date_to)
    missing = [day.isoformat() for day in score_days if day not in present]
    if missing:
        raise BatchInputError(f"no transactions in the lake for day(s) {missing} (s3://{lake.root}/)")
    first_present = min(present)
    history = [
        day
        for day in _days(date_from - dt.timedelta(days=LOOKBACK_DAYS), date_from - dt.timedelta(days=1))
        if day >= first_present
    ]
    gaps = [day.isoformat() for day in history if day not in present]
    if gaps:
        raise BatchInputError(
            f"day(s) {gaps} of the {LOOKBACK_DAYS}-day feature look-back are missing from the lake"
        )
    if version is None:
        version = registry.aliases().get(CHAMPION)
        if version is None:
            raise BatchInputError(
                f"model {registry.name!r} has no {CHAMPION!r} alias: train and promote a model first"
            )
    else:
        registry.version(version)  # RegistryError naming it when absent
    return BatchInputs(score_days, history, version)


def check_schema(spark_schema) -> None:
    """The lake files' columns and types, as Spark reads them, against the transaction schema."""
    found = {field.name: field.dataType.simpleString() for field in spark_schema.fields}
    problems = []
    for column, dtype in TRANSACTION_SCHEMA.items():
        if column not in found:
            problems.append(f"missing column {column}")
        elif found[column] != SPARK_TYPES[dtype]:
            problems.append(f"column {column}: type {found[column]}, expected {SPARK_TYPES[dtype]}")
    if problems:
        raise BatchInputError("the lake's files do not have the transaction schema: " + "; ".join(problems))
