"""Seeded synthetic card transactions with the Fraud Detection Handbook's generative process.

The process (handbook ch. 3, "Transaction data simulator"), vectorised with NumPy:

* customers live at a uniform point of a 100x100 grid, with a spending mean in [5, 100], a
  standard deviation of half of it, and a mean number of transactions per day in [0, 4];
* terminals live at uniform points of the same grid; a customer uses the terminals within
  ``radius`` of home, uniformly;
* each day a customer makes Poisson(mean) transactions at normally distributed times around
  noon (dropped outside the day), of normally distributed amounts (redrawn uniformly in
  [0, 2 * mean] when negative);
* frauds: (1) every amount above 220; (2) each day ``compromised_terminals_per_day`` random
  terminals are compromised, and all their transactions of the next 28 days are frauds; (3) each
  day ``compromised_customers_per_day`` random customers are compromised, and a third of their
  transactions of the next 14 days become frauds with the amount multiplied by 5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fraudcore.schema import conform

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class GeneratorConfig:
    """Parameters of the simulation; the defaults are the reference dataset's."""

    n_customers: int = 5_000
    n_terminals: int = 10_000
    n_days: int = 183
    start_date: str = "2018-04-01"
    radius: float = 5.0
    seed: int = 0
    fraud_amount_threshold: float = 220.0
    compromised_terminals_per_day: int = 2
    terminal_compromise_days: int = 28
    compromised_customers_per_day: int = 3
    customer_compromise_days: int = 14


