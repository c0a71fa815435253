"""Choose the model's features and LightGBM parameters on a validation week (handbook ch. 5 protocol).

The validation split is the test split moved back by the delay and a week: train 2018-06-17 ..
2018-07-17, skip 7 days, validate on 2018-07-25 .. 31 with the handbook's filtering, so no label
after 2018-07-31 is read. Every candidate is scored there; the best average precision wins. The
test week (2018-08-08 .. 14) is not read here: the training pipeline evaluates it once.
``python -m benchmarks.model_selection`` (``make select-model``).
"""

from __future__ import annotations

import datetime as dt
import time

import pandas as pd

from benchmarks.report import write_report
from fraudcore.data.reference import load_reference
from fraudcore.evaluation import SplitDates, delayed_test_rows, fraud_metrics, train_rows
from fraudcore.features.compute import model_features
from fraudcore.features.definitions import LOOKBACK_DAYS, MODEL_FEATURES
from fraudcore.models import model_class
from fraudcore.models.gbt import GradientBoostedFraudModel

VALIDATION = SplitDates(dt.date(2018, 6, 17), dt.date(2018, 7, 17))
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
FEATURE_SETS = {
    "handbook's 15": HANDBOOK_FEATURES,
    "all but the 3/14-day terminal windows and the first-known-fraud features": [
        f for f in MODEL_FEATURES if f not in NEW_TERMINAL
    ],
    "all (MODEL_FEATURES)": MODEL_FEATURES,
}
PARAMETERS = {
    "15 leaves, 200 per leaf": {"num_leaves": 15, "min_child_samples": 200},
    "31 leaves, 100 per leaf": {"num_leaves": 31, "min_child_samples": 100},
    "7 leaves, 200 per leaf": {"num_leaves": 7, "min_child_samples": 200},
    "31 leaves, 100 per leaf, 400 trees at 0.05": {
        "num_leaves": 31,
        "min_child_samples": 100,
        "n_estimators": 400,
        "learning_rate": 0.05,
    },
}


def validation_sets() -> tuple[pd.DataFrame, pd.DataFrame]:
    start = VALIDATION.train_start - dt.timedelta(days=LOOKBACK_DAYS)
    raw = load_reference(None, start, VALIDATION.test_end)

    def with_features(rows: pd.DataFrame) -> pd.DataFrame:
        rows = rows.reset_index(drop=True)
        return pd.concat([rows, model_features(raw, rows)], axis=1)

    return with_features(train_rows(raw, VALIDATION)), with_features(delayed_test_rows(raw, VALIDATION))


def main() -> None:
    train, validation = validation_sets()
    print(f"validation split: train {len(train):,} rows, validate {len(validation):,} rows")
    rows = []
    for set_name, features in FEATURE_SETS.items():
        for params_name, params in PARAMETERS.items():
            started = time.monotonic()
            model = model_class("lightgbm")(params, features=features).fit(train)
            metrics = fraud_metrics(validation.assign(score=model.score(validation)))
            rows.append(
                {"features": set_name, "n_features": len(features), "parameters": params_name, **metrics}
            )
            print(
                f"{set_name:<62} {params_name:<26} "
                + "  ".join(f"{v:.4f}" for v in metrics.values())
                + f"  ({time.monotonic() - started:.0f} s)",
                flush=True,
            )
    table = pd.DataFrame(rows).sort_values("average_precision", ascending=False)
    best = table.iloc[0]
    defaults = GradientBoostedFraudModel.default_params
    best_params = PARAMETERS[best["parameters"]]
    pipeline_default = best["features"] == "all (MODEL_FEATURES)" and all(
        defaults.get(key) == value for key, value in best_params.items()
    )
    body = (
        f"Validation split: train {VALIDATION.train_start} .. {VALIDATION.train_end}, validate "
        f"{VALIDATION.test_start} .. {VALIDATION.test_end} ({len(validation):,} rows, "
        f"{int(validation['TX_FRAUD'].sum())} frauds); no label after 2018-07-31 is read.\n\n"
        + table.to_markdown(index=False, floatfmt=".4f")
        + f"\n\nBest by average precision: **{best['features']}**, **{best['parameters']}** "
        + (
            "(the pipeline's defaults)."
            if pipeline_default
            else "(NOT the pipeline's defaults: update gbt.py)."
        )
        + f"\n\nLightGBM defaults: `{defaults}`."
    )
    paths = write_report(
        "model_selection", "Model selection on the validation week", table.to_dict("records"), body
    )
    print(f"best: {best['features']} / {best['parameters']}; wrote {paths[0]} and {paths[1]}")


if __name__ == "__main__":
    main()
