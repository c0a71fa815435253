"""The Feast objects of the platform: entities, sources, feature views, the request transformation."""

from __future__ import annotations

import datetime as dt
import inspect

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, RequestSource, ValueType
from feast.data_format import ParquetFormat
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.types import Float64, Int64, UnixTimestamp

from fraudcore.features.definitions import (
    CUSTOMER_FEATURES,
    CUSTOMER_KEY,
    CUSTOMER_VIEW,
    EVENT_TIMESTAMP,
    FEATURE_SERVICE,
    FEATURE_TTL_DAYS,
    MODEL_FEATURES,
    REQUEST_FEATURES,
    REQUEST_VIEW,
    TERMINAL_FEATURES,
    TERMINAL_KEY,
    TERMINAL_VIEW,
)
from fraudcore.features.offline import offline_uri
from fraudcore.settings import Settings, get_settings

FEATURE_TTL = dt.timedelta(days=FEATURE_TTL_DAYS)
TRANSFORMATION_VIEW = "transaction_features"


def transaction_features(inputs):
    """Feast's on-demand transformation: delegates to the one implementation in fraudcore."""
    from fraudcore.features.request import request_features

    return request_features(inputs)


# Read once at import: Feast re-executes registered transformations from their source text, and
# later source look-ups of this function can hit the cache entries those executions leave behind.
TRANSFORMATION_SOURCE = inspect.getsource(transaction_features)


def _schema(names: list[str]) -> list[Field]:
    return [
        Field(name=name, dtype=Int64 if "_nb_tx_" in name or name.startswith("is_") else Float64)
        for name in names
    ]


def feast_objects(settings: Settings | None = None) -> list:
    """Everything ``feast apply`` registers, pointed at the configured object store."""
    settings = settings or get_settings()
    customer = Entity(name="customer", join_keys=[CUSTOMER_KEY], value_type=ValueType.INT64)
    terminal = Entity(name="terminal", join_keys=[TERMINAL_KEY], value_type=ValueType.INT64)

    def view(
        name: str, entity: Entity, features: list[str], description: str
    ) -> tuple[FeatureView, PushSource]:
        batch = FileSource(
            name=f"{name}_offline",
            path=offline_uri(name, settings),
            timestamp_field=EVENT_TIMESTAMP,
            file_format=ParquetFormat(),
            s3_endpoint_override=settings.s3_endpoint_url,
        )
        push = PushSource(name=f"{name}_push", batch_source=batch)
        feature_view = FeatureView(
            name=name,
            entities=[entity],
            ttl=FEATURE_TTL,
            schema=_schema(features),
            source=push,
            online=True,
            description=description,
        )
        return feature_view, push

    customer_view, customer_push = view(
        CUSTOMER_VIEW, customer, CUSTOMER_FEATURES, "Customer's spending after each of its transactions."
    )
    terminal_view, terminal_push = view(
        TERMINAL_VIEW,
        terminal,
        TERMINAL_FEATURES,
        "Terminal's fraud risk as known when each label arrives (7-day delay).",
    )
    request = RequestSource(
        name=REQUEST_VIEW,
        schema=[Field(name="TX_AMOUNT", dtype=Float64), Field(name="TX_DATETIME", dtype=UnixTimestamp)],
    )
    transformation = OnDemandFeatureView(
        name=TRANSFORMATION_VIEW,
        udf=transaction_features,
        udf_string=TRANSFORMATION_SOURCE,
        sources=[customer_view, request],
        schema=_schema(REQUEST_FEATURES),
        mode="pandas",
        description="Amount, weekend and night flags, amount relative to the customer's history.",
    )
    stored = [name for name in MODEL_FEATURES if name in CUSTOMER_FEATURES]
    service = FeatureService(
        name=FEATURE_SERVICE,
        features=[transformation, customer_view[stored], terminal_view],
        description="Inputs of the fraud model, in MODEL_FEATURES order once selected.",
    )
    return [
        customer,
        terminal,
        customer_push,
        terminal_push,
        customer_view,
        terminal_view,
        request,
        transformation,
        service,
    ]
