"""fortio's ``-h2``: Go's HTTP/2 client as fortio drives it, on asyncio with the ``h2`` library.

What fortio 1.75.2 does (``fhttp/http_client.go``, ``URLSchemeCheck`` and ``NewStdClient``):

- ``-h2`` switches to the std client ("H2 requested, switching to std client"): every thread gets its own
  ``http.Client``; for an ``http://`` URL its transport is ``http2.Transport{AllowHTTP: true}`` whose TLS dial
  is a plain TCP dial, i.e. **HTTP/2 with prior knowledge (h2c)**: no ``Upgrade: h2c``, no HTTP/1.1 fallback.
- So each thread has **one TCP connection** (dialed by its first call, re-dialed only when it dies or the
  server sends GOAWAY) and makes **one call at a time** on it: ``-c 20`` is 20 connections with at most one
  stream each. fortio never multiplexes the calls of different threads; behind a sidecar, the multiplexing
  happens in Envoy's HTTP/2 upstream pool, where ``maxConnections`` stops mattering and ``http2MaxRequests``
  (``max_requests``) becomes the cap.
- Every response is read to its end whatever its status, and the connection is kept (the fast HTTP/1.1
  client closes its socket after a 503; this one does not). Size = body bytes, header size 0.
- ``-timeout`` bounds each call (``http.Client.Timeout``): the stream is reset (CANCEL), code -1, the
  connection kept. A failed dial, a connection lost before the response, a reset stream: code -1. A body cut
  short after a 2xx status is reported as 204 ("Ok code despite read error"), a non-OK status is kept.
- Streams the server refused unprocessed (REFUSED_STREAM, or above a GOAWAY's last stream id) are retried once
  on a new connection, as Go's transport does.
- Every dial (failed ones too) counts in ``Sockets``/``ConnectionStats`` and ``IPCountMap`` (``dialCtx``).

:class:`H2Conn` is one connection carrying any number of streams, :class:`ConnSlot` the lazily (re)dialed
connection of one fortio thread (or, for gRPC, of ``-s`` threads: ``grpc_client.py``), :class:`H2Client` the
``-h2`` client of one thread, with the same interface as the HTTP/1.1 ``FastClient``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Protocol

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from lablib.fortio.http_client import DoneCallback, Target, code_is_ok
from lablib.fortio.stats import Histogram

__all__ = ["ConnSlot", "H2Client", "H2Conn", "SlotCall", "StreamHandler", "request_headers"]

#: Go's http2.Transport: SETTINGS it sends first, and the connection window it opens (transport.go)
_CLIENT_SETTINGS = {
    h2.settings.SettingCodes.ENABLE_PUSH: 0,
    h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 4 << 20,
    h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 10 << 20,
}
_CONN_WINDOW_INCREMENT = 1 << 30
_REFUSED = int(h2.errors.ErrorCodes.REFUSED_STREAM)
Headers = list[tuple[bytes, bytes]]


class StreamHandler(Protocol):
    """What an :class:`H2Conn` tells the owner of a stream."""

    def on_headers(self, headers: Headers, trailers: bool) -> None: ...
    def on_data(self, data: bytes) -> None: ...
    def on_end(self) -> None: ...
    def on_failed(self, refused: bool, error_code: int | None) -> None:
        """The stream ended without a whole response: reset (``error_code``) or connection lost (None);
        ``refused``: the server never processed it (safe to retry)."""


class H2Conn(asyncio.Protocol):
    """One h2c connection (client side), any number of concurrent streams."""

    def __init__(self) -> None:
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.h2.local_settings = h2.settings.Settings(client=True, initial_values=_CLIENT_SETTINGS)
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, StreamHandler] = {}
        self.closed = False
        self.goaway = False
        self.on_close: Callable[[H2Conn], None] | None = None

    @property
    def usable(self) -> bool:
        return not self.closed and not self.goaway

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(_CONN_WINDOW_INCREMENT)
        self._flush()

    def request(self, headers: Headers, body: bytes | None, handler: StreamHandler) -> int:
        """Open a stream; returns its id. The handler hears of the response."""
        sid = self.h2.get_next_available_stream_id()
        self.h2.send_headers(sid, headers, end_stream=body is None)
        if body is not None:
            self.h2.send_data(sid, body, end_stream=True)  # gRPC messages here: far below the 64 KiB window
        self.streams[sid] = handler
        self._flush()
        return sid

    def cancel(self, sid: int) -> None:
        """Reset a stream we gave up on (CANCEL), as Go does when a call times out."""
        if self.streams.pop(sid, None) is not None and not self.closed:
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
            self._flush()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    # ---- asyncio.Protocol ----

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self._flush()
            if self.transport is not None:
                self.transport.abort()
            return
        for ev in events:
            if isinstance(ev, h2.events.DataReceived):
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                handler = self.streams.get(ev.stream_id)
                if handler is not None:
                    handler.on_data(ev.data)
            elif isinstance(ev, h2.events.ResponseReceived):
                handler = self.streams.get(ev.stream_id)
                if handler is not None:
                    handler.on_headers(ev.headers, False)
            elif isinstance(ev, h2.events.TrailersReceived):
                handler = self.streams.get(ev.stream_id)
                if handler is not None:
                    handler.on_headers(ev.headers, True)
            elif isinstance(ev, h2.events.StreamEnded):
                handler = self.streams.pop(ev.stream_id, None)
                if handler is not None:
                    handler.on_end()
            elif isinstance(ev, h2.events.StreamReset):
                handler = self.streams.pop(ev.stream_id, None)
                if handler is not None:
                    handler.on_failed(ev.error_code == _REFUSED, int(ev.error_code))
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = True  # no new streams here; those the server never saw go elsewhere
                last = ev.last_stream_id if ev.last_stream_id is not None else 0
                for sid in [s for s in self.streams if s > last]:
                    self.streams.pop(sid).on_failed(True, None)
                if not self.streams:
                    self.close()
        self._flush()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        streams, self.streams = self.streams, {}
        for handler in streams.values():
            handler.on_failed(False, None)
        if self.on_close is not None:
            self.on_close(self)

    def _flush(self) -> None:
        out = self.h2.data_to_send()
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)


ConnCallback = Callable[["H2Conn | None"], None]


class ConnSlot:
    """The connection of a Go transport (or gRPC ClientConn): dialed by the first call that needs it, shared
    by the calls of its threads, dialed again when it died or got GOAWAY; counts dials as dialCtx does."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        target: Target,
        *,
        connect_times: Histogram | None = None,
        ip_counts: dict[str, int] | None = None,
    ) -> None:
        self.loop = loop
        self.target = target
        self.sockets = 0
        self.connect_times = connect_times if connect_times is not None else Histogram(0.0, 0.001)
        self.ip_counts = ip_counts if ip_counts is not None else {}
        self.conn: H2Conn | None = None
        self.dial_error: BaseException | None = None
        self._waiters: list[ConnCallback] = []
        self._dialing: asyncio.Task | None = None

    def acquire(self, cb: ConnCallback) -> None:
        """``cb(conn)`` with a usable connection, or ``cb(None)`` when the dial failed (``dial_error``)."""
        conn = self.conn
        if conn is not None and conn.usable:
            cb(conn)
            return
        self._waiters.append(cb)
        if self._dialing is None:
            self._dial()

    def forget(self, cb: ConnCallback) -> None:
        """Drop a waiter (its call timed out while dialing); the last one gone cancels the dial."""
        if cb in self._waiters:
            self._waiters.remove(cb)
        if not self._waiters and self._dialing is not None:
            self._dialing.cancel()

    def close(self) -> None:
        self._waiters.clear()
        if self._dialing is not None:
            self._dialing.cancel()
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _dial(self) -> None:
        self.sockets += 1
        t = self.target
        key = f"{t.connect_host}:{t.connect_port}"
        self.ip_counts[key] = self.ip_counts.get(key, 0) + 1
        start = time.perf_counter_ns()
        self._dialing = self.loop.create_task(
            self.loop.create_connection(H2Conn, t.connect_host, t.connect_port))

        def connected(task: asyncio.Task) -> None:
            self._dialing = None
            self.connect_times.record((time.perf_counter_ns() - start) / 1e9)  # failed dials too, as fortio
            waiters, self._waiters = self._waiters, []
            if task.cancelled() or task.exception() is not None:
                self.dial_error = None if task.cancelled() else task.exception()
                for cb in waiters:
                    cb(None)
                return
            _, conn = task.result()
            self.conn = conn
            for cb in waiters:
                cb(conn if conn.usable else None)

        self._dialing.add_done_callback(connected)


