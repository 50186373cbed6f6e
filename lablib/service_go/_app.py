"""The HTTP/1.1 server behind service-go: asyncio streams, keep-alive, one coroutine per connection.

A connection that opens with HTTP/2's preface is handed to ``_h2.py`` (h2c, prior knowledge); ``--grpc``
serves the gRPC ping service instead (``_grpc.py``).

It must never be the bottleneck of a breaker experiment: a request costs one ``asyncio.sleep`` of the service
time and a few microseconds of parsing, so hundreds of concurrent keep-alive connections are cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import math
import os
import random
from dataclasses import dataclass, field

from lablib.lab_defaults import SERVICE_TIME_MS

__all__ = ["DEFAULT_SERVICE_TIME_MS", "MAX_DELAY_MS", "Fault", "ServiceGo", "serve"]

#: The book's runs averaged about 25 ms per call through the mesh.
DEFAULT_SERVICE_TIME_MS = SERVICE_TIME_MS  # lablib.lab_defaults' (the image ships that file too)
_MAX_HEADER_BYTES = 64 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            413: "Payload Too Large", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}
_JSON = "application/json; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"


#: The longest latency fault: a minute, far past any timeout a lab sets, and short enough that a forgotten
#: knob cannot hold a connection for hours.
MAX_DELAY_MS = 60_000.0


@dataclass
class Fault:
    """Which status ``/env`` answers with, and for which fraction of calls (0 = never, 1 = always); and how
    much slower every ``/env`` call is (``delay_ms``, on top of the service time: a slow instance).

    Without ``seed`` the fraction is applied deterministically (call ``n`` fails when ``floor(n*f)`` steps
    up), so 0.5 fails every other call and an outlier-detection lab sees the same sequence on every run. With
    a ``seed`` each call fails on its own with probability ``fraction`` (a flaky instance, as the theory of
    retries assumes: a retry fails as often as a first try), drawn from a generator seeded with it.
    """

    code: int = 200
    fraction: float = 0.0
    delay_ms: float = 0.0
    seed: int | None = None
    _calls: int = 0
    _draws: random.Random | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 100 <= int(self.code) <= 599:
            raise ValueError(f"fault code must be an HTTP status 100-599, got {self.code!r}")
        if not 0.0 <= float(self.fraction) <= 1.0:
            raise ValueError(f"fault fraction must be between 0 and 1, got {self.fraction!r}")
        if not 0.0 <= float(self.delay_ms) <= MAX_DELAY_MS:  # NaN fails both comparisons
            raise ValueError(f"fault delay_ms must be between 0 and {MAX_DELAY_MS:g}, got {self.delay_ms!r}")
        self.code, self.fraction, self.delay_ms = int(self.code), float(self.fraction), float(self.delay_ms)
        if self.seed is not None:
            self.seed = int(self.seed)
            self._draws = random.Random(self.seed)

    def next_code(self) -> int | None:
        """The fault code for this call, or None when this call is served normally."""
        if self.fraction <= 0.0:
            return None
        n = self._calls
        self._calls += 1
        if self._draws is not None:
            return self.code if self._draws.random() < self.fraction else None
        return self.code if math.floor((n + 1) * self.fraction) > math.floor(n * self.fraction) else None

    def as_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {"code": self.code, "fraction": self.fraction,
                                       "delay_ms": self.delay_ms}
        if self.seed is not None:
            out["seed"] = self.seed
        return out


class ServiceGo:
    """One service-go instance: its version, service time and fault knobs, and the request handler."""

    def __init__(self, version: str = "v1", *, service_time_ms: float = DEFAULT_SERVICE_TIME_MS,
                 fault: Fault | None = None, tcp_control: bool = True) -> None:
        self.version = version
        #: Whether ``POST /fault`` and ``/stats?reset=1`` are accepted over TCP from loopback. In a container
        #: that is the pod's own network; on a shared machine the embedded lab turns it off and uses the
        #: owner-only control socket instead (``serve(control_socket=…)``).
        self.tcp_control = tcp_control
        self.service_time_ms = float(service_time_ms)
        self.fault = fault or Fault()
        #: ``/env`` calls served, in flight now, and the most ever in flight at once (``GET /stats``).
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._env_body = json.dumps({"message": f"go {version}"}, separators=(",", ":")).encode()

    async def handle(self, method: str, path: str, body: bytes, peer: str, *, control: bool = False
                     ) -> tuple[int, str, bytes]:
        """Answer one request: (status, content type, body). ``control``: it came over the control socket."""
        if not control:
            control = self.tcp_control and _is_loopback(peer)
        path, _, query = path.partition("?")
        if path == "/env":
            if method not in ("GET", "HEAD"):
                return 405, _TEXT, b"method not allowed\n"
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                busy_ms = self.service_time_ms + self.fault.delay_ms
                if busy_ms > 0:
                    await asyncio.sleep(busy_ms / 1000.0)
            finally:
                self.in_flight -= 1
            code = self.fault.next_code()
            if code is not None:
                return code, _JSON, json.dumps({"message": f"go {self.version}", "fault": code}).encode()
            return 200, _JSON, self._env_body
        if path == "/status":
            return 200, _TEXT, b"ok"
        if path == "/stats":
            return self._stats_endpoint(method, query, control)
        if path == "/fault":
            return self._fault_endpoint(method, body, control)
        return 404, _TEXT, b"404 page not found"

    def _stats_endpoint(self, method: str, query: str, control: bool) -> tuple[int, str, bytes]:
        """``GET /stats``: calls served, in flight, peak in flight; ``?reset=1`` (control channel only)
        restarts the peak."""
        if method != "GET":
            return 405, _TEXT, b"use GET /stats\n"
        body = json.dumps({"requests": self.requests, "in_flight": self.in_flight,
                           "max_in_flight": self.max_in_flight, "version": self.version}).encode()
        if "reset=1" in query.split("&") and control:
            self.requests, self.max_in_flight = 0, self.in_flight
        return 200, _JSON, body

    def _fault_endpoint(self, method: str, body: bytes, control: bool) -> tuple[int, str, bytes]:
        if method == "GET":
            return 200, _JSON, json.dumps(self.fault.as_dict()).encode()
        if method not in ("POST", "PUT"):
            return 405, _TEXT, b"use GET or POST /fault\n"
        if not control:
            why = "loopback" if self.tcp_control else "the lab's control socket"
            return 403, _TEXT, f"/fault is only settable from {why}\n".encode()
        try:
            data = json.loads(body or b"{}")
            seed = data.get("seed")
            fault = Fault(code=int(data.get("code", 503)), fraction=float(data.get("fraction", 1.0)),
                          delay_ms=float(data.get("delay_ms", 0.0)), seed=None if seed is None else int(seed))
        except (ValueError, TypeError, AttributeError) as exc:
            return 400, _TEXT, (f'bad fault: {exc}; send {{"code": 503, "fraction": 0.5}} or '
                                f'{{"fraction": 0, "delay_ms": 200}}\n').encode()
        self.fault = fault
        return 200, _JSON, json.dumps(fault.as_dict()).encode()

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                               control: bool = False) -> None:
        """Serve requests on one connection until the client closes it or asks to."""
        peer_info = writer.get_extra_info("peername")
        peer = peer_info[0] if isinstance(peer_info, tuple) and peer_info else ""
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    await _write(writer, 413, _TEXT, b"headers too large\n", keep_alive=False)
                    return
                if head == b"PRI * HTTP/2.0\r\n\r\n":  # HTTP/2 with prior knowledge (h2c): see _h2.py
                    from lablib.service_go._h2 import serve_h2

                    await serve_h2(self, reader, writer, head, peer, control=control)
                    return
                request = _parse_head(head)
                if request is None:
                    await _write(writer, 400, _TEXT, b"bad request\n", keep_alive=False)
                    return
                method, path, version, headers = request
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length > 0 else b""
                keep_alive = _keep_alive(version, headers.get("connection", ""))
                status, ctype, payload = await self.handle(method, path, body, peer, control=control)
                await _write(writer, status, ctype, b"" if method == "HEAD" else payload,
                             keep_alive=keep_alive,
                             length=len(payload))
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]] | None:
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, path, version = lines[0].split(" ", 2)
    except ValueError:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            return None
        headers[name.strip().lower()] = value.strip()
    return method, path, version, headers


def _keep_alive(version: str, connection: str) -> bool:
    tokens = {t.strip().lower() for t in connection.split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


async def _write(writer: asyncio.StreamWriter, status: int, ctype: str, body: bytes, *, keep_alive: bool,
                 length: int | None = None) -> None:
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
            f"content-type: {ctype}\r\ncontent-length: {len(body) if length is None else length}\r\n"
            + ("" if keep_alive else "connection: close\r\n") + "\r\n")
    writer.write(head.encode("latin-1") + body)
    await writer.drain()


async def serve(app: ServiceGo, host: str = "127.0.0.1", port: int = 0, *,
                ready: asyncio.Future[int] | None = None, control_socket: str | None = None) -> None:
    """Serve ``app`` on ``host:port`` forever (port 0 asks the OS); ``ready`` gets the bound port.

    ``control_socket``: also serve on this Unix socket, made owner-only (0600), where ``POST /fault`` and
    ``/stats?reset=1`` are accepted whoever the TCP peer rules allow.
    """
    servers = []
    if control_socket is not None:  # first: once the TCP port answers, the control socket is there too
        old_umask = os.umask(0o177)  # the socket is created 0600: no window where another user may connect
        try:
            servers.append(await asyncio.start_unix_server(
                functools.partial(app.serve_connection, control=True), control_socket,
                limit=_MAX_HEADER_BYTES))
        finally:
            os.umask(old_umask)
    server = await asyncio.start_server(app.serve_connection, host, port, limit=_MAX_HEADER_BYTES,
                                        backlog=1024,
                                        reuse_address=True)
    servers.append(server)
    bound = server.sockets[0].getsockname()[1]
    if ready is not None and not ready.done():
        ready.set_result(bound)
    async with contextlib.AsyncExitStack() as stack:
        for s in servers:
            await stack.enter_async_context(s)
        await asyncio.gather(*(s.serve_forever() for s in servers))
