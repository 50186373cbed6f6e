"""Runs from several client pods at once, and where the limits acted: the kit's multi-client measurement
(labs 03 and 06).

``start_clients`` makes ``fortio``, ``fortio-2``, … run (each caller its own client sidecar). ``measure``
resets every sidecar's counters, runs fortio from each client pod at the same time, and keeps what says
*where* the limit acted: every outbound cluster's counters of each client sidecar, the server sidecars'
``inbound|80||`` counters, and the peak number of requests each server sidecar held (in its app + in its own
queue), sampled while the load runs.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lablib import _yamlio
from lablib._exceptions import LabError
from lablib.envoy.upstream import ClusterStats
from lablib.i18n import Msg
from lablib.lab_defaults import MANIFESTS
from lablib.manifests.builder import write_manifest
from lablib.notebook import sampling
from lablib.notebook.runs import OVERFLOW_COUNTERS, RunPoint, fortio_args
from lablib.translate.proxy_config import PROXY_CONFIG_ANNOTATION

__all__ = ["COUNTERS", "INBOUND", "SECOND_CLIENT", "ClientsRun", "LimitPoint", "client_names", "client_pod",
           "cluster_counters", "measure", "run_clients", "run_route", "start_clients"]

#: The counters the lab shows per Envoy cluster: what it carried and how its breaker answered.
COUNTERS = ("upstream_rq_total", *OVERFLOW_COUNTERS)
#: The counters of a breaker's 503s (a connection overflow only makes a request wait).
_REJECTING = ("upstream_rq_pending_overflow", "upstream_rq_active_overflow")
#: The server sidecar's inbound cluster (Istio's name for port 80 of the pod).
INBOUND = "inbound|80||"
#: How often the server sidecars' in-flight gauges are read during a run (s).
SAMPLE_PERIOD_S = 0.02


def cluster_counters(stats: Mapping[str, ClusterStats] | ClusterStats, *, prefix: str = "") -> dict[
        str, dict[str, int]]:
    """Cluster -> ``COUNTERS`` (only clusters whose name starts with ``prefix``, e.g. ``outbound|80|``)."""
    many = stats if isinstance(stats, Mapping) else {stats.cluster: stats}
    return {name: {c: int(s.get(c, 0)) for c in COUNTERS} for name, s in many.items()
            if name.startswith(prefix)}


def _rejected(counters: Mapping[str, int]) -> int:
    """503s a breaker caused: pending + active overflow."""
    return sum(int(counters.get(c, 0)) for c in _REJECTING)


@dataclass(frozen=True)
class LimitPoint(RunPoint):
    """A ``RunPoint`` (label, c, result, overflows summed over the client's clusters) that also says where.

    ``clusters``: the client sidecar's counters per Envoy cluster (``outbound|80|v1|…``: the subsets apart);
    ``server``: each server pod's ``inbound|80||`` counters; ``peak``: the most requests each server sidecar
    held at once, in its app + waiting for a connection to it (sampled); ``server_active_peak``: the most it
    had in its app at once (``upstream_rq_active``, what ``http2MaxRequests`` bounds: a request waiting for a
    connection is not counted against it); ``app_max``: service-go's own ``max_in_flight`` per pod (embedded
    lab only).
    """

    clusters: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    server: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    peak: Mapping[str, int] = field(default_factory=dict)
    server_active_peak: Mapping[str, int] = field(default_factory=dict)
    app_max: Mapping[str, int] = field(default_factory=dict)
    pod: str = "fortio"
    workers: int | None = None
    #: the most requests in flight to the service (``upstream_rq_active``) and upstream connections open
    #: (``upstream_cx_active``) in this client's sidecar at once, over all its outbound clusters (sampled).
    in_flight_peak: int = 0
    connections_peak: int = 0
    #: the most requests this client's sidecar admitted at once: in flight + waiting in its pending queues.
    admitted_peak: int = 0

    def overflowed(self, cluster: str) -> int:
        """The 503s this cluster's breaker caused (pending + active overflow) in this run."""
        found = self.clusters.get(cluster, {})
        return _rejected(found)

    @property
    def server_overflows(self) -> int:
        """503s the server sidecars' own breakers caused, all pods together."""
        return sum(_rejected(c) for c in self.server.values())


