"""Each transaction's features as of its own time, on Spark, with the shared fraudcore functions.

Transactions are grouped by buckets of customers (then of terminals): each ``applyInPandas`` call
gets every transaction of its entities over the look-back and returns the window state of the
ones being scored, computed by ``fraudcore.features`` exactly as for training and serving. The
request step then runs per Arrow batch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraudcore.features.definitions import (
    CUSTOMER_KEY,
    CUSTOMER_STATE,
    MODEL_FEATURES,
    TERMINAL_KEY,
    TERMINAL_STATE,
)
from fraudcore.features.request import INTEGER_FEATURES, request_feature_arrays
from fraudcore.features.state import CUSTOMER_WINDOWS, TERMINAL_WINDOWS, EntityWindows
from fraudcore.features.windows import to_us

SCORED = "_scored"
ID_COLUMNS = ["TRANSACTION_ID", "TX_DATETIME", CUSTOMER_KEY, TERMINAL_KEY, "TX_AMOUNT", "TX_FRAUD"]


def _state_of(spec: EntityWindows):
    def state(group: pd.DataFrame) -> pd.DataFrame:
        events = spec.events(group)
        scored = group[group[SCORED]]
        values = spec.state(events, scored[spec.key].to_numpy(), to_us(scored["TX_DATETIME"]))
        return pd.DataFrame({"TRANSACTION_ID": scored["TRANSACTION_ID"].to_numpy(), **values})

    return state


def _state_schema(columns: list[str]) -> str:
    types = {name: "bigint" if ("_count_" in name or name.endswith("_us")) else "double" for name in columns}
    return ", ".join(["TRANSACTION_ID bigint", *(f"`{name}` {kind}" for name, kind in types.items())])


def _request_features(batches):
    for batch in batches:
        state = {name: batch[name].to_numpy(np.float64) for name in [*CUSTOMER_STATE, *TERMINAL_STATE]}
        columns = request_feature_arrays(
            batch["TX_AMOUNT"].to_numpy(np.float64), to_us(batch["TX_DATETIME"]), state
        )
        yield pd.concat(
            [batch[ID_COLUMNS].reset_index(drop=True), pd.DataFrame(columns)[MODEL_FEATURES]], axis=1
        )


def feature_rows(raw: DataFrame, first_scored: str, buckets: int) -> DataFrame:
    """``raw`` (transactions of the scored days and their look-back) -> one row per scored
    transaction: its ids, amount, label and every model feature."""
    marked = raw.withColumn(SCORED, F.col("TX_DATETIME") >= F.lit(first_scored).cast("timestamp_ntz"))
    scored = marked.filter(F.col(SCORED)).select(*ID_COLUMNS)
    for spec, columns in ((CUSTOMER_WINDOWS, CUSTOMER_STATE), (TERMINAL_WINDOWS, TERMINAL_STATE)):
        state = marked.groupBy((F.col(spec.key) % buckets).alias("_bucket")).applyInPandas(
            _state_of(spec), schema=_state_schema(list(columns))
        )
        scored = scored.join(state, on="TRANSACTION_ID", how="inner")
    schema = ", ".join(
        [
            "TRANSACTION_ID bigint, TX_DATETIME timestamp_ntz, CUSTOMER_ID bigint, TERMINAL_ID bigint",
            "TX_AMOUNT double, TX_FRAUD tinyint",
            *(f"`{name}` {'bigint' if name in INTEGER_FEATURES else 'double'}" for name in MODEL_FEATURES),
        ]
    )
    return scored.mapInPandas(_request_features, schema=schema)