def request_headers(target: Target) -> Headers:
    """Go's http2 request headers for fortio's GET: pseudo-headers in Go's order, then User-Agent and -H."""
    out = [(b":authority", target.host_header.encode("latin-1")), (b":method", b"GET"),
           (b":path", target.path.encode("latin-1")), (b":scheme", b"http")]
    if target.user_agent:
        out.append((b"user-agent", target.user_agent.encode("latin-1")))
    out += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in target.headers]
    return out


class SlotCall:
    """One call at a time on a :class:`ConnSlot`, the cycle :class:`H2Client` and the gRPC client share:
    :meth:`fetch` resets the call's state (``_reset_call``), waits for the connection, then ``_with_conn``
    opens the stream; ``_retried`` lets a refused stream be retried once per call."""

    def __init__(self, slot: ConnSlot) -> None:
        self.slot = slot
        self.call_start_ns = 0
        self._cb: DoneCallback | None = None
        self._waiting = False
        self._retried = False
        self._reset_call()

    def _reset_call(self) -> None:
        raise NotImplementedError

    def _with_conn(self, conn: H2Conn | None) -> None:
        raise NotImplementedError

    @property
    def busy(self) -> bool:
        return self._waiting

    def fetch(self, done: DoneCallback) -> None:
        """Start one call; ``done(code, size, header_size)`` is called from the loop when it completes
        (``-h2``: the HTTP status or -1; gRPC: fortio's RetCodes key, header size 0)."""
        self._cb = done
        self._waiting = True
        self._retried = False
        self.call_start_ns = time.perf_counter_ns()
        self._start()

    def _start(self) -> None:
        self._reset_call()
        self.slot.acquire(self._with_conn)


