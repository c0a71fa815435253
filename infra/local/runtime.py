"""Start, stop, inspect and clean the local runtime's servers.

``up`` and ``down`` hold a lock in the state folder, so two of them never run at once (a second
``up`` waits, then finds the servers running). ``down`` visits every server whatever happens to
one of them and reports each. ``clean`` deletes the state folder only once nothing of the
runtime still runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fraudcore.settings import REPO_ROOT, Settings
from infra.local.health import tcp_open
from infra.local.process import ManagedProcess
from infra.local.services import Service, all_services

#: Marks a folder as a state folder of this runtime (``clean`` deletes nothing else).
STATE_MARKER = ".fraud-platform-state"
LOCK_TIMEOUT_S = 600.0


class StartError(RuntimeError):
    """A server could not be started; the message says which and why."""


class StopError(RuntimeError):
    """Some servers could not be stopped; the message lists them and why."""


@dataclass
class ServiceStatus:
    name: str
    state: str  # "healthy", "unhealthy" (running but failing its check) or "down"
    pid: int | None
    url: str
    note: str = ""  # why a pid file was not trusted, when it was not


def _state_dir(settings: Settings) -> Path:
    return settings.state_dir.resolve()


def lock_path(settings: Settings) -> Path:
    """The runtime's lock file, beside the state folder (so deleting the folder keeps the lock)."""
    state = _state_dir(settings)
    return state.parent / f".{state.name}.lock"


@contextlib.contextmanager
def state_lock(settings: Settings, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the runtime's lock (an flock: released by the kernel if the holder dies)."""
    state = _state_dir(settings)
    state.parent.mkdir(parents=True, exist_ok=True)
    with lock_path(settings).open("w") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StartError(f"another `up`, `down` or `clean` holds {lock_path(settings)}") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _mark(settings: Settings) -> None:
    state = _state_dir(settings)
    state.mkdir(parents=True, exist_ok=True)
    (state / STATE_MARKER).touch()


def _process(service: Service, settings: Settings) -> ManagedProcess:
    return ManagedProcess(service.name, _state_dir(settings), expected_argv=service.command)


def _select(settings: Settings, names: list[str] | None, optional: bool = False) -> list[Service]:
    """The named services, or (no names) the core ones, and the optional ones too when asked."""
    services = all_services(settings)
    if not names:
        return [service for service in services if optional or not service.optional]
    groups = {service.group for service in services if service.group}
    unknown = set(names) - {service.name for service in services} - groups
    if unknown:
        known = [s.name for s in services] + sorted(groups)
        raise StartError(f"unknown services {sorted(unknown)}; known: {known}")
    return [service for service in services if service.name in names or service.group in names]


def _wait_healthy(service: Service, process: ManagedProcess) -> None:
    deadline = time.monotonic() + service.start_timeout_s
    while not service.healthy():
        state, why = process.check()
        if state != "running":
            raise StartError(
                f"{service.name} exited during start-up ({why}); "
                f"log {process.log_file}:\n{process.log_tail()}"
            )
        if time.monotonic() > deadline:
            process.stop(service.stop_timeout_s)
            raise StartError(
                f"{service.name} not healthy after {service.start_timeout_s:.0f} s (stopped it); "
                f"log {process.log_file}:\n{process.log_tail()}"
            )
        time.sleep(0.25)


def _busy_ports(service: Service) -> list[str]:
    return [
        f"{port} (set by {service.port_settings.get(port, 'its FRAUD_* setting')})"
        for port in service.ports
        if tcp_open("127.0.0.1", port, timeout_s=0.3)
    ]


def start_service(service: Service, settings: Settings, echo=print) -> str:
    """Start one server unless it already runs; return what was done."""
    process = _process(service, settings)
    state, _ = process.check()
    if state == "running":
        _wait_healthy(service, process)
        service.after_start()
        return "already running"
    if state == "stale":
        echo(f"{service.name}: {process.stop(service.stop_timeout_s)}")
    busy = _busy_ports(service)
    if busy:
        raise StartError(
            f"{service.name}: port {', '.join(busy)} already in use by a process this runtime did not "
            "start; stop that process, or move the server with the setting named"
        )
    service.prepare()
    process.start(service.command(), service.env, cwd=REPO_ROOT)
    _wait_healthy(service, process)
    try:
        service.after_start()
    except Exception as error:
        process.stop(service.stop_timeout_s)
        raise StartError(
            f"{service.name} started, but {service.after_start_what} failed (stopped it): {error}"
        ) from error
    return "started"


def up(settings: Settings, names: list[str] | None = None, echo=print) -> None:
    """Start the servers in dependency order; idempotent; one `up` or `down` at a time."""
    with state_lock(settings):
        _mark(settings)
        for service in _select(settings, names):
            started = time.monotonic()
            outcome = start_service(service, settings, echo)
            echo(f"{service.name:<12} {outcome:<16} {service.url}  ({time.monotonic() - started:.1f} s)")


def down(settings: Settings, names: list[str] | None = None, echo=print) -> None:
    """Stop the servers in reverse order, every one of them whatever fails; raise StopError at the end."""
    with state_lock(settings):
        _stop_all(settings, names, echo)


def _stop_all(settings: Settings, names: list[str] | None, echo) -> None:
    failures = []
    for service in reversed(_select(settings, names, optional=True)):
        try:
            outcome = _process(service, settings).stop(service.stop_timeout_s)
        except Exception as error:  # one server's failure never stops the others being stopped
            outcome = f"NOT stopped: {type(error).__name__}: {error}"
            failures.append(f"{service.name}: {error}")
        echo(f"{service.name:<12} {outcome}")
    if failures:
        raise StopError("could not stop: " + "; ".join(failures))


def status(settings: Settings, names: list[str] | None = None) -> list[ServiceStatus]:
    """Each server's state, from its verified pid file and its health check (an optional server
    only when named or started)."""
    report = []
    for service in _select(settings, names, optional=True):
        process = _process(service, settings)
        state, why = process.check()
        if service.optional and not names and state == "absent":
            continue
        if state == "running":
            report.append(
                ServiceStatus(
                    service.name, "healthy" if service.healthy() else "unhealthy", process.pid, service.url
                )
            )
        else:
            report.append(
                ServiceStatus(service.name, "down", None, service.url, why if state == "stale" else "")
            )
    return report


def clean(settings: Settings, echo=print) -> Path:
    """Stop every server, then delete the state folder; refuse while one could not be stopped, or when
    the folder is not a state folder of this runtime (its marker, or an older runtime's pids/ and logs/)."""
    state = _state_dir(settings)
    if not state.exists():
        echo(f"nothing to delete: {state} does not exist")
        return state
    made_here = (state / STATE_MARKER).exists() or ((state / "pids").is_dir() and (state / "logs").is_dir())
    if not made_here and any(state.iterdir()):
        raise StopError(f"{state} is not a state folder of this runtime (no {STATE_MARKER}): not deleting it")
    down(settings, echo=echo)  # raises StopError, deleting nothing, when a server is left running
    # A server whose pid file could not be verified was not signalled, and may still write here.
    still_listening = [
        f"{service.name} ({', '.join(busy)})"
        for service in all_services(settings)
        if (busy := _busy_ports(service))
    ]
    if still_listening:
        raise StopError(
            f"not deleting {state}: ports of {', '.join(still_listening)} are still in use, by servers this "
            "runtime could not verify as its own; stop them, then run clean again"
        )
    shutil.rmtree(state)
    echo(f"deleted {state}")
    return state
