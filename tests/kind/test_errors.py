"""The one error boundary (``_map_errors``) and the CLI runner, with real exceptions from real calls."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

import lablib
from lablib.backends.kind._errors import _map_errors
from lablib.backends.kind._exec import run_cli


def _api_exception(status: int, message: str) -> ApiException:
    exc = ApiException(status=status, reason="reason")
    exc.body = json.dumps({"kind": "Status", "status": "Failure", "message": message, "code": status})
    return exc


@pytest.mark.parametrize(("status", "expected"), [
    (401, "refused the credentials of this context (HTTP 401: no token)"),
    (403, "refused the credentials of this context (HTTP 403: no token)"),
    (404, "not found (HTTP 404: no token)"),
    (422, "rejected the object (HTTP 422: no token)"),
    (409, "conflict (HTTP 409: no token)"),
    (500, "API error (HTTP 500: no token)"),
])
def test_api_exceptions_keep_the_servers_message(status, expected):
    with pytest.raises(lablib.BackendError) as err, _map_errors("apply Pod/x"):
        raise _api_exception(status, "no token")
    assert str(err.value) == f"apply Pod/x: the API server {expected}" or str(err.value).endswith(expected)
    assert isinstance(err.value.__cause__, ApiException)


def test_lab_errors_pass_through_unchanged():
    original = lablib.ClusterSafetyError("no")
    with pytest.raises(lablib.ClusterSafetyError) as err, _map_errors("x"):
        raise original
    assert err.value is original


def test_a_missing_cli_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(lablib.BackendUnavailable) as err, _map_errors("kind get clusters"):
        run_cli(["kind", "get", "clusters"], timeout=5)
    assert "`kind` is not on PATH; install kind >= v0.20" in str(err.value)
    assert isinstance(err.value.__cause__, FileNotFoundError)


def test_a_failing_cli_quotes_its_output():
    with pytest.raises(lablib.BackendError) as err, _map_errors("istioctl install"):
        run_cli(["sh", "-c", "echo step one; echo 'Error: failed to install' >&2; exit 3"], timeout=10)
    text = str(err.value)
    assert "exited with status 3" in text and "Error: failed to install" in text and "step one" in text


def test_a_cli_that_hangs_is_killed_with_its_children_and_reported_as_a_timeout():
    lines: list[str] = []
    t0 = time.monotonic()
    with pytest.raises(lablib.BackendError, match="timed out") as err, _map_errors("kind create cluster"):
        run_cli(["sh", "-c", "echo $$; echo started; sleep 30 & sleep 30; wait"], timeout=0.5,
                on_line=lines.append)
    assert time.monotonic() - t0 < 10
    assert isinstance(err.value.__cause__, subprocess.TimeoutExpired)
    assert "started" in lines
    pgid = int(lines[0])
    deadline = time.monotonic() + 5  # SIGKILL is delivered asynchronously
    while _live_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _live_members(pgid) == []  # the whole process group is gone (zombies awaiting init excepted)


def _live_members(pgid: int) -> list[int]:
    live = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            live.append(int(entry))
    return live


def test_run_cli_streams_lines_and_returns_output():
    seen: list[str] = []
    out = run_cli(["sh", "-c", "echo Creating cluster; echo ' ✓ Ensuring node image'"], timeout=10,
                  on_line=seen.append)
    assert out.returncode == 0 and seen == ["Creating cluster", " ✓ Ensuring node image"]


def test_unreachable_server_is_unavailable_not_a_crash():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = client.Configuration()
    cfg.host = f"http://127.0.0.1:{port}"
    cfg.retries = False
    api = client.ApiClient(cfg)
    try:
        expected = r"list pods: cannot reach the Kubernetes API server"
        with pytest.raises(lablib.BackendUnavailable, match=expected), _map_errors("list pods"):
            client.CoreV1Api(api).list_namespaced_pod("default", _request_timeout=5)
    finally:
        api.close()


def test_timeouts_and_os_errors():
    with pytest.raises(lablib.BackendError, match="wait: timed out"), _map_errors("wait"):
        raise TimeoutError("not ready after 1 s")
    with pytest.raises(lablib.BackendError, match=r"read: .*Permission denied") as err, _map_errors("read"):
        raise PermissionError(13, "Permission denied")
    assert not isinstance(err.value, lablib.BackendUnavailable)


def test_a_model_that_rejects_the_servers_answer_is_a_backend_error():
    from kubernetes.client.models import V1OwnerReference

    expected = r"^listing pods: unexpected answer from the API server \("
    with pytest.raises(lablib.BackendError, match=expected), _map_errors("listing pods"):
        V1OwnerReference(kind="ReplicaSet", name="x", api_version=None, uid=None)  # a partial answer
