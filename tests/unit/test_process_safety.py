"""The local runtime never harms a process that is not its own (pid files are verified), never
stops half-way, never starts a server twice, and cleans up after a failed start."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fraudcore.settings import Settings
from infra.local import runtime
from infra.local.health import free_port
from infra.local.process import ManagedProcess, ProcessIdentity, group_members, process_alive
from infra.local.services import Service, all_services


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


@pytest.fixture
def stranger():
    """A process that is not the runtime's, in its own process group (a user's shell, a daemon...)."""
    process = subprocess.Popen(["sleep", "120"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def _listener(port: int) -> list[str]:
    """A server that listens on ``port`` (so a second copy could not start)."""
    code = (
        "import socket, time; s = socket.socket(); "
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
        f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(120)"
    )
    return [sys.executable, "-c", code]


def _service(name: str, port: int, **overrides) -> Service:
    def listening() -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            return probe.connect_ex(("127.0.0.1", port)) == 0

    fields = {
        "name": name,
        "url": f"tcp://127.0.0.1:{port}",
        "ports": [port],
        "command": lambda: _listener(port),
        "healthy": listening,
        "start_timeout_s": 10,
        "port_settings": {port: "FRAUD_TEST_PORT"},
    }
    return Service(**{**fields, **overrides})


def _write_pid_file(settings: Settings, name: str, identity: ProcessIdentity) -> Path:
    path = settings.state_dir / "pids" / f"{name}.pid"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(identity.__dict__))
    return path


def test_pid_file_of_a_foreign_process_is_never_signalled(settings, stranger, monkeypatch):
    """The pid file names a live process that is not ours (recorded start time and command differ):
    down and up leave it alive, say why, and remove the pid file."""
    stranger_identity = ProcessIdentity.of(stranger.pid)
    assert stranger_identity is not None
    ours_long_ago = ProcessIdentity(
        stranger.pid, stranger_identity.boot_id, 1, ["weed", "server"], stranger.pid
    )
    pid_file = _write_pid_file(settings, "seaweedfs", ours_long_ago)
    lines: list[str] = []
    runtime.down(settings, ["seaweedfs"], echo=lines.append)
    assert process_alive(stranger.pid) and not pid_file.exists()
    assert "nothing signalled" in lines[0] and "now belongs to another process" in lines[0]

    service = _service("seaweedfs", free_port())
    monkeypatch.setattr(runtime, "all_services", lambda _settings: [service])
    _write_pid_file(settings, "seaweedfs", ours_long_ago)
    lines.clear()
    runtime.up(settings, echo=lines.append)
    assert process_alive(stranger.pid)
    assert "nothing signalled" in lines[0] and "started" in lines[1]
    runtime.down(settings, echo=lambda _line: None)
    assert process_alive(stranger.pid)


def test_leftovers_of_a_foreign_group_are_never_signalled(settings):
    """A foreign session whose leader exited leaves a worker in a group numbered after the dead
    leader; a pid file naming that number must not get the worker killed."""
    code = (
        "import subprocess, os; "
        "p = subprocess.Popen(['sleep', '60'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(os.getpid(), p.pid)"
    )
    launcher = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, start_new_session=True
    )
    leader, worker = map(int, launcher.stdout.split())
    try:
        assert process_alive(worker) and worker in group_members(leader)
        forged = ProcessIdentity(
            leader, ProcessIdentity.of(worker).boot_id, 1, ["weed", "server"], leader, "a-token"
        )
        _write_pid_file(settings, "seaweedfs", forged)
        lines: list[str] = []
        runtime.down(settings, ["seaweedfs"], echo=lines.append)
        assert process_alive(worker) and "nothing signalled" in lines[0]
    finally:
        os.kill(worker, signal.SIGKILL)


def test_leftover_workers_of_our_own_server_are_stopped(settings):
    """Our server's leader died and left a worker: the worker carries our start's token, so down stops it."""
    process = ManagedProcess("forker", settings.state_dir)
    code = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(0.5)"
    process.start([sys.executable, "-c", code], {}, cwd=settings.state_dir.parent)
    leader = process.pid
    process._popen.wait(timeout=10)  # the leader exits; its sleep stays behind
    workers = group_members(leader)
    assert len(workers) == 1
    assert "leftover worker" in ManagedProcess("forker", settings.state_dir).stop(timeout_s=5)
    assert not process_alive(workers[0])


def test_pid_file_from_before_a_reboot_is_stale(settings, stranger):
    """Same pid, same start time, same command: but recorded under another boot id."""
    identity = ProcessIdentity.of(stranger.pid)
    _write_pid_file(
        settings, "kafka", ProcessIdentity(**{**identity.__dict__, "boot_id": "before-the-reboot"})
    )
    state, why = ManagedProcess("kafka", settings.state_dir).check()
    assert state == "stale" and "before the machine restarted" in why
    assert [s.note for s in runtime.status(settings, ["kafka"])] == [
        f"pid {stranger.pid} was recorded before the machine restarted"
    ]
    runtime.down(settings, ["kafka"], echo=lambda _line: None)
    assert process_alive(stranger.pid)


def test_a_bare_pid_from_an_older_runtime_is_not_trusted(settings, stranger):
    path = settings.state_dir / "pids" / "mlflow.pid"
    path.parent.mkdir(parents=True)
    path.write_text(f"{stranger.pid}\n")
    lines: list[str] = []
    runtime.down(settings, ["mlflow"], echo=lines.append)
    assert process_alive(stranger.pid) and "cannot be verified" in lines[0] and not path.exists()


def test_a_bare_pid_of_the_exact_server_command_is_adopted(settings, monkeypatch):
    """Upgrading with a stack started by the previous runtime: its bare pid files are verified by
    the command line this runtime would run for the server, and the stack is stopped normally."""
    port = free_port()
    service = _service("listener", port)
    monkeypatch.setattr(runtime, "all_services", lambda _settings: [service])
    server = subprocess.Popen(service.command(), start_new_session=True)
    deadline = time.monotonic() + 10
    while not service.healthy() and time.monotonic() < deadline:  # exec'd and listening
        time.sleep(0.05)
    path = settings.state_dir / "pids" / "listener.pid"
    path.parent.mkdir(parents=True)
    path.write_text(f"{server.pid}\n")
    assert [s.state for s in runtime.status(settings)] == ["healthy"]
    lines: list[str] = []
    runtime.down(settings, echo=lines.append)
    assert lines == ["listener     stopped"] and server.wait(timeout=10) is not None


def test_two_concurrent_ups_start_one_copy(settings, monkeypatch):
    port = free_port()
    service = _service("listener", port)
    monkeypatch.setattr(runtime, "all_services", lambda _settings: [service])
    outcomes: list[str] = []
    threads = [
        threading.Thread(target=runtime.up, args=(settings,), kwargs={"echo": outcomes.append})
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(line.split()[1] for line in outcomes) == ["already", "started"], outcomes
    pid = ManagedProcess("listener", settings.state_dir).pid
    assert len(group_members(pid)) == 1
    runtime.down(settings, echo=lambda _line: None)


def test_a_server_killed_during_start_is_reported_at_once_with_its_log(settings):
    service = _service(
        "slowstart",
        free_port(),
        command=lambda: [
            sys.executable,
            "-c",
            "print('loading the index', flush=True); import time; time.sleep(60)",
        ],
        healthy=lambda: False,
        start_timeout_s=60,
    )

    def kill_it() -> None:
        time.sleep(1.0)
        os.killpg(ManagedProcess("slowstart", settings.state_dir).pid, signal.SIGKILL)

    threading.Thread(target=kill_it).start()
    started = time.monotonic()
    with pytest.raises(runtime.StartError, match=r"(?s)slowstart exited during start-up.*loading the index"):
        runtime.start_service(service, settings)
    assert time.monotonic() - started < 15  # not the 60 s start timeout


def test_a_failed_set_up_after_start_leaves_no_orphan(settings):
    def fail() -> None:
        raise RuntimeError("bucket 'fraud' could not be created: AccessDenied")

    service = _service("store", free_port(), after_start=fail, after_start_what="creating the buckets")
    with pytest.raises(runtime.StartError) as caught:
        runtime.start_service(service, settings)
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        "store started, but creating the buckets failed (stopped it): "
        "bucket 'fraud' could not be created: AccessDenied"
    )
    assert not ManagedProcess("store", settings.state_dir).pid_file.exists()
    assert not service.healthy()


def test_a_taken_port_names_the_server_the_port_and_the_setting(settings):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(
            runtime.StartError, match=rf"store: port {port} \(set by FRAUD_TEST_PORT\) already in use"
        ):
            runtime.start_service(_service("store", port), settings)


def test_down_stops_every_server_even_when_one_fails(settings, monkeypatch):
    services = [_service("first", free_port()), _service("second", free_port())]
    monkeypatch.setattr(runtime, "all_services", lambda _settings: services)
    runtime.up(settings, echo=lambda _line: None)
    pids = {s.name: ManagedProcess(s.name, settings.state_dir).pid for s in services}
    real_stop = ManagedProcess.stop

    def stop(self, timeout_s=10.0):
        if self.name == "second":  # stopped first (reverse order)
            raise PermissionError(1, "Operation not permitted")
        return real_stop(self, timeout_s)

    monkeypatch.setattr(ManagedProcess, "stop", stop)
    lines: list[str] = []
    with pytest.raises(runtime.StopError, match="second"):
        runtime.down(settings, echo=lines.append)
    assert not process_alive(pids["first"]) and "NOT stopped" in lines[0]
    with pytest.raises(runtime.StopError):  # clean refuses: a server is still running
        runtime.clean(settings, echo=lambda _line: None)
    assert settings.state_dir.exists()
    monkeypatch.setattr(ManagedProcess, "stop", real_stop)
    runtime.clean(settings, echo=lambda _line: None)
    assert not process_alive(pids["second"]) and not settings.state_dir.exists()


def test_clean_refuses_while_a_server_it_could_not_verify_still_listens(settings, monkeypatch):
    port = free_port()
    service = _service("legacy", port)
    monkeypatch.setattr(runtime, "all_services", lambda _settings: [service])
    # Not the exact command this runtime would run (an extra argument): cannot be verified.
    server = subprocess.Popen([*_listener(port), "started-by-hand"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not service.healthy() and time.monotonic() < deadline:
            time.sleep(0.1)
        pid_file = settings.state_dir / "pids" / "legacy.pid"
        pid_file.parent.mkdir(parents=True)
        pid_file.write_text(f"{server.pid}\n")  # written by an older runtime: cannot be verified
        (settings.state_dir / runtime.STATE_MARKER).touch()
        with pytest.raises(runtime.StopError, match=rf"ports of legacy \({port} .*still in use"):
            runtime.clean(settings, echo=lambda _line: None)
        assert settings.state_dir.exists() and server.poll() is None
    finally:
        server.kill()
        server.wait()


def test_clean_deletes_only_a_state_folder_of_this_runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUD_STATE_DIR", str(tmp_path / "somewhere-else"))
    settings = Settings()
    assert settings.state_dir == tmp_path / "somewhere-else"
    monkeypatch.setattr(runtime, "all_services", lambda _settings: [])
    settings.state_dir.mkdir()
    (settings.state_dir / "thesis.tex").write_text("years of work")
    with pytest.raises(runtime.StopError, match="not a state folder of this runtime"):
        runtime.clean(settings, echo=lambda _line: None)
    assert (settings.state_dir / "thesis.tex").exists()


def test_prometheus_lifecycle_endpoints_are_off_by_default(settings):
    prometheus = next(s for s in all_services(settings) if s.name == "prometheus")
    assert "--web.enable-lifecycle" not in prometheus.command()
    enabled = next(
        s
        for s in all_services(settings.model_copy(update={"prometheus_lifecycle": True}))
        if s.name == "prometheus"
    )
    assert "--web.enable-lifecycle" in enabled.command()
