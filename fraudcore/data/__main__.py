"""Fill the raw transaction lake: ``python -m fraudcore.data generate|load``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from fraudcore.data.generator import GeneratorConfig, generate_transactions
from fraudcore.data.lake import TransactionLake
from fraudcore.data.reference import ReferenceDataMissing, ReferenceDataUnreadable, load_reference
from fraudcore.data.summary import format_summary
from fraudcore.partitions import PartialWriteError
from fraudcore.schema import SchemaViolation


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fraudcore.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="simulate transactions (handbook generative process)")
    generate.add_argument("--days", type=int, default=GeneratorConfig.n_days)
    generate.add_argument("--start-date", default=GeneratorConfig.start_date)
    generate.add_argument("--customers", type=int, default=GeneratorConfig.n_customers)
    generate.add_argument("--terminals", type=int, default=GeneratorConfig.n_terminals)
    generate.add_argument("--seed", type=int, default=GeneratorConfig.seed)
    load = commands.add_parser("load", help="load a parquet file with the transaction schema")
    load.add_argument("path", type=Path, nargs="?", help="defaults to FRAUD_REFERENCE_DATA")
    load.add_argument("--start", type=dt.date.fromisoformat, help="first day (inclusive)")
    load.add_argument("--end", type=dt.date.fromisoformat, help="last day (inclusive)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    transactions = None
    if args.command == "generate":
        config = GeneratorConfig(
            n_customers=args.customers,
            n_terminals=args.terminals,
            n_days=args.days,
            start_date=args.start_date,
            seed=args.seed,
        )
        transactions = generate_transactions(config)
    lake = TransactionLake()
    try:
        if args.command == "load":
            transactions = load_reference(args.path, args.start, args.end)
        written = lake.write(transactions)
    except (SchemaViolation, ReferenceDataMissing, ReferenceDataUnreadable) as error:
        print(f"error: {error}", file=sys.stderr)
        print("nothing was written", file=sys.stderr)
        return 2
    except PartialWriteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    print(f"wrote {len(written)} daily partitions to s3://{lake.root}/")
    print(format_summary(transactions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
