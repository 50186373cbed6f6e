"""What the claims tests share: a private embedded lab (real Envoy sidecars, real service-go), the manifests
they apply as text, and calls sent one by one through the client sidecar.

Each module gets its own lab in its own ``$LABLIB_HOME``; at the end no process may remain under it.
"""

from __future__ import annotations

import contextlib
import http.client
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil
import yaml

from lablib.envoy.upstream import ClusterStats
from lablib.lab import Lab
from tests.support import processes_under

SERVICE = "outbound|80||service-go.default.svc.cluster.local"
INBOUND = "inbound|80||"
URL = "http://service-go/env"


@contextlib.contextmanager
def embedded_lab(home: Path, name: str, *, versions: tuple[str, ...] = ("v1",), service_time_ms: float = 5,
                 workers: int = 2) -> Iterator[Lab]:
    """An embedded lab with service-go (one pod per version, no route: one Envoy cluster for all of them)."""
    lab = Lab("embedded", name=name, home=home, service_time_ms=service_time_ms, workers=workers)
    try:
        lab.apply(write(home / "manifests" / "service-go.yaml", service_go(versions)))
        yield lab
    finally:
        lab.cleanup()
        left = processes_under(home)
        for p in left:  # never leave a process behind, even when a test failed
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        assert not left, f"processes left behind: {[p.pid for p in left]}"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def service_go(versions: tuple[str, ...]) -> str:
    docs: list[dict[str, Any]] = [{
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "service-go", "labels": {"app": "service-go"}},
        "spec": {"selector": {"app": "service-go"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 80}]}}]
    for v in versions:
        labels = {"app": "service-go", "version": v}
        docs.append({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"service-go-{v}", "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "service-go", "image": f"lablib/service-go:{v}",
                                         "ports": [{"containerPort": 80}]}]}}}})
    return yaml.safe_dump_all(docs, sort_keys=False)


def client_pod(name: str) -> str:
    """A second fortio pod: its own client sidecar, with its own copy of every cluster and breaker."""
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "fortio"}},
        "spec": {"containers": [{"name": "fortio", "image": "fortio/fortio:latest_release",
                                 "ports": [{"containerPort": 8080}]}]}}, sort_keys=False)


def apply_rule(lab: Lab, home: Path, *, pool: Mapping[str, Any] | None = None,
               outlier: Mapping[str, Any] | None = None) -> None:
    """Apply the DestinationRule ``service-go`` with these blocks. A changed rule is a new Envoy cluster, with
    a new outlier detector and new connection pools: nothing counted before carries over."""
    policy: dict[str, Any] = {}
    if pool is not None:
        policy["connectionPool"] = dict(pool)
    if outlier is not None:
        policy["outlierDetection"] = dict(outlier)
    rule = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "service-go"},
            "spec": {"host": "service-go", "trafficPolicy": policy}}
    lab.apply(write(home / "manifests" / "destination-rule.yaml", yaml.safe_dump(rule, sort_keys=False)))
    time.sleep(0.2)  # the apply returns once Envoy took the config; let the old cluster's connections go


def call(lab: Lab) -> int:
    """One GET /env through the fortio pod's client sidecar (its listener, Host kept), on a new connection."""
    host, port = lab.backend.listener_for(URL)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/env", headers={"Host": "service-go"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def answer(lab: Lab, pod: str, codes: list[int]) -> list[int]:
    """Make ``pod``'s app answer each code in turn, one call each (200: healthy); the codes the client got."""
    got = []
    for code in codes:
        lab.set_fault(pod, code=code, fraction=0.0 if code == 200 else 1.0)
        got.append(call(lab))
    return got


def eventually(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Whether ``predicate`` becomes true within ``timeout`` seconds (an ejection is posted to Envoy's main
    thread, so it lands a moment after the response that triggered it)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def ejected(lab: Lab, pod: str | None = None) -> list[str]:
    """Addresses of the hosts a client sidecar has ejected (``/clusters``: ``/failed_outlier_check``)."""
    backend = lab.backend
    key = backend._client_key(backend._state(), pod)  # any client's /clusters, not only the fortio pod's
    return [h.address for h in backend._admin(key).clusters()
            if h.cluster == SERVICE and h.ejected]


def deltas(before: ClusterStats, after: ClusterStats, *names: str) -> dict[str, int]:
    """How much each counter grew between two reads of one cluster's stats."""
    return {n: after.get(n, 0) - before.get(n, 0) for n in names}
