"""A server process of the local runtime: identity-checked pid file, log file, stop by process group.

A pid alone names nothing after a reboot or a container restart: the number may belong to any
process by then. So the pid file records what identifies the process the runtime started (the
machine's boot id, the process's start time from ``/proc``, its command line, and that it leads
its own process group), and the runtime signals a pid only when all of it still matches. A pid
file that does not match is reported and removed; nothing is signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
#: Environment variable holding a token unique to each server start, inherited by its workers.
RUNTIME_TOKEN = "FRAUD_RUNTIME_TOKEN"


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state is the first), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError, PermissionError):
        return None


def process_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid`` (a server and the workers it forked)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _boot_id() -> str:
    """The machine's boot and this pid namespace: a pid means nothing outside both (a reboot, or a
    container restart that starts pids again)."""
    try:
        boot = BOOT_ID.read_text().strip()
    except OSError:
        boot = "unknown"
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = "unknown"
    return f"{boot}/{namespace}"


def _carries_token(pid: int, token: str) -> bool:
    """True when process ``pid`` was started with ``RUNTIME_TOKEN=<token>`` in its environment
    (children inherit it: the token marks every process of one server start)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return f"{RUNTIME_TOKEN}={token}".encode() in environ


@dataclass(frozen=True)
class ProcessIdentity:
    """What tells the process the runtime started from any other that later got its pid."""

    pid: int
    boot_id: str
    start_ticks: int  # /proc/<pid>/stat field 22: start time in clock ticks since boot
    cmdline: list[str]
    pgid: int
    token: str = ""  # RUNTIME_TOKEN of the start ("" for a process adopted from an older runtime)

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        """The identity of the live process ``pid``, or None when there is none."""
        fields = _stat_fields(pid)
        if fields is None or fields[0] == "Z":
            return None
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return None
        cmdline = [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]
        return cls(pid, _boot_id(), int(fields[19]), cmdline, int(fields[2]))

    def describe(self) -> str:
        return f"pid {self.pid} ({' '.join(self.cmdline)[:80] or '?'})"


