"""The cluster backend against a real kube-apiserver 1.20 + controller-manager (conftest.control_plane).

Real: etcd, the API server (authentication, RBAC, admission, server-side apply, dry run, field managers,
the audit log), the controllers (Deployment -> ReplicaSet -> Pods, garbage collection, namespace deletion).
The one stand-in is ``PodReadiness`` (no kubelet here): it marks pods Running/Ready so readiness waits end;
the tests that use it say so.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import yaml

import lablib
from lablib._exceptions import LabWarning
from lablib.backends.kind import LAB_LABEL, KindBackend
from tests.apiserver.envtest import OUTSIDER, STUDENT, ControlPlane, PodReadiness, crd_manifest

REPO = Path(__file__).resolve().parents[2]
FORTIO = REPO / "manifests/kubernetes/fortio.yaml"
SERVICE_GO = REPO / "manifests/service/go/service-go.yaml"
VS = REPO / "manifests/istio/route/virtual-service-go.yaml"
DR = REPO / "manifests/istio/resilience/destination-rule-go-cb.yaml"


def ns_path(ns: str, api: str, plural: str, name: str = "") -> str:
    base = "/api/v1" if api == "v1" else f"/apis/{api}"
    return f"{base}/namespaces/{ns}/{plural}" + (f"/{name}" if name else "")


def dr_path(ns: str) -> str:
    return ns_path(ns, "networking.istio.io/v1alpha3", "destinationrules", "service-go")


def write_yaml(path: Path, *docs: dict) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


@pytest.fixture
def restore_crds(control_plane: ControlPlane):
    """For tests that delete Istio CRDs: put them back (and wait until served) afterwards."""
    yield
    control_plane.apply_yaml(crd_manifest())
    for plural in ("destinationrules", "virtualservices"):
        control_plane.wait_for(
            lambda p=plural: control_plane.request("GET", f"/apis/networking.istio.io/v1/{p}")[0] == 200,
            f"{plural} served again", timeout=60)


def delete_crd(plane: ControlPlane, plural: str) -> None:
    assert plane.delete_path(
        f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.networking.istio.io") == 200
    plane.wait_for(lambda: plane.request("GET", f"/apis/networking.istio.io/v1/{plural}")[0] == 404,
                   f"{plural} no longer served", timeout=60)


# -- apply, re-apply, update, conflicts, delete -------------------------------------------------------------
def test_apply_creates_labelled_objects_and_the_controllers_make_pods(make_backend, control_plane, namespace):
    kb = make_backend()
    with PodReadiness(control_plane, (namespace,)) as stand_in:  # the kubelet stand-in: pods marked Ready
        refs = kb.apply(SERVICE_GO)
    assert refs == ["Service/service-go", "Deployment/service-go-v1", "Deployment/service-go-v2"]
    ns = control_plane.get(f"/api/v1/namespaces/{namespace}")
    assert ns["metadata"]["labels"]["istio-injection"] == "enabled"
    svc = control_plane.get(ns_path(namespace, "v1", "services", "service-go"))
    assert svc["metadata"]["labels"][LAB_LABEL] == f"lab-{namespace}"
    assert svc["spec"]["clusterIP"].startswith("10.96.")  # allocated by the real server
    for version in ("v1", "v2"):
        dep = control_plane.get(ns_path(namespace, "apps/v1", "deployments", f"service-go-{version}"))
        assert dep["status"]["availableReplicas"] == 1  # computed by the controllers from the pods' status
    pods = control_plane.get(ns_path(namespace, "v1", "pods"))["items"]
    owners = {p["metadata"]["ownerReferences"][0]["kind"] for p in pods}
    assert len(pods) == 2 and owners == {"ReplicaSet"}  # the controller manager made them
    assert len(stand_in.marked) == 2


def test_reapply_changes_nothing(make_backend, control_plane, namespace):
    kb = make_backend()
    kb.apply(VS)
    kb.apply(DR)
    paths = [dr_path(namespace), ns_path(namespace, "networking.istio.io/v1alpha3", "virtualservices",
                                         "service-go")]
    versions = [control_plane.get(p)["metadata"]["resourceVersion"] for p in paths]
    assert kb.apply(VS) == ["VirtualService/service-go"]
    assert kb.apply(DR) == ["DestinationRule/service-go"]
    assert [control_plane.get(p)["metadata"]["resourceVersion"] for p in paths] == versions


def test_update_bumps_generation_and_removes_dropped_fields(make_backend, control_plane, namespace, tmp_path):
    kb = make_backend()
    kb.apply(DR)
    first = control_plane.get(dr_path(namespace))
    assert first["metadata"]["generation"] == 1
    assert "http" in first["spec"]["trafficPolicy"]["connectionPool"]
    doc = yaml.safe_load(DR.read_text())
    doc["spec"]["trafficPolicy"]["connectionPool"] = {"tcp": {"maxConnections": 3}}  # http block dropped
    kb.apply(write_yaml(tmp_path / "dr.yaml", doc))
    second = control_plane.get(dr_path(namespace))
    assert second["metadata"]["generation"] == 2
    assert second["spec"]["trafficPolicy"]["connectionPool"] == {"tcp": {"maxConnections": 3}}


def test_a_pods_changed_annotation_is_updated_in_place(make_backend, control_plane, namespace, tmp_path):
    # What the embedded lab mirrors (its LabWarning; claim istio.inject.at-pod-creation): the API server takes
    # a running Pod's changed proxy.istio.io/config in place. The Pod is not created again, so Istio's
    # injector (a webhook on CREATE) never sees it, and its sidecar keeps the workers it started with.
    kb = make_backend()
    pod = yaml.safe_load((REPO / "manifests/kubernetes/fortio-2.yaml").read_text())
    pod["metadata"]["name"] = "fortio-w"
    config = pod["metadata"]["annotations"]["proxy.istio.io/config"]
    path = ns_path(namespace, "v1", "pods", "fortio-w")
    with PodReadiness(control_plane, (namespace,)):  # the kubelet stand-in: the pod marked Ready
        with warnings.catch_warnings(record=True) as quiet:
            warnings.simplefilter("always")
            kb.apply(write_yaml(tmp_path / "fortio-w.yaml", pod))
            kb.apply(write_yaml(tmp_path / "fortio-w.yaml", pod))  # the same again
        # a new Pod, then the same one: no word about its workers
        assert not [w for w in quiet if "changed on a running Pod" in str(w.message)]
        first = control_plane.get(path)
        pod["metadata"]["annotations"]["proxy.istio.io/config"] = config + "concurrency: 4\n"
        # ... so the lab says what the embedded backend says, at the file's annotations line
        with pytest.warns(LabWarning, match=r"^Pod/fortio-w: metadata\.annotations: proxy\.istio\.io/config "
                                            r"changed on a running Pod") as warned:
            kb.apply(write_yaml(tmp_path / "fortio-w.yaml", pod))
    assert Path(warned[0].filename).name == "fortio-w.yaml"
    second = control_plane.get(path)
    assert second["metadata"]["uid"] == first["metadata"]["uid"], "the same Pod, not a new one"
    assert "concurrency: 4" in second["metadata"]["annotations"]["proxy.istio.io/config"]
    assert "concurrency" not in first["metadata"]["annotations"]["proxy.istio.io/config"]


def test_a_deployments_changed_annotation_rolls_out_a_new_replicaset(make_backend, control_plane, namespace,
                                                                     tmp_path):
    # The other half of the embedded lab's rule: a Deployment's changed pod template (here its
    # proxy.istio.io/config) makes the real controller-manager create new pods under a new ReplicaSet.
    kb = make_backend()
    docs = [d for d in yaml.safe_load_all(SERVICE_GO.read_text()) if d]
    dep = next(d for d in docs if d["kind"] == "Deployment")
    rs_path = ns_path(namespace, "apps/v1", "replicasets")

    def replicasets() -> list[dict]:
        return [rs for rs in control_plane.get(rs_path)["items"]
                if rs["metadata"]["ownerReferences"][0]["name"] == dep["metadata"]["name"]]

    with PodReadiness(control_plane, (namespace,)):  # the kubelet stand-in: pods marked Ready
        kb.apply(write_yaml(tmp_path / "dep.yaml", dep))
        control_plane.wait_for(lambda: len(replicasets()) == 1, "the first ReplicaSet", timeout=60)
        first = replicasets()[0]["metadata"]["name"]
        meta = dep["spec"]["template"].setdefault("metadata", {})
        meta.setdefault("annotations", {})["proxy.istio.io/config"] = "concurrency: 4\n"
        kb.apply(write_yaml(tmp_path / "dep.yaml", dep))
        control_plane.wait_for(lambda: len(replicasets()) == 2, "a second ReplicaSet", timeout=60)
    new = next(rs for rs in replicasets() if rs["metadata"]["name"] != first)
    assert "concurrency: 4" in new["spec"]["template"]["metadata"]["annotations"]["proxy.istio.io/config"]


def test_a_field_another_manager_set_is_taken_over(make_backend, control_plane, namespace):
    kb = make_backend()
    kb.apply(DR)
    # Someone edits the same field with another tool (a different field manager).
    other = yaml.safe_load(DR.read_text())
    other["metadata"]["namespace"] = namespace
    other["spec"]["trafficPolicy"]["connectionPool"]["tcp"]["maxConnections"] = 99
    control_plane.apply_yaml(yaml.safe_dump(other), manager="kubectl-edit")
    assert control_plane.get(dr_path(namespace))["spec"]["trafficPolicy"]["connectionPool"]["tcp"][
        "maxConnections"] == 99
    # Without force the lab's apply would be a 409 conflict; the lab, like `kubectl apply --server-side
    # --force-conflicts`, takes the field back: the state the lab shows is the state that runs.
    kb.apply(DR)
    obj = control_plane.get(dr_path(namespace))
    assert obj["spec"]["trafficPolicy"]["connectionPool"]["tcp"]["maxConnections"] == 10
    owners = {m["manager"]: json.dumps(m.get("fieldsV1", {})) for m in obj["metadata"]["managedFields"]}
    assert "maxConnections" in owners["lablib"]
    assert "maxConnections" not in owners.get("kubectl-edit", "")


def test_delete_removes_objects_and_tolerates_missing_ones(make_backend, control_plane, namespace):
    kb = make_backend()
    with PodReadiness(control_plane, (namespace,)):  # the kubelet stand-in
        kb.apply(SERVICE_GO)
    control_plane.delete_path(ns_path(namespace, "apps/v1", "deployments", "service-go-v2"))  # someone else
    assert kb.delete(SERVICE_GO) == ["Service/service-go", "Deployment/service-go-v1"]
    assert kb.delete(SERVICE_GO) == []
    assert control_plane.get(ns_path(namespace, "v1", "services", "service-go")) is None
    # The garbage collector takes the ReplicaSets' pods along (propagationPolicy=Background).
    control_plane.wait_for(lambda: not control_plane.get(ns_path(namespace, "v1", "pods"))["items"],
                           "pods garbage-collected", timeout=60)


# -- cleanup -------------------------------------------------------------------------------------------------
def test_cleanup_deletes_only_this_labs_objects(make_backend, control_plane, namespace):
    control_plane.apply_yaml(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n")
    kb = make_backend()
    with PodReadiness(control_plane, (namespace,)):  # the kubelet stand-in
        for path in (FORTIO, SERVICE_GO, VS, DR):
            kb.apply(path)
    theirs = {"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": "theirs", "namespace": namespace, "labels": {"app": "x"}},
              "spec": {"ports": [{"port": 81, "protocol": "TCP"}]}}
    other_lab = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "other-lab", "namespace": namespace, "labels": {LAB_LABEL: "another"}}}
    control_plane.apply_yaml(yaml.safe_dump_all([theirs, other_lab]))
    kb.cleanup()
    assert control_plane.get(ns_path(namespace, "v1", "services", "theirs")) is not None
    assert control_plane.get(ns_path(namespace, "v1", "configmaps", "other-lab")) is not None
    assert control_plane.get(dr_path(namespace)) is None
    assert control_plane.get(ns_path(namespace, "v1", "services", "service-go")) is None
    assert control_plane.get(ns_path(namespace, "apps/v1", "deployments", "service-go-v1")) is None
    assert control_plane.get(ns_path(namespace, "v1", "pods", "fortio")) is None
    # The namespace existed before the lab: it stays, with the injection label.
    ns = control_plane.get(f"/api/v1/namespaces/{namespace}")
    assert ns["metadata"]["labels"]["istio-injection"] == "enabled"
    assert "deletionTimestamp" not in ns["metadata"]
    fresh = make_backend()  # idempotent, from a fresh handle too
    fresh.start()
    assert fresh.delete_labelled() == []


def test_cleanup_deletes_the_namespace_the_lab_created(make_backend, control_plane, namespace):
    """Defect 4: a namespace the lab created (labelling it for injection) was left behind by cleanup."""
    assert control_plane.get(f"/api/v1/namespaces/{namespace}") is None
    kb = make_backend()
    kb.apply(DR)
    assert control_plane.get(f"/api/v1/namespaces/{namespace}")["metadata"]["labels"]["istio-injection"] == \
        "enabled"
    make_backend().cleanup()  # another handle (a new kernel): the record is in the state file
    assert control_plane.get(f"/api/v1/namespaces/{namespace}") is None
    kb.apply(DR)  # and the lab can start again: the namespace is created anew
    assert control_plane.get(dr_path(namespace)) is not None
    kb.cleanup()
    assert control_plane.get(f"/api/v1/namespaces/{namespace}") is None


def test_cleanup_survives_a_deleted_crd_and_a_stale_discovery_cache(make_backend, control_plane, namespace,
                                                                   restore_crds):
    """Defect 1: the discovery cache on disk never expired and was shared across processes; after a CRD was
    deleted, cleanup stopped at "listing VirtualService …: not found (HTTP 404)" and left the DR behind."""
    first = make_backend()
    first.apply(VS)
    first.apply(DR)  # discovery now knows (and cached) both Istio kinds
    delete_crd(control_plane, "virtualservices")
    # The old handle's discovery is stale: the 404 makes it look again and say what is wrong.
    with pytest.raises(lablib.BackendUnavailable,
                       match=r"this cluster does not serve networking\.istio\.io/v1alpha3 VirtualService; "
                             r"Istio's CRDs are not installed"):
        first.apply(VS)
    make_backend().cleanup()  # a new handle, same state directory, as a new kernel would be
    assert control_plane.get(dr_path(namespace)) is None
    first.cleanup()  # idempotent on the old handle too
    with pytest.raises(lablib.BackendUnavailable, match=r"this cluster does not serve .*VirtualService"):
        make_backend().apply(VS)


def test_the_istio_check_is_not_fooled_by_a_stale_cache(make_backend, control_plane, namespace, restore_crds):
    make_backend().apply(DR)  # warms any cache there is
    delete_crd(control_plane, "destinationrules")
    with pytest.raises(lablib.BackendUnavailable,
                       match=r"does not serve networking\.istio\.io \(Istio is not installed\)"):
        make_backend().start()


# -- all or nothing ------------------------------------------------------------------------------------------
def test_a_rejection_after_the_dry_run_rolls_back_what_the_apply_did(make_backend, control_plane, namespace,
                                                                     tmp_path):
    """Defect 2: the dry run accepts a clusterIP outside the service range (1.20 allocates only for real);
    the real apply rejects it, and the objects applied before it must be undone."""
    kb = make_backend()
    kb.apply(DR)
    before = control_plane.get(dr_path(namespace))
    changed = yaml.safe_load(DR.read_text())
    changed["spec"]["trafficPolicy"]["connectionPool"]["tcp"]["maxConnections"] = 2
    new_svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "first"},
               "spec": {"selector": {"app": "x"}, "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}
    bad_svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "outside"},
               "spec": {"clusterIP": "10.0.0.10", "selector": {"app": "x"},
                        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}
    path = write_yaml(tmp_path / "three.yaml", changed, new_svc, bad_svc)
    with pytest.raises(lablib.BackendError) as err:
        kb.apply(path)
    text = str(err.value)
    assert "apply Service/outside: the API server rejected the object (HTTP 422" in text
    assert "Nothing was applied (rolled back Service/first, DestinationRule/service-go)" in text
    assert control_plane.get(ns_path(namespace, "v1", "services", "first")) is None
    assert control_plane.get(ns_path(namespace, "v1", "services", "outside")) is None
    after = control_plane.get(dr_path(namespace))
    assert after["spec"] == before["spec"]
    owners = [(m["manager"], m["operation"], m.get("fieldsV1")) for m in after["metadata"]["managedFields"]]
    assert owners == [(m["manager"], m["operation"], m.get("fieldsV1"))
                      for m in before["metadata"]["managedFields"]]


# -- Kubernetes 1.20 specifics -------------------------------------------------------------------------------
def test_ports_without_protocol_apply_on_a_1_20_server(make_backend, control_plane, namespace, tmp_path):
    """Defect 5: this server answers a server-side apply of a Service port without ``protocol`` with HTTP 500
    (fixed upstream in 1.21); the plan spells out ``protocol: TCP``."""
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "bare", "namespace": "default"},
           "spec": {"selector": {"app": "x"}, "ports": [{"name": "http", "port": 80}]}}
    status, body = control_plane.request("PATCH", ns_path("default", "v1", "services", "bare")
                                         + "?fieldManager=probe", svc,
                                         content_type="application/apply-patch+yaml")
    assert status == 500, (status, body)  # the server really has the bug the plan works around
    kb = make_backend()
    with PodReadiness(control_plane, (namespace,)):  # the kubelet stand-in
        assert kb.apply(SERVICE_GO)[0] == "Service/service-go"  # its ports name no protocol
    assert kb.server_version == (1, 20)
    ports = control_plane.get(ns_path(namespace, "v1", "services", "service-go"))["spec"]["ports"]
    assert ports[0]["protocol"] == "TCP"


# -- exec: errors a student can read -------------------------------------------------------------------------
def test_exec_errors_say_what_is_wrong(make_backend, control_plane, namespace):
    """Defect 3: a refused exec handshake surfaced as "HTTP 0" with the response headers; a missing
    istio-proxy container had no hint about sidecar injection (no injector runs here, so it is missing)."""
    kb = make_backend()
    with PodReadiness(control_plane, (namespace,)):  # the kubelet stand-in: fortio "Running"
        kb.apply(FORTIO)
    with pytest.raises(lablib.BackendError) as err:
        kb.stats()
    text = str(err.value)
    assert "HTTP 0" not in text and "-+-+-" not in text
    assert ("the API server refused the exec (HTTP 400: container istio-proxy is not valid for pod fortio)"
            in text)
    assert "sidecar injection did not happen" in text and "istio-injection=enabled" in text
    with pytest.raises(lablib.BackendError,
                       match=r"HTTP 400: pod fortio does not have a host assigned\); the pod is not sch"):
        kb.fortio("load -c 1 -n 1 http://service-go/env")


# -- the context guard ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("verb", ["apply", "cleanup", "stats", "set_fault"])
def test_every_verb_sends_nothing_to_a_context_not_allowed(verb, control_plane, lab_home):
    kb = KindBackend(name=f"guarded-{verb.replace('_', '-')}", context=control_plane.outsider_context,
                     kubeconfig=control_plane.kubeconfig, progress=lambda *a: None)
    calls = {"apply": lambda: kb.apply(VS), "cleanup": kb.cleanup, "stats": kb.stats,
             "set_fault": lambda: kb.set_fault("service-go-v1")}
    with pytest.raises(lablib.ClusterSafetyError, match=r"allow_contexts=\['envtest-outsider'\]"):
        calls[verb]()
    kb.close()
    # The audit log is written synchronously; the admin's requests show it is live.
    assert control_plane.audit_entries(user="envtest-admin")
    assert control_plane.audit_entries(user=OUTSIDER[1]) == []


def test_an_invalid_manifest_sends_nothing(make_backend, control_plane, tmp_path):
    bad = tmp_path / "dr.yaml"
    bad.write_text("apiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\nmetadata:\n"
                   "  name: service-go\nspec:\n  host: service-go\n  trafficPolicy:\n    connectionPool:\n"
                   "      tcp:\n        maxConnections: -1\n")
    before = len(control_plane.audit_entries(user=STUDENT[1]))
    with pytest.raises(lablib.ValidationFailed, match=r"dr.yaml:10"):
        make_backend().apply(bad)
    assert len(control_plane.audit_entries(user=STUDENT[1])) == before


def test_cleanup_never_deletes_a_cluster_the_lab_did_not_create(make_backend, control_plane, namespace,
                                                               tmp_path, monkeypatch):
    # A recording `kind` first on PATH: it must never be asked to delete anything.
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    (bin_dir / "kind").write_text(f'#!/bin/sh\necho "kind $*" >> "{calls}"\n')
    (bin_dir / "kind").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    kb = make_backend()
    kb.apply(DR)
    with pytest.raises(lablib.ClusterSafetyError, match="not deleting cluster 'envtest-lab': the lab did not "
                                                        "create"):
        kb.cleanup(delete_cluster=True)
    assert control_plane.get(dr_path(namespace)) is None  # its objects are gone all the same
    assert not calls.exists()


ISTIOD = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: istiod, namespace: istio-system, labels: {{app: istiod}}}}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: istiod}}}}
  template:
    metadata: {{labels: {{app: istiod}}}}
    spec:
      containers: [{{name: discovery, image: "docker.io/istio/pilot:{tag}"}}]
"""


def test_an_istiod_of_another_release_is_named_with_what_differs(make_backend, control_plane):
    """The lab shows what Istio 1.30 configures; a cluster running another istiod gets a LabWarning that
    names the release and the behaviours that differ (lablib.translate.version)."""
    path = "/apis/apps/v1/namespaces/istio-system/deployments/istiod"
    try:
        control_plane.apply_yaml(ISTIOD.format(tag="1.29.2"))
        with pytest.warns(LabWarning, match=r"istiod is 1\.29\.2[\s\S]*Istio 1\.30: "):
            make_backend().start()
        control_plane.apply_yaml(ISTIOD.format(tag="1.30.1-distroless"))
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error", LabWarning)
            make_backend().start()
    finally:
        control_plane.delete_path(path)
