"""fortio's fast HTTP/1.1 client on asyncio: one socket per thread, fortio's keep/close rules.

Restates ``fhttp/http_client.go`` ``FastClient``:

- the socket is dialed lazily by the first call that finds none; every dial (failed ones too) counts
  in ``sockets`` and its time in ``connect_times``;
- after a response the socket is kept only if the code is 2xx or 418 and the response had framing
  (Content-Length or chunked); ``Connection: close`` on a 2xx is ignored, like fortio's default;
- for any other code reading stops right after the status code: header size 0, size = bytes of the
  first read, and the socket is closed, so the thread's next call dials again;
- a reused socket found dead before any byte of the response is re-dialed and the call retried once,
  silently (one more socket, the latency counts in that call);
- connect, write and read failures and the ``-timeout`` give code -1.

Callbacks, not coroutines, carry each call: the response's last bytes are parsed in
``data_received`` and the next request can be written in the same callback. That keeps a Python
thread per request out of the loop, which is what lets a few hundred closed-loop "threads" run in
one event loop without becoming the bottleneck.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from lablib._exceptions import FortioUsageError
from lablib.fortio.stats import Histogram
from lablib.i18n import Msg

__all__ = ["DoneCallback", "FastClient", "Target", "build_target", "code_is_ok", "parse_url"]

#: fortio's ``codeIsOK``: 2xx, and 418 (fortio's own "I'm a teapot" test code).
_OK = frozenset([*range(200, 300), 418])

#: called with (code, size, header_size) when a call completes; a gRPC call's code is fortio's RetCodes key
DoneCallback = Callable[[int | str, int, int], None]


def code_is_ok(code: int | str) -> bool:
    """2xx or 418, as fortio's ``codeIsOK``; for a gRPC run (string codes) ``SERVING``, as its gRPC runner."""
    return code in _OK or code == "SERVING"


@dataclass(frozen=True)
class Target:
    """Where to connect and what to send: the parsed URL plus the ``connect_to`` override."""

    url: str  # with http:// added when missing, as in fortio's JSON ``URL``
    host: str  # host name from the URL
    port: int
    host_header: str  # Host header value (URL authority, or -H Host:)
    path: str  # path + query
    connect_host: str  # where sockets go (the URL host, or connect_to)
    connect_port: int
    request: bytes  # the whole request, reused for every call
    user_agent: str = ""  # the User-Agent sent (fortio's, or -H User-Agent:)
    headers: tuple[tuple[str, str], ...] = ()  # the other -H headers (Host and User-Agent taken out)


def parse_url(url: str) -> tuple[str, str, int, str, str]:
    """(url with scheme, host, port, authority, path) — raises FortioUsageError for what we can't use."""
    if not url or any(ch.isspace() for ch in url):
        raise FortioUsageError(Msg("fortio.url.invalid", url=repr(url), why=Msg("fortio.url.spaces")))
    full = url if "://" in url else "http://" + url
    try:
        parts = urlsplit(full)
        port = parts.port
    except ValueError as e:
        raise FortioUsageError(Msg("fortio.url.invalid", url=repr(url),
                                   why=Msg("fortio.url.parse", err=str(e)))) from None
    if parts.scheme == "https":
        raise FortioUsageError(Msg("fortio.url.invalid", url=repr(url), why=Msg("fortio.url.https")))
    if parts.scheme != "http":
        raise FortioUsageError(Msg("fortio.url.invalid", url=repr(url),
                                   why=Msg("fortio.url.scheme", scheme=repr(parts.scheme))))
    if not parts.hostname:
        raise FortioUsageError(Msg("fortio.url.invalid", url=repr(url), why=Msg("fortio.url.no_host")))
    authority = parts.netloc.rsplit("@", 1)[-1]
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return full, parts.hostname, port or 80, authority, path


