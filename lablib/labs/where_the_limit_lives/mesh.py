"""What lab 03 applies: the rule, the route (none, 50/50, 90/10), extra client pods and a client pod with its
own worker count, each as the manifest a student would apply (``kubectl apply -f``), and the limits the theory
draws for them (``lablib.notebook.limits_for_files``: the same translation the lab runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lablib import _yamlio
from lablib._exceptions import LabError
from lablib.i18n import Msg
from lablib.lab_defaults import MANIFESTS, WORKERS
from lablib.manifests.builder import build_destination_rule, write_manifest
from lablib.notebook.clients import client_names, client_pod, start_clients
from lablib.notebook.theory_view import limits_for_files
from lablib.theory.limits import ClusterLimits

__all__ = ["ROUTES", "RULE", "SERVICE", "WORKER_POD", "client_names", "explorer_clients", "route_limits",
           "rule_without_ejection", "start_clients", "use_route", "worker_client", "worker_clients",
           "worker_pod", "worker_rule"]

#: The book's rule with ``http1MaxPendingRequests: 10``: L = 10 in flight + 10 waiting per Envoy cluster.
RULE = MANIFESTS / "istio/resilience/destination-rule-go-cb-pending.yaml"
SERVICE = MANIFESTS / "service/go/service-go.yaml"
#: route name -> its VirtualService: the book's (one cluster), half/half and 90/10 over subsets v1 and v2.
ROUTES: dict[str, Path] = {
    "none": MANIFESTS / "istio/route/virtual-service-go.yaml",
    "50-50": MANIFESTS / "istio/route/virtual-service-go-v1-v2-50.yaml",
    "90-10": MANIFESTS / "istio/route/virtual-service-go-v1-v2-90-10.yaml",
}
#: The prefix of the client pods whose sidecars run the workers the lab asks for (``proxy.istio.io/config``
#: concurrency): ``fortio-w1`` runs 1 worker, ``fortio-w4`` 4.
WORKER_POD = "fortio-w"


def route_file(route: str) -> Path:
    if route not in ROUTES:
        raise LabError(Msg("limits.mesh.unknown_route", route=route, known=list(ROUTES)))
    return ROUTES[route]


def use_route(lab: Any, route: str) -> Path:
    """Apply the VirtualService of ``route`` (it replaces the one applied before: same name)."""
    path = route_file(route)
    lab.apply(path)
    return path


def route_limits(route: str, *, workers: int = WORKERS, rule: Path = RULE) -> list[ClusterLimits]:
    """The Envoy clusters ``route`` uses under ``rule`` and their limits (the theory's L and band)."""
    return limits_for_files([SERVICE, rule, route_file(route)], workers=workers)


def _apply_clients(lab: Any, pods: Mapping[str, int], path: Path, what: str) -> None:
    """Apply the client pods ``name -> workers`` in one file (one apply: their sidecars start together),
    unless every one of them already runs with those workers."""
    running = getattr(lab.backend, "pods", dict)()
    if all(n in running and getattr(running[n], "workers", None) == w for n, w in pods.items()):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lab.apply(write_manifest(path, [client_pod(n, workers=w) for n, w in pods.items()],
                             comment=f"{', '.join(pods)}: {what}"))


def explorer_clients(lab: Any, count: int, workers: int, *, directory: Path) -> list[str]:
    """The explorer's client pods ``fortio-e1-w<workers>`` … ``fortio-e<count>-w<workers>``, each sidecar on
    ``workers`` Envoy workers.

    A sidecar's workers are fixed when its pod is created (on a real cluster, an annotation changed on a
    running Pod restarts nothing), so each worker count has its own pods, in its own file
    (``fortio-explorer-w<workers>.yaml``); the pods of the other counts are deleted first (``kubectl delete
    -f``), so no idle sidecar is left behind.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"fortio-explorer-w{workers}.yaml"
    for old in sorted(directory.glob("fortio-explorer-w*.yaml")):
        if old != path:
            lab.delete(old)
            old.unlink()
    names = [f"fortio-e{i}-w{workers}" for i in range(1, count + 1)]
    _apply_clients(lab, dict.fromkeys(names, workers), path,
                   f"client pods of lab 03's explorer, {workers} worker(s) each")
    return names


def rule_without_ejection(directory: Path, rule: Path = RULE) -> Path:
    """Write ``rule`` without its ``outlierDetection``: the same pool on every client and server sidecar.

    A server sidecar's overflow is a 503 the client sees as an upstream 5xx, and ``consecutive5xxErrors: 3``
    would eject that pod for ``baseEjectionTime`` (3 minutes), hiding the limits behind 503 UH. (A client's
    own overflow never counts: it has no upstream host, envoyproxy/envoy#25488.)
    """
    directory.mkdir(parents=True, exist_ok=True)
    base = _yamlio.load(rule.read_text())
    return write_manifest(directory / "destination-rule-go-cb-pending-no-ejection.yaml",
                          build_destination_rule(base=base, outlier_detection={}),
                          comment=f"lab 03: {rule.name} without outlierDetection (server-side 503s eject)")


def worker_rule(directory: Path) -> Path:
    """Write the rule of the workers step: ``maxConnections: 10`` and ``http1MaxPendingRequests: 10`` only.

    Without ``http2MaxRequests`` (max_requests unlimited) a slack connection of a worker carries a request
    instead of having it rejected, so what each worker may add shows as admitted requests (L = 10 + 10).
    """
    directory.mkdir(parents=True, exist_ok=True)
    rule = build_destination_rule(connection_pool={"tcp": {"maxConnections": 10},
                                                   "http": {"http1MaxPendingRequests": 10}})
    return write_manifest(directory / "destination-rule-go-workers.yaml", rule,
                          comment="lab 03, workers step: 10 connections, 10 waiting, max requests unlimited")


def worker_pod(workers: int) -> str:
    """``fortio-w<workers>``: the workers step's client pod whose sidecar runs ``workers`` Envoy workers."""
    return f"{WORKER_POD}{workers}"


def worker_clients(lab: Any, workers: Iterable[int], *, directory: Path) -> dict[int, str]:
    """Apply a client pod ``fortio-w<N>`` with ``proxy.istio.io/config: concurrency: <N>`` for each worker
    count N, all in one apply (their sidecars start together; a pod per count, so none restarts between
    runs); return N -> its pod's name."""
    counts = list(dict.fromkeys(workers))
    for n in counts:
        if n < 1:
            raise LabError(Msg("limits.mesh.workers", workers=n))
    names = {n: worker_pod(n) for n in counts}
    _apply_clients(lab, {names[n]: n for n in counts}, directory / f"{WORKER_POD}.yaml",
                   "client pods whose sidecars run that many Envoy worker(s)")
    return names


def worker_client(lab: Any, workers: int, *, directory: Path) -> str:
    """Apply the client pod ``fortio-w<workers>`` (see :func:`worker_clients`); return its name."""
    return worker_clients(lab, [workers], directory=directory)[workers]
