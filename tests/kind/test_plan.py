"""What the cluster backend would send, built from the lab's real manifests without a cluster."""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path

import pytest
import yaml

import lablib
from lablib.backends.kind import _plan as plan
from lablib.backends.kind._cluster import repo_root
from lablib.backends.kind._exec import ExecResult, fortio_output
from lablib.manifests import load_file

REPO = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "fortio-1.57.3-result.json"
BOOK = ["manifests/kubernetes/fortio.yaml", "manifests/service/go/service-go.yaml",
        "manifests/istio/route/virtual-service-go.yaml",
        "manifests/istio/resilience/destination-rule-go-cb.yaml"]


def _objects(rel: str):
    return load_file(REPO / rel)


def test_repo_root_is_this_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("LABLIB_REPO", raising=False)
    assert repo_root() == REPO
    monkeypatch.setenv("LABLIB_REPO", str(tmp_path))
    with pytest.raises(lablib.BackendUnavailable, match="set LABLIB_REPO to the checkout's path"):
        repo_root()


@pytest.mark.parametrize("rel", BOOK)
def test_apply_requests_label_every_object_and_leave_the_manifest_alone(rel):
    objects = _objects(rel)
    before = [copy.deepcopy(o.body) for o in objects]
    reqs = plan.plan_apply(objects, lab="istio-cb-lab")
    assert [o.body for o in objects] == before  # the lab's record of the file is not mutated
    assert len(reqs) == len(objects)
    for req, obj in zip(reqs, objects, strict=True):
        assert (req.api_version, req.kind, req.name) == (obj.api_version, obj.kind, obj.name)
        assert req.namespace == "default" == req.body["metadata"]["namespace"]
        assert req.body["metadata"]["labels"][plan.LAB_LABEL] == "istio-cb-lab"
        # Everything else is the manifest as written (labels it had are kept).
        for key, value in (obj.body["metadata"].get("labels") or {}).items():
            assert req.body["metadata"]["labels"][key] == value
        # Everything else is the manifest as written, but for ports spelled out as the server defaults them.
        spec = copy.deepcopy(obj.body["spec"])
        for port in spec.get("ports", []) if obj.kind == "Service" else []:
            port.setdefault("protocol", "TCP")
        pod_spec = spec.get("template", {}).get("spec", spec)
        for container in pod_spec.get("containers", []) if obj.kind != "Service" else []:
            for port in container.get("ports", []):
                port.setdefault("protocol", "TCP")
        assert req.body["spec"] == spec
        assert req.field_manager == "lablib" and req.force_conflicts is True
        assert "status" not in req.body


def test_apply_request_refs_match_kubectl_output():
    reqs = plan.plan_apply(_objects("manifests/service/go/service-go.yaml"), lab="istio-cb-lab")
    assert [r.ref for r in reqs] == ["Service/service-go", "Deployment/service-go-v1",
                                     "Deployment/service-go-v2"]
    # Pods a Deployment makes are deleted with it: the template is not labelled for the lab.
    dep = reqs[1].body
    assert plan.LAB_LABEL not in dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == plan.service_go_image("v1")


def test_namespaces_and_crds_go_first_and_cluster_scoped_objects_have_no_namespace():
    docs = [
        {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "dr"},
         "spec": {"host": "a"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab-ns"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "other"}, "spec": {},
         "status": {"loadBalancer": {}}},
    ]
    reqs = plan.plan_apply(docs, lab="l1", namespace="lab-ns")
    assert [(r.kind, r.namespace) for r in reqs] == [("Namespace", None), ("DestinationRule", "lab-ns"),
                                                     ("Service", "other")]
    assert "namespace" not in reqs[0].body["metadata"]
    assert "status" not in reqs[2].body
    assert docs[2]["status"] == {"loadBalancer": {}}  # input untouched


@pytest.mark.parametrize("bad", ["Istio_CB", "-lab", "a" * 51, ""])
def test_lab_names_must_be_dns_labels(bad):
    with pytest.raises(lablib.LabError, match="lowercase DNS label"):
        plan.check_lab_name(bad)


def test_injection_label_is_applied_by_its_own_manager_and_never_marked_for_cleanup():
    req = plan.injection_label_request("default")
    assert req.body == {"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": "default", "labels": {"istio-injection": "enabled"}}}
    assert req.field_manager == "lablib-injection" and req.namespace is None
    assert plan.LAB_LABEL not in req.body["metadata"]["labels"]


def test_delete_requests_reverse_the_file_and_skip_protected_namespaces():
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
            *[o.body for o in _objects("manifests/service/go/service-go.yaml")]]
    reqs = plan.plan_delete(docs)
    assert [(r.ref, r.namespace) for r in reqs] == [("Deployment/service-go-v2", "default"),
                                                    ("Deployment/service-go-v1", "default"),
                                                    ("Service/service-go", "default")]
    assert all(r.propagation_policy == "Background" for r in reqs)


