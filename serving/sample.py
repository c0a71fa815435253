"""Print one prediction made over HTTP, with the curl line that makes it: ``python -m serving.sample``."""

from __future__ import annotations

import json
import shlex
import subprocess

import pandas as pd

from fraudcore.data.lake import TransactionLake
from fraudcore.settings import get_settings


def sample_request() -> dict:
    """A transaction of a known customer and terminal, just after the lake's last day."""
    lake = TransactionLake()
    last_day = lake.days()[-1]
    row = lake.read(last_day, last_day).iloc[-1]
    return {
        "transaction_id": 1,
        "customer_id": int(row["CUSTOMER_ID"]),
        "terminal_id": int(row["TERMINAL_ID"]),
        "amount": 249.99,
        "timestamp": (pd.Timestamp(last_day) + pd.Timedelta(days=1, hours=9, minutes=30)).isoformat(),
    }


def main() -> None:
    url = f"{get_settings().serving_url}/predict"
    command = [
        "curl",
        "-s",
        "-X",
        "POST",
        url,
        "-H",
        "content-type: application/json",
        "-d",
        json.dumps(sample_request()),
    ]
    print("$ " + shlex.join(command))
    answer = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    print(json.dumps(json.loads(answer), indent=2))


if __name__ == "__main__":
    main()
