"""``Lab()``: the issue's notebook snippet on the embedded mesh, backend choice, faults through the lab
API."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from mesh_helpers import SERVICE

from lablib import LabError
from lablib.backends.mesh import MeshBackend
from lablib.lab import Lab, choose_backend
from tests.support import processes_under

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.envoy
def test_the_issue_snippet_runs_on_the_embedded_mesh(lab_home, monkeypatch):
    monkeypatch.setenv("LABLIB_BACKEND", "embedded")
    lab = Lab(service_time_ms=10)
    try:
        assert isinstance(lab.backend, MeshBackend) and lab.backend.owned
        lab.apply(REPO / "manifests/service/go/service-go.yaml")
        lab.apply(REPO / "manifests/istio/resilience/destination-rule-go-cb.yaml")
        t0 = time.time()
        result = lab.fortio("load -c 30 -qps 0 -n 300 -loglevel Error http://service-go/env")
        assert result.count == 300 and result.codes.get(200, 0) > 0
        records = lab.responses(since=t0, wait_for=300)
        assert len(records) == 300 and {r.authority for r in records} == {"service-go"}
        assert {r.upstream_cluster for r in records} == {SERVICE}
        stats = lab.stats(SERVICE)
        assert stats["upstream_rq_total"] >= result.codes.get(200, 0)
        why = lab.explain(result)
        assert why.total == 300 and why.accounted, str(why)
        assert "max_connections" in lab.proxy_config("cluster").replace("maxConnections", "max_connections")
        lab.reset_counters()
        assert lab.stats(SERVICE)["upstream_rq_total"] == 0

        # Faults through the lab API: the app answers 503, Envoy passes it on (no flag, via_upstream).
        assert lab.set_fault("service-go-v1", code=503, fraction=1.0) == ["service-go-v1-0"]
        lab.fortio("load -c 2 -qps 0 -n 20 -loglevel Error -allow-initial-errors http://service-go/env")
        why = lab.explain()
        assert why.by_cause.get("app answered 503", 0) > 0 and why.accounted, str(why)
        lab.set_fault("service-go-v1", fraction=0)
        with pytest.raises(LabError, match="no pod or deployment"):
            lab.set_fault("nope")
        with pytest.raises(LabError, match="not produced by this lab"):
            lab.explain(object())
    finally:
        lab.cleanup()
    assert not processes_under(lab_home)


@pytest.mark.envoy
def test_a_second_lab_in_the_same_kernel_attaches(lab_home):
    first = Lab(backend="embedded", service_time_ms=5)
    try:
        second = Lab(backend="embedded")
        assert second.backend.attached and not second.backend.owned
        assert second.backend.processes() == first.backend.processes()
        second.close()
        assert all(r.alive() for r in first.backend.processes())
    finally:
        first.close()  # the owner's close stops it
    assert not processes_under(lab_home)


def test_backend_choice(monkeypatch):
    monkeypatch.setenv("LABLIB_BACKEND", "embedded")
    assert choose_backend() == ("embedded", "asked for embedded")
    assert choose_backend("kind")[0] == "kind"
    monkeypatch.setenv("LABLIB_BACKEND", "docker")
    with pytest.raises(LabError, match="use embedded, kind or auto"):
        choose_backend()


def test_auto_treats_a_missing_kind_backend_as_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "lablib.backends.kind", None)  # import raises ImportError
    kind, reason = choose_backend("auto")
    assert kind == "embedded" and "kind backend unavailable" in reason


@pytest.mark.envoy
def test_stats_of_an_unknown_cluster_name_the_known_ones(lab_home):
    with Lab(backend="embedded", service_time_ms=5) as lab:
        lab.apply(REPO / "manifests/service/go/service-go.yaml")
        with pytest.raises(LabError, match=r"no Envoy cluster 'outbound\|80\|\|service-go'.*has: outbound"):
            lab.stats("outbound|80||service-go")
    assert not processes_under(lab_home)
