"""Choose the model's features and LightGBM parameters on validation weeks (handbook ch. 5 protocol).

Prequential validation: four validation weeks, the latest ending 2018-07-31, each one the test
split moved back by a week more. Each fold trains on the 31 days that end 14 days before its
validation week ends (the handbook's 7-day delay before the week) and validates there with the
handbook's filtering, so no label after 2018-07-31 is read and the test week (2018-08-08 .. 14) is
not read at all: the training pipeline evaluates it once. Every candidate is scored on every fold;
the best mean average precision wins. Four weeks instead of one, because CP@100 on one week moves
by a few card-days with the seed alone (the spread is measured and reported too).
``python -m benchmarks.model_selection`` (``make select-model``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report import write_report
from fraudcore.data.reference import load_reference
from fraudcore.evaluation import (
    CARD_PRECISION_TOP_K,
    SplitDates,
    daily_top_cards,
    delayed_test_rows,
    fraud_metrics,
    train_rows,
)
from fraudcore.features.compute import model_features
from fraudcore.features.definitions import LOOKBACK_DAYS, MODEL_FEATURES
from fraudcore.models import model_class
from fraudcore.models.gbt import GradientBoostedFraudModel
from fraudcore.schema import LABEL

LAST_LABEL_DAY = dt.date(2018, 7, 31)
FOLDS = 4
TRAIN_DAYS = 31
#: Extra seeds of the pipeline's defaults: how far the metrics move with the seed alone.
SPREAD_SEEDS = (1, 2)
HANDBOOK_FEATURES = [
    "amount",
    "is_weekend",
    "is_night",
    *[f"customer_nb_tx_{w}d" for w in (1, 7, 30)],
    *[f"customer_mean_amount_{w}d" for w in (1, 7, 30)],
    *[f"terminal_nb_tx_{w}d" for w in (1, 7, 30)],
    *[f"terminal_risk_{w}d" for w in (1, 7, 30)],
]
NEW_TERMINAL = [
    "terminal_nb_tx_3d",
    "terminal_nb_tx_14d",
    "terminal_risk_3d",
    "terminal_risk_14d",
    "terminal_days_since_first_known_fraud",
    "terminal_nb_tx_since_first_known_fraud",
    "terminal_risk_since_first_known_fraud",
]
ALL_FEATURES = "all (MODEL_FEATURES)"
FEATURE_SETS = {
    "handbook's 15": HANDBOOK_FEATURES,
    "all but the 3/14-day terminal windows and the first-known-fraud features": [
        f for f in MODEL_FEATURES if f not in NEW_TERMINAL
    ],
    ALL_FEATURES: MODEL_FEATURES,
}
PARAMETERS = {
    "15 leaves, 200 per leaf": {"num_leaves": 15, "min_child_samples": 200},
    "31 leaves, 100 per leaf": {"num_leaves": 31, "min_child_samples": 100},
    "63 leaves, 50 per leaf": {"num_leaves": 63, "min_child_samples": 50},
    "31 leaves, 100 per leaf, 400 trees at 0.05": {
        "num_leaves": 31,
        "min_child_samples": 100,
        "n_estimators": 400,
        "learning_rate": 0.05,
    },
}


@dataclass(frozen=True)
class Fold:
    split: SplitDates
    train: pd.DataFrame
    validation: pd.DataFrame


def fold_splits(folds: int = FOLDS) -> list[SplitDates]:
    """The validation splits, latest first: validation weeks ending on ``LAST_LABEL_DAY``, a week
    before it, ..."""
    splits = []
    for k in range(folds):
        validation_end = LAST_LABEL_DAY - dt.timedelta(days=7 * k)
        train_end = validation_end - dt.timedelta(days=14)
        splits.append(SplitDates(train_end - dt.timedelta(days=TRAIN_DAYS - 1), train_end))
    return splits


def validation_folds(folds: int = FOLDS) -> list[Fold]:
    """Training and validation rows of each fold, with the model's features (computed once)."""
    splits = fold_splits(folds)
    first = min(s.train_start for s in splits)
    raw = load_reference(None, first - dt.timedelta(days=LOOKBACK_DAYS), LAST_LABEL_DAY)
    rows = raw[raw["TX_DATETIME"] >= pd.Timestamp(first)].reset_index(drop=True)
    featured = pd.concat([rows, model_features(raw, rows)], axis=1).set_index("TRANSACTION_ID")

    def with_features(selected: pd.DataFrame) -> pd.DataFrame:
        return featured.loc[selected["TRANSACTION_ID"].to_numpy()].reset_index()

    return [
        Fold(s, with_features(train_rows(raw, s)), with_features(delayed_test_rows(raw, s))) for s in splits
    ]


