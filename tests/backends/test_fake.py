"""``FakeBackend``: the contract without Envoy. Its results come from the applied DestinationRule through the
same planning as the embedded mesh and the breaker theory, so they are checked here against
``lablib.translate`` + ``lablib.theory`` computed independently, against each other (counters, access log,
explain, hosts), and for determinism. Its errors are the real backends' (validation at FILE:LINE, unknown
pods and clusters), in both languages."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from lablib import LabError, ParameterError, ValidationFailed
from lablib.backends.base import Backend
from lablib.backends.fake import FakeBackend
from lablib.lab import Lab
from lablib.lab_defaults import MANIFESTS
from lablib.manifests import load_file
from lablib.theory import fast_rejection_bound, limits_for, theoretical_limit
from lablib.translate import Endpoint, translate

SERVICE = "outbound|80||service-go.default.svc.cluster.local"
SUBSET_V1 = "outbound|80|v1|service-go.default.svc.cluster.local"
URL = "http://service-go/env"

SERVICE_V1 = """\
apiVersion: v1
kind: Service
metadata: {name: service-go, labels: {app: service-go}}
spec:
  selector: {app: service-go}
  ports: [{name: http, port: 80, targetPort: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: service-go-v1, labels: {app: service-go, version: v1}}
spec:
  replicas: 2
  selector: {matchLabels: {app: service-go, version: v1}}
  template:
    metadata: {labels: {app: service-go, version: v1}}
    spec:
      containers:
      - {name: service-go, image: "lablib/service-go:v1", ports: [{containerPort: 80}]}
"""

#: L = 1 in flight + 1 pending = 2 (HTTP/1.1 limited by connections: the pending queue is used).
TIGHT_RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: service-go}
spec:
  host: service-go
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, http2MaxRequests: 1}
"""


@pytest.fixture
def write(tmp_path: Path):
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path
    return _write


@pytest.fixture
def lab(write) -> FakeBackend:
    fake = FakeBackend()
    fake.apply(MANIFESTS / "kubernetes" / "fortio.yaml")
    fake.apply(write("service.yaml", SERVICE_V1))
    return fake


def _theory_limit(*paths: Path) -> float:
    """L of the route to service-go, from translate + theory alone (no backend)."""
    objects = [m for p in paths for m in load_file(p)]
    labels = {"app": "service-go", "version": "v1"}
    pods = [Endpoint(pod=f"service-go-v1-{i}", namespace="default", labels=labels, address="127.0.0.1",
                     port=1000 + i) for i in range(2)]
    return theoretical_limit(limits_for(translate(objects, pods), "service-go", port=80))


def test_the_fake_is_a_backend_and_a_lab_can_use_it(lab):
    assert isinstance(lab, Backend)
    with Lab(backend=lab) as through:
        assert through.backend is lab
        assert through.fortio(f"load -c 2 -n 20 {URL}").codes == {200: 20}


def test_a_lab_refuses_what_is_not_a_backend():
    with pytest.raises(ParameterError) as err:
        Lab(backend=42)  # type: ignore[arg-type]
    assert str(err.value).endswith("not a int")
    assert err.value.in_lang("zh").endswith("而不是 int")


def test_the_503_share_is_the_closed_form_of_the_rules_limit(lab, write):
    rule = write("rule.yaml", TIGHT_RULE)
    lab.apply(rule)
    limit = _theory_limit(write("svc.yaml", SERVICE_V1), rule)
    assert limit == 2
    for c, n in ((2, 40), (10, 100), (25, 250)):
        lab.reset_counters()
        result = lab.fortio(f"load -c {c} -qps 0 -n {n} -loglevel Error {URL}")
        rejected = round(n * fast_rejection_bound(c, limit))
        assert result.codes == ({200: n - rejected, 503: rejected} if rejected else {200: n}), c
        stats = lab.stats(SERVICE)
        # HTTP/1.1 limited by its one connection: the excess waits, and overflows the one-slot queue
        assert stats["upstream_rq_pending_overflow"] == rejected and stats["upstream_rq_active_overflow"] == 0
        assert stats["upstream_rq_200"] == n - rejected
        explained = lab.explain(result)
        assert explained.total == n and explained.uo == rejected == explained.client_rq_overflows
        assert explained.accounted
    assert result.codes == {200: 20, 503: 230}  # c=25 against L=2: 1 - 2/25 of the calls


def test_a_rule_without_limits_admits_everything_and_queues_nothing(lab):
    result = lab.fortio(f"load -c 40 -qps 0 -n 400 {URL}")
    assert result.codes == {200: 400}
    assert result.avg_s == pytest.approx(lab.service_time_ms / 1000)  # every call served at once
    assert lab.explain().accounted and lab.explain().by_cause == {"ok": 400}


def test_counters_hosts_and_the_access_log_agree(lab, write):
    lab.apply(write("rule.yaml", TIGHT_RULE))
    result = lab.fortio(f"load -c 6 -qps 0 -n 60 {URL}")
    records = lab.responses(since=result.raw and 0.0)
    assert len(records) == 60 == result.count
    assert sum(r.flags == "UO" and r.overloaded for r in records) == result.codes[503]
    hosts = lab.hosts(SERVICE)
    assert sorted(h.address for h in hosts) == sorted({r.upstream_host for r in records if r.upstream_host})
    assert sum(h.stats["rq_total"] for h in hosts) == result.codes[200]
    assert lab.stats(SERVICE)["upstream_rq_total"] == result.codes[200]
    assert all(h.healthy and not h.ejected for h in hosts)
    # the server side saw the admitted calls too, in its inbound cluster
    inbound = [lab.stats(pod=p) for p in lab.pods() if not lab.pods()[p].client]
    assert sum(s.get("upstream_rq_200") for one in inbound for s in one.values()) == result.codes[200]
    assert sum(s["requests"] for s in lab.app_stats().values()) == result.codes[200]


def test_faults_follow_service_gos_own_sequence(lab):
    assert lab.set_fault("service-go-v1", code=500, fraction=0.5) == ["service-go-v1-0", "service-go-v1-1"]
    result = lab.fortio(f"load -c 4 -qps 0 -n 40 {URL}")
    assert result.codes == {200: 20, 500: 20}  # every other call of each app fails, as service-go does
    explained = lab.explain(result)
    assert explained.by_cause["app answered 500"] == 20 and explained.accounted
    lab.set_fault("service-go-v1-0", fraction=0)  # heals one pod: half its calls
    assert lab.fortio(f"load -c 4 -qps 0 -n 40 {URL}").codes == {200: 30, 500: 10}
    with pytest.raises(LabError, match="no pod or deployment 'nope'"):
        lab.set_fault("nope")
    with pytest.raises(LabError, match="fault fraction must be between 0 and 1"):
        lab.set_fault("service-go-v1", fraction=2)


def test_the_same_steps_give_the_same_results(write):
    def session() -> tuple[object, ...]:
        fake = FakeBackend(capacity="envoy", seed=0)
        fake.apply(MANIFESTS / "kubernetes" / "fortio.yaml")
        fake.apply(MANIFESTS / "service" / "go" / "service-go.yaml")
        with pytest.warns(UserWarning, match="consecutiveErrors is deprecated"):  # the seed's rule as printed
            fake.apply(MANIFESTS / "istio" / "resilience" / "destination-rule-go-cb.yaml")
        codes = [fake.fortio(f"load -c {c} -qps 0 -n {10 * c} {URL}").codes for c in (20, 30, 40, 30, 30)]
        return tuple(map(str, codes)), str(fake.stats()), fake.proxy_config("cluster")

    first, second = session(), session()
    assert first == second
    assert any("503" in codes for codes in first[0]), "Envoy's pools reject some calls of the seed's rule"


def test_proxy_config_is_what_the_embedded_mesh_would_run(lab, write):
    lab.apply(write("rule.yaml", TIGHT_RULE + "  subsets:\n  - {name: v1, labels: {version: v1}}\n"))
    clusters = {c["name"]: c for c in yaml.safe_load(lab.proxy_config("cluster"))}
    assert set(clusters) == {SERVICE, SUBSET_V1}
    assert clusters[SUBSET_V1]["circuitBreakers"]["thresholds"][0]["maxConnections"] == 1
    assert "tlsMode-istio" in lab.proxy_config("cluster")  # Istio's auto mTLS, as the mesh's default
    (listener,) = yaml.safe_load(lab.proxy_config("listener"))
    assert listener["name"] == "0.0.0.0_80"
    inbound = yaml.safe_load(lab.proxy_config("cluster", pod="service-go-v1-0"))
    assert [c["name"] for c in inbound] == ["inbound|80||"]
    assert lab.proxy_config("secret") == "[]\n"


def test_errors_are_the_real_backends(lab, write):
    bad = write("bad.yaml", TIGHT_RULE.replace("maxConnections: 1", "maxConnections: -1"))
    with pytest.raises(ValidationFailed) as err:
        lab.apply(bad)
    assert f"{bad}:8:" in str(err.value)
    assert lab.applied() == ["Pod/fortio", "Service/service-go", "Deployment/service-go-v1"]  # none of it
    with pytest.raises(LabError) as no_cluster:
        lab.stats("outbound|80||nope")
    assert "it has: " in str(no_cluster.value) and SERVICE in str(no_cluster.value)
    assert "outbound|80||nope" in no_cluster.value.in_lang("zh")
    with pytest.raises(LabError, match="does not run fortio"):
        lab.fortio(f"load -c 1 -n 1 {URL}", pod="service-go-v1-0")
    with pytest.raises(LabError, match="not produced by this lab's fortio"):
        lab.explain(object())  # type: ignore[arg-type]
    assert lab.fortio("load -c 1 -n 3 http://nothing-here/env").codes == {404: 3}  # Envoy's NR: no route
    assert lab.delete(write("svc.yaml", SERVICE_V1)) == ["Service/service-go", "Deployment/service-go-v1"]
    assert not lab.pods()


def test_client_pods_have_their_own_sidecar(lab, write):
    lab.apply(MANIFESTS / "kubernetes" / "fortio-2.yaml")
    lab.apply(write("rule.yaml", TIGHT_RULE))
    with Lab(backend=lab) as through:
        runs = through.fortio_many({"fortio": f"load -c 10 -qps 0 -n 100 {URL}",
                                    "fortio-2": f"load -c 2 -qps 0 -n 20 {URL}"})
    assert runs["fortio"].codes == {200: 20, 503: 80} and runs["fortio-2"].codes == {200: 20}
    assert lab.stats(SERVICE)["upstream_rq_pending_overflow"] == 80
    assert lab.stats(SERVICE, pod="fortio-2")["upstream_rq_pending_overflow"] == 0
    lab.cleanup()
    assert lab.applied() == [] and lab.last_run is None


def test_the_lab_01_explorer_runs_on_the_fake(lab):
    pytest.importorskip("ipywidgets")
    from lablib.labs.circuit_breaking.explorer import BreakerExplorer

    explorer = BreakerExplorer(Lab(backend=lab))
    explorer.concurrency.value, explorer.calls.value = 30, 300
    explorer.max_pending.value = 5  # L = 10 in flight + 5 waiting
    with pytest.warns(UserWarning, match="subset 'v2' selects no pod"):  # the knobs' rule names v1 and v2
        point = explorer.run()  # applies the knobs as a generated rule, runs fortio, adds the point
    assert point.calls == 300 and lab.applied()[-1] == "DestinationRule/service-go"
    # L from what the client sidecar now shows, read back as istioctl would print it
    shown = {"outbound_clusters": yaml.safe_load(lab.proxy_config("cluster")),
             "outbound_routes": yaml.safe_load(lab.proxy_config("route"))}
    limit = theoretical_limit(limits_for(shown, "service-go", port=80))
    assert limit == 15
    assert point.share_503 == pytest.approx(fast_rejection_bound(30, limit), abs=1 / 300)
    assert point.explained_503 == point.result.codes[503] and len(explorer.points) == 1
