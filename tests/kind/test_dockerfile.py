"""The service-go image, checked without Docker: the Dockerfile's instructions, and its CMD run for real
on the file layout its COPY/RUN lines make, with a Python that sees only the standard library (as in
python:3.12-slim)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "service-go" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def test_dockerfile_is_small_non_root_and_serves_on_80():
    ins = _instructions()
    assert ins[0] == ("FROM", "python:3.12-slim")
    users = [a for i, a in ins if i == "USER"]
    assert users and users[-1] not in ("0", "root")
    assert ("EXPOSE", "80") in ins
    assert ("ARG", "VERSION=v1") in ins
    assert [a for i, a in ins if i == "COPY"] == ["lablib/service_go/ /app/lablib/service_go/"]
    assert not any(i == "RUN" and "pip" in a for i, a in ins)  # stdlib only: nothing to install
    cmd = json.loads(dict(ins)["CMD"])
    assert cmd[:2] == ["sh", "-c"]
    assert cmd[2] == 'exec python -m lablib.service_go --host 0.0.0.0 --port 80 --version "$VERSION"'


def test_dockerignore_sends_only_what_the_image_copies():
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
    rules = [r for r in ignore if r and not r.startswith("#")]
    assert rules[0] == "*" and "!lablib/service_go/**" in rules


@pytest.fixture
def image_layout(tmp_path: Path) -> Path:
    """/app as the Dockerfile builds it: COPY lablib/service_go/ and RUN touch lablib/__init__.py."""
    app = tmp_path / "app"
    for i, args in _instructions():
        if i == "COPY":
            src, dest = args.split()
            shutil.copytree(REPO / src, app / Path(dest).relative_to("/app"),
                            ignore=shutil.ignore_patterns("__pycache__"))
        if i == "RUN" and "touch /app/lablib/__init__.py" in args:
            (app / "lablib" / "__init__.py").touch()
    return app


def test_the_images_cmd_serves_get_env_from_the_images_files_alone(image_layout, tmp_path):
    ins = _instructions()
    cmd = json.loads(dict(ins)["CMD"])[2]
    # The container's command, with the interpreter that sees no site-packages and an allocated port.
    port_file = tmp_path / "port"
    line = cmd.replace("exec python", f"exec {shlex.quote(sys.executable)} -S", 1)
    line = line.replace("--host 0.0.0.0 --port 80", f"--host 127.0.0.1 --port 0 --port-file {port_file}")
    env = {"PATH": "/usr/bin:/bin", "VERSION": "v2", "PYTHONPATH": str(image_layout), "PYTHONNOUSERSITE": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(["sh", "-c", line], env=env, cwd=image_layout, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"service-go did not start from the image layout:\n{out}")
            time.sleep(0.05)
        port = int(port_file.read_text())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/env", timeout=5) as resp:
            assert resp.status == 200
            assert json.loads(resp.read()) == {"message": "go v2"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
