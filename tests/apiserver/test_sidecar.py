"""A Sidecar (lab 06's server-side limit) through the cluster backend against a real kube-apiserver:
server-side applied as ``networking.istio.io/v1`` with the lab's label, read back as written, and deleted
by cleanup."""

from __future__ import annotations

from pathlib import Path

import yaml

from lablib.backends.kind import LAB_LABEL
from tests.apiserver.conftest import _established
from tests.apiserver.envtest import ControlPlane

POOL = {"tcp": {"maxConnections": 1}, "http": {"http1MaxPendingRequests": 1, "http2MaxRequests": 10}}
SIDECAR = {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar", "metadata": {"name": "service-go"},
           "spec": {"workloadSelector": {"labels": {"app": "service-go"}}, "inboundConnectionPool": POOL}}


def _path(namespace: str) -> str:
    return f"/apis/networking.istio.io/v1/namespaces/{namespace}/sidecars/service-go"


def test_a_sidecar_is_applied_with_the_labs_label_and_cleanup_deletes_it(
        make_backend, control_plane: ControlPlane, namespace: str, tmp_path: Path) -> None:
    control_plane.wait_for(lambda: _established(control_plane, "sidecars"), "CRD sidecars established")
    path = tmp_path / "sidecar-service-go.yaml"
    path.write_text(yaml.safe_dump(SIDECAR, sort_keys=False))
    kb = make_backend()
    assert kb.apply(path) == ["Sidecar/service-go"]
    stored = control_plane.get(_path(namespace))
    assert stored["spec"] == SIDECAR["spec"]
    assert stored["metadata"]["labels"][LAB_LABEL] == f"lab-{namespace}"
    kb.cleanup()
    assert control_plane.get(_path(namespace)) is None
