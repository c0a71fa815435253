"""The Feast objects of the platform: entities, sources, feature views and feature services.

* ``customer_windows`` / ``terminal_windows`` (offline): each entity's window state at every
  instant it changes (see ``fraudcore.features.state``); training sets read them point in time.
* ``customer_recent_events`` / ``terminal_labelled_events`` (online): each entity's recent events,
  from which the request step computes the same state at request time; the stream consumer
  pushes to them.
"""

from __future__ import annotations

import datetime as dt

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, ValueType
from feast.data_format import ParquetFormat
from feast.types import Array, Float64, Int64

from fraudcore.features.definitions import (
    CUSTOMER_EVENT_AMOUNTS,
    CUSTOMER_EVENT_TIMES,
    CUSTOMER_EVENTS_VIEW,
    CUSTOMER_KEY,
    CUSTOMER_LAST_TX,
    CUSTOMER_STATE,
    CUSTOMER_WINDOWS_VIEW,
    EVENT_TIMESTAMP,
    ONLINE_SERVICE,
    TERMINAL_EVENT_FRAUDS,
    TERMINAL_EVENT_TIMES,
    TERMINAL_EVENTS_VIEW,
    TERMINAL_FIRST_FRAUD,
    TERMINAL_KEY,
    TERMINAL_STATE,
    TERMINAL_WINDOWS_VIEW,
    TRAINING_SERVICE,
    WINDOW_STATE_TTL_DAYS,
)
from fraudcore.features.offline import offline_glob
from fraudcore.settings import Settings, get_settings

WINDOW_STATE_TTL = dt.timedelta(days=WINDOW_STATE_TTL_DAYS)


_LIST_TYPES = {
    CUSTOMER_EVENT_TIMES: Array(Int64),
    CUSTOMER_EVENT_AMOUNTS: Array(Float64),
    TERMINAL_EVENT_TIMES: Array(Int64),
    TERMINAL_EVENT_FRAUDS: Array(Int64),
}


def _field(name: str) -> Field:
    if name in _LIST_TYPES:
        return Field(name=name, dtype=_LIST_TYPES[name])
    integer = "_count_" in name or name in (CUSTOMER_LAST_TX, TERMINAL_FIRST_FRAUD)
    return Field(name=name, dtype=Int64 if integer else Float64)


def feast_objects(settings: Settings | None = None) -> list:
    """Everything ``feast apply`` registers, pointed at the configured object store."""
    settings = settings or get_settings()
    customer = Entity(name="customer", join_keys=[CUSTOMER_KEY], value_type=ValueType.INT64)
    terminal = Entity(name="terminal", join_keys=[TERMINAL_KEY], value_type=ValueType.INT64)

    def source(view: str) -> FileSource:
        return FileSource(
            name=f"{view}_offline",
            path=offline_glob(view, settings),
            timestamp_field=EVENT_TIMESTAMP,
            file_format=ParquetFormat(),
            s3_endpoint_override=settings.s3_endpoint_url,
        )

    def windows(name: str, entity: Entity, columns: list[str], description: str) -> FeatureView:
        return FeatureView(
            name=name,
            entities=[entity],
            ttl=WINDOW_STATE_TTL,
            schema=[_field(column) for column in columns],
            source=source(name),
            online=False,
            description=description,
        )

    def events(
        name: str, entity: Entity, columns: list[str], description: str
    ) -> tuple[FeatureView, PushSource]:
        push = PushSource(name=f"{name}_push", batch_source=source(name))
        view = FeatureView(
            name=name,
            entities=[entity],
            ttl=dt.timedelta(0),
            schema=[_field(column) for column in columns],
            source=push,
            online=True,
            description=description,
        )
        return view, push

    customer_windows = windows(
        CUSTOMER_WINDOWS_VIEW,
        customer,
        CUSTOMER_STATE,
        "Count, sum, sum of squares and max of the customer's amounts in (t - w, t); its last transaction.",
    )
    terminal_windows = windows(
        TERMINAL_WINDOWS_VIEW,
        terminal,
        TERMINAL_STATE,
        "Transactions and frauds of the terminal in (t - 7d - w, t - 7d]: labels at least 7 days old.",
    )
    customer_events, customer_push = events(
        CUSTOMER_EVENTS_VIEW,
        customer,
        [CUSTOMER_EVENT_TIMES, CUSTOMER_EVENT_AMOUNTS],
        "Times (us) and amounts of the customer's transactions in the longest window.",
    )
    terminal_events, terminal_push = events(
        TERMINAL_EVENTS_VIEW,
        terminal,
        [TERMINAL_EVENT_TIMES, TERMINAL_EVENT_FRAUDS],
        "Times (us) and labels of the terminal's transactions with known labels in the longest window.",
    )
    training = FeatureService(
        name=TRAINING_SERVICE,
        features=[customer_windows, terminal_windows],
        description="Window state for point-in-time training sets (request features computed after).",
    )
    online = FeatureService(
        name=ONLINE_SERVICE,
        features=[customer_events, terminal_events],
        description="Recent events for request-time windows (real-time service, stream consumer).",
    )
    return [
        customer,
        terminal,
        customer_push,
        terminal_push,
        customer_windows,
        terminal_windows,
        customer_events,
        terminal_events,
        training,
        online,
    ]