def missed_without_known_fraud(scored: pd.DataFrame, k: int = CARD_PRECISION_TOP_K) -> tuple[int, int]:
    """Fraudulent card-days outside their day's top k, and how many of them are frauds only at
    terminals with no known fraud in the terminal's window (a compromise no label shows yet).

    Analysis only: reads no scenario column, only the label and the features the model saw.
    """
    missed = unrevealed = 0
    for day, top in daily_top_cards(scored, k):
        frauds = day[(day[LABEL] == 1) & ~day["CUSTOMER_ID"].isin(top.index)]
        hidden = frauds.groupby("CUSTOMER_ID")["terminal_days_since_first_known_fraud"].max() == 0
        missed += len(hidden)
        unrevealed += int(hidden.sum())
    return missed, unrevealed


def evaluate(folds: list[Fold], features: list[str], params: dict) -> dict:
    """Mean metrics over the folds, the CP@100 of each, and the missed fraudulent card-days."""
    metrics, missed, unrevealed = [], 0, 0
    for fold in folds:
        model = model_class("lightgbm")(params, features=features).fit(fold.train)
        scored = fold.validation.assign(score=model.score(fold.validation))
        metrics.append(fraud_metrics(scored))
        fold_missed, fold_unrevealed = missed_without_known_fraud(scored)
        missed, unrevealed = missed + fold_missed, unrevealed + fold_unrevealed
    table = pd.DataFrame(metrics)
    return {
        **{name: float(table[name].mean()) for name in table.columns},
        "cp_at_100_per_week": " / ".join(f"{v:.3f}" for v in table["card_precision_at_100"]),
        "missed_fraud_card_days": missed,
        "of_which_no_known_terminal_fraud": unrevealed,
    }


def is_pipeline_default(set_name: str, params_name: str) -> bool:
    """The candidate the training pipeline runs: every feature, ``gbt.py``'s parameters."""
    defaults = GradientBoostedFraudModel.default_params
    params = PARAMETERS[params_name]
    return set_name == ALL_FEATURES and all(defaults.get(k) == v for k, v in params.items())


def _fold_line(fold: dict) -> str:
    return (
        f"train {fold['train']} ({fold['train_rows']:,} rows), validate {fold['validate']} "
        f"({fold['validate_rows']:,} rows, {fold['validate_frauds']} frauds)"
    )


