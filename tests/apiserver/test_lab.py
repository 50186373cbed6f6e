"""``Lab(backend="kind", …)`` and the lab-02 notebook on the real API server, as far as a cluster without a
kubelet goes: every apply step completes (``PodReadiness``, the one stand-in, marks pods Ready as a kubelet
would), and the first step that needs a running container stops with a clear LabError.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import lablib
from lablib.backends.kind import KindBackend
from lablib.lab import Lab
from tests.apiserver.envtest import STUDENT, ControlPlane, PodReadiness

REPO = Path(__file__).resolve().parents[2]
BOOK = [REPO / rel for rel in ("manifests/kubernetes/fortio.yaml", "manifests/service/go/service-go.yaml",
                               "manifests/istio/route/virtual-service-go.yaml",
                               "manifests/istio/resilience/destination-rule-go-cb.yaml")]
NOTEBOOK = REPO / "labs" / "02-outlier-detection.ipynb"


def test_lab_drives_the_cluster_backend_until_a_kubelet_is_needed(control_plane, lab_home, namespace):
    seen = len(control_plane.audit_entries(user=STUDENT[1]))
    with (PodReadiness(control_plane, (namespace,)),  # the kubelet stand-in
          Lab(backend="kind", name=f"lab-{namespace}", context=control_plane.context,
              allow_contexts=[control_plane.context], kubeconfig=control_plane.kubeconfig,
              namespace=namespace, progress=lambda *a: None) as lab):
        assert isinstance(lab.backend, KindBackend)
        refs = [ref for path in BOOK for ref in lab.apply(path)]
        assert refs == ["Pod/fortio", "Service/service-go", "Deployment/service-go-v1",
                        "Deployment/service-go-v2", "VirtualService/service-go", "DestinationRule/service-go"]
        dr = control_plane.get(f"/apis/networking.istio.io/v1/namespaces/{namespace}/destinationrules/"
                               "service-go")  # served as v1 too, stored once
        assert dr["spec"]["trafficPolicy"]["connectionPool"]["tcp"]["maxConnections"] == 10
        with pytest.raises(lablib.BackendError, match="pod fortio does not have a host assigned"):
            lab.fortio("load -c 2 -n 20 http://service-go/env")
        with pytest.raises(lablib.BackendError, match=r"service-go-v1-\S+ does not have a host assigned"):
            lab.set_fault("service-go-v1", code=503)
        lab.cleanup()
    assert control_plane.get(f"/api/v1/namespaces/{namespace}") is None
    writes = [e for e in control_plane.audit_entries(user=STUDENT[1])[seen:]
              if e["verb"] in ("create", "patch", "update", "delete")]
    assert writes and all(e["objectRef"].get("namespace") in (namespace, None) for e in writes)


@pytest.fixture
def notebook_env(control_plane: ControlPlane, lab_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ``Lab(backend="kind")`` at the envtest context through the environment (the notebook's
    parameters name only the backend)."""
    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig))
    monkeypatch.setenv("LABLIB_CONTEXT", control_plane.context)
    monkeypatch.setenv("LABLIB_ALLOW_CONTEXTS", control_plane.context)


@pytest.mark.timeout(600)
def test_lab02_notebook_gets_past_its_applies_and_stops_where_a_kubelet_is_needed(control_plane, notebook_env,
                                                                                  tmp_path):
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "lab02.ipynb"
    with PodReadiness(control_plane, ("default",)), \
            pytest.raises(papermill.PapermillExecutionError) as err:  # the kubelet stand-in
        papermill.execute_notebook(str(NOTEBOOK), str(out), parameters={"backend": "kind"},
                                   cwd=str(NOTEBOOK.parent), kernel_name="python3", progress_bar=False)
    failure = err.value
    assert failure.ename in {c.__name__ for c in _lab_errors()}, (failure.ename, failure.evalue)
    assert "does not have a host assigned" in failure.evalue or "is not valid for pod" in failure.evalue
    import nbformat

    nb = nbformat.read(out, as_version=4)
    ran = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    failed = [c for c in ran if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1 and failed[0] is ran[-1]
    # Step 1's cell applies service-go and the route (checked on the server below), then its experiment is
    # the first thing that needs a running container (it heals both pods first).
    assert "lab.apply(" in failed[0].source and "outlier.experiment(" in failed[0].source
    # The objects those steps applied are on the server, labelled for the lab; the notebook stopped before
    # its cleanup cell, so remove them here.
    assert control_plane.get("/apis/apps/v1/namespaces/default/deployments/service-go-v1") is not None
    assert control_plane.get("/apis/networking.istio.io/v1alpha3/namespaces/default/virtualservices/"
                             "service-go") is not None
    KindBackend(progress=lambda *a: None).cleanup()
    assert control_plane.get("/apis/apps/v1/namespaces/default/deployments/service-go-v1") is None


def _lab_errors() -> list[type]:
    found, todo = [], [lablib.LabError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found
