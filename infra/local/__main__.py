"""``python -m infra.local up|down|status|clean [SERVICE ...]``: the embedded local runtime."""

from __future__ import annotations

import argparse
import sys

from fraudcore.settings import get_settings
from infra.local import runtime
from infra.local.services import BinaryMissing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "clean"])
    parser.add_argument("services", nargs="*", help="only these (default: all)")
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        if args.command == "up":
            runtime.up(settings, args.services)
        elif args.command == "down":
            runtime.down(settings, args.services)
        elif args.command == "clean":
            if args.services:
                print(
                    "error: clean deletes the whole state folder; it takes no service names", file=sys.stderr
                )
                return 2
            runtime.clean(settings)
        else:
            report = runtime.status(settings, args.services)
            for entry in report:
                note = f"  ({entry.note})" if entry.note else ""
                print(f"{entry.name:<18} {entry.state:<10} pid={entry.pid or '-':<8} {entry.url}{note}")
            return 0 if all(entry.state == "healthy" for entry in report) else 1
    except (runtime.StartError, runtime.StopError, BinaryMissing) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