def _server_pods(lab: Any) -> list[str]:
    pods = getattr(lab.backend, "pods", None)
    if pods is None:
        return []
    return [name for name, p in pods().items() if not getattr(p, "client", False)]


def _gauges(lab: Any, pod: str, server: bool) -> dict[str, int]:
    """A server sidecar: requests it holds now, in its app (``upstream_rq_active``) + queued at it (pending).
    A client sidecar: requests in flight and connections open, over its outbound clusters."""
    if server:
        s = lab.stats(INBOUND, pod=pod)
        active = int(s.get("upstream_rq_active", 0))
        return {pod: active + int(s.get("upstream_rq_pending_active", 0)), f"{pod}/active": active}
    found = lab.stats(pod=pod).values()
    active = sum(int(c.get("upstream_rq_active", 0)) for c in found)
    return {f"{pod}/rq": active, f"{pod}/cx": sum(int(c.get("upstream_cx_active", 0)) for c in found),
            f"{pod}/held": active + sum(int(c.get("upstream_rq_pending_active", 0)) for c in found)}


def _sampling(
    lab: Any, servers: Sequence[str], clients: Sequence[str]
) -> contextlib.AbstractContextManager[dict[str, int]]:
    """Read the sidecars' gauges every ``SAMPLE_PERIOD_S`` while the body runs: the peak of each."""
    probes = [(pod, True) for pod in servers] + [(pod, False) for pod in clients]

    def read() -> dict[str, int]:
        found: dict[str, int] = {}
        for pod, server in probes:
            with contextlib.suppress(Exception):  # a read racing the lab's end is not the run's failure
                found.update(_gauges(lab, pod, server))
        return found

    return sampling.peaks(read, period_s=SAMPLE_PERIOD_S)


def _app_max(lab: Any, *, reset: bool) -> dict[str, int]:
    app_stats = getattr(lab.backend, "app_stats", None)
    if app_stats is None:
        return {}
    return {pod: int(s.get("max_in_flight", 0)) for pod, s in app_stats(reset=reset).items()}


@dataclass(frozen=True)
class ClientsRun:
    """Several client pods' runs that overlapped in time, one ``LimitPoint`` per client pod."""

    points: Mapping[str, LimitPoint]

    @property
    def concurrency(self) -> int:
        """fortio threads of all clients together."""
        return sum(p.concurrency for p in self.points.values())

    @property
    def share_503(self) -> float:
        calls = sum(p.calls for p in self.points.values())
        return sum(p.result.codes.get(503, 0) for p in self.points.values()) / calls if calls else 0.0

    @property
    def peak(self) -> Mapping[str, int]:
        """Server pod -> the most requests its sidecar held at once (the same for every client's point)."""
        return next(iter(self.points.values())).peak

    @property
    def server_active_peak(self) -> Mapping[str, int]:
        """Server pod -> the most requests its sidecar had in its app at once (``upstream_rq_active``)."""
        return next(iter(self.points.values())).server_active_peak

    @property
    def server(self) -> Mapping[str, Mapping[str, int]]:
        return next(iter(self.points.values())).server

    @property
    def server_overflows(self) -> int:
        return next(iter(self.points.values())).server_overflows


def _quiet() -> contextlib.ExitStack:
    """fortio's text report stays out of the notebook (a sweep makes dozens); the points keep the results."""
    stack = contextlib.ExitStack()
    text = io.StringIO()
    stack.enter_context(contextlib.redirect_stderr(text))
    stack.enter_context(contextlib.redirect_stdout(text))
    return stack