def build_target(
    url: str,
    *,
    headers: list[tuple[str, str]] = (),  # type: ignore[assignment]
    user_agent: str,
    keepalive: bool = True,
    connect_to: tuple[str, int] | None = None,
) -> Target:
    """Parse ``url`` and pre-build the request bytes like fortio's fast client."""
    full, host, port, authority, path = parse_url(url)
    host_header = authority
    extra = []
    others: list[tuple[str, str]] = []
    ua = user_agent
    for name, value in headers:
        low = name.lower()
        if low == "host":
            host_header = value
        elif low == "user-agent":
            ua = value
        else:
            extra.append(f"{name}: {value}\r\n")
            others.append((name, value))
    lines = [f"GET {path} HTTP/1.1\r\n", f"Host: {host_header}\r\n"]
    if ua:
        lines.append(f"User-Agent: {ua}\r\n")
    lines += extra
    if not keepalive:
        lines.append("Connection: close\r\n")
    lines.append("\r\n")
    chost, cport = connect_to if connect_to else (host, port)
    request = "".join(lines).encode("latin-1")
    return Target(full, host, port, host_header, path, chost, int(cport), request, ua, tuple(others))


class _Conn(asyncio.Protocol):
    """One TCP connection; forwards bytes and the close to its client while it is the client's current one."""

    __slots__ = ("client", "transport")

    def __init__(self, client: FastClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.client._conn is self:
            self.client._on_data(data)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client._conn is self:
            self.client._on_lost()


class FastClient:
    """One fortio "thread"'s client: at most one socket, one call at a time (:meth:`fetch`)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        target: Target,
        *,
        timeout_s: float = 3.0,
        keepalive: bool = True,
        connect_times: Histogram | None = None,
        ip_counts: dict[str, int] | None = None,
    ) -> None:
        self.loop = loop
        self.target = target
        self.timeout_s = timeout_s
        self.keepalive = keepalive
        #: dial attempts (fortio ``Sockets``), warmup included
        self.sockets = 0
        self.connect_times = connect_times if connect_times is not None else Histogram(0.0, 0.001)
        self.ip_counts = ip_counts if ip_counts is not None else {}
        self._conn: _Conn | None = None
        self._connecting: asyncio.Task | None = None
        self._cb: DoneCallback | None = None
        self._waiting = False  # a call is in flight
        self._reused = False  # current socket already carried a complete response
        self._retried = False
        self._timed_out = False
        self.call_start_ns = 0  # for the timeout watchdog
        self._reset_parse()

    def _reset_parse(self) -> None:
        self._buf = b""
        self._code = 0
        self._hlen = 0
        self._need = -1  # total bytes expected (Content-Length framing), -1 unknown
        self._got = 0
        self._chunked = False
        self._framed = False

    # ---- public ----

    @property
    def busy(self) -> bool:
        return self._waiting

    def fetch(self, done: DoneCallback) -> None:
        """Start one call; ``done(code, size, header_size)`` is called from the loop when it completes."""
        self._cb = done
        self._retried = False
        self._timed_out = False
        self._waiting = True
        self.call_start_ns = time.perf_counter_ns()
        if self._conn is None:
            self._dial()
        else:
            self._send()

    def expire(self, now_ns: int) -> None:
        """Called by the watchdog: fail the call in flight if it is older than the timeout (code -1)."""
        if not self._waiting or now_ns - self.call_start_ns < self.timeout_s * 1e9:
            return
        self._timed_out = True
        if self._connecting is not None:
            self._connecting.cancel()
        elif self._conn is not None and self._conn.transport is not None:
            self._conn.transport.abort()  # connection_lost follows and finishes the call as -1

    def close(self) -> None:
        """Close the socket (end of run); a call still in flight is dropped, not recorded."""
        self._cb = None
        self._waiting = False
        conn, self._conn = self._conn, None
        if conn is not None and conn.transport is not None:
            conn.transport.close()
        if self._connecting is not None:
            self._connecting.cancel()

    # ---- connection ----

    def _dial(self) -> None:
        self.sockets += 1
        self._reused = False
        t = self.target
        key = f"{t.connect_host}:{t.connect_port}"
        self.ip_counts[key] = self.ip_counts.get(key, 0) + 1
        self._dial_start = time.perf_counter_ns()
        self._connecting = self.loop.create_task(
            self.loop.create_connection(lambda: _Conn(self), t.connect_host, t.connect_port)
        )
        self._connecting.add_done_callback(self._on_connected)

    def _on_connected(self, task: asyncio.Task) -> None:
        self._connecting = None
        # fortio records the connect time before checking the error
        self.connect_times.record((time.perf_counter_ns() - self._dial_start) / 1e9)
        if task.cancelled() or task.exception() is not None:
            if not task.cancelled():
                task.exception()  # retrieved: no "never retrieved" warning
            self._finish(-1, 0, 0, keep=False)
            return
        _, conn = task.result()
        self._conn = conn
        self._send()

    def _send(self) -> None:
        self._reset_parse()
        conn = self._conn
        assert conn is not None and conn.transport is not None
        if conn.transport.is_closing():
            self._on_lost()
            return
        conn.transport.write(self.target.request)

    # ---- response ----

    def _on_data(self, data: bytes) -> None:
        if not self._waiting:
            return  # stray bytes on an idle socket: fortio would see them as garbage on the next read
        if self._code == 0:
            buf = self._buf + data if self._buf else data
            if len(buf) < 12:
                self._buf = buf
                return
            try:
                code = int(buf[9:12])
            except ValueError:
                self._finish(-1, len(buf), 0, keep=False)
                return
            if code not in _OK:
                # fortio stops at the status code: size = first read, header size 0, socket closed
                self._finish(code, len(buf), 0, keep=False)
                return
            hend = buf.find(b"\r\n\r\n")
            if hend < 0:
                self._buf = buf
                return
            self._code = code
            self._hlen = hend + 4
            head = buf[: self._hlen].lower()
            i = head.find(b"\r\ncontent-length:")
            if code in (204, 304):  # never a body (RFC 9110), whatever the headers say
                self._need = self._hlen
                self._framed = True
            elif i >= 0:
                j = head.find(b"\r\n", i + 17)
                self._need = self._hlen + int(head[i + 17 : j])
                self._framed = True
            elif b"\r\ntransfer-encoding:" in head and b"chunked" in head:
                self._chunked = True
                self._framed = True
            self._got = len(buf)
            self._buf = buf[self._hlen :] if self._chunked else b""
        else:
            self._got += len(data)
            if self._chunked:
                self._buf += data
        if self._need >= 0:  # Content-Length
            if self._got >= self._need:
                self._finish(self._code, self._need, self._hlen, keep=self.keepalive)
        elif self._chunked and _chunked_complete(self._buf):
            self._finish(self._code, self._got, self._hlen, keep=self.keepalive)
        # else: no framing, the body ends when the server closes (connection_lost)

    def _on_lost(self) -> None:
        self._conn = None
        if not self._waiting:
            return
        if self._timed_out:
            self._finish(-1, self._got, 0, keep=False)
        elif self._code and not self._framed:
            self._finish(self._code, self._got, self._hlen, keep=False)  # EOF ends an unframed body
        elif self._reused and self._got == 0 and not self._code and not self._buf and not self._retried:
            # fortio "Closing dead socket": reconnect and retry once, not counted as an error
            self._retried = True
            self._dial()
        else:
            self._finish(-1, self._got or len(self._buf), 0, keep=False)

    def _finish(self, code: int, size: int, header_size: int, *, keep: bool) -> None:
        self._waiting = False
        if keep and self._conn is not None:
            self._reused = True
        else:
            conn, self._conn = self._conn, None
            if conn is not None and conn.transport is not None:
                conn.transport.close()
        cb, self._cb = self._cb, None
        if cb is not None:
            cb(code, size, header_size)


def _chunked_complete(body: bytes) -> bool:
    """True when ``body`` (after the headers) holds the last chunk and the final CRLF."""
    pos = 0
    n = len(body)
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            return False
        size_text = body[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return True  # garbage: stop reading rather than hang until the timeout
        if size == 0:
            rest = body[eol + 2 :]  # optional trailers, then an empty line
            return rest.startswith(b"\r\n") or b"\r\n\r\n" in rest
        pos = eol + 2 + size + 2
        if pos > n:
            return False