def _item(kind, name, lab="istio-cb-lab", ns="default", **meta):
    labels = {} if lab is None else {plan.LAB_LABEL: lab}
    metadata = {"name": name, "namespace": ns, "labels": labels, **meta}
    return {"apiVersion": "v1", "kind": kind, "metadata": metadata}


def test_cleanup_selects_only_this_labs_objects():
    items = [
        _item("Pod", "fortio"),
        _item("Pod", "service-go-v1-7d9c-x",
              ownerReferences=[{"kind": "ReplicaSet", "name": "service-go-v1-7d9c"}]),
        _item("Pod", "someone-elses", lab=None),
        _item("Pod", "other-lab", lab="istio-cb-lab-2"),
        _item("Service", "service-go", ns="team-a"),
        _item("Pod", "going", deletionTimestamp="2026-01-01T00:00:00Z"),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default",
                                                               "labels": {plan.LAB_LABEL: "istio-cb-lab"}}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab-ns",
                                                               "labels": {plan.LAB_LABEL: "istio-cb-lab"}}},
    ]
    chosen = plan.select_for_cleanup(items, lab="istio-cb-lab")
    assert [(r.ref, r.namespace) for r in chosen] == [
        ("Pod/fortio", "default"), ("Service/service-go", "team-a"), ("Namespace/lab-ns", None)]
    assert plan.cleanup_selector("istio-cb-lab") == "lablib.io/lab=istio-cb-lab"


def test_cleanup_lists_default_kinds_plus_recorded_ones_with_namespaces_last():
    kinds = plan.cleanup_kinds([("v1", "Namespace"), ("networking.istio.io/v1", "DestinationRule"),
                                ("security.istio.io/v1", "PeerAuthentication")])
    assert kinds[0] == ("networking.istio.io", "VirtualService")
    assert kinds[-1] == ("", "Namespace")
    assert ("security.istio.io", "PeerAuthentication") in kinds
    assert kinds.count(("networking.istio.io", "DestinationRule")) == 1
    assert kinds.index(("networking.istio.io", "DestinationRule")) < kinds.index(("apps", "Deployment"))


def test_readiness_of_deployments_and_pods():
    dep = {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
           "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 1}}
    assert not plan.is_ready(dep)
    dep["status"]["availableReplicas"] = 2
    assert plan.is_ready(dep)
    dep["metadata"]["generation"] = 3  # a new spec the controller has not seen yet
    assert not plan.is_ready(dep)
    pod = {"kind": "Pod",
           "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}}
    assert not plan.is_ready(pod)  # e.g. istio-proxy not ready yet
    pod["status"]["conditions"][0]["status"] = "True"
    assert plan.is_ready(pod)
    assert not plan.is_ready({"kind": "Pod", "status": {"phase": "Pending"}})
    assert plan.is_ready({"kind": "Service"})


def _pod(name, *, phase="Running", ready=True, created="2026-01-01T00:00:00Z",
         containers=("fortio", "istio-proxy"), app="fortio", **meta):
    metadata = {"name": name, "labels": {"app": app}, "creationTimestamp": created, **meta}
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    return {"kind": "Pod", "metadata": metadata, "spec": {"containers": [{"name": c} for c in containers]},
            "status": {"phase": phase, "conditions": [condition]}}


def test_fortio_pod_choice():
    assert plan.pick_pod([]) is None
    pods = [_pod("fortio-old", created="2026-01-01T00:00:00Z"),
            _pod("fortio-new", created="2026-01-02T00:00:00Z"),
            _pod("fortio-unready", created="2026-01-03T00:00:00Z", ready=False),
            _pod("fortio-pending", phase="Pending", created="2026-01-04T00:00:00Z"),
            _pod("fortio-dying", created="2026-01-05T00:00:00Z", deletionTimestamp="x"),
            _pod("httpbin", app="httpbin", containers=("httpbin",))]
    assert plan.pick_pod(pods) == "fortio-new"
    assert plan.pick_pod(pods[2:]) == "fortio-unready"  # running but not ready beats nothing
    assert plan.pick_pod([_pod("x", containers=("istio-proxy",))]) is None


# -- exec commands -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("given", [
    "load -c 20 -qps 0 -n 200 -loglevel Error http://service-go/env",
    "fortio load -c 20 -qps 0 -n 200 -loglevel Error http://service-go/env",
    "/usr/bin/fortio load -c 20 -qps 0 -n 200 -loglevel Error -json out.json http://service-go/env",
    ["-c", "20", "-qps", "0", "-n", "200", "-loglevel", "Error", "http://service-go/env"],
])
def test_fortio_command_from_the_books_runs(given):
    assert plan.fortio_command(given) == ["/usr/bin/fortio", "load", "-c", "20", "-qps", "0", "-n", "200",
                                          "-loglevel", "Error", "-json", "-", "http://service-go/env"]


