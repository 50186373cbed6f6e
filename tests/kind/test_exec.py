"""fortio, stats (of any pod), reset_counters, hosts, proxy-config and set_fault through the exec stream: the
real kubernetes client's WebSocket exec (``kubernetes.stream.stream``) against the local API's exec endpoint
(conftest.kube_api), which answers in Kubernetes' v4 channel protocol (stdout, stderr, exit status) with what
the containers would print; and explain() joining the sidecar's log (``pods/NAME/log``) with the counters.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import lablib
from lablib.backends.kind import KindBackend
from lablib.backends.kind import _plan as plan

FIXTURE = Path(__file__).parent / "fixtures" / "fortio-1.57.3-result.json"
SG = "outbound|80||service-go.default.svc.cluster.local"
SG_V1 = "outbound|80|v1|service-go.default.svc.cluster.local"
# Envoy /stats text as the sidecar serves it with the fortio pod's proxyStatsMatcher (cluster.outbound…).
STATS = f"""cluster.{SG}.upstream_rq_total: 400
cluster.{SG}.upstream_rq_pending_overflow: 3
cluster.{SG}.upstream_rq_active_overflow: 158
cluster.{SG}.upstream_cx_overflow: 0
cluster.{SG}.circuit_breakers.default.rq_open: 0
cluster.{SG}.upstream_rq_time: P0(nan,1.0) P25(nan,2.05) P50(nan,3.05)
cluster.{SG_V1}.upstream_rq_total: 0
cluster.xds-grpc.upstream_rq_total: 12
server.live: 1
"""
CLUSTERS = f"""{SG}::observability_name::{SG}
{SG}::default_priority::max_connections::10
{SG}::10.244.0.7:80::health_flags::healthy
{SG}::10.244.0.7:80::rq_total::200
{SG}::10.244.0.8:80::health_flags::/failed_outlier_check
{SG}::10.244.0.8:80::rq_total::200
xds-grpc::10.96.0.10:15012::health_flags::healthy
"""

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def lab(kube_api, write_kubeconfig, lab_home, tool_dir):
    """A backend on the local API with the fortio Pod applied; no istioctl on PATH."""
    path = write_kubeconfig({"lab-ctx": kube_api.url})
    messages: list[str] = []
    kb = KindBackend(context="lab-ctx", kubeconfig=path, allow_contexts=["lab-ctx"],
                     progress=lambda done, total, msg: messages.append(msg))
    kb.apply(str(REPO / "manifests/kubernetes/fortio.yaml"))
    kb.messages = messages  # type: ignore[attr-defined]
    yield kb
    kb.close()


def test_fortio_load_runs_in_the_fortio_container_and_parses_its_json(lab, kube_api):
    kube_api.exec_replies[("fortio", "fortio", "/usr/bin/fortio", "load")] = (
        FIXTURE.read_text(),
        '{"ts":1689948040.1,"level":"info","msg":"Starting http test"}\nAll done 100 calls\n', 0)
    result = lab.fortio("load -qps 8 -c 4 -n 100 http://httpbin:8000/get")
    assert result.count == 100 and result.num_threads == 4 and result.version == "1.57.3"
    # Around the run the sidecar's stats were asked for (for explain()); no reply recorded here.
    execs = kube_api.execs()
    assert [r.query["container"] for r in execs] == [["istio-proxy"], ["fortio"], ["istio-proxy"]]
    req = execs[1]
    assert req.path == "/api/v1/namespaces/default/pods/fortio/exec"
    assert req.query["command"] == ["/usr/bin/fortio", "load", "-qps", "8", "-c", "4", "-n", "100",
                                    "-json", "-", "http://httpbin:8000/get"]
    assert req.query["container"] == ["fortio"]
    assert (req.query["stdout"], req.query["stderr"], req.query["stdin"], req.query["tty"]) == (
        ["true"], ["true"], ["false"], ["false"])
    assert req.authorization == "Bearer lab-test-token"
    # fortio's stderr became progress messages.
    assert "All done 100 calls" in lab.messages


def test_fortio_failure_carries_the_exit_status_and_stderr(lab, kube_api):
    kube_api.exec_replies[("fortio", "fortio", "/usr/bin/fortio")] = (
        "", "Aborting because of lookup service-go: no such host\n", 1)
    with pytest.raises(lablib.FortioError, match=r"exited with status 1:\nAborting because of lookup"):
        lab.fortio("load -c 2 -n 20 http://service-go/env")


def test_stats_and_reset_through_pilot_agent(lab, kube_api):
    kube_api.exec_replies[("fortio", "istio-proxy", "pilot-agent", "request", "GET", "stats")] = (
        STATS, "", 0)
    kube_api.exec_replies[("fortio", "istio-proxy", "pilot-agent", "request", "POST", "reset_counters")] = (
        "OK\n", "", 0)
    one = lab.stats(SG)
    assert one.cluster == SG and one["upstream_rq_active_overflow"] == 158
    assert one.overflows["upstream_rq_pending_overflow"] == 3
    every = lab.stats()
    assert set(every) == {SG, SG_V1}  # outbound| clusters only
    lab.reset_counters()
    commands = [r.query["command"] for r in kube_api.execs()]
    assert commands[-1] == ["pilot-agent", "request", "POST", "reset_counters"]
    assert all(r.query["container"] == ["istio-proxy"] for r in kube_api.execs())


def test_hosts_from_the_sidecars_clusters(lab, kube_api):
    kube_api.exec_replies[("fortio", "istio-proxy", "pilot-agent", "request", "GET", "clusters")] = (
        CLUSTERS, "", 0)
    hosts = lab.hosts(SG)
    assert [(h.address, h.ejected) for h in hosts] == [("10.244.0.7:80", False), ("10.244.0.8:80", True)]
    assert len(lab.hosts()) == 3


def test_proxy_config_without_istioctl_reads_the_config_dump(lab, kube_api):
    cluster = {"name": SG, "circuit_breakers": {"thresholds": [{"max_requests": 10}]}}
    dump = {"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.DynamicCluster",
                         "cluster": cluster}]}
    key = ("fortio", "istio-proxy", "pilot-agent", "request", "GET",
           "config_dump?resource=dynamic_active_clusters")
    kube_api.exec_replies[key] = (json.dumps(dump), "", 0)
    text = lab.proxy_config("cluster")
    # the embedded mesh's view (lablib.backends.config_view): istioctl's camelCase, no @type
    assert yaml.safe_load(text) == [{"name": SG, "circuitBreakers": {"thresholds": [{"maxRequests": 10}]}}]


def test_a_failing_admin_request_is_a_backend_error(lab, kube_api):
    kube_api.exec_replies[("fortio", "istio-proxy", "pilot-agent")] = ("", "Error: connection refused\n", 1)
    with pytest.raises(lablib.BackendError, match="exited with status 1: Error: connection refused"):
        lab.stats()


def test_no_fortio_pod_says_what_to_apply(kube_api, write_kubeconfig, lab_home):
    path = write_kubeconfig({"lab-ctx": kube_api.url})
    kb = KindBackend(context="lab-ctx", kubeconfig=path, allow_contexts=["lab-ctx"], progress=lambda *a: None)
    with pytest.raises(lablib.FortioError, match=r"apply manifests/kubernetes/fortio\.yaml first"):
        kb.fortio("load -c 1 -n 1 http://service-go/env")
    assert kube_api.execs() == []
    kb.close()


def test_exec_command_matches_the_plan(lab, kube_api):
    kube_api.exec_replies[("fortio", "fortio")] = (FIXTURE.read_text(), "", 0)
    lab.fortio(["-c", "20", "-qps", "0", "-n", "200", "-loglevel", "Error", "http://service-go/env"])
    (req,) = [r for r in kube_api.execs() if r.query["container"] == ["fortio"]]
    assert req.query["command"] == plan.fortio_command("load -c 20 -qps 0 -n 200 -loglevel Error "
                                                       "http://service-go/env")


def _service_go_pod(kube_api, name: str, deployment: str, template_hash: str) -> None:
    """A pod as the ReplicaSet controller names it, with its sidecar (injection done)."""
    kube_api.add({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": name, "labels": {"app": "service-go", "pod-template-hash": template_hash},
        "ownerReferences": [{"kind": "ReplicaSet", "name": f"{deployment}-{template_hash}"}]},
        "spec": {"containers": [{"name": "service-go"}, {"name": "istio-proxy"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})


def test_set_fault_posts_to_the_app_of_each_pod_of_a_deployment(lab, kube_api):
    _service_go_pod(kube_api, "service-go-v1-6df8664cb-2jkxr", "service-go-v1", "6df8664cb")
    _service_go_pod(kube_api, "service-go-v2-5b7d9c6f4-8qwzt", "service-go-v2", "5b7d9c6f4")
    kube_api.exec_replies[("service-go-v1-6df8664cb-2jkxr", "service-go", "python")] = (
        '{"code": 503, "fraction": 1.0}\n', "", 0)
    assert lab.set_fault("service-go-v1", code=503) == ["service-go-v1-6df8664cb-2jkxr"]
    (req,) = kube_api.execs()
    assert req.path.endswith("/pods/service-go-v1-6df8664cb-2jkxr/exec")
    assert req.query["container"] == ["service-go"]
    assert req.query["command"] == plan.fault_command(503, 1.0)
    with pytest.raises(lablib.LabError, match=r"no pod or deployment 'service-go-v3' in namespace default; "
                                              r"pods: fortio, service-go-v1-"):
        lab.set_fault("service-go-v3")
    kube_api.exec_replies[("service-go-v2-5b7d9c6f4-8qwzt", "service-go", "python")] = (
        "", "urllib.error.HTTPError: HTTP Error 400: Bad Request\n", 1)
    with pytest.raises(lablib.BackendError,
                       match=r"set_fault on service-go-v2-5b7d9c6f4-8qwzt: .* exited with status 1: "
                             r"urllib\.error\.HTTPError: HTTP Error 400"):
        lab.set_fault("service-go-v2", code=503, fraction=0.5)


def test_stats_of_another_pod_read_its_own_sidecar(lab, kube_api):
    _service_go_pod(kube_api, "service-go-v1-6df8664cb-2jkxr", "service-go-v1", "6df8664cb")
    inbound = "inbound|80||"
    kube_api.exec_replies[("service-go-v1-6df8664cb-2jkxr", "istio-proxy", "pilot-agent", "request", "GET",
                           "stats")] = (f"cluster.{inbound}.upstream_rq_total: 7\n{STATS}", "", 0)
    every = lab.stats(pod="service-go-v1")  # a Deployment with one pod means that pod
    assert set(every) == {inbound} and every[inbound]["upstream_rq_total"] == 7
    with pytest.raises(lablib.LabError, match=r"no Envoy cluster 'inbound\|81\|\|' in pod service-go-v1's"):
        lab.stats("inbound|81||", pod="service-go-v1")


def _istio_log_line(code: int, flags: str, details: str, at: float) -> str:
    """One line in Istio's text format, as the fortio sidecar prints it on stdout."""
    import datetime as dt

    stamp = dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    host = "-" if flags == "UO" else "10.244.0.7:80"
    return (f'[{stamp}] "GET /env HTTP/1.1" {code} {flags} {details} - "-" 0 21 3 2 "-" '
            f'"fortio.org/fortio-1.57.3" "6e1d2b7c-0000-4000-8000-000000000000" "service-go" "{host}" {SG} '
            f"10.244.0.9:40000 10.96.0.20:80 10.244.0.9:39998 - default")


