"""Feature windows anchored at the moment of scoring: brute force, offline rows, online lists, no leakage."""

from __future__ import annotations

import datetime as dt
from array import array
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from fraudcore.features.compute import model_features, window_state
from fraudcore.features.definitions import (
    CUSTOMER_KEY,
    CUSTOMER_LAST_TX,
    CUSTOMER_STATE,
    DAYS_SINCE_LAST_TX_CAP,
    EVENT_TIMESTAMP,
    LABEL_DELAY_DAYS,
    MAX_WINDOWS_DAYS,
    MODEL_FEATURES,
    STD_WINDOWS_DAYS,
    TERMINAL_FIRST_FRAUD,
    TERMINAL_KEY,
    TERMINAL_STATE,
    TERMINAL_TX_SINCE_FIRST_FRAUD,
    TERMINAL_WINDOWS_DAYS,
    WINDOW_STATE_TTL_DAYS,
    WINDOWS_DAYS,
)
from fraudcore.features.offline import event_list_snapshots
from fraudcore.features.online import event_log_from_arrays, event_log_from_lists, state_from_event_lists
from fraudcore.features.request import request_features
from fraudcore.features.state import CUSTOMER_WINDOWS, ENTITY_WINDOWS, TERMINAL_WINDOWS, state_rows
from fraudcore.features.windows import EventLog, to_us

TOLERANCE = {"rtol": 1e-9, "atol": 1e-9}
DAY = pd.Timedelta(days=1)
DELAY = pd.Timedelta(days=LABEL_DELAY_DAYS)


def _requests(transactions: pd.DataFrame, n: int, seed: int, until_days_after: int = 60) -> pd.DataFrame:
    """Requests at random instants (some long after the data ends), and right at the window edges of
    real transactions (the same instant, one window later, one label delay later)."""
    rng = np.random.default_rng(seed)
    start, end = transactions["TX_DATETIME"].min(), transactions["TX_DATETIME"].max()
    span_us = int((end - start + pd.Timedelta(days=until_days_after)) / pd.Timedelta(microseconds=1))
    random_times = start + pd.to_timedelta(rng.integers(0, span_us, n), unit="us")
    edge = transactions.sample(n, random_state=seed)
    edge_offsets = rng.choice([0, 1, 7, 30, 8, 10, 14, 21, 37], n) * DAY + rng.choice(
        [0, 1], n
    ) * pd.Timedelta(1, "us")
    picks = transactions.sample(n, random_state=seed + 1)
    return pd.DataFrame(
        {
            "TX_DATETIME": np.r_[random_times.to_numpy(), (edge["TX_DATETIME"] + edge_offsets).to_numpy()],
            CUSTOMER_KEY: np.r_[picks[CUSTOMER_KEY].to_numpy(), edge[CUSTOMER_KEY].to_numpy()],
            TERMINAL_KEY: np.r_[picks[TERMINAL_KEY].to_numpy(), edge[TERMINAL_KEY].to_numpy()],
            "TX_AMOUNT": rng.uniform(1, 300, 2 * n).round(2),
        }
    )


def _brute_force(transactions: pd.DataFrame, request: pd.Series) -> dict[str, float]:
    """The definitions, applied literally to one request."""
    t = request["TX_DATETIME"]
    mine = transactions[transactions[CUSTOMER_KEY] == request[CUSTOMER_KEY]]
    out: dict[str, float] = {}
    for w in WINDOWS_DAYS:
        amounts = mine.loc[(mine["TX_DATETIME"] > t - w * DAY) & (mine["TX_DATETIME"] < t), "TX_AMOUNT"]
        out[f"customer_tx_count_{w}d"] = len(amounts)
        out[f"customer_amount_sum_{w}d"] = amounts.sum()
        if w in STD_WINDOWS_DAYS:
            out[f"customer_amount_sumsq_{w}d"] = (amounts**2).sum()
        if w in MAX_WINDOWS_DAYS:
            out[f"customer_amount_max_{w}d"] = amounts.max() if len(amounts) else 0.0
    recent = mine.loc[(mine["TX_DATETIME"] < t) & (mine["TX_DATETIME"] > t - max(WINDOWS_DAYS) * DAY)]
    out[CUSTOMER_LAST_TX] = to_us(recent["TX_DATETIME"]).max() if len(recent) else 0
    terminal = transactions[transactions[TERMINAL_KEY] == request[TERMINAL_KEY]]
    for w in TERMINAL_WINDOWS_DAYS:
        seen = terminal[
            (terminal["TX_DATETIME"] > t - DELAY - w * DAY) & (terminal["TX_DATETIME"] <= t - DELAY)
        ]
        out[f"terminal_tx_count_{w}d"] = len(seen)
        out[f"terminal_fraud_count_{w}d"] = seen["TX_FRAUD"].sum()
        frauds = seen.loc[seen["TX_FRAUD"] == 1, "TX_DATETIME"]
        # The longest window comes last: its values stay.
        out[TERMINAL_FIRST_FRAUD] = to_us(frauds).min() if len(frauds) else 0
        out[TERMINAL_TX_SINCE_FIRST_FRAUD] = (
            int((seen["TX_DATETIME"] >= frauds.min()).sum()) if len(frauds) else 0
        )
    return out