def test_fortio_curl_keeps_text_and_a_missing_url_is_a_usage_error():
    assert plan.fortio_command("load -curl http://service-go/env") == [
        "/usr/bin/fortio", "load", "-curl", "http://service-go/env"]
    with pytest.raises(lablib.FortioUsageError, match=r"needs exactly one URL .*got none"):
        plan.fortio_command("load -c 2 -n 20")
    with pytest.raises(lablib.FortioUsageError, match="got 'http://a/ http://b/'"):
        plan.fortio_command("load -c 2 http://a/ http://b/")
    with pytest.raises(lablib.FortioUsageError):
        plan.fortio_command("")
    # Go flag forms: -flag=value, --flag value, booleans alone; a flag fortio's table lacks keeps its value.
    assert plan.fortio_command("--c=3 -json=x.json -keepalive=false -some-new-flag 7 http://a/") == [
        "/usr/bin/fortio", "load", "--c=3", "-keepalive=false", "-some-new-flag", "7", "-json", "-", "http://a/"]


def test_exec_requests_are_the_istio_tasks_kubectl_commands():
    load = plan.ExecRequest("fortio", "default", plan.FORTIO_CONTAINER,
                            plan.fortio_command("load -c 3 -qps 0 -n 30 -loglevel Warning http://httpbin:8000/get"))
    assert load.kubectl() == ("kubectl exec fortio -n default -c fortio -- /usr/bin/fortio load -c 3 -qps 0 "
                              "-n 30 -loglevel Warning -json - http://httpbin:8000/get")
    stats = plan.ExecRequest("fortio", "default", plan.SIDECAR_CONTAINER, plan.admin_command("GET", "stats"))
    assert stats.kubectl() == "kubectl exec fortio -n default -c istio-proxy -- pilot-agent request GET stats"
    assert plan.admin_command("post", "/reset_counters") == [
        "pilot-agent", "request", "POST", "reset_counters"]
    dump = plan.admin_command("GET", "config_dump?resource=dynamic_active_clusters")
    assert shlex.join(dump) == "pilot-agent request GET 'config_dump?resource=dynamic_active_clusters'"


# -- CLI commands --------------------------------------------------------------------------------------------

def test_cli_commands(tmp_path):
    kc = tmp_path / "kubeconfig"
    cfg = REPO / "manifests" / "kind" / "cluster.yaml"
    assert plan.kind_create_command("istio-cb-lab", cfg, kc) == [
        "kind", "create", "cluster", "--name", "istio-cb-lab", "--config", str(cfg), "--kubeconfig", str(kc),
        "--wait", "180s"]
    assert plan.kind_delete_command("istio-cb-lab", kc)[:5] == ["kind", "delete", "cluster", "--name",
                                                                "istio-cb-lab"]
    assert plan.kind_load_command("lablib/service-go:v2", "istio-cb-lab") == [
        "kind", "load", "docker-image", "lablib/service-go:v2", "--name", "istio-cb-lab"]
    build = plan.docker_build_command("v2", REPO)
    assert build[:6] == ["docker", "build", "-t", "lablib/service-go:v2", "--build-arg", "VERSION=v2"]
    assert Path(build[build.index("-f") + 1]).is_file() and build[-1] == str(REPO)
    assert plan.istioctl_install_command(kc, "kind-istio-cb-lab") == [
        "istioctl", "install", "--set", "profile=minimal", "--set", "meshConfig.accessLogFile=/dev/stdout",
        "-y", "--context", "kind-istio-cb-lab",
        "--kubeconfig", str(kc)]
    assert plan.istioctl_proxy_config_command("cluster", "fortio", "default", None, "prod") == [
        "istioctl", "proxy-config", "cluster", "fortio.default", "-o", "yaml", "--context", "prod"]


def test_kind_cluster_config_names_the_lab():
    cfg = yaml.safe_load((REPO / "manifests" / "kind" / "cluster.yaml").read_text())
    assert cfg["kind"] == "Cluster" and cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert cfg["name"] == "istio-cb-lab"
    assert [n["role"] for n in cfg["nodes"]] == ["control-plane"]


# -- the manifests the backend applies -----------------------------------------------------------------------

