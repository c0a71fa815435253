"""``python -m batch [--date-from D] [--date-to D] [--model-version V] [--master M]`` (``make batch``)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from batch.inputs import BatchInputError
from batch.job import predictions_root, run
from batch.report import report_path, summary_png, summary_table
from fraudcore.data.lake import TransactionLake
from fraudcore.partitions import DayPartitions, PartialWriteError
from fraudcore.registry import RegistryError
from fraudcore.settings import get_settings
from fraudcore.storage import arrow_filesystem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m batch", description=__doc__)
    parser.add_argument("--date-from", type=dt.date.fromisoformat, help="default: the lake's last day")
    parser.add_argument("--date-to", type=dt.date.fromisoformat, help="default: --date-from")
    parser.add_argument("--model-version", help="a registry version (default: the champion)")
    parser.add_argument("--master", default="local[*]", help="Spark master, e.g. local[*] or k8s://https://…")
    args = parser.parse_args(argv)
    if args.date_from is None:
        days = TransactionLake().days()
        if not days:
            print("error: the lake is empty: run `make data` first", file=sys.stderr)
            return 2
        args.date_from = days[-1]
    args.date_to = args.date_to or args.date_from
    try:
        result = run(args.date_from, args.date_to, args.model_version, args.master)
    except (BatchInputError, RegistryError) as error:
        print(f"error: {error}\nnothing was written", file=sys.stderr)
        return 2
    except PartialWriteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    settings = get_settings()
    print(
        f"\nscored {result.rows:,} transactions in {result.seconds:.1f} s with version "
        f"{result.model_version}; {result.flagged:,} flagged; s3://{predictions_root(settings)}/"
    )
    print(summary_table(result.summary))
    scores = (
        DayPartitions(arrow_filesystem(settings), predictions_root(settings))
        .read(result.days, ["TX_DATETIME", "fraud_probability"])
        .to_pandas()
    )
    scores["date"] = scores["TX_DATETIME"].dt.date
    print(f"report: {summary_png(result.summary, scores, report_path(args.date_from, args.date_to))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