def _customer_profiles(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    mean_amount = rng.uniform(5, 100, n)
    return {
        "x": rng.uniform(0, 100, n),
        "y": rng.uniform(0, 100, n),
        "mean_amount": mean_amount,
        "std_amount": mean_amount / 2,
        "mean_tx_per_day": rng.uniform(0, 4, n),
    }


def _terminals_in_reach(
    customers: dict[str, np.ndarray], terminal_xy: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR layout of each customer's terminals: (offsets, counts, flat terminal ids)."""
    reachable: list[np.ndarray] = []
    for x, y in zip(customers["x"], customers["y"], strict=True):
        distance = np.hypot(terminal_xy[:, 0] - x, terminal_xy[:, 1] - y)
        reachable.append(np.flatnonzero(distance < radius))
    counts = np.array([len(ids) for ids in reachable], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return offsets, counts, np.concatenate(reachable) if reachable else np.empty(0, np.int64)


def _genuine_transactions(rng: np.random.Generator, config: GeneratorConfig, progress: bool) -> pd.DataFrame:
    customers = _customer_profiles(rng, config.n_customers)
    terminal_xy = rng.uniform(0, 100, (config.n_terminals, 2))
    offsets, counts, terminal_ids = _terminals_in_reach(customers, terminal_xy, config.radius)

    days, customer_ids, seconds = [], [], []
    for day in tqdm(range(config.n_days), desc="simulating days", unit="day", disable=not progress):
        n_tx = rng.poisson(customers["mean_tx_per_day"])
        customer = np.repeat(np.arange(config.n_customers), n_tx)
        time_of_day = np.rint(rng.normal(SECONDS_PER_DAY / 2, 20_000, customer.size)).astype(np.int64)
        keep = (time_of_day > 0) & (time_of_day < SECONDS_PER_DAY) & (counts[customer] > 0)
        customer_ids.append(customer[keep])
        seconds.append(day * SECONDS_PER_DAY + time_of_day[keep])
        days.append(np.full(int(keep.sum()), day, dtype=np.int64))

    customer = np.concatenate(customer_ids)
    mean, std = customers["mean_amount"][customer], customers["std_amount"][customer]
    amount = rng.normal(mean, std)
    negative = amount < 0
    amount[negative] = rng.uniform(0, 2 * mean[negative])
    pick = (rng.random(customer.size) * counts[customer]).astype(np.int64)
    terminal = terminal_ids[offsets[customer] + pick]

    tx_seconds = np.concatenate(seconds)
    order = np.argsort(tx_seconds, kind="stable")
    frame = pd.DataFrame(
        {
            "TX_TIME_SECONDS": tx_seconds[order],
            "TX_TIME_DAYS": np.concatenate(days)[order],
            "CUSTOMER_ID": customer[order],
            "TERMINAL_ID": terminal[order],
            "TX_AMOUNT": np.round(amount[order], 2),
        }
    )
    start = pd.Timestamp(config.start_date)
    frame.insert(0, "TRANSACTION_ID", _day_based_ids(start, frame["TX_TIME_DAYS"].to_numpy()))
    frame.insert(1, "TX_DATETIME", start + pd.to_timedelta(frame["TX_TIME_SECONDS"], unit="s"))
    return frame


#: Synthetic ids are (days since 1970-01-01) * ID_DAY_FACTOR + position in the day: unique across
#: days, so regenerating some days never leaves an id used twice in the lake.
ID_DAY_FACTOR = 10_000_000


def _day_based_ids(start: pd.Timestamp, day_offset: np.ndarray) -> np.ndarray:
    """Ids of transactions sorted by time, ``day_offset`` days after ``start``."""
    day_number = (start.normalize() - pd.Timestamp("1970-01-01")).days + day_offset.astype(np.int64)
    first_of_day = np.r_[True, day_number[1:] != day_number[:-1]] if len(day_number) else np.zeros(0, bool)
    position = np.arange(len(day_number)) - np.maximum.accumulate(
        np.where(first_of_day, np.arange(len(day_number)), 0)
    )
    return day_number * ID_DAY_FACTOR + position


class _RowsByEntity:
    """Row indices of each entity's transactions, for fast per-entity look-ups."""

    def __init__(self, entity: np.ndarray, n_entities: int):
        self.order = np.argsort(entity, kind="stable")
        self.bounds = np.searchsorted(entity[self.order], np.arange(n_entities + 1))

    def rows(self, entities: np.ndarray) -> np.ndarray:
        return np.concatenate([self.order[self.bounds[e] : self.bounds[e + 1]] for e in entities])


def _add_frauds(frame: pd.DataFrame, rng: np.random.Generator, config: GeneratorConfig) -> None:
    fraud = np.zeros(len(frame), dtype=np.int8)
    scenario = np.zeros(len(frame), dtype=np.int8)
    amount = frame["TX_AMOUNT"].to_numpy().copy()
    day = frame["TX_TIME_DAYS"].to_numpy()
    by_terminal = _RowsByEntity(frame["TERMINAL_ID"].to_numpy(), config.n_terminals)
    by_customer = _RowsByEntity(frame["CUSTOMER_ID"].to_numpy(), config.n_customers)

    big = amount > config.fraud_amount_threshold
    fraud[big], scenario[big] = 1, 1

    for start in range(config.n_days):
        compromised = rng.choice(config.n_terminals, config.compromised_terminals_per_day, replace=False)
        rows = by_terminal.rows(compromised)
        hit = rows[(day[rows] >= start) & (day[rows] < start + config.terminal_compromise_days)]
        fraud[hit], scenario[hit] = 1, 2

    for start in range(config.n_days):
        compromised = rng.choice(config.n_customers, config.compromised_customers_per_day, replace=False)
        rows = np.sort(by_customer.rows(compromised))
        candidates = rows[(day[rows] >= start) & (day[rows] < start + config.customer_compromise_days)]
        stolen = rng.choice(candidates, len(candidates) // 3, replace=False)
        amount[stolen] *= 5
        fraud[stolen], scenario[stolen] = 1, 3

    frame["TX_AMOUNT"] = np.round(amount, 2)
    frame["TX_FRAUD"] = fraud
    frame["TX_FRAUD_SCENARIO"] = scenario


def generate_transactions(config: GeneratorConfig | None = None, progress: bool = True) -> pd.DataFrame:
    """Simulate ``config.n_days`` days of labelled transactions in the raw transaction schema."""
    config = config or GeneratorConfig()
    rng = np.random.default_rng(config.seed)
    frame = _genuine_transactions(rng, config, progress)
    _add_frauds(frame, rng, config)
    return conform(frame)
