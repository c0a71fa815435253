"""Compile the pipeline to KFP IR YAML: ``python -m pipelines.compile [--no-gpu] [--output PATH]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from kfp import compiler

from pipelines.pipeline import build_pipeline

COMPILED = Path(__file__).with_name("fraud_training_pipeline.yaml")


def compile_pipeline(output: Path = COMPILED, use_gpu: bool = True) -> Path:
    compiler.Compiler().compile(build_pipeline(use_gpu), str(output))
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=COMPILED)
    parser.add_argument("--no-gpu", action="store_true", help="train step without the GPU request")
    args = parser.parse_args()
    print(f"compiled {compile_pipeline(args.output, not args.no_gpu)}")


if __name__ == "__main__":
    main()
