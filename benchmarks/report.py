"""The machine, versions and command behind a benchmark, and its JSON + markdown report."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ["feast", "duckdb", "dask", "lightgbm", "mlflow", "kfp", "pandas", "numpy", "pyarrow"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        return round(kib / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return float("nan")


def _command() -> str:
    """How the benchmark was started, as a user would type it."""
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    program = f"python -m {spec.name}" if spec and spec.name else f"python {sys.argv[0]}"
    return " ".join([program, *sys.argv[1:]])


def environment(packages: list[str] = PACKAGES) -> dict:
    """Where and with what a benchmark ran."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": _command(),
        "git_commit": commit or "unknown",
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "memory_gib": _memory_gib(),
            "os": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": {name: _version(name) for name in packages},
    }


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def write_report(
    name: str,
    title: str,
    results: dict,
    markdown_body: str,
    *,
    packages: list[str] = PACKAGES,
    directory: Path = RESULTS,
) -> tuple[Path, Path]:
    """Write ``<directory>/<name>.json`` and ``.md`` (default: benchmarks/results); return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    env = environment(packages)
    json_path, md_path = directory / f"{name}.json", directory / f"{name}.md"
    json_path.write_text(json.dumps({"environment": env, "results": results}, indent=2, default=str) + "\n")
    machine = env["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    md_path.write_text(
        f"# {title}\n\n{markdown_body.strip()}\n\n"
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, {machine['os']}, "
        f"Python {machine['python']}.  \nVersions: {versions}.  \n"
        f"Command: `{env['command']}` at commit {env['git_commit']}, {env['date']}.\n"
    )
    return json_path, md_path
