"""The app of every service pod of the embedded mesh: a ``python -m lablib.service_go`` process.

How it is started and waited for, and its controls: the fault knob (``POST /fault``, what ``set_fault``
turns) and its counters (``GET /stats``: requests, in flight, the most in flight at once). Both go over the
app's owner-only control socket, never through its sidecar, so no breaker or listener of the mesh sees them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lablib._exceptions import BackendError, LabError
from lablib.backends.mesh._state import PodState
from lablib.envoy.admin import UnixHTTPConnection
from lablib.envoy.process import log_tail
from lablib.i18n import Msg
from lablib.lab_defaults import PACKAGE_DIR

__all__ = ["app_command", "app_log", "app_stats", "pods_of_target", "set_fault", "wait_app"]


def _control_socket(pod: PodState) -> Path:
    """service-go's control socket, relative to the logs dir it runs in (short: sun_path is 108 bytes)."""
    return Path(f"{pod.name}-app.sock")


def app_log(logs: Path, pod: PodState) -> Path:
    return logs / f"{pod.name}-app.log"


#: ``python -m lablib.service_go`` without running ``lablib/__init__.py``: the app needs only its own modules
#: and ``lablib.lab_defaults`` (its image, docker/service-go, holds nothing else), while the package's
#: ``__init__`` imports the whole lab, about 1 s of every pod's start on 2 cores. ``argv[1]`` is the package's
#: folder; the app's flags follow.
_RUN_APP = (
    "import runpy, sys, types\n"
    "package = types.ModuleType('lablib')\n"
    "package.__path__ = [sys.argv.pop(1)]\n"
    "sys.modules['lablib'] = package\n"
    "runpy.run_module('lablib.service_go', run_name='__main__', alter_sys=True)\n"
)


def app_command(pod: PodState, *, service_time_ms: float) -> list[str]:
    """The app's command line: its version (the pod's ``version`` label) and service time, then the
    container's ``args`` as the image appends them to its entrypoint (``--grpc``: fortio's gRPC ping server;
    a later flag wins, as on a cluster), then what the lab owns: the port it allocated, the loopback address
    and the control socket (created in the working directory, the lab's logs dir)."""
    return [sys.executable, "-c", _RUN_APP, str(PACKAGE_DIR),
            "--version", pod.labels.get("version", "v1"), "--service-time-ms", str(service_time_ms),
            *pod.args,
            "--port", str(pod.app_port), "--host", "127.0.0.1", "--control-socket", _control_socket(pod).name]


def wait_app(popen: Any, pod: PodState, log_path: Path, timeout: float = 20.0) -> None:
    """Until the app listens on its port; BackendError with its log when it exits or does not listen."""
    deadline = time.monotonic() + timeout
    pause = 0.002  # then twice as long each time, up to 16 ms: an app listens a few 100 ms after its start
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise BackendError(Msg("mesh.app.exited", pod=pod.name, code=popen.returncode,
                                   log=log_tail(log_path)))
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", pod.app_port), timeout=0.5):
            return
        time.sleep(pause)
        pause = min(pause * 2, 0.016)
    raise BackendError(Msg("mesh.app.not_listening", pod=pod.name, port=pod.app_port, timeout=timeout))


def _request(pod: PodState, logs: Path, method: str, path: str, body: bytes | None = None) -> tuple[int, str]:
    """One request straight to a pod's app over its owner-only control socket."""
    conn = UnixHTTPConnection(logs / _control_socket(pod), timeout=5)
    try:
        conn.request(method, path, body=body, headers={"content-type": "application/json"} if body else {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    except (OSError, http.client.HTTPException) as exc:
        raise BackendError(Msg("mesh.app.no_answer", pod=pod.name, error=repr(exc))) from exc
    finally:
        conn.close()


def pods_of_target(pods: Mapping[str, PodState], target: str) -> list[PodState]:
    """The service pods ``target`` names: a pod, or every pod of a Deployment (``service-go-v1`` or
    ``Deployment/service-go-v1``). Client pods run no app."""
    return [p for p in pods.values()
            if not p.client and target in (p.name, p.owner, p.owner.partition("/")[2])]


def set_fault(pods: Mapping[str, PodState], logs: Path, target: str, *, code: int,
              fraction: float, delay_ms: float = 0.0, seed: int | None = None) -> list[str]:
    """Make the app of each pod ``target`` names answer ``code`` for ``fraction`` of its calls (0 heals;
    ``seed``: each call at random, see ``lablib.service_go.Fault``) and take ``delay_ms`` longer on every
    call. Returns the pods changed; LabError naming the pods when ``target`` names none."""
    chosen = pods_of_target(pods, target)
    if not chosen:
        raise LabError(Msg("mesh.fault.no_target", target=target, pods=list(pods) or Msg("mesh.pods.none")))
    fault: dict[str, Any] = {"code": code, "fraction": fraction, "delay_ms": delay_ms}
    if seed is not None:
        fault["seed"] = seed
    body = json.dumps(fault).encode()
    for p in chosen:
        status, text = _request(p, logs, "POST", "/fault", body)
        if status != 200:
            raise LabError(Msg("mesh.fault.failed", pod=p.name, status=status, text=text.strip()))
    return [p.name for p in chosen]


def app_stats(pods: Mapping[str, PodState], logs: Path, *, reset: bool = False) -> dict[str, dict[str, Any]]:
    """Each service pod's app counters: ``requests``, ``in_flight`` and ``max_in_flight`` (the concurrency
    the breakers let through to it); ``reset`` restarts them after reading."""
    out = {}
    for name, p in pods.items():
        if p.client:
            continue
        status, text = _request(p, logs, "GET", "/stats?reset=1" if reset else "/stats")
        if status == 200:
            out[name] = json.loads(text)
    return out