@pytest.fixture(scope="module")
def requests(small_transactions) -> pd.DataFrame:
    return _requests(small_transactions, 150, seed=3)


def test_window_state_equals_a_brute_force_recomputation(small_transactions, requests):
    state = window_state(small_transactions, requests)
    assert list(state.columns) == [*CUSTOMER_STATE, *TERMINAL_STATE]
    expected = pd.DataFrame([_brute_force(small_transactions, r) for _, r in requests.iterrows()])
    for column in state.columns:
        np.testing.assert_allclose(state[column], expected[column], **TOLERANCE, err_msg=column)
    # The requests reach far past the data: windows decay to empty there.
    late = requests["TX_DATETIME"] > small_transactions["TX_DATETIME"].max() + DELAY + 31 * DAY
    assert late.sum() > 10
    assert (state.loc[late, ["customer_tx_count_30d", "terminal_tx_count_30d"]] == 0).all().all()
    assert (state["customer_tx_count_1d"] > 0).sum() > 20 and (state["terminal_fraud_count_30d"] > 0).any()
    assert (state[TERMINAL_FIRST_FRAUD] > 0).any()


def _point_in_time(rows: pd.DataFrame, key: str, requests: pd.DataFrame) -> pd.DataFrame:
    """What a point-in-time join does: latest row stamped at or before t - 1 us, within the TTL."""
    lookups = requests.assign(_t=pd.to_datetime(to_us(requests["TX_DATETIME"]) - 1, unit="us", utc=True))
    lookups = lookups.reset_index().sort_values("_t")
    found = pd.merge_asof(
        lookups,
        rows.sort_values(EVENT_TIMESTAMP),
        left_on="_t",
        right_on=EVENT_TIMESTAMP,
        by=key,
        tolerance=pd.Timedelta(days=WINDOW_STATE_TTL_DAYS),
    )
    return found.set_index("index").sort_index()


@pytest.mark.parametrize("spec", ENTITY_WINDOWS, ids=lambda spec: spec.view)
def test_offline_rows_give_the_exact_state_at_any_instant(small_transactions, requests, spec):
    """The change-point rows, read point in time (TTL included), equal the state computed directly."""
    first_day = small_transactions["TX_DATETIME"].min().date()
    last_day = (requests["TX_DATETIME"].max() + DAY).date()
    rows = state_rows(spec, small_transactions, first_day, last_day)
    assert not rows.duplicated([spec.key, EVENT_TIMESTAMP]).any()
    found = _point_in_time(rows, spec.key, requests)
    direct = window_state(small_transactions, requests)
    for column in spec.columns:
        np.testing.assert_allclose(found[column].fillna(0), direct[column], **TOLERANCE, err_msg=column)


def test_state_rows_of_entity_groups_equal_one_pass(small_transactions):
    start, end = dt.date(2018, 4, 5), dt.date(2018, 4, 20)
    for spec in (CUSTOMER_WINDOWS, TERMINAL_WINDOWS):
        whole = state_rows(spec, small_transactions, start, end)
        groups = [state_rows(spec, group, start, end) for _, group in small_transactions.groupby(spec.key)]
        pd.testing.assert_frame_equal(whole, pd.concat(groups, ignore_index=True))