def _run_started(kube_api, pod: str) -> float:
    """When the fake received the fortio exec into ``pod``."""
    return next(r.at for r in kube_api.execs() if f"/pods/{pod}/exec" in r.path and
                r.query["container"] == ["fortio"])


def test_explain_joins_the_sidecars_access_log_with_the_counters_the_run_moved(lab, kube_api):
    overflow = STATS.replace("upstream_rq_active_overflow: 158", "upstream_rq_active_overflow: 160")
    kube_api.exec_replies[("fortio", "istio-proxy", "pilot-agent", "request", "GET", "stats")] = [
        (STATS, "", 0), (overflow, "", 0)]  # before the run, after it
    kube_api.exec_replies[("fortio", "fortio", "/usr/bin/fortio", "load")] = (FIXTURE.read_text(), "", 0)

    def log() -> str:  # what the sidecar printed during the run
        at = _run_started(kube_api, "fortio")
        lines = [_istio_log_line(200, "-", "via_upstream", at)] * 98 + [
            _istio_log_line(503, "UO", "upstream_reset_before_response_started{overflow}", at)] * 2
        return "\n".join(["2025-01-01T00:00:00Z info pilot-agent says hi", *lines]) + "\n"

    kube_api.logs[("fortio", "istio-proxy")] = log
    result = lab.fortio("load -qps 8 -c 4 -n 100 http://httpbin:8000/get")
    explained = lab.explain(result)
    assert explained.total == 100 and explained.by_code == {200: 98, 503: 2}
    assert explained.uo == 2 == explained.client_rq_overflows and explained.accounted
    log_req = next(r for r in kube_api.requests if r.path.endswith("/pods/fortio/log"))
    assert log_req.query["container"] == ["istio-proxy"] and int(log_req.query["sinceSeconds"][0]) >= 1
    with pytest.raises(lablib.LabError, match=r"not produced by this lab's fortio\(\)"):
        lab.explain(object())  # type: ignore[arg-type]


