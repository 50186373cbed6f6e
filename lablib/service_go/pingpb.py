"""fortio's ``fgrpc.PingServer`` and the standard gRPC health check, on the wire, without generated code.

The messages (``fgrpc/ping.proto`` in fortio, ``grpc/health/v1/health.proto``)::

    message PingMessage { int64 seq = 1; int64 ts = 2; string payload = 3; int64 delayNanos = 4; }
    service PingServer { rpc Ping (PingMessage) returns (PingMessage) {} }
    message HealthCheckRequest { string service = 1; }
    message HealthCheckResponse { ServingStatus status = 1; }   // UNKNOWN 0, SERVING 1, NOT_SERVING 2, ...

are small enough to encode by hand (proto3: zero values are left out, unknown fields skipped), which keeps
protobuf and grpcio-tools out of the lab. Shared by the server (``lablib.service_go``, with grpcio) and the
load generator's client (``lablib.fortio``); stdlib-only, so the service-go image needs nothing more for it.
Also here: gRPC's length-prefixed message framing and the status code names, as gRPC spells them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "HEALTH_CHECK_METHOD",
    "HEALTH_STATUS",
    "PING_METHOD",
    "STATUS_NAMES",
    "PingMessage",
    "decode_health_request",
    "decode_health_response",
    "encode_health_request",
    "encode_health_response",
    "frame",
    "go_code_name",
    "grpc_status_of_http",
    "unframe",
]

#: the gRPC method paths (``/package.Service/Method``)
PING_METHOD = "/fgrpc.PingServer/Ping"
HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"

#: gRPC status codes by number (grpc/doc/statuscodes.md); 14 UNAVAILABLE is what an Envoy overflow gives
STATUS_NAMES = {
    0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}  # fmt: skip

#: ``HealthCheckResponse.ServingStatus`` names by number
HEALTH_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}

#: grpc/doc/http-grpc-status-mapping.md: the status a client reports for an HTTP status without grpc-status
_HTTP_TO_GRPC = {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}


def go_code_name(status: int) -> str:
    """grpc-go's ``codes.Code.String()`` (how fortio's log lines name a status): ``Unavailable``…"""
    name = STATUS_NAMES.get(status)
    if name is None:
        return f"Code({status})"
    return "Canceled" if name == "CANCELLED" else "".join(w.capitalize() for w in name.split("_"))


def grpc_status_of_http(code: int) -> int:
    """The gRPC status for an HTTP status that came without ``grpc-status`` (e.g. 503 -> 14 UNAVAILABLE)."""
    return _HTTP_TO_GRPC.get(code, 2)  # anything else: UNKNOWN


@dataclass(frozen=True)
class PingMessage:
    """fortio's ping request and reply: the reply echoes the request with ``ts`` set to the server's time."""

    seq: int = 0
    ts: int = 0
    payload: str = ""
    delay_nanos: int = 0

    def encode(self) -> bytes:
        out = bytearray()
        for number, value in ((1, self.seq), (2, self.ts)):
            if value:
                out += _varint(number << 3) + _varint(value)
        if self.payload:
            data = self.payload.encode("utf-8")
            out += _varint(3 << 3 | 2) + _varint(len(data)) + data
        if self.delay_nanos:
            out += _varint(4 << 3) + _varint(self.delay_nanos)
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> PingMessage:
        """Read a PingMessage (ValueError when the bytes are not one)."""
        fields = _fields(data)
        payload = fields.get(3, b"")
        return cls(
            seq=_int64(fields.get(1, 0)),
            ts=_int64(fields.get(2, 0)),
            payload=payload.decode("utf-8") if isinstance(payload, bytes) else "",
            delay_nanos=_int64(fields.get(4, 0)),
        )


def encode_health_request(service: str) -> bytes:
    data = service.encode("utf-8")
    return _varint(1 << 3 | 2) + _varint(len(data)) + data if data else b""


def decode_health_request(data: bytes) -> str:
    value = _fields(data).get(1, b"")
    return value.decode("utf-8") if isinstance(value, bytes) else ""


def encode_health_response(status: int) -> bytes:
    return _varint(1 << 3) + _varint(status) if status else b""


def decode_health_response(data: bytes) -> int:
    value = _fields(data).get(1, 0)
    return value if isinstance(value, int) else 0


def frame(message: bytes) -> bytes:
    """gRPC's length-prefixed message: flag 0 (not compressed), 4-byte big-endian length, the message."""
    return struct.pack(">BI", 0, len(message)) + message


def unframe(body: bytes) -> bytes | None:
    """The first message of a gRPC body, or None when the body does not hold a whole uncompressed one."""
    if len(body) < 5:
        return None
    flag, length = struct.unpack(">BI", body[:5])
    if flag != 0 or len(body) < 5 + length:
        return None
    return body[5 : 5 + length]


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 as protobuf writes it: ten bytes of two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int64(value: int | bytes) -> int:
    if not isinstance(value, int):
        return 0
    return value - (1 << 64) if value >= 1 << 63 else value


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> dict[int, int | bytes]:
    """Field number -> value (varint as int, length-delimited as bytes; last one wins, as protobuf reads)."""
    out: dict[int, int | bytes] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            out[number], pos = _read_varint(data, pos)
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated length-delimited field")
            out[number], pos = data[pos : pos + length], pos + length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated fixed-size field")
    return out
