"""Several client pods on real Envoy: every pod that runs the fortio image gets its own client sidecar (its
own copy of every outbound cluster and breaker), reachable by ``pod=`` everywhere; ``proxy.istio.io/config``
``concurrency`` sets a pod's sidecar workers; an apply reaches every client sidecar or none."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from mesh_helpers import SERVICE, destination_rule_yaml, service_go_yaml

from lablib import EnvoyError, LabError
from lablib._exceptions import LabWarning
from lablib.backends.mesh import _plan
from lablib.envoy import bootstrap
from lablib.lab import Lab

pytestmark = pytest.mark.envoy
REPO = Path(__file__).resolve().parents[2]
URL = "http://service-go/env"


def client_pod(name: str, *, concurrency: int | None = None) -> str:
    note = f"\n  annotations:\n    proxy.istio.io/config: |\n      concurrency: {concurrency}" \
        if concurrency is not None else ""
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: fortio}}{note}
spec:
  containers:
  - {{name: fortio, image: "fortio/fortio:latest_release", ports: [{{containerPort: 8080}}]}}
"""


def max_connections(mesh, pod: str) -> set[int]:
    """max_connections of every outbound cluster that pod's sidecar runs (its live /config_dump)."""
    key = _plan.CLIENT if pod == "fortio" else pod
    return {int(t["max_connections"]) for item in mesh._admin(key).config_dump("dynamic_active_clusters")
            for t in (item["cluster"].get("circuit_breakers") or {}).get("thresholds", [])
            if "max_connections" in t and item["cluster"]["name"].startswith("outbound|")}


def envoy_concurrency(mesh, pod: str) -> int:
    """The ``--concurrency`` the pod's sidecar Envoy was started with (its command line)."""
    record = next(r for r in mesh.pods()[pod].procs if r.role == "sidecar")
    argv = psutil.Process(record.pid).cmdline()
    return int(argv[argv.index("--concurrency") + 1])


def test_a_second_fortio_pod_gets_its_own_client_sidecar(make_mesh, write):
    mesh = make_mesh(service_time_ms=5)
    mesh.apply(write("service-go.yaml", service_go_yaml(versions=("v1",))))
    mesh.apply(REPO / "manifests/kubernetes/fortio-2.yaml")
    pod = mesh.pods()["fortio-2"]
    assert pod.client and [r.role for r in pod.procs] == ["sidecar"], "a client pod runs no service-go"
    assert "fortio-2" not in mesh.app_stats(), "a client pod is no endpoint of the service"

    one = mesh.fortio(f"load -c 2 -qps 0 -n 20 {URL}")
    two = mesh.fortio(f"load -c 2 -qps 0 -n 30 {URL}", pod="fortio-2")
    assert one.codes == {200: 20} and two.codes == {200: 30}
    # Each client's own sidecar counted its own run, and only it.
    assert mesh.stats(SERVICE).get("upstream_rq_total") == 20
    assert mesh.stats(SERVICE, pod="fortio-2").get("upstream_rq_total") == 30
    assert "outbound|80||service-go" in mesh.proxy_config("cluster", pod="fortio-2")
    assert mesh.explain(two).total == 30, "explain reads the run's own client's access log"
    assert len(mesh.responses(pod="fortio-2")) == 30 and len(mesh.responses()) == 20

    with pytest.raises(LabError, match="does not run fortio"):
        mesh.fortio(f"load -n 1 {URL}", pod="service-go-v1-0")
    with pytest.raises(LabError, match="no pod 'fortio-3'"):
        mesh.fortio(f"load -n 1 {URL}", pod="fortio-3")

    mesh.delete(REPO / "manifests/kubernetes/fortio-2.yaml")
    assert "fortio-2" not in mesh.pods()


def test_an_apply_reaches_every_client_sidecar_or_none(make_mesh, write, monkeypatch):
    mesh = make_mesh(service_time_ms=5)
    mesh.apply(write("service-go.yaml", service_go_yaml(versions=("v1",))))
    mesh.apply(REPO / "manifests/kubernetes/fortio-2.yaml")
    mesh.apply(write("dr3.yaml", destination_rule_yaml(max_connections=3, subsets=False)))
    for pod in ("fortio", "fortio-2"):
        assert max_connections(mesh, pod) == {3}
    # Envoy must really reject something: fortio-2's sidecar gets an address it refuses for maxConnections 10.
    real = _plan.desired

    def desired(*args, **kwargs):
        out = real(*args, **kwargs)
        for sidecar in out:
            mine = sidecar.files if sidecar.sidecar == "fortio-2" else []
            for i, (type_url, path, resources) in enumerate(mine):
                if type_url != bootstrap.CLUSTER_TYPE:
                    continue
                resources = copy.deepcopy(resources)  # the client sidecars share the translated clusters
                sidecar.files[i] = (type_url, path, resources)
                for cluster in resources:
                    if cluster["circuit_breakers"]["thresholds"][0].get("max_connections") == 10:
                        cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
                            "socket_address"]["address"] = "not-an-ip"
        return out

    monkeypatch.setattr(_plan, "desired", desired)
    with pytest.raises(EnvoyError, match="the sidecar of pod fortio-2 rejected"):
        mesh.apply(write("dr10.yaml", destination_rule_yaml(max_connections=10, subsets=False)))
    for pod in ("fortio", "fortio-2"):  # the fortio pod's sidecar had taken it: it is back on 3
        assert max_connections(mesh, pod) == {3}, pod


