"""h2c for service-go's HTTP app: a connection that opens with HTTP/2's preface is served as HTTP/2.

This is "prior knowledge" h2c (RFC 9113 §3.3), what an Envoy cluster with ``http2_protocol_options`` speaks to
its endpoints (Istio's inbound cluster for a port named ``http2``/``grpc``, or ``h2UpgradePolicy: UPGRADE``).
Each stream is one request to the same handler as HTTP/1.1 (``ServiceGo.handle``), so ``/env``, ``/stats`` and
the counters behave alike. The server announces no stream limit (as gRPC servers do), so an HTTP/2 client can
multiplex every request on one connection. ``h2`` is imported only when an HTTP/2 client shows up.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

if TYPE_CHECKING:
    from lablib.service_go._app import ServiceGo

__all__ = ["PREFACE_HEAD", "serve_h2"]

#: what ``readuntil(b"\r\n\r\n")`` returns for the HTTP/2 connection preface (its ``SM\r\n\r\n`` follows)
PREFACE_HEAD = b"PRI * HTTP/2.0\r\n\r\n"
_NO_LIMIT = 2**31 - 1


async def serve_h2(app: ServiceGo, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bytes,
                   peer: str, *, control: bool = False) -> None:
    """Serve HTTP/2 on a connection whose first bytes (``first``, the preface's head) were already read."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
    conn.local_settings = h2.settings.Settings(client=False, initial_values={
        h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: _NO_LIMIT})
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    requests: dict[int, tuple[dict[bytes, bytes], bytearray]] = {}
    tasks: dict[int, asyncio.Task[None]] = {}

    async def respond(stream_id: int, headers: dict[bytes, bytes], body: bytes) -> None:
        method = headers.get(b":method", b"GET").decode("latin-1")
        path = headers.get(b":path", b"/").decode("latin-1")
        status, ctype, payload = await app.handle(method, path, body, peer, control=control)
        if method == "HEAD":
            payload = b""
        with contextlib.suppress(h2.exceptions.H2Error):  # the stream was reset or the connection went away
            head = [(b":status", str(status).encode()), (b"content-type", ctype.encode()),
                    (b"content-length", str(len(payload)).encode())]
            conn.send_headers(stream_id, head, end_stream=not payload)
            if payload:
                conn.send_data(stream_id, payload, end_stream=True)  # small bodies: within the 64 KiB window
        tasks.pop(stream_id, None)
        with contextlib.suppress(ConnectionError, RuntimeError):
            writer.write(conn.data_to_send())

    data = first
    try:
        while data:
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                writer.write(conn.data_to_send())
                return
            for event in events:
                if isinstance(event, h2.events.RequestReceived):
                    requests[event.stream_id] = (dict(event.headers), bytearray())
                elif isinstance(event, h2.events.DataReceived):
                    if event.stream_id in requests:
                        requests[event.stream_id][1].extend(event.data)
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id in requests:
                    headers, body = requests.pop(event.stream_id)
                    reply = respond(event.stream_id, headers, bytes(body))
                    tasks[event.stream_id] = asyncio.ensure_future(reply)
                elif isinstance(event, h2.events.StreamReset):
                    requests.pop(event.stream_id, None)
                    task = tasks.pop(event.stream_id, None)
                    if task is not None:
                        task.cancel()
                elif isinstance(event, h2.events.ConnectionTerminated):
                    writer.write(conn.data_to_send())
                    return
            writer.write(conn.data_to_send())
            data = await reader.read(65536)
    except (ConnectionError, asyncio.CancelledError):  # the client went away, or the server is stopping
        return
    finally:
        for task in tasks.values():
            task.cancel()