def test_online_event_lists_give_the_same_state_at_request_time(small_transactions):
    """Lists as known at T, windows computed at request instants after T: equal to the direct state."""
    as_of = small_transactions["TX_DATETIME"].max().normalize() + DAY
    known = small_transactions[small_transactions["TX_DATETIME"] <= as_of - DELAY]
    lists = event_list_snapshots(small_transactions, as_of)
    later = _requests(small_transactions, 100, seed=9).assign(
        TX_DATETIME=lambda f: (
            as_of + pd.to_timedelta(np.random.default_rng(1).integers(0, 50 * 86_400, len(f)), "s")
        )
    )
    lookups = later.merge(lists["customer_recent_events"], on=CUSTOMER_KEY, how="left").merge(
        lists["terminal_labelled_events"], on=TERMINAL_KEY, how="left"
    )
    online = state_from_event_lists(lookups)
    # Customers: every transaction up to T counts; terminals: labels known at T (the rest arrive by push).
    customer = window_state(small_transactions, later)[list(CUSTOMER_STATE)]
    terminal = window_state(known, later)[list(TERMINAL_STATE)]
    for column in CUSTOMER_STATE:
        np.testing.assert_allclose(online[column], customer[column], **TOLERANCE, err_msg=column)
    for column in TERMINAL_STATE:
        np.testing.assert_allclose(online[column], terminal[column], **TOLERANCE, err_msg=column)
    assert (online["customer_tx_count_30d"] > 0).sum() > 10


def test_one_request_at_a_time_gives_the_state_of_the_batch(small_transactions):
    """The real-time service computes one request per call (one entity per event log, its own
    search path): the same state as the requests computed together, at edges and in gaps."""
    as_of = small_transactions["TX_DATETIME"].max().normalize() + DAY
    lists = event_list_snapshots(small_transactions, as_of)
    later = _requests(small_transactions, 60, seed=11, until_days_after=40)
    lookups = later.merge(lists["customer_recent_events"], on=CUSTOMER_KEY, how="left").merge(
        lists["terminal_labelled_events"], on=TERMINAL_KEY, how="left"
    )
    together = state_from_event_lists(lookups)
    alone = pd.concat([state_from_event_lists(lookups.iloc[[i]]) for i in range(len(lookups))])
    pd.testing.assert_frame_equal(alone, together, check_exact=True)
    assert (together["customer_tx_count_30d"] > 0).sum() > 10
    assert (together["terminal_tx_count_30d"] > 0).any()


def test_terminal_lists_hold_no_label_younger_than_the_delay(small_transactions):
    as_of = pd.Timestamp("2018-04-10 12:00:00")
    lists = event_list_snapshots(small_transactions, as_of)["terminal_labelled_events"]
    newest = max(max(times) for times in lists["terminal_event_times_us"])
    assert newest <= to_us([as_of - DELAY])[0]
    assert (lists[EVENT_TIMESTAMP].dt.tz_localize(None) <= as_of).all()


def test_no_future_transaction_and_no_young_label_changes_a_state(small_transactions):
    """Rewrite everything a request at t may not see: its state does not move."""
    t = pd.Timestamp("2018-04-11 13:00:00")
    requests = _requests(small_transactions, 60, seed=5).assign(TX_DATETIME=t)
    honest = window_state(small_transactions, requests)
    tampered = small_transactions.copy()
    tampered.loc[tampered["TX_DATETIME"] >= t, "TX_AMOUNT"] *= 10
    young = tampered["TX_DATETIME"] > t - DELAY
    tampered.loc[young, "TX_FRAUD"] = (1 - tampered.loc[young, "TX_FRAUD"]).astype("int8")
    pd.testing.assert_frame_equal(honest, window_state(tampered, requests))
    # Control: the same tampering is visible once the labels are old enough.
    later = requests.assign(TX_DATETIME=t + DELAY + DAY)
    assert not window_state(small_transactions, later).equals(window_state(tampered, later))


