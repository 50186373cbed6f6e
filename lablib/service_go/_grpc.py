"""service-go's gRPC face: fortio's ``fgrpc.PingServer/Ping`` and ``grpc.health.v1.Health/Check``, on grpcio.

What fortio's own ping server does (``fgrpc/pingsrv.go``): ``Ping`` echoes the request with ``ts`` set to the
server's clock and sleeps ``delayNanos`` (fortio's ``-grpc-ping-delay``) before answering; the health service
answers SERVING for ``""`` and for the health service name (default ``ping``), NOT_FOUND for any other name.
service-go adds what its HTTP ``/env`` has: the service time (``--service-time-ms``, plus a fault's
``delay_ms``; added to the requested delay; 0 makes it fortio's plain ping server), the fault knob (a faulted
call ends with the gRPC status a client reads for that HTTP code: 503 -> UNAVAILABLE), and the counters of
``GET /stats`` (calls, in flight, peak), served with ``/fault`` over the control socket, which stays HTTP/1.1
on a Unix socket.

grpcio is imported here only, so the HTTP app keeps to the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from typing import Any

import grpc
import grpc.aio

from lablib.service_go._app import ServiceGo
from lablib.service_go.pingpb import (
    HEALTH_STATUS,
    PingMessage,
    decode_health_request,
    encode_health_response,
    grpc_status_of_http,
)

__all__ = ["DEFAULT_HEALTH_SERVICE", "serve_grpc"]

#: fortio's ``DefaultHealthServiceName``
DEFAULT_HEALTH_SERVICE = "ping"
_SERVING = next(k for k, v in HEALTH_STATUS.items() if v == "SERVING")


class _PingService:
    def __init__(self, app: ServiceGo, health_service: str) -> None:
        self.app = app
        self.healthy = {"", health_service}

    async def ping(self, request: PingMessage, context: grpc.aio.ServicerContext) -> PingMessage:
        app = self.app
        app.requests += 1
        app.in_flight += 1
        app.max_in_flight = max(app.max_in_flight, app.in_flight)
        try:
            reply = PingMessage(request.seq, time.time_ns(), request.payload, request.delay_nanos)
            busy_ms = app.service_time_ms + app.fault.delay_ms  # as GET /env, then fortio's requested delay
            delay = busy_ms / 1000.0 + max(request.delay_nanos, 0) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
        finally:
            app.in_flight -= 1
        code = app.fault.next_code()
        if code is not None:
            await context.abort(_status(grpc_status_of_http(code)), f"fault {code}")
        return reply

    async def check(self, service: str, context: grpc.aio.ServicerContext) -> bytes:
        if service not in self.healthy:
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return encode_health_response(_SERVING)


def _status(number: int) -> grpc.StatusCode:
    """grpcio's StatusCode for a status number."""
    return next(s for s in grpc.StatusCode if s.value[0] == number)


def _handlers(service: _PingService) -> list[grpc.GenericRpcHandler]:
    ping = grpc.method_handlers_generic_handler("fgrpc.PingServer", {
        "Ping": grpc.unary_unary_rpc_method_handler(
            service.ping, request_deserializer=PingMessage.decode, response_serializer=PingMessage.encode),
    })
    health = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(
            service.check, request_deserializer=decode_health_request, response_serializer=lambda b: b),
    })
    return [ping, health]


async def serve_grpc(app: ServiceGo, host: str = "127.0.0.1", port: int = 0, *,
                     ready: asyncio.Future[int] | None = None, control_socket: str | None = None,
                     health_service: str = DEFAULT_HEALTH_SERVICE) -> None:
    """Serve ``app``'s gRPC ping and health services on ``host:port`` forever (port 0 asks the OS).

    ``ready`` gets the bound port. ``control_socket``: also serve the HTTP ``/stats`` and ``/fault`` endpoints
    on this Unix socket (0600), as the HTTP app does. Raises OSError when the port cannot be bound.
    """
    control = None
    if control_socket is not None:
        old_umask = os.umask(0o177)
        try:
            control = await asyncio.start_unix_server(
                functools.partial(app.serve_connection, control=True), control_socket)
        finally:
            os.umask(old_umask)
    # so_reuseport off: a port already taken is an error, not a second server sharing it
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers(_handlers(_PingService(app, health_service)))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpcio's "Failed to bind to address"
        raise OSError(str(exc)) from None
    if not bound:
        raise OSError(f"cannot bind {address}")
    await server.start()
    if ready is not None and not ready.done():
        ready.set_result(bound)
    try:
        waits: list[Any] = [server.wait_for_termination()]
        if control is not None:
            waits.append(control.serve_forever())
        await asyncio.gather(*waits)
    finally:
        if control is not None:
            control.close()
        with contextlib.suppress(Exception):
            await server.stop(grace=None)
