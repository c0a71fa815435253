"""Local runtime mechanics with stand-in processes: pid files, port clashes, missing binaries, stop."""

from __future__ import annotations

import socket
import sys
import time

import pytest
import yaml

from fraudcore.settings import Settings
from infra.local import prometheus_config, runtime
from infra.local.health import free_port, tcp_open
from infra.local.process import ManagedProcess, group_members, process_alive
from infra.local.services import BinaryMissing, Service, _find_binary

SLEEPER = [sys.executable, "-c", "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


def _service(name: str, ports: list[int], command=lambda: SLEEPER, healthy=lambda: True) -> Service:
    return Service(
        name=name, url=f"test://{name}", ports=ports, command=command, healthy=healthy, start_timeout_s=3
    )


def test_start_is_idempotent_and_stop_kills_the_whole_group(settings):
    service = _service("sleeper", [free_port()])
    assert runtime.start_service(service, settings) == "started"
    process = ManagedProcess("sleeper", settings.state_dir)
    pid = process.pid
    assert process.alive() and process.pid_file.is_file() and process.log_file.is_file()
    time.sleep(0.3)
    assert len(group_members(pid)) == 2  # the server and the child it forked
    assert runtime.start_service(service, settings) == "already running"
    assert process.pid == pid
    assert process.stop(timeout_s=5)
    assert group_members(pid) == [] and not process_alive(pid) and not process.pid_file.exists()


def test_port_taken_by_a_stranger_is_a_clear_error(settings):
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        with pytest.raises(runtime.StartError, match=rf"sleeper: port {port} \(set by .*\) already in use"):
            runtime.start_service(_service("sleeper", [port]), settings)


def test_missing_binary_is_a_clear_error():
    with pytest.raises(BinaryMissing, match="`no-such-server` not found: install it"):
        _find_binary("no-such-server", "install it")


def test_a_server_that_dies_at_start_reports_its_log(settings):
    crashing = _service(
        "crasher",
        [free_port()],
        command=lambda: [sys.executable, "-c", "print('boom'); exit(3)"],
        healthy=lambda: False,
    )
    with pytest.raises(runtime.StartError, match=r"(?s)crasher exited during start-up.*boom"):
        runtime.start_service(crashing, settings)


def test_stale_pid_file_is_replaced(settings):
    process = ManagedProcess("sleeper", settings.state_dir)
    process.pid_file.parent.mkdir(parents=True)
    process.pid_file.write_text("999999\n")
    assert not process.alive()
    assert runtime.start_service(_service("sleeper", [free_port()]), settings) == "started"
    assert process.pid != 999999
    process.stop(timeout_s=5)


def test_status_reports_a_killed_server_down(settings, monkeypatch):
    service = _service("sleeper", [free_port()])
    monkeypatch.setattr(runtime, "all_services", lambda _settings: [service])
    runtime.up(settings, echo=lambda _line: None)
    assert [s.state for s in runtime.status(settings)] == ["healthy"]
    process = ManagedProcess("sleeper", settings.state_dir)
    process.stop(timeout_s=5)
    assert [s.state for s in runtime.status(settings)] == ["down"]


def test_unknown_service_names_are_rejected(settings):
    with pytest.raises(runtime.StartError, match="unknown services"):
        runtime.status(settings, ["nope"])


def test_prometheus_config_scrapes_every_server_and_discovers_platform_targets(settings, tmp_path):
    path = prometheus_config.write(settings, tmp_path / "prom")
    config = yaml.safe_load(path.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", "pushgateway", "mlflow", "seaweedfs", "platform"}
    assert jobs["mlflow"]["static_configs"][0]["targets"] == ["127.0.0.1:5000"]
    assert jobs["platform"]["file_sd_configs"][0]["files"] == [str(tmp_path / "prom" / "targets" / "*.json")]
    assert (tmp_path / "prom" / "targets").is_dir()


def test_tcp_probe():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert tcp_open("127.0.0.1", server.getsockname()[1])
    assert not tcp_open("127.0.0.1", free_port())