def measure() -> dict:
    """Every candidate on every fold, and the pipeline's defaults with more seeds."""
    folds = validation_folds()
    summaries = [
        {
            "train": f"{f.split.train_start} .. {f.split.train_end}",
            "train_rows": len(f.train),
            "validate": f"{f.split.test_start} .. {f.split.test_end}",
            "validate_rows": len(f.validation),
            "validate_frauds": int(f.validation[LABEL].sum()),
        }
        for f in folds
    ]
    for summary in summaries:
        print(f"fold: {_fold_line(summary)}", flush=True)
    rows = []
    for set_name, features in FEATURE_SETS.items():
        for params_name, params in PARAMETERS.items():
            started = time.monotonic()
            result = evaluate(folds, features, params)
            rows.append(
                {"features": set_name, "n_features": len(features), "parameters": params_name, **result}
            )
            print(
                f"{set_name[:40]:<40} {params_name:<42} AUC {result['auc_roc']:.4f} "
                f"AP {result['average_precision']:.4f} CP@100 {result['card_precision_at_100']:.4f} "
                f"({result['cp_at_100_per_week']}; {time.monotonic() - started:.0f} s)",
                flush=True,
            )
    default_row = next(r for r in rows if is_pipeline_default(r["features"], r["parameters"]))
    seeds = [evaluate(folds, MODEL_FEATURES, {"random_state": seed}) for seed in SPREAD_SEEDS]
    return {
        "folds": summaries,
        "candidates": rows,
        "default_seed_spread": {
            name: [default_row[name], *(s[name] for s in seeds)]
            for name in ("auc_roc", "average_precision", "card_precision_at_100")
        },
    }


def chosen(results: dict) -> tuple[dict, dict, bool]:
    """The best candidate by mean AP, the pipeline's defaults, and whether the defaults stand: they
    do when the best beats them by less than the defaults' own AP spread over seeds."""
    candidates = sorted(results["candidates"], key=lambda r: r["average_precision"], reverse=True)
    best = candidates[0]
    default = next(r for r in candidates if is_pipeline_default(r["features"], r["parameters"]))
    seed_spread = float(np.ptp(results["default_seed_spread"]["average_precision"]))
    return best, default, best["average_precision"] - default["average_precision"] <= seed_spread


def render(results: dict) -> str:
    best, default, defaults_stand = chosen(results)
    spread = results["default_seed_spread"]
    table = pd.DataFrame(results["candidates"]).sort_values("average_precision", ascending=False)
    shown = table.drop(columns=["missed_fraud_card_days", "of_which_no_known_terminal_fraud"])
    missed, unrevealed = best["missed_fraud_card_days"], best["of_which_no_known_terminal_fraud"]
    gain = best["average_precision"] - default["average_precision"]
    verdict = (
        "These are the pipeline's defaults."
        if best is default
        else f"It beats the pipeline's defaults ({default['parameters']}) by {gain:.4f}, "
        + (
            "less than the defaults' own spread over seeds: the defaults stand."
            if defaults_stand
            else "more than the defaults' own spread over seeds: update gbt.py."
        )
    )
    return (
        "Prequential validation over four weeks, no label after 2018-07-31 read:\n\n"
        + "\n".join(f"- {_fold_line(f)}" for f in results["folds"])
        + "\n\nMetrics are means over the four weeks; CP@100 of each week, latest first.\n\n"
        + shown.to_markdown(index=False, floatfmt=".4f")
        + f"\n\nBest by mean average precision: **{best['features']}**, **{best['parameters']}**. "
        + verdict
        + "\n\nThe pipeline's defaults with seeds 0, 1, 2 (means over the weeks): "
        + "; ".join(f"{name} {min(values):.4f} .. {max(values):.4f}" for name, values in spread.items())
        + "."
        + f"\n\nFraudulent card-days the best candidate left out of a daily top 100: {missed} over the "
        f"four weeks; {unrevealed} of them ({unrevealed / max(missed, 1):.0%}) had frauds only at "
        "terminals with no known fraud in the terminal's 37-day window (a compromise that no "
        "7-day-late label can show yet)."
        + f"\n\nLightGBM defaults: `{GradientBoostedFraudModel.default_params}`."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", type=Path, help="only write the report from a results JSON")
    args = parser.parse_args()
    results = json.loads(args.render.read_text())["results"] if args.render else measure()
    paths = write_report(
        "model_selection", "Model selection on the validation weeks", results, render(results)
    )
    best, _, defaults_stand = chosen(results)
    print(
        f"best: {best['features']} / {best['parameters']}; "
        f"{'defaults stand' if defaults_stand else 'update gbt.py'}; wrote {paths[0]} and {paths[1]}"
    )


if __name__ == "__main__":
    main()
