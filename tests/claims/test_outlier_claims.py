"""What counts toward an ejection, on real Envoy 1.40 sidecars configured as Istio 1.30 would (issue 19,
points 2-4 of "statements to correct").

* A 5xx that is not a gateway error resets the consecutive-gateway-error count (``putHttpResponseCode`` in
  ``source/common/upstream/outlier_detection_impl.cc``): with ``consecutiveGatewayErrors: 3``, 502 502 500 502
  ejects nobody, 502 502 502 ejects.
* The client sidecar's own overflow (503 ``UO``) never counts, whether it happened before a host was chosen
  (pending queue full: no host) or after (``max_requests`` reached when the request got a connection: the host
  is chosen, the access log names it). The router skips outlier accounting for a request it dropped itself
  (envoyproxy/envoy#25488, fixing #25487, which was the ``max_requests`` case).
* A server sidecar's inbound overflow does count: its 503 reaches the client as an upstream response.

Calls go one by one through the client sidecar where the order matters; every property is a counter or a
host's health flag, never a share. While the client's own breaker is overflowed, a Sidecar gives the server a
pool larger than the load, so no server overflow (which counts) mixes in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lablib.lab import Lab
from lablib.labs.the_server_protects_itself.mesh import UNLIMITED, sidecar_object
from tests.claims._lab import (
    INBOUND,
    SERVICE,
    URL,
    answer,
    apply_rule,
    client_pod,
    deltas,
    ejected,
    embedded_lab,
    eventually,
    write,
)

pytestmark = pytest.mark.envoy

POD = "service-go-v1-0"
#: Only gateway errors eject (Istio: consecutive5xxErrors 0 sets enforcing_consecutive_5xx 0).
GATEWAY_ONLY = {"consecutive5xxErrors": 0, "consecutiveGatewayErrors": 3, "interval": "1s",
                "maxEjectionPercent": 100}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("claims-outlier")


@pytest.fixture(scope="module")
def lab(home: Path) -> Iterator[Lab]:
    with embedded_lab(home, "claims-outlier", service_time_ms=20) as the_lab:
        yield the_lab


@pytest.fixture(autouse=True)
def healthy(lab: Lab) -> Iterator[None]:
    lab.set_fault("service-go-v1", code=200, fraction=0.0)
    yield
    lab.set_fault("service-go-v1", code=200, fraction=0.0)


def test_a_500_resets_the_consecutive_gateway_error_count(lab: Lab, home: Path) -> None:
    # Each phase gets a rule of its own (another baseEjectionTime), so Envoy builds a new cluster and a new
    # outlier detector: no count carries over.
    apply_rule(lab, home, outlier={**GATEWAY_ONLY, "baseEjectionTime": "30s"})
    before = lab.stats(SERVICE)
    assert answer(lab, "service-go-v1", [502, 502, 500, 502]) == [502, 502, 500, 502], "no retry hides a code"
    assert not eventually(lambda: bool(ejected(lab)), timeout=1.0), "502 502 500 502 ejected the host"
    detected = "outlier_detection.ejections_detected_consecutive_gateway_failure"
    assert deltas(before, lab.stats(SERVICE), detected) == {detected: 0}
    # If the 500 had reset nothing, the next 502 would be the fourth gateway error in a row; it is the second.
    assert answer(lab, "service-go-v1", [502]) == [502]
    assert not eventually(lambda: bool(ejected(lab)), timeout=1.0), "the count did not restart at the 500"

    apply_rule(lab, home, outlier={**GATEWAY_ONLY, "baseEjectionTime": "31s"})
    before = lab.stats(SERVICE)
    assert answer(lab, "service-go-v1", [502, 502, 502]) == [502, 502, 502]
    assert eventually(lambda: bool(ejected(lab))), "three gateway errors in a row must eject the host"
    grew = deltas(before, lab.stats(SERVICE),
                  "outlier_detection.ejections_enforced_consecutive_gateway_failure",
                  "outlier_detection.ejections_enforced_consecutive_5xx")
    assert grew == {"outlier_detection.ejections_enforced_consecutive_gateway_failure": 1,
                    "outlier_detection.ejections_enforced_consecutive_5xx": 0}, grew


def _overflow_run(lab: Lab, home: Path, pool: dict[str, object], base: str) -> tuple[dict[str, int], list]:
    """A run that overflows the client sidecar's own breaker, under a rule that ejects at the first counted
    5xx; the counters it moved and its 503 UO records."""
    apply_rule(lab, home, pool=pool, outlier={"consecutive5xxErrors": 1, "interval": "1s",
                                              "baseEjectionTime": base, "maxEjectionPercent": 100})
    # The rule's pool is on the server's inbound cluster too, where an overflow does count (the last test): on
    # a busy machine the server sidecar overflowed once in a CI run and its 503 ejected the host. A Sidecar
    # pool larger than the load replaces the rule's there, so only the client's own breaker trips.
    roomy = write(home / "manifests" / "sidecar-roomy.yaml", yaml.safe_dump(sidecar_object(UNLIMITED)))
    lab.apply(roomy)
    try:
        server_before, before = lab.stats(INBOUND, pod=POD), lab.stats(SERVICE)
        result = lab.fortio(f"load -c 8 -qps 0 -n 160 -quiet {URL}")
        grew = deltas(before, lab.stats(SERVICE), "upstream_rq_pending_overflow",
                      "upstream_rq_active_overflow", "outlier_detection.ejections_detected_consecutive_5xx",
                      "outlier_detection.ejections_detected_consecutive_local_origin_failure",
                      "outlier_detection.ejections_enforced_total")
        server = deltas(server_before, lab.stats(INBOUND, pod=POD), "upstream_rq_pending_overflow",
                        "upstream_rq_active_overflow")
    finally:
        lab.delete(roomy)
    assert not any(server.values()), server
    records = lab.responses(lab.backend.last_run.start - 0.001, wait_for=160)
    uo = [r for r in records if "UO" in r.flag_set]
    flags = {f: sum(1 for r in records if f in r.flag_set) for f in ("UO", "UH")}
    assert result.codes.get(200, 0) > 0 and len(uo) == result.codes.get(503, 0) > 0, \
        (result.codes, flags, grew)
    assert all(r.code == 503 and r.overloaded for r in uo)
    return grew, uo


def test_the_client_sidecars_pending_overflow_has_no_host_and_never_counts(lab: Lab, home: Path) -> None:
    pool = {"tcp": {"maxConnections": 1}, "http": {"http1MaxPendingRequests": 1}}
    grew, uo = _overflow_run(lab, home, pool, "32s")
    assert grew["upstream_rq_pending_overflow"] == len(uo) and grew["upstream_rq_active_overflow"] == 0, grew
    assert not any(r.upstream_host for r in uo), "a pending overflow happens before a host is chosen"
    assert grew["outlier_detection.ejections_detected_consecutive_5xx"] == 0, grew
    assert grew["outlier_detection.ejections_enforced_total"] == 0 and not ejected(lab), grew


def test_the_client_sidecars_max_requests_overflow_has_a_host_and_still_never_counts(lab: Lab,
                                                                                     home: Path) -> None:
    # http2MaxRequests alone: connections and the pending queue are unlimited, so every 503 is max_requests
    # refusing a request that already got a connection to a chosen host (envoyproxy/envoy#25487's case).
    grew, uo = _overflow_run(lab, home, {"http": {"http2MaxRequests": 1}}, "33s")
    assert grew["upstream_rq_active_overflow"] == len(uo) and grew["upstream_rq_pending_overflow"] == 0, grew
    assert all(r.upstream_host for r in uo), "the access log names the host each refused request was sent to"
    assert grew["outlier_detection.ejections_detected_consecutive_5xx"] == 0, grew
    assert grew["outlier_detection.ejections_detected_consecutive_local_origin_failure"] == 0, grew
    assert grew["outlier_detection.ejections_enforced_total"] == 0 and not ejected(lab), grew


def test_a_server_sidecars_overflow_reaches_clients_as_an_upstream_503_and_counts(lab: Lab,
                                                                                   home: Path) -> None:
    # Three client pods, each with its own breaker admitting about 2, against one pod whose sidecar has the
    # same pool on its inbound cluster: together they overflow the server side. The app never fails.
    clients = ["fortio", "fortio-2", "fortio-3"]
    for pod in clients[1:]:
        lab.apply(write(home / "manifests" / f"{pod}.yaml", client_pod(pod)))
    tight = {"tcp": {"maxConnections": 1}, "http": {"http1MaxPendingRequests": 1, "http2MaxRequests": 1}}
    apply_rule(lab, home, pool=tight, outlier={"consecutive5xxErrors": 3, "interval": "1s",
                                               "baseEjectionTime": "34s", "maxEjectionPercent": 100})
    server_before = lab.stats(INBOUND, pod=POD)
    before = {pod: lab.stats(SERVICE, pod=pod) for pod in clients}
    starts = {pod: len(lab.backend.responses(pod=pod)) for pod in clients}
    lab.fortio_many({pod: f"load -c 6 -qps 0 -n 120 -quiet {URL}" for pod in clients})

    server = lab.stats(INBOUND, pod=POD)
    refused = sum(deltas(server_before, server, "upstream_rq_pending_overflow", "upstream_rq_active_overflow")
                  .values())
    assert refused > 0, "the server sidecar's inbound breaker must refuse some requests"
    from_server = []
    ejections = {}
    for pod in clients:
        records = lab.backend.responses(pod=pod, wait_for=starts[pod] + 120)[starts[pod]:]
        # The server sidecar's 503: an upstream response (no local flag), still marked x-envoy-overloaded.
        from_server += [r for r in records
                        if r.code == 503 and not r.flag_set and r.details == "via_upstream"]
        enforced = "outlier_detection.ejections_enforced_consecutive_5xx"
        ejections[pod] = deltas(before[pod], lab.stats(SERVICE, pod=pod), enforced)[enforced]
    assert from_server and all(r.overloaded for r in from_server), len(from_server)
    assert any(n >= 1 for n in ejections.values()), f"no client ejected the pod: {ejections}"
    for pod in clients[1:]:
        lab.delete(home / "manifests" / f"{pod}.yaml")