def test_a_run_from_another_client_pod_is_explained_from_that_pods_sidecar(lab, kube_api):
    kube_api.add({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "fortio-2", "labels": {"app": "fortio"}},
                  "spec": {"containers": [{"name": "fortio"}, {"name": "istio-proxy"}]},
                  "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    kube_api.exec_replies[("fortio-2", "fortio", "/usr/bin/fortio", "load")] = (FIXTURE.read_text(), "", 0)
    kube_api.exec_replies[("fortio-2", "istio-proxy", "pilot-agent", "request", "GET", "stats")] = (
        STATS, "", 0)
    kube_api.logs[("fortio-2", "istio-proxy")] = lambda: _istio_log_line(
        200, "-", "via_upstream", _run_started(kube_api, "fortio-2")) + "\n"
    result = lab.fortio("load -qps 8 -c 4 -n 100 http://httpbin:8000/get", pod="fortio-2")
    assert {tuple(r.path.split("/")[-2:]) for r in kube_api.execs()} == {("fortio-2", "exec")}
    assert set(lab.stats(pod="fortio-2")) == {SG, SG_V1}  # a client pod: its outbound| clusters
    assert lab.explain(result).total == 1  # waited for 100 records, 5 s at most: the log has one
    assert any(r.path.endswith("/pods/fortio-2/log") for r in kube_api.requests)
