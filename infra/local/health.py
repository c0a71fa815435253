"""Health probes for local servers."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    """True when ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def http_text(url: str, timeout_s: float = 2.0) -> str:
    """The body ``url`` answers with, or "" when it does not answer 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.read().decode(errors="replace") if 200 <= response.status < 300 else ""
    except (urllib.error.URLError, OSError, ValueError):
        return ""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the kernel's pick), for a server started next."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def tcp_open(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