def test_proxy_config_concurrency_sets_the_pods_sidecar_workers(make_mesh, write):
    mesh = make_mesh(service_time_ms=5, workers=2)
    mesh.apply(write("service-go.yaml", service_go_yaml(versions=("v1",))))
    path = write("fortio-w.yaml", client_pod("fortio-w", concurrency=1))
    mesh.apply(path)
    assert envoy_concurrency(mesh, "fortio-w") == 1
    assert envoy_concurrency(mesh, "service-go-v1-0") == 2, "pods without the annotation keep the lab's"
    old_pid = mesh.pods()["fortio-w"].procs[0].pid
    # A running Pod is not re-created by an apply (its annotations change in place; Istio injected its
    # sidecar, reading the annotation, when it was created): the sidecar runs on, and a warning says so.
    with pytest.warns(LabWarning, match=r"^Pod/fortio-w: metadata\.annotations: proxy\.istio\.io/config "
                                        r"changed on a running Pod") as warned:
        mesh.apply(write("fortio-w.yaml", client_pod("fortio-w", concurrency=4)))
    assert (Path(warned[0].filename).name, warned[0].lineno) == ("fortio-w.yaml", 6), "at the annotations"
    assert envoy_concurrency(mesh, "fortio-w") == 1 and mesh.pods()["fortio-w"].procs[0].pid == old_pid
    assert mesh.fortio(f"load -c 4 -qps 0 -n 20 {URL}", pod="fortio-w").codes == {200: 20}
    mesh.delete(path)  # kubectl delete pod, then apply: a new pod, injected with the new annotation
    mesh.apply(path)
    assert envoy_concurrency(mesh, "fortio-w") == 4 and mesh.pods()["fortio-w"].procs[0].pid != old_pid
    assert mesh.fortio(f"load -c 4 -qps 0 -n 20 {URL}", pod="fortio-w").codes == {200: 20}
    mesh.delete(path)
    mesh.apply(write("fortio-w.yaml", client_pod("fortio-w", concurrency=0)))
    assert envoy_concurrency(mesh, "fortio-w") == psutil.cpu_count(), "0: all cores (Istio ProxyConfig)"
    with pytest.raises(LabError, match=r"Pod/fortio-w: metadata\.annotations: .*concurrency must be"):
        mesh.apply(write("fortio-w.yaml", client_pod("fortio-w", concurrency=-1)))
    assert envoy_concurrency(mesh, "fortio-w") == psutil.cpu_count(), "a refused apply changes nothing"


def test_runs_from_two_clients_overlap_and_each_admits_its_own_limit(lab_home, write):
    with Lab(backend="embedded", name="clients", service_time_ms=50, workers=1) as lab:
        lab.apply(write("service-go.yaml", service_go_yaml(versions=("v1",))))
        lab.apply(REPO / "manifests/kubernetes/fortio-2.yaml")
        # maxConnections 4 per client sidecar; the server's inbound|80|| gets the same pool: 4 into the app,
        # up to 100 queued at the server sidecar (it never rejects here).
        lab.apply(write("dr.yaml", destination_rule_yaml(max_connections=4, pending=100, subsets=False)))
        mesh = lab.backend
        args = f"load -c 12 -qps 0 -n 240 {URL}"

        def queued_at_server() -> int:
            return mesh.stats("inbound|80||", pod="service-go-v1-0").get("upstream_rq_pending_total")

        lab.reset_counters()
        assert lab.fortio(args).codes == {200: 240}
        alone = queued_at_server()
        lab.reset_counters()
        start = time.monotonic()
        results = lab.fortio_many({"fortio": args, "fortio-2": args})
        took = time.monotonic() - start
        together = queued_at_server()
        assert set(results) == {"fortio", "fortio-2"}
        assert all(r.codes == {200: 240} for r in results.values())
        # One client (1 worker) sends at most its 4 in flight: the server's 4 barely fill (a request may
        # wait a moment for a connection just released). Two clients each send their own 4: the server
        # sidecar queues the excess, most of their requests.
        print(f"queued at the server: one client {alone}, two clients {together}")
        assert together > 20 and together > 5 * alone, (alone, together)
        assert mesh.app_stats()["service-go-v1-0"]["max_in_flight"] <= 4, "the server's own pool holds"
        # The runs overlapped: together they took far less than two runs one after the other would.
        one_run = results["fortio"].duration_s
        assert took < 2 * one_run * 0.9 + 1.0, (took, one_run)

def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABLIB_HOME": str(home), "LABLIB_BACKEND": "embedded"}
    return subprocess.run([sys.executable, "-m", "lablib", *args], env=env, capture_output=True, text=True,
                          timeout=60, cwd=REPO)


def test_cli_fortio_runs_from_the_pod_it_is_given(lab_home, write):
    try:
        for path in (write("service-go.yaml", service_go_yaml(versions=("v1",))),
                     REPO / "manifests/kubernetes/fortio-2.yaml"):
            assert _cli(lab_home, "apply", "-f", str(path)).returncode == 0
        load = _cli(lab_home, "fortio", "--pod", "fortio-2", "load", "-c", "2", "-n", "12", "-qps", "0", URL)
        assert load.returncode == 0, load.stderr
        assert "Code 200 : 12" in load.stdout + load.stderr
        stats = _cli(lab_home, "stats", SERVICE, "--pod", "fortio-2", "--grep", "upstream_rq_total")
        assert f"cluster.{SERVICE}.upstream_rq_total: 12" in stats.stdout, stats.stderr
        mine = _cli(lab_home, "stats", SERVICE, "--grep", "upstream_rq_total")
        assert "upstream_rq_total: 12" not in mine.stdout, "the fortio pod's sidecar carried none of it"
        wrong = _cli(lab_home, "fortio", "--pod", "service-go-v1-0", "load", "-n", "1", URL)
        assert wrong.returncode == 1 and "does not run fortio" in wrong.stderr
        assert "Traceback" not in wrong.stderr
    finally:
        assert _cli(lab_home, "cleanup").returncode == 0
