"""A server process of the local runtime: pid file, log file, start in its own session, stop by group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path


def process_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid`` (a server and the workers it forked)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


class ManagedProcess:
    """One server started by the runtime, tracked by ``<state>/pids/<name>.pid``."""

    def __init__(self, name: str, state_dir: Path):
        self.name = name
        self.pid_file = state_dir / "pids" / f"{name}.pid"
        self.log_file = state_dir / "logs" / f"{name}.log"
        self._popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def alive(self) -> bool:
        if self._popen is not None and self._popen.poll() is not None:
            return False
        pid = self.pid
        return pid is not None and process_alive(pid)

    def start(self, argv: list[str], env: Mapping[str, str], cwd: Path) -> int:
        """Start ``argv`` in a new session, its output appended to the log file; return its pid."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                argv,
                env={**os.environ, **env},
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{self._popen.pid}\n")
        return self._popen.pid

    def stop(self, timeout_s: float = 10.0) -> bool:
        """SIGTERM the process group, SIGKILL what is left after ``timeout_s``; True if it was running."""
        pid = self.pid
        was_running = pid is not None and (process_alive(pid) or bool(group_members(pid)))
        if pid is not None and was_running:
            self._signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while group_members(pid) and time.monotonic() < deadline:
                self._reap()
                time.sleep(0.1)
            if group_members(pid):
                self._signal_group(pid, signal.SIGKILL)
                while group_members(pid) and time.monotonic() < deadline + 5:
                    time.sleep(0.1)
            self._reap()
        self.pid_file.unlink(missing_ok=True)
        return was_running

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def _reap(self) -> None:
        if self._popen is not None:
            self._popen.poll()

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
