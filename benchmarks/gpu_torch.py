"""The PyTorch trainer on CUDA beside the same trainer on the CPU, on one machine with a GPU.

Two steps, because the GPU machine has PyTorch but neither the reference data nor MLflow:

    python -m benchmarks.gpu_torch prepare            # here: feature rows -> .gpu/ (git-ignored)
    python -m benchmarks.gpu_torch run --out DIR      # there: train on cuda and cpu, evaluate, report

``prepare`` computes the features of the one-month training window (2018-07-01 .. 07-31) and of
the handbook's delayed test week with the shared fraudcore window code (the same rows the
pipeline trains on). ``run`` fits ``TorchFraudModel`` with the same parameters on each device and
reports wall time, rows/s and the handbook metrics of each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import types
from pathlib import Path

import pandas as pd

DATA_DIR = Path(".gpu")
REFERENCE = Path("../shared/data/fraud-handbook-transactions.parquet")
TRAIN_START, TRAIN_END = dt.date(2018, 7, 1), dt.date(2018, 7, 31)
KEPT = ["TX_DATETIME", "CUSTOMER_ID", "TX_FRAUD"]


def prepare(reference: Path) -> None:
    from fraudcore.evaluation import SplitDates, delayed_test_rows, train_rows
    from fraudcore.features.compute import model_features
    from fraudcore.features.definitions import LOOKBACK_DAYS

    split = SplitDates(TRAIN_START, TRAIN_END)
    raw = pd.read_parquet(reference)
    first = pd.Timestamp(TRAIN_START - dt.timedelta(days=LOOKBACK_DAYS))
    end = pd.Timestamp(split.test_end) + pd.Timedelta(days=1)
    history = raw[(raw["TX_DATETIME"] >= first) & (raw["TX_DATETIME"] < end)]
    DATA_DIR.mkdir(exist_ok=True)
    for name, rows in {"train": train_rows(raw, split), "test": delayed_test_rows(raw, split)}.items():
        print(f"features of {len(rows):,} {name} rows ...", flush=True)
        features = model_features(history, rows)
        pd.concat([rows[KEPT], features], axis=1).to_parquet(DATA_DIR / f"{name}.parquet")
    print(f"wrote {DATA_DIR}/train.parquet and test.parquet")


def _without_mlflow() -> None:
    """The GPU image has no MLflow: give ``FraudModel`` its pyfunc base class (a plain class).

    Only training and scoring run there; nothing is logged or loaded through MLflow.
    """
    try:
        import mlflow.pyfunc
    except ImportError:
        pyfunc = types.ModuleType("mlflow.pyfunc")
        pyfunc.PythonModel = type("PythonModel", (), {})
        mlflow = types.ModuleType("mlflow")
        mlflow.pyfunc = pyfunc
        sys.modules.update({"mlflow": mlflow, "mlflow.pyfunc": pyfunc})


def _fit_and_score(device: str, train: pd.DataFrame, test: pd.DataFrame) -> dict:
    import torch

    from fraudcore.evaluation import fraud_metrics
    from fraudcore.models.torch_mlp import TorchFraudModel

    model = TorchFraudModel({"device": device})
    started = time.perf_counter()
    model.fit(train)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    scored = test.assign(score=model.score(test))
    epochs = model.params["epochs"]
    return {
        "device": device,
        "fit_seconds": round(seconds, 2),
        "train_rows_per_second": round(len(train) * epochs / seconds),
        **{name: round(value, 4) for name, value in fraud_metrics(scored).items()},
    }


def run(out: Path) -> None:
    _without_mlflow()
    import torch

    from benchmarks.report import write_report

    train, test = (pd.read_parquet(DATA_DIR / f"{name}.parquet") for name in ("train", "test"))
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"{len(train):,} train rows, {len(test):,} test rows; GPU: {gpu}; torch {torch.__version__}")
    _fit_and_score("cuda", train.head(20_000), test.head(1_000))  # CUDA context and kernels warm
    rows = [_fit_and_score(device, train, test) for device in ("cuda", "cpu")]
    cuda, cpu = rows
    speedup = cpu["fit_seconds"] / cuda["fit_seconds"]
    table = "\n".join(
        f"| {r['device']} | {r['fit_seconds']} | {r['train_rows_per_second']:,} | {r['auc_roc']} | "
        f"{r['average_precision']} | {r['card_precision_at_100']} |"
        for r in rows
    )
    body = f"""
`TorchFraudModel` (default parameters: MLP 128-64, 12 epochs, batch 1024) fitted on the same
{len(train):,} feature rows (train {TRAIN_START} .. {TRAIN_END}) on each device of one machine
(GPU: {gpu}, {torch.get_num_threads()} CPU threads), then scored on the handbook's delayed test
week ({len(test):,} rows). CUDA time includes moving the rows to the GPU; a CUDA warm-up fit on
20,000 rows ran first and is not counted.

| device | fit (s) | rows·epochs/s | AUC ROC | AP | CP@100 |
|---|---|---|---|---|---|
{table}

CUDA is **{speedup:.1f} times** as fast as the CPU fit on this machine.
"""
    results = {"gpu": gpu, "torch": torch.__version__, "rows": rows, "cuda_speedup": round(speedup, 2)}
    _, md_path = write_report(
        "gpu_torch",
        "PyTorch trainer: CUDA vs CPU",
        results,
        body,
        packages=["torch", "numpy", "pandas", "scikit-learn"],
        directory=out,
    )
    print(md_path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prepare").add_argument("--reference", type=Path, default=REFERENCE)
    commands.add_parser("run").add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.reference)
    else:
        run(args.out)


if __name__ == "__main__":
    main()
