"""Which connectionPool fields reject and which make requests wait, on real Envoy 1.40 sidecars configured as
Istio 1.30 would (issue 19, point 1 of "statements to correct").

``tcp.maxConnections`` refuses a new connection, and the request waits in the pending queue for one (Istio
leaves the queue unlimited when ``http1MaxPendingRequests`` is unset); ``maxRequestsPerConnection`` closes a
connection after N requests and refuses nothing; only a full pending queue (``http1MaxPendingRequests``) or
``http2MaxRequests`` answers 503 ``UO`` (the server sidecar has the same pool on its inbound cluster, so a
few may be its own, reaching the client as upstream 503s). Counters and codes only, never a share.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lablib.lab import Lab
from tests.claims._lab import INBOUND, SERVICE, URL, apply_rule, deltas, embedded_lab

pytestmark = pytest.mark.envoy

POD = "service-go-v1-0"  # the one server pod (embedded_lab)
COUNTERS = ("upstream_cx_overflow", "upstream_rq_pending_total", "upstream_rq_pending_overflow",
            "upstream_rq_active_overflow", "upstream_cx_total", "upstream_cx_max_requests",
            "upstream_rq_total")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("claims-pool")


@pytest.fixture(scope="module")
def lab(home: Path) -> Iterator[Lab]:
    with embedded_lab(home, "claims-pool", service_time_ms=20) as the_lab:
        yield the_lab


def run(lab: Lab, home: Path, pool: dict[str, object], c: int, n: int
        ) -> tuple[dict[int, int], dict[str, int], dict[str, int]]:
    """fortio's codes, the client sidecar's counters and the server sidecar's (Istio gives the DR's pool to
    the server's ``inbound|80||`` cluster too: it may refuse a request the client's pool let through)."""
    apply_rule(lab, home, pool=pool)
    before, server_before = lab.stats(SERVICE), lab.stats(INBOUND, pod=POD)
    result = lab.fortio(f"load -c {c} -qps 0 -n {n} -quiet {URL}")
    return (dict(result.codes), deltas(before, lab.stats(SERVICE), *COUNTERS),
            deltas(server_before, lab.stats(INBOUND, pod=POD), *COUNTERS))


def test_max_connections_queues_requests_instead_of_rejecting(lab: Lab, home: Path) -> None:
    codes, grew, _ = run(lab, home, {"tcp": {"maxConnections": 1}}, c=6, n=60)
    assert codes == {200: 60}, f"maxConnections alone rejected requests: {codes}"
    assert grew["upstream_cx_overflow"] > 0, "the limit must have refused new connections"
    assert grew["upstream_rq_pending_total"] > 0 and grew["upstream_rq_pending_overflow"] == 0, grew
    assert grew["upstream_rq_active_overflow"] == 0, grew


def test_max_requests_per_connection_closes_connections_and_rejects_nothing(lab: Lab, home: Path) -> None:
    codes, grew, _ = run(lab, home, {"http": {"maxRequestsPerConnection": 1}}, c=4, n=40)
    assert codes == {200: 40}, f"maxRequestsPerConnection rejected requests: {codes}"
    # Each connection carried one request, then Envoy closed it: one connection per request.
    assert grew["upstream_cx_max_requests"] >= 36 and grew["upstream_cx_total"] >= 36, grew


def test_only_the_pending_queue_and_max_requests_reject(lab: Lab, home: Path) -> None:
    # Every 503 is a full pending queue's, or max requests', on the client's sidecar or, now and then, on the
    # server's (once in a CI rehearsal: 33 503s, 32 of them the client's pending overflows).
    pool = {"tcp": {"maxConnections": 1}, "http": {"http1MaxPendingRequests": 1}}
    codes, grew, server = run(lab, home, pool, c=6, n=60)
    refused = grew["upstream_rq_pending_overflow"] + server["upstream_rq_pending_overflow"]
    assert codes.get(503, 0) > 0 and grew["upstream_rq_pending_overflow"] > 0, (codes, grew, server)
    assert refused == codes[503], (codes, grew, server)
    codes, grew, server = run(lab, home, {"http": {"http2MaxRequests": 1}}, c=6, n=60)
    refused = grew["upstream_rq_active_overflow"] + server["upstream_rq_active_overflow"]
    assert codes.get(503, 0) > 0 and grew["upstream_rq_active_overflow"] > 0, (codes, grew, server)
    assert refused == codes[503], (codes, grew, server)
