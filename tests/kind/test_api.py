"""The apply/delete/cleanup path end to end over a socket: the real ``kubernetes`` client (dynamic
client, discovery, server-side apply) talking to a local HTTP server that speaks the Kubernetes API
(conftest.kube_api).

What it cannot show: real controllers, admission, sidecar injection, exec streams; the ``cluster`` tests do.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import lablib
from lablib.backends.kind import LAB_LABEL, KindBackend

REPO = Path(__file__).resolve().parents[2]
BOOK = [str(REPO / rel) for rel in ("manifests/kubernetes/fortio.yaml",
                                    "manifests/service/go/service-go.yaml",
                                    "manifests/istio/route/virtual-service-go.yaml",
                                    "manifests/istio/resilience/destination-rule-go-cb.yaml")]


@pytest.fixture
def backend(kube_api, write_kubeconfig, lab_home):
    path = write_kubeconfig({"lab-ctx": kube_api.url, "prod": "https://prod.example.invalid:6443"},
                            current="prod")
    messages: list[str] = []
    kb = KindBackend(context="lab-ctx", kubeconfig=path, allow_contexts=["lab-ctx"],
                     progress=lambda done, total, msg: messages.append(msg))
    kb.messages = messages  # type: ignore[attr-defined]
    yield kb
    kb.close()


def test_kind_backend_is_a_backend(backend):
    from lablib.backends.base import Backend

    assert isinstance(backend, Backend)
    with backend as same:
        assert same is backend


def test_apply_sends_server_side_apply_for_every_object(backend, kube_api):
    refs = backend.apply(str(REPO / "manifests/service/go/service-go.yaml"))
    assert refs == ["Service/service-go", "Deployment/service-go-v1", "Deployment/service-go-v2"]

    writes = kube_api.writes()
    # First the namespace's injection label, by its own field manager.
    label = writes[0]
    assert (label.method, label.path) == ("PATCH", "/api/v1/namespaces/default")
    assert label.query["fieldManager"] == ["lablib-injection"]
    assert label.body["metadata"]["labels"] == {"istio-injection": "enabled"}
    # Then a server-side dry run of the whole file, then the real applies, in file order.
    paths = ["/api/v1/namespaces/default/services/service-go",
             "/apis/apps/v1/namespaces/default/deployments/service-go-v1",
             "/apis/apps/v1/namespaces/default/deployments/service-go-v2"]
    assert [(w.path, w.query.get("dryRun")) for w in writes[1:]] == [(p, ["All"]) for p in paths] + \
        [(p, None) for p in paths]
    for w in writes[1:]:
        assert w.content_type == "application/apply-patch+yaml"
        assert w.query["fieldManager"] == ["lablib"] and w.query["force"] == ["true"]
        assert w.body["metadata"]["labels"][LAB_LABEL] == "istio-cb-lab"
        assert w.authorization == "Bearer lab-test-token"
    assert kube_api.names() == ["Deployment/service-go-v1", "Deployment/service-go-v2", "Namespace/default",
                                "Service/service-go"]
    # It waited for the Deployments (the local API reports them available at once).
    gets = [r.path for r in kube_api.requests if r.method == "GET" and "deployments/" in r.path]
    assert set(gets) == set(paths[1:])
    assert "ready" in backend.messages


def test_istio_kinds_go_to_their_crd_endpoints(backend, kube_api):
    backend.apply(str(REPO / "manifests/istio/route/virtual-service-go.yaml"))
    backend.apply(str(REPO / "manifests/istio/resilience/destination-rule-go-cb.yaml"))
    applied = [w.path for w in kube_api.writes() if not w.query.get("dryRun")]
    assert "/apis/networking.istio.io/v1alpha3/namespaces/default/virtualservices/service-go" in applied
    assert "/apis/networking.istio.io/v1alpha3/namespaces/default/destinationrules/service-go" in applied
    dr = kube_api.objects[("networking.istio.io", "destinationrules", "default", "service-go")]
    assert dr["spec"]["trafficPolicy"]["connectionPool"]["tcp"]["maxConnections"] == 10


def test_invalid_manifest_sends_nothing(backend, kube_api, tmp_path):
    bad = tmp_path / "dr.yaml"
    bad.write_text("apiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\nmetadata:\n"
                   "  name: service-go\nspec:\n  host: service-go\n  trafficPolicy:\n    connectionPool:\n"
                   "      tcp:\n        maxConnections: -1\n")
    with pytest.raises(lablib.ValidationFailed, match=r"dr.yaml:10"):
        backend.apply(bad)
    assert kube_api.requests == []


def test_a_server_side_rejection_applies_nothing(backend, kube_api, tmp_path):
    two = tmp_path / "two.yaml"
    two.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: first\nspec:\n  ports:\n  - port: 80\n"
                   "    name: http\n---\napiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\n"
                   "metadata:\n  name: second\nspec:\n  host: reject.me\n")
    expected = (r"dry-run apply DestinationRule/second: the API server rejected the object "
                r"\(HTTP 422: .*is invalid: spec.host\)")
    with pytest.raises(lablib.BackendError, match=expected):
        backend.apply(two)
    assert kube_api.names() == ["Namespace/default"]  # the Service before it was not applied either


def test_delete_tolerates_objects_already_gone(backend, kube_api):
    backend.apply(str(REPO / "manifests/service/go/service-go.yaml"))
    del kube_api.objects[("apps", "deployments", "default", "service-go-v2")]  # someone deleted it
    assert backend.delete(str(REPO / "manifests/service/go/service-go.yaml")) == ["Service/service-go",
                                                                      "Deployment/service-go-v1"]
    assert backend.delete(str(REPO / "manifests/service/go/service-go.yaml")) == []
    assert kube_api.names() == ["Namespace/default"]


def test_cleanup_deletes_exactly_what_carries_this_labs_label(backend, kube_api):
    for rel in BOOK:
        backend.apply(rel)
    kube_api.add({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": "theirs", "labels": {"app": "x"}}})
    kube_api.add({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "other-lab", "namespace": "team-b",
                                                                 "labels": {LAB_LABEL: "another-lab"}}})
    backend.cleanup()
    assert kube_api.names() == ["Namespace/default", "Pod/other-lab", "Service/theirs"]
    deletes = [r for r in kube_api.requests if r.method == "DELETE"]
    assert len(deletes) == 6  # fortio, service-go, 2 Deployments, VS, DR
    assert all(r.query.get("propagationPolicy") == ["Background"] for r in deletes)
    # Routing goes first, as kubectl users do by hand.
    assert "virtualservices" in deletes[0].path
    lists = [r for r in kube_api.requests if r.method == "GET" and "labelSelector" in r.query]
    assert lists and all(r.query["labelSelector"] == [f"{LAB_LABEL}=istio-cb-lab"] for r in lists)
    assert kube_api.objects[("", "namespaces", None, "default")]["metadata"]["labels"] == {
        "istio-injection": "enabled"}
    before = len(kube_api.requests)
    backend.cleanup()  # idempotent
    assert not [r for r in kube_api.requests[before:] if r.method == "DELETE"]


def test_cleanup_never_deletes_a_cluster_the_lab_did_not_create(backend, kube_api, tool_dir):
    tool_dir.add("kind", "ok")  # a recording kind on PATH: it must never be asked to delete anything
    backend.apply(str(REPO / "manifests/kubernetes/fortio.yaml"))
    with pytest.raises(lablib.ClusterSafetyError,
                       match="not deleting cluster 'lab-ctx': the lab did not create"):
        backend.cleanup(delete_cluster=True)
    assert kube_api.names() == ["Namespace/default"]  # its objects are gone all the same
    assert tool_dir.called() == []


def test_unreachable_api_server_is_backend_unavailable(write_kubeconfig, lab_home):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = write_kubeconfig({"lab-ctx": f"http://127.0.0.1:{port}"})
    kb = KindBackend(context="lab-ctx", kubeconfig=path, allow_contexts=["lab-ctx"], progress=lambda *a: None)
    kb.timeouts["admin"] = 5
    with pytest.raises(lablib.BackendUnavailable, match="cannot reach the Kubernetes API server"):
        kb.start()
    kb.close()


def test_an_existing_cluster_without_istio_says_how_to_install_it(kube_api, write_kubeconfig, lab_home):
    for gv in [gv for gv in kube_api.served if gv.startswith("networking.istio.io/")]:
        del kube_api.served[gv]
    path = write_kubeconfig({"their-ctx": kube_api.url})
    kb = KindBackend(context="their-ctx", kubeconfig=path, allow_contexts=["their-ctx"],
                     progress=lambda *a: None)
    with pytest.raises(lablib.BackendUnavailable,
                       match=r"does not serve networking\.istio\.io .*istioctl install --set profile=minimal "
                             r"-y --context their-ctx"):
        kb.apply(str(REPO / "manifests/service/go/service-go.yaml"))
    assert kube_api.writes() == []  # not even the injection label
    kb.close()


def test_lab_with_an_allow_list_drives_the_cluster_backend(kube_api, write_kubeconfig, lab_home, monkeypatch):
    lab_module = pytest.importorskip("lablib.lab")
    path = write_kubeconfig({"my-ctx": kube_api.url})
    monkeypatch.setenv("LABLIB_ALLOW_CONTEXTS", "my-ctx")
    with lab_module.Lab(backend="kind", context="my-ctx", kubeconfig=path, progress=lambda *a: None) as lab:
        assert isinstance(lab.backend, KindBackend)
        assert lab.apply(BOOK[1]) == ["Service/service-go", "Deployment/service-go-v1",
                                      "Deployment/service-go-v2"]
        lab.cleanup()
    assert kube_api.names() == ["Namespace/default"]
