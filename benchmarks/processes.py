"""A server process a benchmark starts beside the stack, for the length of a ``with`` block."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fraudcore.settings import REPO_ROOT
from infra.local.health import tcp_open


@contextmanager
def listening_process(command: list[str], port: int, what: str, quiet: bool = False) -> Iterator[None]:
    """Run ``command`` in its own process group until it listens on 127.0.0.1:``port`` (30 s at
    most); on exit stop the whole group (SIGTERM, SIGKILL after 30 s), so a server's workers go
    with it. ``quiet`` drops its stderr too (stdout always)."""
    stderr = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while not tcp_open("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start: {' '.join(command)}")
            time.sleep(0.2)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
