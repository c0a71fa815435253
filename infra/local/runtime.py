"""Start, stop and inspect the local runtime's servers."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fraudcore.settings import REPO_ROOT, Settings
from infra.local.health import tcp_open
from infra.local.process import ManagedProcess
from infra.local.services import Service, all_services


class StartError(RuntimeError):
    """A server could not be started; the message says which and why."""


@dataclass
class ServiceStatus:
    name: str
    state: str  # "healthy", "unhealthy" (running but failing its check) or "down"
    pid: int | None
    url: str


def _process(service: Service, settings: Settings) -> ManagedProcess:
    return ManagedProcess(service.name, settings.state_dir.resolve())


def _select(settings: Settings, names: list[str] | None) -> list[Service]:
    services = all_services(settings)
    if not names:
        return services
    unknown = set(names) - {service.name for service in services}
    if unknown:
        raise StartError(f"unknown services {sorted(unknown)}; known: {[s.name for s in services]}")
    return [service for service in services if service.name in names]


def _wait_healthy(service: Service, process: ManagedProcess) -> None:
    deadline = time.monotonic() + service.start_timeout_s
    while not service.healthy():
        if not process.alive():
            raise StartError(
                f"{service.name} exited during start-up; log {process.log_file}:\n{process.log_tail()}"
            )
        if time.monotonic() > deadline:
            process.stop(service.stop_timeout_s)
            raise StartError(
                f"{service.name} not healthy after {service.start_timeout_s:.0f} s; log {process.log_file}:\n"
                f"{process.log_tail()}"
            )
        time.sleep(0.25)


def start_service(service: Service, settings: Settings) -> str:
    """Start one server unless it already runs; return what was done."""
    process = _process(service, settings)
    if process.alive():
        _wait_healthy(service, process)
        service.after_start()
        return "already running"
    process.stop(0)  # forget a stale pid file (and any orphaned workers of it)
    busy = [port for port in service.ports if tcp_open("127.0.0.1", port, timeout_s=0.3)]
    if busy:
        raise StartError(
            f"{service.name}: port(s) {busy} already in use by a process this runtime did not start; "
            "stop it, or move the service with its FRAUD_* setting"
        )
    command = service.command()
    service.prepare()
    process.start(command, service.env, cwd=REPO_ROOT)
    _wait_healthy(service, process)
    service.after_start()
    return "started"


def up(settings: Settings, names: list[str] | None = None, echo=print) -> None:
    """Start the servers in dependency order; idempotent."""
    for service in _select(settings, names):
        started = time.monotonic()
        outcome = start_service(service, settings)
        echo(f"{service.name:<12} {outcome:<16} {service.url}  ({time.monotonic() - started:.1f} s)")


def down(settings: Settings, names: list[str] | None = None, echo=print) -> None:
    """Stop the servers in reverse order."""
    for service in reversed(_select(settings, names)):
        stopped = _process(service, settings).stop(service.stop_timeout_s)
        echo(f"{service.name:<12} {'stopped' if stopped else 'not running'}")


def status(settings: Settings, names: list[str] | None = None) -> list[ServiceStatus]:
    """Each server's state, from its pid file and its health check."""
    report = []
    for service in _select(settings, names):
        process = _process(service, settings)
        alive = process.alive()
        state = ("healthy" if service.healthy() else "unhealthy") if alive else "down"
        report.append(ServiceStatus(service.name, state, process.pid if alive else None, service.url))
    return report
