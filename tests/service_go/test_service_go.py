"""service-go: the book's responses, the fault knobs, and hundreds of concurrent keep-alive connections."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lablib.service_go import Fault, ServiceGo

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[callable]:
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> int:
        port_file = tmp_path / f"port{len(procs)}"
        p = subprocess.Popen([sys.executable, "-m", "lablib.service_go", "--port", "0", "--port-file",
                              str(port_file), *args], cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        procs.append(p)
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert p.poll() is None, p.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        return int(port_file.read_text())

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=10)


async def _request(port: int, method: str = "GET", path: str = "/env", body: bytes = b"",
                   reader_writer=None) -> tuple[int, dict[str, str], bytes]:
    reader, writer = reader_writer or await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: service-go\r\n"
                 f"content-length: {len(body)}\r\n\r\n".encode()
                 + body)
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    status = int(head.split(" ", 2)[1])
    lines = [line for line in head.split("\r\n")[1:] if line]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    data = await reader.readexactly(int(headers["content-length"]))
    if reader_writer is None:
        writer.close()
    return status, headers, data


def request(port: int, method: str = "GET", path: str = "/env", body: bytes = b""):
    return asyncio.run(_request(port, method, path, body))


def test_env_and_status_answer_like_the_books_app(server):
    port = server("--version", "v2", "--service-time-ms", "1")
    status, headers, body = request(port)
    assert status == 200
    assert body == b'{"message":"go v2"}'
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["content-length"] == "19"
    assert request(port, path="/status")[::2] == (200, b"ok")
    assert request(port, path="/nope")[0] == 404


def test_fault_knobs_at_start_and_at_runtime(server):
    port = server("--service-time-ms", "0", "--fault-code", "500", "--fault-fraction", "0.5")
    assert [request(port)[0] for _ in range(4)] == [200, 500, 200, 500]
    status, _, body = request(port, "POST", "/fault", b'{"code": 503, "fraction": 1.0}')
    assert status == 200 and json.loads(body) == {"code": 503, "fraction": 1.0, "delay_ms": 0.0}
    assert {request(port)[0] for _ in range(5)} == {503}
    assert json.loads(request(port, path="/fault")[2]) == {"code": 503, "fraction": 1.0, "delay_ms": 0.0}
    assert request(port, "POST", "/fault", b'{"code": 503, "fraction": 0}')[0] == 200
    assert {request(port)[0] for _ in range(5)} == {200}
    bad = request(port, "POST", "/fault", b'{"code": 503, "fraction": 7}')
    assert bad[0] == 400 and b"fraction" in bad[2]


def test_bad_flags_exit_with_a_message():
    out = subprocess.run([sys.executable, "-m", "lablib.service_go", "--fault-fraction", "2"], cwd=REPO,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "between 0 and 1" in out.stderr


def test_fault_endpoint_is_loopback_only():
    app = ServiceGo("v1", service_time_ms=0)
    status, _, _ = asyncio.run(app.handle("POST", "/fault", b'{"code": 503}', "10.1.2.3"))
    assert status == 403
    assert app.fault.fraction == 0
    status, _, _ = asyncio.run(app.handle("POST", "/fault", b'{"code": 503}', "::1"))
    assert status == 200 and app.fault.code == 503 and app.fault.fraction == 1.0


@pytest.mark.parametrize(("fraction", "calls", "failures"), [(0.0, 10, 0), (1.0, 10, 10), (0.5, 10, 5),
                                                              (0.25, 8, 2), (0.3, 10, 3)])
def test_fault_fraction_is_exact_and_deterministic(fraction, calls, failures):
    fault = Fault(code=503, fraction=fraction)
    assert sum(fault.next_code() == 503 for _ in range(calls)) == failures


def test_fault_rejects_nonsense():
    with pytest.raises(ValueError, match="HTTP status"):
        Fault(code=42)
    with pytest.raises(ValueError, match="between 0 and 1"):
        Fault(fraction=-0.1)


def test_hundreds_of_concurrent_keepalive_connections_with_25ms_service_time(server):
    port = server("--service-time-ms", "25")
    connections, per_connection = 300, 4

    async def client() -> list[int]:
        rw = await asyncio.open_connection("127.0.0.1", port)
        codes = [(await _request(port, reader_writer=rw))[0] for _ in range(per_connection)]
        rw[1].close()
        return codes

    async def main() -> tuple[list[list[int]], float]:
        t0 = time.monotonic()
        codes = await asyncio.gather(*(client() for _ in range(connections)))
        return codes, time.monotonic() - t0

    codes, elapsed = asyncio.run(main())
    assert all(c == [200] * per_connection for c in codes)
    # Served one at a time this would take 300 * 4 * 25 ms = 30 s; concurrently, about 4 * 25 ms plus
    # overhead.
    assert elapsed < 10, elapsed
    stats = json.loads(request(port, path="/stats")[2])
    assert stats["requests"] == connections * per_connection
    assert stats["max_in_flight"] >= connections // 2, stats


def test_with_a_control_socket_faults_are_set_only_through_it_and_only_by_its_owner(server, tmp_path):
    import os
    import shutil
    import stat

    from lablib.envoy.admin import UnixHTTPConnection

    sock = tmp_path / "app.sock"
    port = server("--control-socket", str(sock))
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    status, _, body = request(port, "POST", "/fault", b'{"code": 503, "fraction": 1.0}')
    assert status == 403 and b"control socket" in body  # loopback TCP is any local user: refused
    assert request(port)[0] == 200
    conn = UnixHTTPConnection(sock, timeout=5)
    conn.request("POST", "/fault", body=b'{"code": 503, "fraction": 1.0}')
    assert conn.getresponse().status == 200
    conn.close()
    assert request(port)[0] == 503
    if os.geteuid() == 0 and shutil.which("setpriv"):
        tmp_path.chmod(0o755)
        tmp_path.parent.chmod(0o755)
        connect = ("import socket, sys\ntry:\n    socket.socket(socket.AF_UNIX).connect(sys.argv[1])\n"
                   "except PermissionError:\n    sys.exit(3)\n")
        probe = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                sys.executable, "-c", connect, str(sock)], capture_output=True, text=True,
                               timeout=30)
        assert probe.returncode == 3, probe.stderr  # the connect itself was refused
