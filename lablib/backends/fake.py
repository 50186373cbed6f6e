"""``FakeBackend``: the ``Backend`` contract without Envoy, for tests of explorers, checks and widgets, and
for notebook authors who want to try a cell without starting a lab.

>>> from lablib.backends.fake import FakeBackend
>>> from lablib.lab import Lab
>>> with Lab(backend=FakeBackend()) as lab:                                               # doctest: +SKIP
...     lab.apply("manifests/service/go/service-go.yaml")
...     lab.apply("manifests/istio/resilience/destination-rule-go-cb.yaml")
...     lab.fortio("load -c 30 -qps 0 -n 300 http://service-go/env").codes                # {200: .., 503: ..}

What it computes, and from what. ``apply``/``delete`` validate like the real backends (``load_file``: same
errors, same FILE:LINE) and plan the pods and every sidecar's config exactly as the embedded mesh does
(``lablib.backends.mesh._plan``: Istio 1.30's translation), so ``proxy_config`` shows what the mesh would run.
``fortio`` runs nothing: the route's circuit breakers admit the theoretical limit L (``lablib.theory``), the
503 share is the closed form for the run (``fast_rejection_bound`` for ``-n`` runs, ``duration_run_bound``
for ``-t`` runs) or, with ``capacity="envoy"``, one seeded run of the simulation of Envoy's own pools;
admitted calls go round robin over the cluster's hosts, and the apps' fault knobs fail calls
in service-go's own deterministic sequence. Calls take the service time (longer when queued), rejections
``reject_time_ms``. Counters (``stats``), hosts, the access log (``responses``) and ``explain`` are all read
from those calls, so they agree with each other as real Envoy's do. The same manifests and commands give the
same results every time; only the access log's timestamps follow the clock.

Not modelled: outlier detection (no host is ever ejected), the server sidecars' own breakers, retries,
timeouts, the spread of real runs around the theory. Use the embedded mesh for those.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import shlex
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lablib._exceptions import BackendError, LabError, ManifestError, ParameterError
from lablib.backends import config_view
from lablib.backends._fake_run import Call, Route, RunPlan, plan_run
from lablib.backends.base import BackendBase, ClusterStats, HostStatus, ProgressCallback
from lablib.backends.mesh import _blame, _plan
from lablib.backends.mesh._service_go import pods_of_target
from lablib.backends.mesh._state import PodState
from lablib.backends.run_log import RunLog
from lablib.envoy.access_log import ResponseRecord
from lablib.envoy.bootstrap import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from lablib.envoy.explain import RunExplanation, counter_deltas, explain_run
from lablib.i18n import Msg
from lablib.lab_defaults import SERVICE_TIME_MS, WORKERS
from lablib.service_go import Fault
from lablib.theory import cluster_limits

if TYPE_CHECKING:
    from lablib._types import PathLike
    from lablib.fortio.result import FortioResult
    from lablib.manifests import Manifest

__all__ = ["FakeBackend", "FakeRun"]

_CLIENT = _plan.CLIENT
#: The counters a one-cluster ``stats(cluster)`` shows even at 0 (Envoy lists every stat of the cluster; a
#: read of all clusters shows only those touched, as the mesh's ``usedonly`` read does).
_COUNTERS = ("upstream_rq_total", "upstream_rq_completed", "upstream_rq_200", "upstream_rq_2xx",
             "upstream_rq_5xx", "upstream_rq_pending_overflow", "upstream_rq_active_overflow",
             "upstream_rq_retry_overflow", "upstream_cx_total", "upstream_cx_http1_total",
             "upstream_cx_overflow", "upstream_cx_none_healthy")
#: Where the plan says the sidecars' files would be (only names: the fake writes nothing).
_ROOT = Path("/lablib-fake")
_FIRST_PORT = 20000


@dataclass(frozen=True)
class FakeRun:
    """One ``fortio()`` of the fake: its result, its records, the counters of its client sidecar around it."""

    result: FortioResult
    client: str
    records: list[ResponseRecord]
    before: dict[str, ClusterStats]
    after: dict[str, ClusterStats]


@dataclass
class _Sidecar:
    """One sidecar's counters by cluster and by host (``/clusters``), and a client sidecar's access log."""

    counters: dict[str, Counter[str]] = field(default_factory=dict)
    hosts: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    log: list[ResponseRecord] = field(default_factory=list)


def _key(m: Manifest) -> tuple[str, str, str]:
    return (m.kind, m.namespace, m.name)


class FakeBackend(BackendBase):
    """A ``Backend`` whose results are computed from the applied manifests; nothing is started.

    Args:
        workers: Envoy worker threads per sidecar (only the breaker's slack bounds read it).
        service_time_ms: how long each admitted call takes at the app.
        reject_time_ms: how long a call the breaker rejects takes (a local 503 is fast).
        capacity: ``"exact"``: the breakers admit the theoretical limit L and the 503 share is the closed
            form (what a test can work out by hand); ``"envoy"``: one seeded run of the simulation of Envoy's
            own connection pools (``lablib.theory.simulate``), closer to what the embedded mesh measures.
        seed: the simulation's seed (``capacity="envoy"``).
        progress: called with (done, total, message) when a run is computed.
    """

    name = "fake"

    def __init__(self, *, workers: int = WORKERS, service_time_ms: float = SERVICE_TIME_MS,
                 reject_time_ms: float = 1.0, capacity: Literal["exact", "envoy"] = "exact", seed: int = 0,
                 progress: ProgressCallback | None = None) -> None:
        if workers < 1:
            raise ParameterError(Msg("mesh.workers", workers=workers))
        if capacity not in ("exact", "envoy"):
            raise ParameterError(Msg("backends.fake.capacity", capacity=capacity))
        self.capacity, self.seed = capacity, seed
        self.workers = workers
        self.service_time_ms = float(service_time_ms)
        self.reject_time_ms = float(reject_time_ms)
        self._progress = progress
        self._lock = threading.RLock()  # Lab.fortio_many calls fortio() from several threads
        self._runs: RunLog[FakeRun] = RunLog()
        self._reset_state()

    def _reset_state(self) -> None:
        self._applied: dict[tuple[str, str, str], Manifest] = {}
        self._ports: Iterator[int] = itertools.count(_FIRST_PORT)
        self._pods: dict[str, PodState] = {}
        self._listeners: dict[str, int] = {}
        self._plan: _plan.SyncPlan | None = None
        self._sidecars: dict[str, _Sidecar] = {_CLIENT: _Sidecar()}
        self._faults: dict[str, Fault] = {}
        self._served: dict[str, Counter[str]] = {}  # service pod -> app counters
        self._clock = 0.0
        self._run_number = 0  # each run its own seed: repeats differ, as real runs do, yet replay the same
        self._runs.clear()
        self._sync({})

    def __repr__(self) -> str:
        return f"<FakeBackend {len(self._applied)} objects, {len(self._pods)} pods>"

    @property
    def last_run(self) -> FakeRun | None:
        return self._runs.last

    # -- apply / delete --------------------------------------------------------------------------------------
    def apply(self, path: PathLike, *, progress: ProgressCallback | None = None) -> list[str]:
        """Validate ``path`` against what is applied (like the real backends), then plan the pods and every
        sidecar's config as the embedded mesh would. Returns ``Kind/name`` of each object."""
        from lablib.manifests import load_file

        with self._lock:
            new = load_file(path, context=list(self._applied.values()))
            objects = dict(self._applied)
            for m in new:
                objects[_key(m)] = m
            started = self._sync(objects, manifests=new)
            say = progress or self._progress
            if say is not None and started:
                say(len(started), len(started), Msg("mesh.progress.pods_ready"))
            return [f"{m.kind}/{m.name}" for m in new]

    def delete(self, path: PathLike) -> list[str]:
        """Delete the objects of ``path`` that are applied (others are ignored)."""
        from lablib.manifests import load_file

        with self._lock:
            gone = {_key(m) for m in load_file(path, cross_checks=False)}
            deleted = [f"{k[0]}/{k[2]}" for k in self._applied if k in gone]
            self._sync({k: m for k, m in self._applied.items() if k not in gone})
            return deleted

    def _sync(self, objects: dict[tuple[str, str, str], Manifest], *, manifests: Sequence[Any] = ()
              ) -> list[str]:
        """Plan ``objects`` (all or nothing: a translation error leaves the state as it was); the pods it
        starts, by name."""
        try:
            plan = _plan.plan_sync([m.body for m in objects.values()], self._pods, self._listeners,
                                   self._ports, config=_ROOT / "config",
                                   access_log=_ROOT / "logs" / "fortio-access.log", mtls=True)
        except ManifestError as exc:  # translate saw plain bodies: give the error its FILE:LINE
            raise _blame.positioned(exc, manifests) from None
        self._applied = dict(objects)
        self._plan, self._pods, self._listeners = plan, plan.pods.pods, plan.client_listeners
        for name in [n for n in self._sidecars if n != _CLIENT and n not in self._pods]:
            del self._sidecars[name]
        for name, pod in self._pods.items():
            if name in plan.pods.start:  # a new pod: new sidecar, new app (its knob and counters reset)
                self._sidecars[name] = _Sidecar()
                self._faults.pop(name, None)
                if not pod.client:
                    self._served[name] = Counter()
        self._faults = {n: f for n, f in self._faults.items() if n in self._pods}
        self._served = {n: c for n, c in self._served.items() if n in self._pods}
        return list(plan.pods.start)

    def applied(self) -> list[str]:
        """``Kind/name`` of every applied object, in apply order."""
        return [f"{k[0]}/{k[2]}" for k in self._applied]

    def pods(self) -> dict[str, PodState]:
        """The pods the applied objects make, by name (as the embedded mesh's ``pods()``)."""
        return dict(self._pods)

    # -- sidecars --------------------------------------------------------------------------------------------
    def _sidecar_key(self, pod: str | None) -> str:
        if pod is None or (pod in _plan.MAIN_CLIENT_PODS and pod not in self._pods):
            return _CLIENT
        if pod not in self._pods:
            raise LabError(Msg("mesh.pods.no_pod", pod=pod,
                               pods=list(self._pods) or Msg("mesh.pods.no_service_pods")))
        return pod

    def _client_key(self, pod: str | None) -> str:
        key = self._sidecar_key(pod)
        if key != _CLIENT and not self._pods[key].client:
            clients = ["fortio", *(n for n, p in self._pods.items() if p.client)]
            raise LabError(Msg("mesh.pods.not_client", pod=pod, clients=clients))
        return key

    def _resources(self, key: str, type_url: str) -> list[dict[str, Any]]:
        assert self._plan is not None
        files = self._plan.sidecar(key).files
        return [r for t, _path, resources in files if t == type_url for r in resources]

    def _is_client(self, key: str) -> bool:
        return key == _CLIENT or self._pods[key].client

    def _clusters_of(self, key: str) -> list[str]:
        return [str(c["name"]) for c in self._resources(key, CLUSTER_TYPE)]

    # -- load ------------------------------------------------------------------------------------------------
    def fortio(self, args: str | list[str], *, pod: str | None = None,
               progress: ProgressCallback | None = None) -> FortioResult:
        """Compute ``fortio load …`` from client pod ``pod`` (default the fortio pod): the calls its sidecar's
        breakers admit or reject, as ``lablib.theory`` says, each recorded in its access log and counters."""
        from lablib.fortio.flags import parse_args

        argv = shlex.split(args) if isinstance(args, str) else list(args)
        parsed = parse_args(argv)
        options = parsed.options.normalized()
        if parsed.curl:
            options = dataclasses.replace(options, num_threads=1, exactly=1, qps=0.0)
        with self._lock:
            key = self._client_key(pod)
            url = urllib.parse.urlsplit(options.url if "://" in options.url else f"http://{options.url}")
            port = url.port or 80
            listeners = self._listeners if key == _CLIENT else self._pods[key].listeners
            if str(port) not in listeners:
                raise BackendError(Msg("mesh.listener.no_port", port=str(port),
                                       known=sorted(listeners) or Msg("mesh.pods.none")))
            host = next((v for k, v in options.headers if k.lower() == "host"), url.netloc)
            plan = plan_run(options, self._routes(key, host, port, url.path or "/"), self._faults,
                            service_s=self.service_time_ms / 1000, reject_s=self.reject_time_ms / 1000,
                            capacity=self.capacity, seed=self.seed + self._run_number)
            self._run_number += 1
            sidecar = self._sidecars[key]
            before = self._snapshot(key)
            start = max(time.time(), self._clock)
            self._clock = start + plan.duration_s
            records = self._record(plan, key, start, host, url.path or "/")
            sidecar.log.extend(records)
            result = _result(options, plan, start, curl=parsed.curl)
            self._runs.record(result, FakeRun(result, key, records, before, self._snapshot(key)))
        say = progress or self._progress
        if say is not None:
            say(result.count, result.count,
                Msg("backends.fake.ran", calls=result.count, c=result.num_threads))
        return result

    def _routes(self, key: str, host: str, port: int, path: str) -> list[Route]:
        """The clusters the client's route for ``host`` uses, with their limits and hosts (none: no route)."""
        assert self._plan is not None
        try:
            pairs = self._plan.mesh.route_clusters(host, port, path=path)
        except KeyError:
            return []
        by_name = {c["name"]: c for c in self._resources(key, CLUSTER_TYPE)}
        by_port = {p.port: p.name for p in self._pods.values() if not p.client}
        workers = (self._pods[key].workers if key != _CLIENT else None) or self.workers
        total = sum(w for _, w in pairs) or 1
        routes = []
        for name, weight in pairs:
            cluster = by_name.get(name, {"name": name})
            hosts = []
            for group in (cluster.get("load_assignment") or {}).get("endpoints") or []:
                for lb in group.get("lb_endpoints") or []:
                    addr = lb["endpoint"]["address"]["socket_address"]
                    pod_name = by_port.get(int(addr["port_value"]), "")
                    hosts.append((pod_name, f"{addr['address']}:{addr['port_value']}"))
            routes.append(Route(cluster_limits(cluster, weight=weight / total, workers=workers), hosts))
        return routes

    def _record(self, plan: RunPlan, key: str, start: float, host: str, path: str) -> list[ResponseRecord]:
        """Count each call where Envoy would (the client's cluster, the pod's inbound one, the app) and
        write it to the client's access log; the calls spread evenly over the run."""
        sidecar = self._sidecars[key]
        counters = sidecar.counters
        step = plan.duration_s / max(len(plan.calls), 1)
        records = []
        for i, call in enumerate(plan.calls):
            records.append(ResponseRecord(
                start_time=round(start + i * step, 3), duration_ms=round(call.latency_s * 1000),
                code=call.code, flags=call.flags, details=call.details, upstream_cluster=call.cluster,
                upstream_host=call.host, authority=host, path=path, overloaded=call.flags == "UO"))
            if call.cluster:
                _count(counters.setdefault(call.cluster, Counter()), call, plan)
            if call.admitted:
                ok = "rq_success" if call.code < 500 else "rq_error"
                sidecar.hosts.setdefault((call.cluster, call.host), Counter()).update(("rq_total", ok))
            if call.admitted and call.pod in self._pods:
                inbound = self._clusters_of(call.pod)[0]
                server = self._sidecars[call.pod].counters.setdefault(inbound, Counter())
                server.update(upstream_rq_total=1, upstream_rq_completed=1,
                              **{f"upstream_rq_{call.code}": 1, f"upstream_rq_{call.code // 100}xx": 1})
                self._served[call.pod].update(requests=1)
        for cluster, opened in plan.connections.items():
            counters.setdefault(cluster, Counter()).update(
                upstream_cx_total=opened, upstream_cx_http1_total=opened,
                upstream_cx_overflow=plan.cx_overflows[cluster])
        for name, peak in plan.peak_in_flight.items():
            if name in self._served:
                self._served[name]["max_in_flight"] = max(self._served[name]["max_in_flight"], peak)
        return records

    # -- the sidecars' Envoy ---------------------------------------------------------------------------------
    def _stats_of(self, key: str, cluster: str, *, every: bool = False) -> ClusterStats:
        values = {**dict.fromkeys(_COUNTERS if every else (), 0), "membership_total": 0,
                  "membership_healthy": 0, "upstream_rq_active": 0, "upstream_rq_pending_active": 0,
                  "upstream_cx_active": 0}
        for c in self._resources(key, CLUSTER_TYPE):
            if c["name"] == cluster:
                n = sum(len(g.get("lb_endpoints") or []) for g in
                        (c.get("load_assignment") or {}).get("endpoints") or [])
                values.update(membership_total=n, membership_healthy=n)
        values.update(self._sidecars[key].counters.get(cluster, {}))
        return ClusterStats(cluster, values)

    def _snapshot(self, key: str) -> dict[str, ClusterStats]:
        return {name: self._stats_of(key, name) for name in self._clusters_of(key)}

    def stats(self, cluster: str | None = None, *, pod: str | None = None
              ) -> ClusterStats | dict[str, ClusterStats]:
        """One cluster's stats (or every ``outbound|`` one) of the fortio pod's sidecar; with ``pod``, that
        pod's sidecar (a service pod's ``inbound|`` clusters)."""
        with self._lock:
            key = self._sidecar_key(pod)
            side = "outbound|" if self._is_client(key) else "inbound|"
            names = [n for n in self._clusters_of(key) if n.startswith(side)]
            if cluster is not None:
                if cluster not in self._clusters_of(key):
                    who = Msg("mesh.sidecar.client") if key == _CLIENT else Msg("mesh.sidecar.pod", pod=key)
                    raise LabError(Msg("mesh.stats.no_cluster", cluster=cluster, sidecar=who,
                                       names=names or Msg("mesh.stats.no_clusters")))
                return self._stats_of(key, cluster, every=True)
            return {name: self._stats_of(key, name) for name in names}

    def reset_counters(self) -> None:
        """Zero every sidecar's counters (the access logs stay, as Envoy's do)."""
        with self._lock:
            for sidecar in self._sidecars.values():
                sidecar.counters.clear()
                sidecar.hosts.clear()

    def hosts(self, cluster: str | None = None) -> list[HostStatus]:
        """Every host of the client's clusters (or of ``cluster``), all healthy, with the calls each got."""
        with self._lock:
            per_host = self._sidecars[_CLIENT].hosts
            out = []
            for c in self._resources(_CLIENT, CLUSTER_TYPE):
                name = str(c["name"])
                if (cluster is not None and name != cluster) or (cluster is None and
                                                                 not name.startswith("outbound|")):
                    continue
                for group in (c.get("load_assignment") or {}).get("endpoints") or []:
                    for lb in group.get("lb_endpoints") or []:
                        addr = lb["endpoint"]["address"]["socket_address"]
                        address = f"{addr['address']}:{addr['port_value']}"
                        moved = per_host.get((name, address), Counter())
                        stats = {k: moved[k] for k in ("rq_total", "rq_success", "rq_error")}
                        out.append(HostStatus(name, address, ("healthy",), {**stats, "cx_active": 0}))
            return out

    def proxy_config(self, what: str = "cluster", *, pod: str | None = None) -> str:
        """What a sidecar would run, as YAML in the embedded mesh's view (``lablib.backends.config_view``):
        the fortio pod's by default, or ``pod``'s. ``secret`` lists none: the fake issues no certificates."""
        resource, _ = config_view.config_dump_resource(what)
        with self._lock:
            key = self._sidecar_key(pod)
            wrap = {CLUSTER_TYPE: "cluster", ROUTE_TYPE: "route_config", LISTENER_TYPE: "listener"}
            field_of = {"dynamic_active_clusters": CLUSTER_TYPE, "dynamic_route_configs": ROUTE_TYPE,
                        "dynamic_listeners": LISTENER_TYPE}
            type_url = field_of.get(resource)
            items = [{wrap[type_url]: r} for r in self._resources(key, type_url)] if type_url else []
        return config_view.render(what, items)

    # -- access log, explain, faults -------------------------------------------------------------------------
    def responses(self, since: float | None = None, *, wait_for: int = 0, timeout: float = 3.0
                  ) -> list[ResponseRecord]:
        """The fortio pod's sidecar access log, records started at/after ``since`` (nothing to wait for: a
        computed run is logged whole)."""
        with self._lock:
            return [r for r in self._sidecars[_CLIENT].log if since is None or r.start_time >= since]

    def explain(self, run: FortioResult | None = None) -> RunExplanation:
        """Every response of a ``fortio()`` run (default: the last) by cause, next to the client counters it
        moved."""
        found = self._runs.find(run)
        return explain_run(found.records, client_counters=counter_deltas(found.before, found.after))

    def set_fault(self, target: str, *, code: int = 503, fraction: float = 1.0,
                  delay_ms: float = 0.0, seed: int | None = None) -> list[str]:
        """Make the app of pod ``target`` (or of every pod of Deployment ``target``) answer ``code`` for
        ``fraction`` of its calls, in service-go's sequence (``seed``: its random draws), each ``delay_ms``
        slower; 0 and 0 heal. Returns the pods changed."""
        with self._lock:
            chosen = pods_of_target(self._pods, target)
            if not chosen:
                raise LabError(Msg("mesh.fault.no_target", target=target,
                                   pods=list(self._pods) or Msg("mesh.pods.none")))
            for p in chosen:
                try:
                    self._faults[p.name] = Fault(code=code, fraction=fraction, delay_ms=delay_ms,
                                                 seed=seed)
                except (ValueError, TypeError) as exc:  # what service-go answers such a POST /fault
                    raise LabError(Msg("mesh.fault.failed", pod=p.name, status=400, text=str(exc))) from None
            return [p.name for p in chosen]

    def app_stats(self, *, reset: bool = False) -> dict[str, dict[str, Any]]:
        """Each service pod's app counters (``requests``, ``in_flight``, ``max_in_flight``), as service-go's
        ``GET /stats``; ``reset`` restarts them after reading."""
        with self._lock:
            out = {name: {"requests": c["requests"], "in_flight": 0, "max_in_flight": c["max_in_flight"],
                          "version": self._pods[name].labels.get("version", "v1")}
                   for name, c in self._served.items()}
            if reset:
                for c in self._served.values():
                    c.clear()
            return out

    # -- lifetime --------------------------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Forget everything applied and every run. Idempotent."""
        with self._lock:
            self._reset_state()

    def close(self) -> None:
        """Nothing runs, so nothing stops; the state stays until ``cleanup``."""


def _count(c: Counter[str], call: Call, plan: RunPlan) -> None:
    """One call in its client cluster's counters, as Envoy names them (cluster_stats.rst)."""
    if call.flags == "UO":
        c[plan.overflow_counters[call.cluster]] += 1
    elif call.flags == "UH":
        c["upstream_cx_none_healthy"] += 1
    else:
        c.update(("upstream_rq_total", "upstream_rq_completed", f"upstream_rq_{call.code}",
                  f"upstream_rq_{call.code // 100}xx"))


def _result(options: Any, plan: RunPlan, start: float, *, curl: bool) -> FortioResult:
    """The run as fortio reports it: codes, latency percentiles, qps, sockets (``source="fake"``)."""
    from lablib.fortio.http_client import code_is_ok
    from lablib.fortio.result import FortioResult

    calls = plan.calls
    n = len(calls)
    latencies = sorted(c.latency_s for c in calls)
    mean = sum(latencies) / n
    errors = sum(c.latency_s for c in calls if not code_is_ok(c.code))
    per_thread = [plan.sockets // plan.threads + (1 if i < plan.sockets % plan.threads else 0)
                  for i in range(plan.threads)]
    raw: dict[str, Any] = {"ErrorsDurationHistogram": {"Sum": errors}, "fake": True}
    if curl:
        raw["curl"] = f"HTTP/1.1 {calls[0].code} \r\n\r\n"
    return FortioResult(
        codes=dict(Counter(c.code for c in calls)), count=n, num_threads=plan.threads,
        qps=n / plan.duration_s if plan.duration_s > 0 else 0.0, requested_qps=options.qps,
        duration_s=plan.duration_s, avg_s=mean, min_s=latencies[0], max_s=latencies[-1],
        stddev_s=math.sqrt(sum((x - mean) ** 2 for x in latencies) / n),
        percentiles={p: latencies[min(n - 1, max(0, math.ceil(p / 100 * n) - 1))]
                     for p in options.percentiles},
        sockets=plan.sockets, sockets_per_thread=per_thread, histogram=None, errors_histogram=None,
        url=options.url, labels=options.labels, version="fake", source="fake", raw=raw,
        exactly=options.exactly, start_time=dt.datetime.fromtimestamp(start, dt.timezone.utc).isoformat())
