"""Promote a registry version to champion by hand, under the gate's lock, with the reason recorded.

For what the gate refuses on purpose (a new feature set, say): ``python -m pipelines.promote 7
--reason "feature set v2 replaces v1"``.
"""

from __future__ import annotations

import argparse

from fraudcore.registry import CHAMPION, ModelRegistry


def promote(version: str, reason: str, registry: ModelRegistry | None = None) -> str | None:
    """Move the champion alias to ``version``; return the previous champion."""
    registry = registry or ModelRegistry()
    registry.version(version)  # fails clearly if it does not exist
    with registry.exclusive(f"manual promotion of version {version}"):
        previous = registry.aliases().get(CHAMPION)
        registry.set_alias(CHAMPION, version)
        registry.tag_version(
            version,
            {
                "gate_decision": "promoted by hand",
                "gate_reason": reason,
                "gate_compared_with": previous or "none",
            },
        )
    return previous


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("version")
    parser.add_argument("--reason", required=True, help="recorded on the version")
    args = parser.parse_args()
    previous = promote(args.version, args.reason)
    print(f"champion: version {args.version} (was {previous or 'none'})")


if __name__ == "__main__":
    main()
