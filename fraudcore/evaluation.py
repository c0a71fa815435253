"""The handbook's evaluation protocol: delayed test split, AUC ROC, average precision, Card Precision@k."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from fraudcore.features.definitions import LABEL_DELAY_DAYS
from fraudcore.schema import LABEL

CARD_PRECISION_TOP_K = 100


@dataclass(frozen=True)
class SplitDates:
    """Train on ``train_start .. train_end``, skip the delay, test for ``test_days`` days.

    The test set leaves out customers with a known fraud (see ``delayed_test_rows``); frauds count as
    known from the ``known_fraud_days`` days before the delay on, whatever the training window, so
    the test set is the handbook's for any training window that ends on the same day.
    """

    train_start: dt.date
    train_end: dt.date
    test_days: int = 7
    delay_days: int = LABEL_DELAY_DAYS
    known_fraud_days: int = 7

    @property
    def test_start(self) -> dt.date:
        return self.train_end + dt.timedelta(days=self.delay_days + 1)

    @property
    def test_end(self) -> dt.date:
        return self.test_start + dt.timedelta(days=self.test_days - 1)

    @classmethod
    def handbook(cls) -> SplitDates:
        """The handbook's ch. 3 protocol: train 2018-07-25..31, test 2018-08-08..14."""
        return cls(dt.date(2018, 7, 25), dt.date(2018, 7, 31))


def _days(frame: pd.DataFrame) -> pd.Series:
    return frame["TX_DATETIME"].dt.normalize()


def train_rows(transactions: pd.DataFrame, split: SplitDates) -> pd.DataFrame:
    """Transactions of the training days."""
    day = _days(transactions)
    return transactions[(day >= pd.Timestamp(split.train_start)) & (day <= pd.Timestamp(split.train_end))]


def delayed_test_rows(transactions: pd.DataFrame, split: SplitDates) -> pd.DataFrame:
    """Test transactions without customers whose fraud is already known on that test day.

    A fraud is known once its label arrived: frauds of the last ``known_fraud_days`` training
    days, then each test day those of one more delay-period day (the handbook's rule).
    """
    day = _days(transactions)
    is_fraud = transactions[LABEL] == 1
    known_from = pd.Timestamp(split.train_end - dt.timedelta(days=split.known_fraud_days - 1))
    known = set(
        transactions.loc[
            is_fraud & (day >= known_from) & (day <= pd.Timestamp(split.train_end)), "CUSTOMER_ID"
        ]
    )
    kept = []
    for offset in range(split.test_days):
        test_day = pd.Timestamp(split.test_start + dt.timedelta(days=offset))
        newly_labelled_day = pd.Timestamp(split.train_end + dt.timedelta(days=offset))
        known |= set(transactions.loc[is_fraud & (day == newly_labelled_day), "CUSTOMER_ID"])
        on_day = transactions[day == test_day]
        kept.append(on_day[~on_day["CUSTOMER_ID"].isin(known)])
    return pd.concat(kept)


def daily_top_cards(
    scored: pd.DataFrame, k: int = CARD_PRECISION_TOP_K
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Per day, in order: the day's rows and its k customers with the highest score (``score``,
    ``fraud``: whether they had a fraud that day), customers detected on earlier days (fraudulent and
    in that day's top k) left out of both.

    ``scored`` has TX_DATETIME, CUSTOMER_ID, TX_FRAUD and ``score``.
    """
    detected: set = set()
    for _, day in scored.groupby(_days(scored), sort=True):
        day = day[~day["CUSTOMER_ID"].isin(detected)]
        per_customer = day.groupby("CUSTOMER_ID").agg(score=("score", "max"), fraud=(LABEL, "max"))
        top = per_customer.sort_values("score", ascending=False, kind="stable").head(k)
        yield day, top
        detected |= set(top.index[top["fraud"] == 1])


def card_precision_top_k(scored: pd.DataFrame, k: int = CARD_PRECISION_TOP_K) -> float:
    """Mean over days of the share of real frauds among the k customers with the highest score,
    customers detected on a day left out of the following days (``daily_top_cards``)."""
    precisions = [int(top["fraud"].sum()) / k for _, top in daily_top_cards(scored, k)]
    return float(np.mean(precisions)) if precisions else float("nan")


def fraud_metrics(scored: pd.DataFrame) -> dict[str, float]:
    """AUC ROC, average precision and Card Precision@100 of ``scored`` (see card_precision_top_k)."""
    return {
        "auc_roc": float(roc_auc_score(scored[LABEL], scored["score"])),
        "average_precision": float(average_precision_score(scored[LABEL], scored["score"])),
        "card_precision_at_100": card_precision_top_k(scored),
    }