def test_fortio_pod_carries_istios_stats_inclusion_annotation():
    (pod,) = [o for o in _objects("manifests/kubernetes/fortio.yaml") if o.kind == "Pod"]
    proxy_config = yaml.safe_load(pod.body["metadata"]["annotations"]["proxy.istio.io/config"])
    prefixes = proxy_config["proxyStatsMatcher"]["inclusionPrefixes"]
    # As Istio's samples/httpbin/sample-client/fortio-deploy.yaml: without cluster.outbound the sidecar
    # filters out the breaker counters the lab reads.
    assert prefixes == ["cluster.outbound", "cluster_manager", "listener_manager", "server",
                        "cluster.xds-grpc"]
    (container,) = [c for c in pod.body["spec"]["containers"] if c["name"] == plan.FORTIO_CONTAINER]
    assert container["image"] == plan.FORTIO_IMAGE
    assert pod.body["metadata"]["labels"]["app"] == "fortio"  # what pick_pod selects


def test_service_go_deployments_use_the_images_the_backend_builds():
    deps = [o for o in _objects("manifests/service/go/service-go.yaml") if o.kind == "Deployment"]
    containers = [c for d in deps for c in d.body["spec"]["template"]["spec"]["containers"]]
    images = {c["image"]: c["imagePullPolicy"] for c in containers}
    assert images == {plan.service_go_image("v1"): "IfNotPresent",
                      plan.service_go_image("v2"): "IfNotPresent"}


# -- exec output ---------------------------------------------------------------------------------------------

def test_fortio_json_on_stdout_is_parsed_by_the_shared_reader():
    command = plan.fortio_command("load -qps 8 -c 4 -n 100 http://httpbin:8000/get")
    stdout = FIXTURE.read_text()
    stderr = ('{"ts":1689948040.13,"level":"info","msg":"Starting http test","url":"http://httpbin:8000/get"}\n'
              "All done 100 calls (plus 0 warmup) 15.977 ms avg, 8.0 qps\n")
    result = fortio_output(command, ExecResult(stdout=stdout, stderr=stderr, returncode=0))
    raw = json.loads(stdout)
    assert result.source == "fortio-json" and result.version == "1.57.3"
    assert result.count == raw["DurationHistogram"]["Count"] == 100
    assert result.num_threads == 4
    assert sum(result.codes.values()) == 100
    assert result.codes == {int(k): v for k, v in raw["RetCodes"].items()}


def test_fortio_failure_quotes_its_stderr():
    command = plan.fortio_command("load -c 2 -n 20 http://nope/")
    failed = ExecResult(stdout="", stderr="Aborting because of lookup nope: no such host\n", returncode=1)
    with pytest.raises(lablib.FortioError, match="exited with status 1:\nAborting because of lookup nope"):
        fortio_output(command, failed)


def test_fortio_curl_is_a_one_call_result_keeping_the_response_text():
    command = plan.fortio_command("load -curl http://service-go/env")
    text = 'HTTP/1.1 503 Service Unavailable\r\nserver: envoy\r\n\r\n{"message":"go v1"}'
    result = fortio_output(command, ExecResult(stdout=text, stderr="", returncode=0))
    assert (result.codes, result.count, result.source) == ({503: 1}, 1, "fortio-curl")
    assert result.raw == {"curl": text}


def test_kept_workers_names_running_pods_whose_proxy_config_concurrency_changed():
    pod = yaml.safe_load((REPO / "manifests/kubernetes/fortio-2.yaml").read_text())

    def with_concurrency(body: dict, value: object) -> dict:
        body = copy.deepcopy(body)
        body["metadata"]["annotations"]["proxy.istio.io/config"] = f"concurrency: {value}\n"
        return body

    one, four = with_concurrency(pod, 1), with_concurrency(pod, 4)
    (req,) = plan.plan_apply([four], lab="lab")
    assert plan.kept_workers([req], [one]) == ["fortio-2"], "running, asked for other workers: kept"
    assert plan.kept_workers([req], [four]) == [], "the same workers"
    assert plan.kept_workers([req], [None]) == [], "a new Pod is injected with what it asks for"
    assert plan.kept_workers([req], [pod]) == ["fortio-2"], "unset before (the lab's workers), 4 now"
    # a live object someone edited by hand into what the validator refuses still counts as a change
    assert plan.kept_workers([req], [with_concurrency(pod, "many")]) == ["fortio-2"]
    deployment = yaml.safe_load_all((REPO / "manifests/service/go/service-go.yaml").read_text())
    dep = next(d for d in deployment if d and d["kind"] == "Deployment")
    (dep_req,) = plan.plan_apply([dep], lab="lab")
    changed = copy.deepcopy(dep)
    changed["spec"]["template"].setdefault("metadata", {}).setdefault("annotations", {})[
        "proxy.istio.io/config"] = "concurrency: 4\n"
    assert plan.kept_workers([dep_req], [changed]) == [], "a Deployment rolls out new pods by itself"