def measure(lab: Any, runs: Mapping[str, str], *, label: str = "", workers: int | None = None) -> ClientsRun:
    """Reset every sidecar's counters, run fortio from each client pod of ``runs`` (pod -> fortio args) at
    the same time, and read back where the limits acted (``LimitPoint`` per pod)."""
    lab.reset_counters()
    servers = _server_pods(lab)
    _app_max(lab, reset=True)
    with _quiet(), _sampling(lab, servers, list(runs)) as peaks:
        results = lab.fortio_many(dict(runs))
    server = {pod: cluster_counters(lab.stats(pod=pod)).get(INBOUND, {}) for pod in servers}
    app_max = _app_max(lab, reset=False)
    points = {}
    for pod, result in results.items():
        clusters = cluster_counters(lab.stats(pod=pod), prefix="outbound|")
        overflows = {c: sum(v.get(c, 0) for v in clusters.values()) for c in OVERFLOW_COUNTERS}
        points[pod] = LimitPoint(label, int(result.num_threads), result, overflows, clusters=clusters,
                                 server=server, peak={p: peaks.get(p, 0) for p in servers},
                                 server_active_peak={p: peaks.get(f"{p}/active", 0) for p in servers},
                                 app_max=app_max,
                                 pod=pod, workers=workers, in_flight_peak=peaks.get(f"{pod}/rq", 0),
                                 connections_peak=peaks.get(f"{pod}/cx", 0),
                                 admitted_peak=peaks.get(f"{pod}/held", 0))
    return ClientsRun(points)


def run_route(lab: Any, label: str, concurrency: int, *, calls_per_thread: int = 10, pod: str = "fortio",
              url: str = "http://service-go/env", workers: int | None = None) -> LimitPoint:
    """One client's run at ``concurrency`` (``-n calls_per_thread·c``), its counters per Envoy cluster."""
    args = fortio_args(concurrency, calls_per_thread=calls_per_thread, url=url)
    return measure(lab, {pod: args}, label=label, workers=workers).points[pod]


def run_clients(lab: Any, pods: Sequence[str], concurrency: int, *, calls_per_thread: int = 10,
                label: str = "", url: str = "http://service-go/env") -> ClientsRun:
    """Every client pod of ``pods`` at ``concurrency`` threads, all at once, against the same service."""
    args = fortio_args(concurrency, calls_per_thread=calls_per_thread, url=url)
    return measure(lab, dict.fromkeys(pods, args), label=label)


# --- the client pods ---------------------------------------------------------------------------------------
#: The second client pod's manifest: every further client is a copy under another name.
SECOND_CLIENT = MANIFESTS / "kubernetes/fortio-2.yaml"


def client_names(count: int) -> list[str]:
    """``fortio``, ``fortio-2``, … : the client pods of a run with ``count`` callers."""
    if count < 1:
        raise LabError(Msg("notebook.clients.no_client", count=count))
    return ["fortio", *(f"fortio-{i}" for i in range(2, count + 1))]


def client_pod(name: str, *, workers: int | None = None) -> dict[str, Any]:
    """A client pod named ``name`` (a copy of ``fortio-2.yaml``); ``workers``: its sidecar's Envoy workers,
    as Istio's per-pod ProxyConfig (``proxy.istio.io/config`` concurrency) says."""
    body = _yamlio.load(SECOND_CLIENT.read_text())
    body["metadata"]["name"] = name
    if workers is not None:
        config = _yamlio.load(body["metadata"]["annotations"][PROXY_CONFIG_ANNOTATION]) or {}
        config["concurrency"] = workers
        body["metadata"]["annotations"][PROXY_CONFIG_ANNOTATION] = yaml.safe_dump(config, sort_keys=False)
    return body


def start_clients(lab: Any, count: int, *, directory: Path) -> list[str]:
    """Make sure ``count`` client pods run (fortio, and fortio-2 … as copies of ``fortio-2.yaml``, written to
    ``directory`` in one file: one apply, so their sidecars start together); return their names."""
    names = client_names(count)
    if len(names) > 1:
        directory.mkdir(parents=True, exist_ok=True)
        extra = names[1:]
        lab.apply(write_manifest(directory / f"clients-{count}.yaml", [client_pod(n) for n in extra],
                                 comment=f"{', '.join(extra)}: client pods, copies of {SECOND_CLIENT.name}"))
    return names