def test_request_features_count_the_scored_transaction_and_compare_with_the_ones_before():
    state = {name: [0.0, 0.0] for name in [*CUSTOMER_STATE, *TERMINAL_STATE]}
    state.update(
        {
            "customer_tx_count_30d": [4, 0],
            "customer_amount_sum_30d": [80.0, 0.0],
            "customer_amount_sumsq_30d": [1800.0, 0.0],  # amounts 10, 20, 20, 30: mean 20, std 8.165
            "customer_tx_count_7d": [4, 0],
            "customer_amount_sum_7d": [80.0, 0.0],
            "customer_amount_sumsq_7d": [1800.0, 0.0],
            "customer_amount_max_7d": [30.0, 0.0],
            CUSTOMER_LAST_TX: [to_us([pd.Timestamp("2018-04-06 03:00:00")])[0], 0],
            "terminal_tx_count_7d": [10, 0],
            "terminal_fraud_count_7d": [2, 0],
            TERMINAL_FIRST_FRAUD: [to_us([pd.Timestamp("2018-03-29 03:00:00")])[0], 0],
            TERMINAL_TX_SINCE_FIRST_FRAUD: [4, 0],
            "terminal_fraud_count_30d": [3, 0],
        }
    )
    requests = pd.DataFrame(
        {
            "TX_AMOUNT": [60.0, 300.0],
            "TX_DATETIME": pd.to_datetime(
                ["2018-04-07 03:00:00", "2018-04-09 12:00:00"]
            ),  # Sat night, Mon noon
            **state,
        }
    )
    out = request_features(requests)
    assert list(out.columns) == MODEL_FEATURES
    first, new = out.iloc[0], out.iloc[1]
    assert (first["is_weekend"], first["is_night"], new["is_weekend"], new["is_night"]) == (1, 1, 0, 0)
    assert first["customer_nb_tx_30d"] == 5 and first["customer_mean_amount_30d"] == pytest.approx(28.0)
    assert first["amount_over_customer_mean_30d"] == pytest.approx(3.0)
    assert first["amount_zscore_30d"] == pytest.approx(40 / np.std([10, 20, 20, 30], ddof=1))
    assert first["customer_max_over_mean_7d"] == pytest.approx(1.5)
    assert first["customer_days_since_last_tx"] == pytest.approx(1.0)
    assert first["terminal_risk_7d"] == pytest.approx(0.2) and first["terminal_nb_tx_7d"] == 10
    assert first["terminal_days_since_first_known_fraud"] == pytest.approx(9.0)
    assert first["terminal_risk_since_first_known_fraud"] == pytest.approx(0.75)
    # A customer and terminal never seen: the documented defaults of a new entity.
    assert (new["customer_nb_tx_1d"], new["customer_mean_amount_7d"]) == (1, 300.0)
    assert (new["amount_over_customer_mean_1d"], new["amount_zscore_7d"]) == (1.0, 0.0)
    assert new["customer_days_since_last_tx"] == DAYS_SINCE_LAST_TX_CAP
    assert (new["terminal_risk_30d"], new["terminal_nb_tx_30d"]) == (0.0, 0)
    assert new["terminal_days_since_first_known_fraud"] == 0.0


def test_model_features_from_raw_transactions_have_no_gaps(small_transactions):
    scored = small_transactions[small_transactions["TX_DATETIME"] >= "2018-04-08"]
    features = model_features(small_transactions, scored)
    assert list(features.columns) == MODEL_FEATURES and len(features) == len(scored)
    assert not features.isna().any().any()
    assert (features["customer_nb_tx_1d"] >= 1).all()


def test_event_logs_from_sorted_or_unsorted_lists_and_arrays_are_the_same():
    """``of_sorted`` skips the sort only when the input is in order; byte-joined arrays (the
    stream's state) give the same log as Python lists (an online lookup's)."""
    rng = np.random.default_rng(7)
    entity, time_us, amount = rng.integers(0, 50, 2_000), rng.integers(0, 10**12, 2_000), rng.random(2_000)
    reference = EventLog.of(entity, time_us, amount=amount)
    in_order = (reference.entity, reference.time_us)
    ends = np.searchsorted(reference.entity, np.arange(51))
    times = [reference.time_us[a:b].tolist() for a, b in pairwise(ends)]
    values = [reference.values["amount"][a:b].tolist() for a, b in pairwise(ends)]
    logs = [
        EventLog.of_sorted(entity, time_us, amount=amount),  # out of order: sorted
        EventLog.of_sorted(*in_order, amount=reference.values["amount"]),  # in order: kept
        event_log_from_lists(times, values, "amount"),
        event_log_from_arrays([array("q", t) for t in times], [array("d", v) for v in values], "amount"),
    ]
    for log in logs:
        np.testing.assert_array_equal(log.entity, reference.entity)
        np.testing.assert_array_equal(log.time_us, reference.time_us)
        np.testing.assert_array_equal(log.values["amount"], reference.values["amount"])
