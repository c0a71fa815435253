"""``python -m streaming produce|consume``: replay transactions into Kafka, or run a scoring consumer."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one scoring thread per consumer process


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m streaming", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    produce = commands.add_parser("produce", help="replay transactions (and their labels 7 days later)")
    produce.add_argument("--source", default="lake", help="'lake' (default) or a parquet file")
    produce.add_argument("--date-from", type=dt.date.fromisoformat)
    produce.add_argument("--date-to", type=dt.date.fromisoformat)
    produce.add_argument("--limit", type=int, help="replay only the first N transactions")
    pace = produce.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, help="transactions per second (default: as fast as possible)")
    pace.add_argument("--speedup", type=float, help="event time runs this many times faster than the clock")
    produce.add_argument("--no-labels", action="store_true", help="send no labels")
    produce.add_argument(
        "--linger-ms",
        type=int,
        help="how long the producer gathers records into a batch (default: streaming.producer.LINGER_MS)",
    )
    produce.add_argument(
        "--malformed", type=int, default=0, help="also send this many malformed events (dead-letter demo)"
    )
    summary = commands.add_parser(
        "summary", help="wait until the consumers are caught up, print their counts"
    )
    summary.add_argument("--timeout", type=float, default=300.0)
    consume = commands.add_parser("consume", help="run one scoring consumer of the group")
    consume.add_argument("--index", type=int, default=0, help="consumer number: metrics on port base + index")
    consume.add_argument("--exit-when-idle", type=float, help="stop after this many seconds without events")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # a line per connection otherwise
    from fraudcore.settings import get_settings

    settings = get_settings()
    if args.command == "produce":
        from streaming.producer import LINGER_MS, load_transactions, replay

        date_from, date_to = args.date_from, args.date_to
        if args.source == "lake" and not (date_from or date_to):
            from fraudcore.data.lake import TransactionLake

            date_from = date_to = TransactionLake(settings).days()[-1]  # the lake's last day
        transactions = load_transactions(settings, args.source, date_from, date_to)
        if args.limit:
            transactions = transactions.head(args.limit)
        from fraudcore.gc_pauses import freeze_long_lived

        freeze_long_lived()  # a full collection would hold the sender thread for ~0.3 s mid-replay
        print(
            replay(
                settings,
                transactions,
                args.rate,
                args.speedup,
                not args.no_labels,
                malformed=args.malformed,
                linger_ms=LINGER_MS if args.linger_ms is None else args.linger_ms,
            )
        )
        return 0
    if args.command == "summary":
        from streaming.summary import report, wait_until_caught_up

        print(report(wait_until_caught_up(settings, args.timeout)))
        return 0
    from streaming.service import run_consumer

    run_consumer(settings, args.index, args.exit_when_idle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
