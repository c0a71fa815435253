"""Run the training pipeline with KFP's local runner on the local stack: ``python -m pipelines.run_local``."""

from __future__ import annotations

import argparse
import json

from kfp import local

from fraudcore.settings import get_settings
from pipelines.pipeline import build_pipeline


def run(arguments: dict) -> None:
    """Run the pipeline, each step a subprocess of this interpreter; artifacts under <state>/kfp."""
    root = get_settings().state_dir.resolve() / "kfp"
    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    build_pipeline(use_gpu=False)(**arguments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-start", default="", help="ISO date; default: a week before the delay")
    parser.add_argument("--train-end", default="", help="ISO date; default: the latest the lake allows")
    parser.add_argument("--test-days", type=int, default=7)
    parser.add_argument("--model-type", default="lightgbm", choices=["lightgbm", "torch"])
    parser.add_argument("--hyperparameters", default="{}", help="JSON, e.g. '{\"n_estimators\": 50}'")
    parser.add_argument("--experiment", default="fraud-training")
    args = parser.parse_args()
    arguments = {
        "train_start": args.train_start,
        "train_end": args.train_end,
        "test_days": args.test_days,
        "model_type": args.model_type,
        "hyperparameters": json.dumps(json.loads(args.hyperparameters)),
        "experiment": args.experiment,
    }
    run(arguments)


if __name__ == "__main__":
    main()
