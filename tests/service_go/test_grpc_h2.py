"""service-go's gRPC face (fortio's PingServer and the health service, checked with grpcio's own client) and
its h2c HTTP: real processes, real sockets."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import h2.config
import h2.connection
import h2.events
import pytest

from lablib.fortio.testing import ServiceGoProcess
from lablib.service_go.pingpb import (
    HEALTH_CHECK_METHOD,
    PING_METHOD,
    PingMessage,
    decode_health_response,
    encode_health_request,
)

REPO = Path(__file__).resolve().parents[2]


def _stubs(port: int):
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    ping = channel.unary_unary(PING_METHOD, request_serializer=PingMessage.encode,
                               response_deserializer=PingMessage.decode)
    check = channel.unary_unary(HEALTH_CHECK_METHOD, request_serializer=encode_health_request,
                                response_deserializer=decode_health_response)
    return channel, ping, check


def test_ping_echoes_with_the_servers_time_after_service_time_plus_delay():
    with ServiceGoProcess(grpc=True, service_time_ms=30) as app:
        channel, ping, _ = _stubs(app.port)
        with channel:
            ping(PingMessage(seq=0), timeout=10)  # connect first
            t0 = time.monotonic()
            before = time.time_ns()
            reply = ping(PingMessage(seq=7, ts=1, payload="héllo", delay_nanos=50_000_000), timeout=10)
            elapsed = time.monotonic() - t0
        assert (reply.seq, reply.payload, reply.delay_nanos) == (7, "héllo", 50_000_000)
        assert before <= reply.ts <= time.time_ns()  # fortio sets ts when the call arrives
        assert 0.08 <= elapsed < 2.0  # 30 ms service time + 50 ms asked
        assert app.stats()["requests"] == 2


def test_health_check_answers_like_fortios_ping_server():
    with ServiceGoProcess(grpc=True, service_time_ms=0) as app:
        channel, _, check = _stubs(app.port)
        with channel:
            assert check("", timeout=10) == 1 and check("ping", timeout=10) == 1  # SERVING
            with pytest.raises(grpc.RpcError) as e:
                check("other", timeout=10)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_fault_knob_ends_calls_with_the_grpc_status_of_the_http_code():
    knobs = ("--fault-code", "503", "--fault-fraction", "0.5")
    with ServiceGoProcess(*knobs, grpc=True, service_time_ms=0) as app:
        channel, ping, _ = _stubs(app.port)
        with channel:
            outcomes = []
            for _ in range(4):
                try:
                    ping(PingMessage(), timeout=10)
                    outcomes.append("OK")
                except grpc.RpcError as e:
                    outcomes.append(e.code().name)
            assert outcomes == ["OK", "UNAVAILABLE", "OK", "UNAVAILABLE"]
            status, body = app.request("POST", "/fault", b'{"code": 504, "fraction": 1.0}')
            assert status == 200 and json.loads(body)["code"] == 504
            with pytest.raises(grpc.RpcError) as e:
                ping(PingMessage(), timeout=10)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE and e.value.details() == "fault 504"


def test_concurrent_calls_show_in_the_peak():
    with ServiceGoProcess(grpc=True, service_time_ms=200) as app:
        channel, ping, _ = _stubs(app.port)
        with channel:
            futures = [ping.future(PingMessage(seq=i), timeout=10) for i in range(6)]
            assert [f.result().seq for f in futures] == list(range(6))
        stats = app.stats(reset=True)
        assert stats["requests"] == 6 and stats["max_in_flight"] == 6 and stats["in_flight"] == 0
        assert app.stats()["requests"] == 0


def test_h2c_multiplexes_requests_on_one_connection_and_http1_still_works():
    with ServiceGoProcess(service_time_ms=200) as app:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        with socket.create_connection(("127.0.0.1", app.port), timeout=5) as s:
            conn.initiate_connection()
            for sid in (1, 3, 5, 7, 9):
                conn.send_headers(sid, [(b":method", b"GET"), (b":path", b"/env"), (b":scheme", b"http"),
                                        (b":authority", b"service-go")], end_stream=True)
            s.sendall(conn.data_to_send())
            bodies: dict[int, bytes] = {}
            statuses: dict[int, bytes] = {}
            ended: set[int] = set()
            while len(ended) < 5:
                for ev in conn.receive_data(s.recv(65536)):
                    if isinstance(ev, h2.events.ResponseReceived):
                        statuses[ev.stream_id] = dict(ev.headers)[b":status"]
                    elif isinstance(ev, h2.events.DataReceived):
                        bodies[ev.stream_id] = bodies.get(ev.stream_id, b"") + ev.data
                    elif isinstance(ev, h2.events.StreamEnded):
                        ended.add(ev.stream_id)
                s.sendall(conn.data_to_send())
        assert set(statuses.values()) == {b"200"} and set(bodies.values()) == {b'{"message":"go v1"}'}
        assert app.stats()["max_in_flight"] == 5  # all five at once, on one connection
        with socket.create_connection(("127.0.0.1", app.port), timeout=5) as s:
            s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200 OK")


def test_grpc_port_taken_is_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = subprocess.run([sys.executable, "-m", "lablib.service_go", "--grpc", "--port", str(port)],
                           cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in p.stderr