class H2Client(SlotCall):
    """One fortio thread's ``-h2`` client: its own connection, one call at a time (:meth:`fetch`)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        target: Target,
        *,
        timeout_s: float = 3.0,
        connect_times: Histogram | None = None,
        ip_counts: dict[str, int] | None = None,
    ) -> None:
        self.loop = loop
        self.timeout_s = timeout_s
        self.headers = request_headers(target)
        self._conn: H2Conn | None = None
        self._sid = 0
        super().__init__(ConnSlot(loop, target, connect_times=connect_times, ip_counts=ip_counts))

    def _reset_call(self) -> None:
        self._code = 0
        self._size = 0

    @property
    def sockets(self) -> int:
        return self.slot.sockets

    @property
    def connect_times(self) -> Histogram:
        return self.slot.connect_times

    def _with_conn(self, conn: H2Conn | None) -> None:
        if not self._waiting:
            return
        if conn is None:
            self._finish(-1)
            return
        self._conn = conn
        try:
            self._sid = conn.request(self.headers, None, self)
        except h2.exceptions.H2Error:  # e.g. the peer's stream limit is reached: like a refused stream
            self.on_failed(True, None)

    def expire(self, now_ns: int) -> None:
        """Called by the watchdog: fail the call in flight if it is older than ``-timeout`` (code -1)."""
        if not self._waiting or now_ns - self.call_start_ns < self.timeout_s * 1e9:
            return
        if self._conn is not None and self._sid:
            self._conn.cancel(self._sid)
        else:
            self.slot.forget(self._with_conn)
        self._finish(-1)

    def close(self) -> None:
        """Close the connection (end of run); a call still in flight is dropped, not recorded."""
        self._cb = None
        self._waiting = False
        self.slot.close()

    # ---- StreamHandler ----

    def on_headers(self, headers: Headers, trailers: bool) -> None:
        if trailers:
            return
        for name, value in headers:
            if name == b":status":
                code = int(value)
                if code >= 200:  # 1xx are informational: the final status follows
                    self._code = code
                return

    def on_data(self, data: bytes) -> None:
        self._size += len(data)

    def on_end(self) -> None:
        self._finish(self._code if self._code else -1)

    def on_failed(self, refused: bool, error_code: int | None) -> None:
        if not self._waiting:
            return
        if refused and not self._retried:  # the server never saw it: Go retries on a new connection
            self._retried = True
            self._conn, self._sid = None, 0
            self._start()
            return
        code = self._code
        if code:  # the headers came, the body did not: fortio keeps the code, but an OK one becomes 204
            self._finish(204 if code_is_ok(code) else code)
        else:
            self._finish(-1)

    def _finish(self, code: int) -> None:
        self._waiting = False
        self._conn, self._sid = None, 0
        cb, self._cb = self._cb, None
        if cb is not None:
            cb(code, self._size, 0)
