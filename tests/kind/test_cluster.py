"""The book's experiment end to end on a real cluster with real Istio (marker ``cluster``).

Two ways to run it:

- ``LABLIB_TEST_CONTEXT=<context>`` (kubeconfig from ``$KUBECONFIG`` or ``~/.kube/config``): an existing
  cluster that runs Istio (istiod, sidecar injection, ``meshConfig.accessLogFile=/dev/stdout`` for the
  access-log test) and can pull ``lablib/service-go:v1|v2`` (build them from docker/service-go/Dockerfile and
  load or push them). The context is allowed for this run only; the tests apply into the namespace
  ``$LABLIB_TEST_NAMESPACE`` (default ``lablib-test``, created and deleted by the lab) and never delete the
  cluster. No docker or kind needed.
- otherwise, where docker (with a daemon), kind and istioctl exist: creates the kind cluster
  ``istio-cb-lab-test`` (or ``$LABLIB_KIND_TEST_CLUSTER``), installs Istio, builds and loads the images,
  and deletes the cluster at the end if this run created it (``LABLIB_KEEP_CLUSTER=1`` keeps it). Elsewhere
  every test is skipped with the reason ``detect()`` gives (what is missing and how to get it).

Both apply fortio + service-go + the VirtualService + the circuit-breaking DestinationRule, run
``fortio load -c 20/30/40``, read the sidecar's stats and access log, fail a pod and clean up.

    LABLIB_TEST_CONTEXT=my-ctx make test PYTEST_ARGS="-m cluster tests/kind"
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lablib.backends.kind import KindBackend, detect

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(3600)]

NAME = os.environ.get("LABLIB_KIND_TEST_CLUSTER", "istio-cb-lab-test")
CONTEXT = os.environ.get("LABLIB_TEST_CONTEXT", "")
NAMESPACE = os.environ.get("LABLIB_TEST_NAMESPACE", "lablib-test") if CONTEXT else "default"
HOST = f"service-go.{NAMESPACE}.svc.cluster.local"
CLUSTER = f"outbound|80||{HOST}"
REPO = Path(__file__).resolve().parents[2]
BOOK = [REPO / rel for rel in ("manifests/kubernetes/fortio.yaml", "manifests/service/go/service-go.yaml",
                               "manifests/istio/route/virtual-service-go.yaml",
                               "manifests/istio/resilience/destination-rule-go-cb.yaml")]


@pytest.fixture(scope="module")
def lab():
    say = lambda done, total, msg: print(f"[{done}/{total}] {msg}")  # noqa: E731
    if CONTEXT:
        kb = KindBackend(name=NAME, context=CONTEXT, allow_contexts=[CONTEXT], namespace=NAMESPACE,
                         progress=say)
        kb.start()
        try:
            yield kb
        finally:
            kb.cleanup()
            kb.close()
        return
    found = detect()
    if not found.usable:
        pytest.skip(found.reason)
    existing = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, check=True).stdout
    created_here = NAME not in existing.split()
    kb = KindBackend(name=NAME, progress=say)
    kb.start()
    try:
        yield kb
    finally:
        keep = os.environ.get("LABLIB_KEEP_CLUSTER") == "1"
        kb.cleanup(delete_cluster=created_here and not keep)
        kb.close()


@pytest.fixture(scope="module")
def applied(lab):
    refs = [ref for rel in BOOK for ref in lab.apply(rel)]
    assert refs == ["Pod/fortio", "Service/service-go", "Deployment/service-go-v1",
                    "Deployment/service-go-v2", "VirtualService/service-go", "DestinationRule/service-go"]
    return refs


def test_curl_through_the_sidecar(lab, applied):
    result = lab.fortio("load -curl http://service-go/env")
    assert result.codes == {200: 1}
    text = result.raw["curl"]
    assert "HTTP/1.1 200" in text and "server: envoy" in text.lower()
    assert '"go v1"' in text or '"go v2"' in text


def test_breaker_trips_more_as_concurrency_grows(lab, applied):
    shares = {}
    for c in (20, 30, 40):
        lab.reset_counters()
        result = lab.fortio(f"load -c {c} -qps 0 -n {10 * c} -loglevel Error http://service-go/env")
        assert result.count == 10 * c
        assert set(result.codes) <= {200, 503}, result.codes
        shares[c] = result.share(503)
        stats = lab.stats(CLUSTER)
        overflows = sum(stats.overflows.values())
        if result.codes.get(503, 0):
            # Every 503 here is a breaker's (UO): the sidecar counted overflows for this cluster.
            assert overflows > 0, dict(stats.values)
        assert stats.get("upstream_rq_total") > 0
    # The book: 4% -> 32% -> 40%. Percentages vary run to run; the trend, with a margin, does not.
    assert shares[40] >= shares[20] - 0.05, shares
    assert shares[40] > 0, shares


def test_hosts_and_proxy_config(lab, applied):
    hosts = lab.hosts(CLUSTER)
    assert len(hosts) == 2 and all(h.address.endswith(":80") for h in hosts)
    config = lab.proxy_config("cluster")
    assert CLUSTER in config
    assert "maxRequests: 10" in config or "max_requests: 10" in config


def test_explain_attributes_every_503_to_the_breaker(lab, applied):
    result = lab.fortio("load -c 40 -qps 0 -n 400 -loglevel Error http://service-go/env")
    explained = lab.explain(result)  # from the fortio sidecar's access log (Istio's text format)
    assert explained.total == result.count
    assert explained.uo == result.codes.get(503, 0)
    assert explained.uo == explained.client_rq_overflows


def test_a_failing_pod_answers_503_until_healed(lab, applied):
    (pod,) = lab.set_fault("service-go-v1", code=503, fraction=1.0)
    try:
        assert "inbound|80|" in lab.proxy_config("cluster", pod=pod)  # that pod's own sidecar
        result = lab.fortio("load -c 1 -qps 0 -n 40 -loglevel Error http://service-go/env")
        # v1 answers 503 until outlier detection ejects it; v2 keeps answering 200.
        assert result.codes.get(503, 0) > 0 and result.codes.get(200, 0) > 0, result.codes
    finally:
        assert lab.set_fault("service-go-v1", fraction=0.0) == [pod]


def test_cleanup_removes_everything_labelled(lab, applied):
    lab.cleanup()
    assert lab.delete_labelled() == []
