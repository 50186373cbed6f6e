"""fortio, stats, reset_counters, hosts and proxy-config through the exec stream: the real kubernetes client's
WebSocket exec (``kubernetes.stream.stream``) against the local API's exec endpoint (conftest.kube_api), which
answers in Kubernetes' v4 channel protocol (stdout, stderr, exit status) with what the containers would print.
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
    (req,) = kube_api.execs()
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
    assert yaml.safe_load(text) == [dump["configs"][0]["cluster"]]


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
    (req,) = kube_api.execs()
    assert req.query["command"] == plan.fortio_command("load -c 20 -qps 0 -n 200 -loglevel Error "
                                                       "http://service-go/env")
