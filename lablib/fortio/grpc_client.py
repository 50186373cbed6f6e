"""fortio's ``-grpc [-ping]``: unary gRPC calls over this package's HTTP/2 connections.

What fortio 1.75.2 does (``fgrpc/grpcrunner.go`` ``RunGRPCTest``, ``cli/fortio_main.go``):

- ``-s S`` streams per connection: fortio runs ``C*S`` threads (``NumThreads *= Streams``: the JSON's
  ``NumThreads`` and the split of ``-n`` are over ``C*S``) and dials one ``grpc.ClientConn`` (one HTTP/2
  connection) per ``S`` consecutive threads: thread ``i`` uses connection ``i // S``. Each thread makes one
  unary call at a time, so a connection carries at most ``S`` concurrent streams.
- Warmup: without ``-n`` the first thread of each connection makes one call, one connection after the other,
  before the run; an error aborts the run unless ``-allow-initial-errors``.
- ``-ping`` calls ``fgrpc.PingServer/Ping`` with ``PingMessage{Seq: thread, Ts: start time, DelayNanos:
  -grpc-ping-delay}``; without ``-ping``, ``grpc.health.v1.Health/Check{service: -healthservice}``.
- ``RetCodes`` is keyed by name: a successful ping counts ``SERVING``, a health answer its status name
  (``SERVING``, ``NOT_SERVING``, ...), and **any RPC error counts ``ERROR``** (``fgrpc.Error``) whatever its
  gRPC status; only ``SERVING`` is OK (the rest goes to ``ErrorsDurationHistogram``). Each error is logged
  ``Error making grpc call: rpc error: code = Unavailable desc = …``. The per-status count of the errors
  (an Envoy overflow is ``UNAVAILABLE``, 14) is lablib's addition, kept beside fortio's fields.
- No deadline: ``-timeout`` does not apply to gRPC calls.
- The destination is ``host:port`` (``http://`` stripped, then port 80 by default; no scheme: 8079).
  ``-H`` headers become metadata (lower-cased; content-type/length dropped); ``Host`` sets ``:authority``.

The status of a call is read as grpc-go reads it: ``grpc-status`` from the trailers (or a trailers-only
response, which is how Envoy answers a gRPC request it rejects), else the HTTP status mapped by gRPC's table
(503 -> UNAVAILABLE), a reset stream by grpc-go's table (REFUSED_STREAM -> UNAVAILABLE, CANCEL -> CANCELLED),
a lost or refused connection UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

import h2.errors
import h2.exceptions

from lablib._exceptions import FortioUsageError
from lablib.fortio.h2_client import ConnSlot, H2Conn, Headers, SlotCall
from lablib.fortio.http_client import Target
from lablib.i18n import Msg
from lablib.service_go.pingpb import (
    HEALTH_CHECK_METHOD,
    HEALTH_STATUS,
    PING_METHOD,
    PingMessage,
    decode_health_response,
    encode_health_request,
    frame,
    go_code_name,
    grpc_status_of_http,
    unframe,
)

__all__ = ["DEFAULT_GRPC_PORT", "ERROR", "GrpcClient", "grpc_destination", "grpc_target", "new_slots"]

#: fortio's ``fnet.DefaultGRPCPort``
DEFAULT_GRPC_PORT = 8079
#: fortio's ``fgrpc.Error``: the RetCodes key of every failed call
ERROR = "ERROR"
_UNAVAILABLE, _INTERNAL = 14, 13
#: grpc-go's http2ErrConvTab: a reset stream's HTTP/2 error code -> gRPC status
_RST_TO_GRPC = {
    h2.errors.ErrorCodes.FLOW_CONTROL_ERROR: 8, h2.errors.ErrorCodes.REFUSED_STREAM: 14,
    h2.errors.ErrorCodes.CANCEL: 1, h2.errors.ErrorCodes.ENHANCE_YOUR_CALM: 8,
    h2.errors.ErrorCodes.INADEQUATE_SECURITY: 7,
}  # fmt: skip
_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}


def grpc_destination(dest: str) -> tuple[str, int, str]:
    """fortio's ``grpcDestination``: (host, port, ``host:port`` authority) for ``-grpc``'s target."""
    if dest.startswith("https://"):
        raise FortioUsageError(Msg("fortio.url.invalid", url=repr(dest), why=Msg("fortio.url.https")))
    port = DEFAULT_GRPC_PORT
    text = dest
    if dest.startswith("http://"):
        text, port = dest[len("http://"):].removesuffix("/"), 80
    if not text or any(ch.isspace() for ch in text) or "/" in text:
        raise FortioUsageError(Msg("fortio.url.invalid", url=repr(dest), why=Msg("fortio.url.grpc_dest")))
    host = text
    if text.startswith("["):  # [v6]:port
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = _port(dest, rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _port(dest, port_text)
    if not host:
        raise FortioUsageError(Msg("fortio.url.invalid", url=repr(dest), why=Msg("fortio.url.no_host")))
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host, port, authority


def _port(dest: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise FortioUsageError(Msg("fortio.url.invalid", url=repr(dest), why=Msg("fortio.url.grpc_dest")))
    return int(text)


def grpc_target(
    dest: str,
    *,
    ping: bool,
    headers: list[tuple[str, str]],
    user_agent: str,
    connect_to: tuple[str, int] | None = None,
) -> Target:
    """The call every thread makes: method path, ``:authority``, metadata; where to connect."""
    host, port, authority = grpc_destination(dest)
    metadata = []
    ua = user_agent
    for name, value in headers:
        low = name.lower()
        if low == "host":
            authority = value  # grpc.WithAuthority
        elif low == "user-agent":
            ua = value  # grpc.WithUserAgent
        elif low not in ("content-length", "content-type"):
            metadata.append((low, value))
    chost, cport = connect_to if connect_to else (host, port)
    path = PING_METHOD if ping else HEALTH_CHECK_METHOD
    return Target(dest, host, port, authority, path, chost, int(cport), b"", ua, tuple(metadata))


def _headers(target: Target) -> Headers:
    """grpc-go's request headers, in its order, then the metadata."""
    out = [(b":method", b"POST"), (b":scheme", b"http"), (b":path", target.path.encode()),
           (b":authority", target.host_header.encode("latin-1")), (b"content-type", b"application/grpc"),
           (b"user-agent", f"{target.user_agent} lablib-grpc".strip().encode("latin-1")),
           (b"te", b"trailers")]
    return out + [(k.encode("latin-1"), v.encode("latin-1")) for k, v in target.headers]


