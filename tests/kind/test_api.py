"""What the cluster backend does before (or without) an API server: it is a ``Backend``, an unreachable
server is ``BackendUnavailable``, and so is one older than ``MIN_KUBERNETES``. Everything that needs a
server (apply, re-apply, update, conflicts, delete, cleanup, rollback, missing CRDs, the context guard,
namespaces) runs against a real kube-apiserver in tests/apiserver/.
"""

from __future__ import annotations

import socket

import pytest

import lablib
from lablib.backends.kind import KindBackend


def test_kind_backend_is_a_backend(lab_home):
    from lablib.backends.base import Backend

    kb = KindBackend(context="lab-ctx", allow_contexts=["lab-ctx"], progress=lambda *a: None)
    assert isinstance(kb, Backend)
    with kb as same:
        assert same is kb


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


def test_a_server_older_than_the_minimum_is_refused_before_any_write(kube_api, write_kubeconfig, lab_home):
    kube_api.version = ("1", "19+")  # how EKS/GKE spell minor versions
    path = write_kubeconfig({"lab-ctx": kube_api.url})
    kb = KindBackend(context="lab-ctx", kubeconfig=path, allow_contexts=["lab-ctx"], progress=lambda *a: None)
    with pytest.raises(lablib.BackendUnavailable,
                       match=r"runs Kubernetes v1\.19\.1; the lab needs 1\.20 or newer"):
        kb.start()
    assert kube_api.writes() == []
    kb.close()
