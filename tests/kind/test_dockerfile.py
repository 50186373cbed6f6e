"""The service-go image, checked without Docker: the Dockerfile's instructions, and its ENTRYPOINT run for
real on the file layout its COPY/RUN lines make: the HTTP app with a Python that sees only the standard
library (as in python:3.12-slim), and a container's ``--grpc`` arg with the packages the pip line adds."""

from __future__ import annotations

import contextlib
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
    assert [a for i, a in ins if i == "COPY"] == ["lablib/service_go/ /app/lablib/service_go/",
                                                  "lablib/lab_defaults.py /app/lablib/lab_defaults.py"]
    # The HTTP/1.1 app is stdlib only (the test below runs it so); h2c needs h2 and --grpc needs grpcio
    # (lablib/service_go/_h2.py, _grpc.py import them only then): those two, at pyproject.toml's bounds.
    pips = [a for i, a in ins if i == "RUN" and "pip" in a]
    wanted = 'pip install --no-cache-dir "grpcio>=1.60" "h2>=4.1" &&'
    assert len(pips) == 1 and pips[0].startswith(wanted), pips
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"grpcio>=1.60"' in pyproject and '"h2>=4.1"' in pyproject
    # ENTRYPOINT, not CMD: a container's `args` (e.g. ["--grpc"]) replace CMD and are appended to it.
    entry = json.loads(dict(ins)["ENTRYPOINT"])
    assert entry[:2] == ["sh", "-c"] and entry[3:] == ["service-go"]
    assert entry[2] == 'exec python -m lablib.service_go --host 0.0.0.0 --port 80 --version "$VERSION" "$@"'
    assert json.loads(dict(ins)["CMD"]) == []


def test_dockerignore_sends_only_what_the_image_copies():
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
    rules = [r for r in ignore if r and not r.startswith("#")]
    assert rules[0] == "*" and "!lablib/service_go/**" in rules and "!lablib/lab_defaults.py" in rules


@pytest.fixture
def image_layout(tmp_path: Path) -> Path:
    """/app as the Dockerfile builds it: COPY lablib/service_go/ and RUN touch lablib/__init__.py."""
    app = tmp_path / "app"
    for i, args in _instructions():
        if i == "COPY":
            src, dest = args.split()
            target = app / Path(dest).relative_to("/app")
            if (REPO / src).is_dir():
                shutil.copytree(REPO / src, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(REPO / src, target)
        if i == "RUN" and "touch /app/lablib/__init__.py" in args:
            (app / "lablib" / "__init__.py").touch()
    return app


def _start(layout: Path, tmp_path: Path, args: list[str], *,
           stdlib_only: bool) -> tuple[subprocess.Popen, int]:
    """The image's ENTRYPOINT with a container's ``args`` appended, on the image's file layout: the
    interpreter is this one (``-S``: no site-packages, as python:3.12-slim before the pip line)."""
    line = json.loads(dict(_instructions())["ENTRYPOINT"])[2]
    python = f"{shlex.quote(sys.executable)} -S" if stdlib_only else shlex.quote(sys.executable)
    line = line.replace("exec python", f"exec {python}", 1)
    port_file = tmp_path / "port"
    env = {"PATH": "/usr/bin:/bin", "VERSION": "v2", "PYTHONPATH": str(layout), "PYTHONNOUSERSITE": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    # as Kubernetes runs it: ENTRYPOINT + args (a later --port/--host wins over the image's)
    proc = subprocess.Popen(["sh", "-c", line, "service-go", *args, "--host", "127.0.0.1", "--port", "0",
                             "--port-file", str(port_file)],
                            env=env, cwd=layout, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            out = proc.stdout.read().decode() if proc.stdout else ""
            pytest.fail(f"service-go did not start from the image layout:\n{out}")
        time.sleep(0.05)
    return proc, int(port_file.read_text())


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


def test_the_images_entrypoint_serves_get_env_from_the_images_files_alone(image_layout, tmp_path):
    proc, port = _start(image_layout, tmp_path, [], stdlib_only=True)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/env", timeout=5) as resp:
            assert resp.status == 200
            assert json.loads(resp.read()) == {"message": "go v2"}
    finally:
        _stop(proc)


def test_a_containers_grpc_arg_makes_the_image_serve_fortios_grpc_ping(image_layout, tmp_path):
    import grpc

    from lablib.service_go.pingpb import PING_METHOD, PingMessage

    # the image's files plus the pip line's packages (this interpreter's site-packages hold grpcio and h2)
    proc, port = _start(image_layout, tmp_path, ["--grpc", "--service-time-ms", "0"], stdlib_only=False)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            ping = channel.unary_unary(PING_METHOD, request_serializer=PingMessage.encode,
                                       response_deserializer=PingMessage.decode)
            reply = ping(PingMessage(seq=7, payload="x"), timeout=10)
        assert reply.seq == 7 and reply.payload == "x"
    finally:
        _stop(proc)