class ManagedProcess:
    """One server started by the runtime, tracked by ``<state>/pids/<name>.pid`` (JSON identity)."""

    def __init__(self, name: str, state_dir: Path, expected_argv: Callable[[], list[str]] | None = None):
        self.name = name
        self.pid_file = state_dir / "pids" / f"{name}.pid"
        self.log_file = state_dir / "logs" / f"{name}.log"
        self.expected_argv = expected_argv
        self._popen: subprocess.Popen | None = None

    def recorded(self) -> ProcessIdentity | None:
        """The identity in the pid file; None when there is none or it cannot be read (a bare pid
        written by an older runtime counts as unreadable: it cannot be verified)."""
        try:
            return ProcessIdentity(**json.loads(self.pid_file.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    @property
    def pid(self) -> int | None:
        recorded = self.recorded()
        return recorded.pid if recorded else None

    def check(self) -> tuple[str, str]:
        """("running" | "stale" | "absent", why): running only when the recorded identity matches a
        live process that still leads its own process group."""
        if self._popen is not None:  # started by this very process: the child handle is proof
            code = self._popen.poll()
            return (
                ("running", f"pid {self._popen.pid}")
                if code is None
                else ("stale", f"exited with code {code}")
            )
        if not self.pid_file.exists():
            return "absent", "no pid file"
        recorded = self.recorded() or self._adopt_bare_pid()
        if recorded is None:
            return "stale", (
                f"pid file {self.pid_file} cannot be verified (unreadable, or a bare pid from an older "
                "runtime): if that server still runs, stop it yourself"
            )
        if recorded.boot_id != _boot_id():
            return "stale", f"pid {recorded.pid} was recorded before the machine restarted"
        current = ProcessIdentity.of(recorded.pid)
        if current is None:
            return "stale", f"pid {recorded.pid} is gone"
        if (current.start_ticks, current.cmdline) != (recorded.start_ticks, recorded.cmdline):
            return "stale", f"pid {recorded.pid} now belongs to another process: {current.describe()}"
        if current.pgid != recorded.pid:
            return "stale", f"pid {recorded.pid} no longer leads its own process group"
        if recorded.token and not _carries_token(recorded.pid, recorded.token):
            return "stale", f"pid {recorded.pid} does not carry the token of the server this runtime started"
        return "running", recorded.describe()

    def _adopt_bare_pid(self) -> ProcessIdentity | None:
        """A bare pid written by the previous runtime: trusted only if that process leads its own
        group and runs exactly the command this runtime would start for the server (its state
        paths and ports included); the pid file is then rewritten with the full identity."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        current = ProcessIdentity.of(pid)
        try:
            expected = self.expected_argv() if self.expected_argv else None
        except Exception:  # the server's binary is gone: nothing to compare with
            expected = None
        if current is None or expected is None or current.pgid != pid or current.cmdline != list(expected):
            return None
        self.pid_file.write_text(json.dumps(asdict(current)) + "\n")
        return current

    def alive(self) -> bool:
        return self.check()[0] == "running"

    def start(self, argv: list[str], env: Mapping[str, str], cwd: Path) -> int:
        """Start ``argv`` in a new session, its output appended to the log file; record its identity."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        with self.log_file.open("ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                argv,
                env={**os.environ, **env, RUNTIME_TOKEN: token},
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # The start time is set at fork; the command line is the argv given to exec (right after
        # Popen, /proc may still show the parent's, before the exec).
        forked = ProcessIdentity.of(self._popen.pid)
        start_ticks = forked.start_ticks if forked else -1
        identity = ProcessIdentity(
            self._popen.pid, _boot_id(), start_ticks, list(argv), self._popen.pid, token
        )
        temporary = self.pid_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(identity)) + "\n")
        temporary.replace(self.pid_file)
        return self._popen.pid

    def stop(self, timeout_s: float = 10.0) -> str:
        """Stop our server: SIGTERM its process group, SIGKILL what is left after ``timeout_s``.

        Returns what was done. Never signals a process whose identity does not match the pid file:
        a stale or foreign pid file is removed and reported instead. Raises PermissionError or
        TimeoutError when our server cannot be stopped (the pid file is then kept).
        """
        state, why = self.check()
        recorded = self.recorded()
        if state == "absent":
            return "not running"
        if state == "stale":
            # Workers our dead leader left behind: each must carry the token of that start (a group
            # number alone proves nothing once the group has emptied and been reused).
            leader_gone = recorded is not None and ProcessIdentity.of(recorded.pid) is None
            orphans = (
                [pid for pid in group_members(recorded.pid) if _carries_token(pid, recorded.token)]
                if leader_gone and recorded.token and recorded.boot_id == _boot_id()
                else []
            )
            if orphans:
                self._stop_processes(orphans, timeout_s)
                self.pid_file.unlink(missing_ok=True)
                return f"stopped {len(orphans)} leftover worker(s) of pid {recorded.pid}"
            self.pid_file.unlink(missing_ok=True)
            return f"stale pid file removed, nothing signalled: {why}"
        self._stop_group(recorded.pid, timeout_s)
        self.pid_file.unlink(missing_ok=True)
        return "stopped"

    def _stop_group(self, pgid: int, timeout_s: float) -> None:
        self._signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while group_members(pgid) and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.1)
        if group_members(pgid):
            self._signal_group(pgid, signal.SIGKILL)
            while group_members(pgid) and time.monotonic() < deadline + 5:
                self._reap()
                time.sleep(0.1)
        self._reap()
        if group_members(pgid):
            raise TimeoutError(f"{self.name}: process group {pgid} still alive after SIGKILL")

    def _stop_processes(self, pids: list[int], timeout_s: float) -> None:
        """SIGTERM then SIGKILL these processes one by one (verified leftovers of our server)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + timeout_s
            while any(process_alive(pid) for pid in pids) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not any(process_alive(pid) for pid in pids):
                return
        raise TimeoutError(f"{self.name}: leftover workers {pids} still alive after SIGKILL")

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
