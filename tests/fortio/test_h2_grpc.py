"""-h2 and -grpc without Envoy: flags, fortio's gRPC destination rule, the ping wire format, and the JSON
layout against fortio's (real fortio 1.57.3 JSON for HTTP; fortio's Go structs for gRPC), run against a real
service-go (h2c HTTP and gRPC) on 127.0.0.1."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lablib._exceptions import FortioError, FortioUsageError
from lablib.fortio import load, read_result
from lablib.fortio.flags import parse_args
from lablib.fortio.grpc_client import grpc_destination
from lablib.fortio.multiproc import thread_groups
from lablib.fortio.testing import ServiceGoProcess, SlowBackend
from lablib.service_go.pingpb import (
    PingMessage,
    decode_health_response,
    encode_health_request,
    frame,
    go_code_name,
    grpc_status_of_http,
    unframe,
)

REAL_FORTIO_JSON = Path(__file__).parent / "fixtures" / "fortio-1.57.3-result.json"

#: fortio's ``fgrpc.GRPCRunnerResults`` exported fields after the embedded ``periodic.RunnerResults``
#: (``fgrpc/grpcrunner.go``): name -> JSON type of the Go field
GRPC_FIELDS = {"RetCodes": dict, "Destination": str, "Streams": int, "Ping": bool, "Metadata": dict}


@pytest.fixture(scope="module")
def http_app():
    with ServiceGoProcess(service_time_ms=5) as app:
        yield app


@pytest.fixture(scope="module")
def grpc_app():
    with ServiceGoProcess(grpc=True, service_time_ms=5) as app:
        yield app


def _run(args: str):
    err, out = io.StringIO(), io.StringIO()
    r = load(args, stderr=err, stdout=out)
    return r, err.getvalue(), out.getvalue()


def test_flags_are_fortios():
    args = "load -grpc -ping -s 5 -c 2 -grpc-ping-delay 10ms -healthservice x -H Host:a http://service-go:8079"
    o = parse_args(args.split()).options
    assert (o.grpc, o.ping, o.streams, o.num_threads, o.grpc_ping_delay_s, o.health_service) == (
        True, True, 5, 2, 0.01, "x")
    assert parse_args(["-h2", "http://a/"]).options.h2 and not parse_args(["http://a/"]).options.h2
    assert parse_args(["-grpc", "-s", "0", "a:1"]).options.normalized().streams == 1  # fortio: -s < 1 is 1
    assert parse_args(["-grpc", "-resolve", "10.0.0.1", "a"]).options.connect_to == ("10.0.0.1", 8079)
    with pytest.raises(FortioUsageError, match=r"HTTP/1\.1 only"):
        load("load -curl -h2 http://127.0.0.1:1/", stderr=io.StringIO())


@pytest.mark.parametrize(("dest", "expected"), [
    ("service-go:8079", ("service-go", 8079, "service-go:8079")),
    ("service-go", ("service-go", 8079, "service-go:8079")),  # no scheme, no port: fortio's 8079
    ("http://service-go", ("service-go", 80, "service-go:80")),  # http:// without a port: 80
    ("http://service-go:9000/", ("service-go", 9000, "service-go:9000")),
    ("[::1]:7", ("::1", 7, "[::1]:7")),
])
def test_grpc_destination_is_fortios(dest, expected):
    assert grpc_destination(dest) == expected


@pytest.mark.parametrize("dest", ["https://a:1", "a:b", "a:1/path", "http://", ""])
def test_bad_grpc_destination_is_a_usage_error(dest):
    with pytest.raises(FortioUsageError):
        grpc_destination(dest)


def test_ping_message_wire_format():
    # protobuf's encoding, by hand: field 1 varint 1; field 3 "hi"; field 4 varint 300 (0xAC 0x02)
    assert PingMessage(seq=1, payload="hi", delay_nanos=300).encode() == b"\x08\x01\x1a\x02hi\x20\xac\x02"
    assert PingMessage().encode() == b""  # proto3 leaves zero values out
    m = PingMessage(seq=-1, ts=1_700_000_000_123_456_789, payload="é", delay_nanos=5)
    assert PingMessage.decode(m.encode()) == m
    assert len(PingMessage(seq=-1).encode()) == 11  # a negative int64 is ten varint bytes
    assert PingMessage.decode(b"\x08\x05\x2a\x01x") == PingMessage(seq=5)  # an unknown field is skipped
    with pytest.raises(ValueError):
        PingMessage.decode(b"\x1a\x05ab")
    assert unframe(frame(b"abc")) == b"abc" and unframe(b"\x00\x00\x00\x00\x05ab") is None
    assert decode_health_response(b"\x08\x01") == 1 and encode_health_request("ping") == b"\x0a\x04ping"
    assert grpc_status_of_http(503) == 14 and grpc_status_of_http(500) == 2
    assert [go_code_name(n) for n in (1, 4, 14)] == ["Canceled", "DeadlineExceeded", "Unavailable"]


def test_thread_groups_keep_a_grpc_connection_in_one_process():
    assert thread_groups(6, 2) == [[0, 2, 4], [1, 3, 5]]
    assert thread_groups(10, 2, 5) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert thread_groups(6, 4, 3) == [[0, 1, 2], [3, 4, 5]]


def test_h2_against_service_go_h2c_keeps_fortios_json_layout(http_app):
    http_app.stats(reset=True)
    r, text, out = _run(f"load -h2 -c 3 -qps 0 -n 30 -json - -loglevel Warning http://127.0.0.1:{http_app.port}/env")
    assert r.codes == {200: 30} and r.sockets_per_thread == [1, 1, 1]
    assert http_app.stats()["requests"] == 30
    ours, real = json.loads(out), json.loads(REAL_FORTIO_JSON.read_text())
    assert list(ours) == list(real)  # the same keys in the same order as real fortio's
    for key, value in real.items():
        if value is not None:
            assert isinstance(ours[key], type(value)) or {type(ours[key]), type(value)} <= {int, float}, key
    assert ours["H2"] and ours["Sizes"]["Min"] == len(b'{"message":"go v1"}')
    assert read_result(out) == r and read_result(text).codes == {200: 30}


def test_grpc_ping_json_is_fortios_grpc_result(grpc_app):
    r, text, out = _run(f"load -grpc -ping -c 2 -s 2 -qps 0 -n 20 -grpc-ping-delay 2ms -json - "
                        f"-loglevel Warning 127.0.0.1:{grpc_app.port}")
    assert r.codes == {"SERVING": 20} and r.grpc_errors == {} and r.num_threads == 4
    ours, real = json.loads(out), json.loads(REAL_FORTIO_JSON.read_text())
    runner = list(real)[: list(real).index("RetCodes")]  # periodic.RunnerResults: RunType ... ID
    assert list(ours) == [*runner, *GRPC_FIELDS, "LablibGrpcErrors"]
    for key, kind in GRPC_FIELDS.items():
        assert isinstance(ours[key], kind), key
    assert ours["RunType"] == "GRPC Ping Delay=2ms" and ours["Destination"] == f"127.0.0.1:{grpc_app.port}"
    assert ours["Metadata"] == {"user-agent": ["fortio.org/fortio-1.75.2+lablib"]} and ours["Streams"] == 2
    assert "Jitter: false\nPing SERVING : 20\nAll done 20 calls (plus 0 warmup)" in text
    t = read_result(text)
    assert t.codes == r.codes and t.num_threads == 4 and t.run_type == "GRPC Ping" and t.grpc_errors == {}


def test_grpc_health_counts_serving_and_unknown_service_as_error(grpc_app):
    r, _, _ = _run(f"load -grpc -c 1 -qps 0 -n 3 -loglevel Error 127.0.0.1:{grpc_app.port}")
    assert r.codes == {"SERVING": 3} and r.run_type == "GRPC Health for ''"
    r, text, _ = _run(f"load -grpc -healthservice nope -c 1 -qps 0 -n 2 -loglevel Warning "
                      f"127.0.0.1:{grpc_app.port}")
    assert r.codes == {"ERROR": 2} and r.grpc_errors == {"NOT_FOUND": 2}
    assert "rpc error: code = NotFound desc = unknown service" in text


def test_h2_to_a_server_without_h2c_says_so():
    with SlowBackend(0.001) as backend:  # HTTP/1.1 only: it answers the HTTP/2 preface with a 400
        url = f"http://127.0.0.1:{backend.port}/"
        with pytest.raises(FortioError, match=r"does not speak HTTP/2 without TLS"):
            load(f"load -h2 -c 1 -qps 0 -n 2 -loglevel Error {url}", stderr=io.StringIO())


def test_grpc_nothing_listening_is_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r, text, _ = _run(f"load -grpc -ping -c 1 -qps 0 -n 2 -loglevel Warning 127.0.0.1:{port}")
    assert r.codes == {"ERROR": 2} and r.grpc_errors == {"UNAVAILABLE": 2}
    assert "code = Unavailable desc = connection error" in text


def test_cli_transcripts(grpc_app, http_app):
    def cli(*args: str):
        return subprocess.run([sys.executable, "-m", "lablib.fortio", *args], capture_output=True, text=True,
                              timeout=120)

    p = cli("load", "-grpc", "-ping", "-c", "2", "-qps", "0", "-n", "6", "-json", "-",
            f"127.0.0.1:{grpc_app.port}")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["RetCodes"] == {"SERVING": 6} and "Ping SERVING : 6" in p.stderr
    p = cli("load", "-h2", "-c", "2", "-qps", "0", "-n", "6", f"http://127.0.0.1:{http_app.port}/env")
    assert p.returncode == 0 and "Code 200 : 6 (100.0 %)" in p.stderr
    p = cli("load", "-grpc", "-ping", "-n", "1", "https://x:1")
    assert p.returncode == 2 and "https is not supported" in p.stderr and "Traceback" not in p.stderr
    usage = cli("load", "-h").stderr
    flags = ("h2", "grpc", "ping", "s int", "grpc-ping-delay", "healthservice")
    assert all(f"\n  -{f}" in usage for f in flags)