class GrpcClient(SlotCall):
    """One fortio gRPC thread: one unary call at a time on its connection group's :class:`ConnSlot`."""

    def __init__(
        self,
        slot: ConnSlot,
        *,
        thread: int,
        start_ns: int,
        health_service: str | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.headers = _headers(slot.target)
        if health_service is None:
            message = PingMessage(seq=thread, ts=start_ns, delay_nanos=round(delay_s * 1e9)).encode()
        else:
            message = encode_health_request(health_service)
        self.health = health_service is not None
        self.body = frame(message)
        #: gRPC status number -> failed calls (fortio counts them all as ERROR)
        self.errors: dict[int, int] = {}
        #: the last error as grpc-go prints it: ``rpc error: code = Unavailable desc = …``
        self.last_error = ""
        super().__init__(slot)

    def _reset_call(self) -> None:
        self._fields: dict[bytes, bytes] = {}
        self._body = bytearray()

    @property
    def sockets(self) -> int:
        return 0  # fortio's gRPC results have no socket count; ConnSlot.sockets has the dials

    def _with_conn(self, conn: H2Conn | None) -> None:
        if not self._waiting:
            return
        if conn is None:
            err = self.slot.dial_error
            t = self.slot.target
            why = f"dial tcp {t.connect_host}:{t.connect_port}: {getattr(err, 'strerror', None) or err}"
            self._fail(_UNAVAILABLE, f"connection error: desc = \"transport: Error while dialing: {why}\"")
            return
        try:
            conn.request(self.headers, self.body, self)
        except h2.exceptions.H2Error:
            self.on_failed(True, None)

    def expire(self, now_ns: int) -> None:
        """fortio sets no deadline on gRPC calls: nothing expires."""

    def close(self) -> None:
        self._cb = None
        self._waiting = False
        self.slot.close()

    # ---- StreamHandler ----

    def on_headers(self, headers: Headers, trailers: bool) -> None:
        for name, value in headers:
            if name == b":status" and not trailers and int(value) < 200:
                return  # informational
            self._fields[name] = value

    def on_data(self, data: bytes) -> None:
        self._body.extend(data)

    def on_end(self) -> None:
        f = self._fields
        http_status = int(f.get(b":status", b"0"))
        if b"grpc-status" in f:
            try:
                status = int(f[b"grpc-status"])
            except ValueError:
                self._fail(_INTERNAL, f"transport: malformed grpc-status: {f[b'grpc-status']!r}")
                return
            message = unquote(f.get(b"grpc-message", b"").decode("utf-8", "replace"))
        elif http_status != 200:
            reason = _REASONS.get(http_status, "")
            status = grpc_status_of_http(http_status)
            message = f"unexpected HTTP status code received from server: {http_status}"
            message += f" ({reason})" if reason else ""
        else:
            self._fail(_INTERNAL, "server closed the stream without sending trailers")
            return
        if status != 0:
            self._fail(status, message)
            return
        reply = unframe(bytes(self._body))
        if reply is None:
            self._fail(_INTERNAL, "grpc: failed to unmarshal the received message")
            return
        try:
            key = HEALTH_STATUS.get(decode_health_response(reply), "UNKNOWN") if self.health else "SERVING"
            if not self.health:
                PingMessage.decode(reply)
        except ValueError as e:
            self._fail(_INTERNAL, f"grpc: failed to unmarshal the received message: {e}")
            return
        self._done(key, len(self._body))

    def on_failed(self, refused: bool, error_code: int | None) -> None:
        if not self._waiting:
            return
        if refused and not self._retried:  # never processed: grpc-go's transparent retry
            self._retried = True
            self._start()
            return
        if error_code is None:
            self._fail(_UNAVAILABLE, "error reading from server: EOF")
            return
        try:
            name = h2.errors.ErrorCodes(error_code).name
        except ValueError:
            name = str(error_code)
        status = _RST_TO_GRPC.get(error_code, _INTERNAL)
        self._fail(status, f"stream terminated by RST_STREAM with error code: {name}")

    def _fail(self, status: int, message: str) -> None:
        self.errors[status] = self.errors.get(status, 0) + 1
        self.last_error = f"rpc error: code = {go_code_name(status)} desc = {message}"
        self._done(ERROR, len(self._body))

    def _done(self, key: str, size: int) -> None:
        self._waiting = False
        cb, self._cb = self._cb, None
        if cb is not None:
            cb(key, size, 0)


def new_slots(loop: asyncio.AbstractEventLoop, target: Target, connections: list[int]) -> dict[int, ConnSlot]:
    """One :class:`ConnSlot` per connection index (thread ``i`` uses connection ``i // streams``)."""
    return {c: ConnSlot(loop, target) for c in connections}
