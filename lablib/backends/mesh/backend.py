"""``MeshBackend``: the lab on real Envoy sidecars and service-go processes on 127.0.0.1 (design: package
doc)."""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import shlex
import socket
import sys
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from lablib._exceptions import BackendError, EnvoyError, LabError, LabNotRunning
from lablib._types import JSONDict, PathLike
from lablib.backends.base import ClusterStats, HostStatus, ProgressCallback
from lablib.backends.mesh import _render
from lablib.backends.mesh._procs import (
    ProcRecord,
    die_with_parent,
    record_of,
    spawn,
    stop_all,
    strays,
)
from lablib.backends.mesh._state import LabState, PodState, StateDir
from lablib.envoy import bootstrap as xds
from lablib.envoy.access_log import ResponseRecord, parse_access_log
from lablib.envoy.admin import AdminClient, cluster_names, cluster_stats
from lablib.envoy.explain import RunExplanation, counter_deltas, explain_run
from lablib.envoy.process import log_tail, start_envoy, wait_ready

__all__ = ["DEFAULT_SERVICE_TIME_MS", "DEFAULT_WORKERS", "MeshBackend", "Run"]

#: Istio's sidecars run 2 worker threads by default (``proxy.istio.io/config concurrency``).
DEFAULT_WORKERS = 2
#: The book's runs averaged about 25 ms per call.
DEFAULT_SERVICE_TIME_MS = 25.0
#: How long a pushed xDS file may take to be accepted before we call it lost.
_PUSH_TIMEOUT_S = 10.0
_CLIENT = "fortio-sidecar"
#: How many times ports are picked again when one was taken between picking and binding.
_PORT_ATTEMPTS = 3


@dataclass
class Run:
    """One ``fortio`` run through the client sidecar, with what is needed to explain it afterwards."""

    start: float
    end: float
    requests: int
    client_before: dict[str, ClusterStats]
    client_after: dict[str, ClusterStats]
    server_before: dict[str, dict[str, ClusterStats]]
    server_after: dict[str, dict[str, ClusterStats]]
    #: size of the access log when the run started: its records are after this offset.
    log_offset: int = 0


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free ports on 127.0.0.1 (held open together so the OS gives distinct ones)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _pod_state(t: Any, port: int, app_port: int) -> PodState:
    """A pod to start from its ``lablib.manifests.PodTemplate``, listening on the given ports."""
    return PodState(name=t.name, namespace=t.namespace, labels=dict(t.labels), owner=t.owner,
                    image=t.image or "", container_port=t.container_port or 80, port=port, app_port=app_port)


def _is_client_pod(labels: dict[str, str], image: str) -> bool:
    """The fortio pod is the lab's client: its sidecar is the one the lab always runs."""
    return labels.get("app") == "fortio" or "fortio" in image


def _child_env() -> dict[str, str]:
    """Children import lablib from where this process did, installed or not."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class MeshBackend:
    """The embedded mesh: a client (fortio) sidecar, and per pod a service-go process behind its inbound
    sidecar.

    Args:
        name: the lab's name (one state dir per name under ``$LABLIB_HOME``).
        workers: Envoy worker threads per sidecar (``--concurrency``), Istio's default is 2.
        service_time_ms: how long service-go spends on each ``GET /env``.
        persist: start a lab that outlives this process (until ``cleanup``), as the CLI does.
        attach_only: only attach to a running lab; raise ``LabNotRunning`` if there is none.
        home: the state root, default ``$LABLIB_HOME`` or ``~/.cache/lablib``.
        progress: called with (done, total, message) while starting.
        track_remaining: make Envoy emit the ``circuit_breakers.*.remaining_*`` gauges (Istio 1.10-1.28 did;
            1.29+ does not).

    Options of an attached lab are those it was started with.
    """

    name = "embedded"

    def __init__(self, name: str = "default", *, workers: int = DEFAULT_WORKERS,
                 service_time_ms: float = DEFAULT_SERVICE_TIME_MS, persist: bool = False,
                 attach_only: bool = False, home: PathLike | None = None,
                 progress: ProgressCallback | None = None, track_remaining: bool = False) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.lab_name = name
        self.dir = StateDir(name, Path(home) if home is not None else None)
        self.owned = False
        self.closed = False
        self.last_run: Run | None = None
        self._runs: dict[int, tuple[Any, Run]] = {}
        self._popens: list[Any] = []
        if attach_only and not self.dir.root.exists():
            raise LabNotRunning(f"no embedded lab {name!r} is running (no {self.dir.root}); "
                                "start one with `python -m lablib apply -f FILE` or Lab()")
        with self.dir.locked():
            state = self.dir.read()
            if state is not None and self._usable(state):
                self.attached = True
            else:
                if state is not None or self.dir.root.exists():
                    self._reap(state)
                if attach_only:
                    self.dir.lock_file.unlink(missing_ok=True)
                    raise LabNotRunning(f"no embedded lab {name!r} is running (state in {self.dir.root}); "
                                        "start one with `python -m lablib apply -f FILE` or Lab()")
                self.attached = False
                self.owned = not persist
                self._start(workers, service_time_ms, progress, track_remaining)
        if self.owned:
            atexit.register(self.close)

    # ----------------------------------------------------------------- lifecycle
    @staticmethod
    def _usable(state: LabState) -> bool:
        if not state.client_procs or not all(p.alive() for p in state.client_procs):
            return False
        return state.persistent or (state.owner is not None and state.owner.alive())

    def _reap(self, state: LabState | None) -> None:
        """Stop what a dead owner left behind and remove its files."""
        recorded = state.all_procs() if state is not None else []
        stop_all(recorded + [r for r in strays(self.dir.root) if r.pid not in {p.pid for p in recorded}])
        self.dir.remove()

    def _start(self, workers: int, service_time_ms: float, progress: ProgressCallback | None,
               track_remaining: bool) -> None:
        me = psutil.Process()
        owner = ProcRecord(pid=me.pid, started=me.create_time(), role="owner") if self.owned else None
        self.dir.create()
        state = LabState(name=self.lab_name, owner=owner, workers=workers, service_time_ms=service_time_ms,
                         track_remaining=track_remaining)
        if progress:
            progress(0, 2, "starting the fortio pod's sidecar")
        cfg = self.dir.config
        xds.write_atomic(cfg / "client-cds.json", xds.discovery_response([], xds.CLUSTER_TYPE, "0"))
        xds.write_atomic(cfg / "client-rds.json", xds.discovery_response([], xds.ROUTE_TYPE, "0"))
        xds.write_atomic(cfg / "client-lds.json", xds.discovery_response([], xds.LISTENER_TYPE, "0"))
        xds.write_atomic(cfg / "client-bootstrap.json",
                         xds.bootstrap("sidecar~127.0.0.1~fortio.default~default.svc.cluster.local",
                                       cds_path=cfg / "client-cds.json", lds_path=cfg / "client-lds.json"))
        try:
            launch = start_envoy(cfg / "client-bootstrap.json", workdir=self.dir.logs, name=_CLIENT,
                                 workers=workers, launcher=die_with_parent() if self.owned else ())
            self._popens.append(launch.popen)
            state.client_procs = [record_of(launch.popen, _CLIENT)]
            self.dir.write(state)
            state.client_admin_port = wait_ready(launch)
        except BaseException:
            self._reap(state)
            raise
        self.dir.write(state)
        if progress:
            progress(2, 2, "lab ready")

    def _state(self) -> LabState:
        if self.closed:
            raise LabNotRunning(f"the lab {self.lab_name!r} was cleaned up; create a new Lab()")
        state = self.dir.read()
        if state is None:
            raise LabNotRunning(f"the lab {self.lab_name!r} is no longer running (cleaned up elsewhere?); "
                                "create a new Lab()")
        return state

    def cleanup(self) -> None:
        """Stop every process of the lab and remove its files (state, config, logs). Idempotent."""
        with self.dir.locked():
            state = self.dir.read()
            self._reap(state)
            for p in self._popens:  # reap our children
                with contextlib.suppress(Exception):
                    p.wait(timeout=1)
            with contextlib.suppress(OSError):
                self.dir.lock_file.unlink()
        self.closed = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    def close(self) -> None:
        """Stop the lab if this handle owns it (a notebook's lab); leave a persistent or attached lab
        running."""
        if self.closed:
            return
        if self.owned:
            self.cleanup()
        self.closed = True

    def __enter__(self) -> MeshBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        how = "owned" if self.owned else ("attached" if self.attached else "persistent")
        return f"<MeshBackend {self.lab_name!r} {how}{' closed' if self.closed else ''} at {self.dir.root}>"

    # ----------------------------------------------------------------- apply / delete
    def apply(self, path: PathLike, *, progress: ProgressCallback | None = None) -> list[str]:
        """Validate ``path`` against what is applied, then make the mesh match (pods, sidecar config)."""
        from lablib.manifests import load_file
        from lablib.manifests.objects import as_manifest

        with self.dir.locked():
            state = self._state()
            current = [as_manifest(o["body"], file=o.get("file", "<applied>")) for o in state.objects]
            new = load_file(path, context=current)
            objects = list(state.objects)
            for m in new:
                entry = {"body": m.body, "file": str(m.source.file), "line": m.source.line}
                key = (m.kind, m.namespace, m.name)
                idx = next((i for i, o in enumerate(objects) if _key(o["body"]) == key), None)
                if idx is None:
                    objects.append(entry)
                else:
                    objects[idx] = entry
            self._sync(state, objects, progress)
            return [f"{m.kind}/{m.name}" for m in new]

    def delete(self, path: PathLike) -> list[str]:
        """Delete the objects of ``path`` that are applied (others are ignored); stop pods that go with
        them."""
        from lablib.manifests import load_file

        with self.dir.locked():
            state = self._state()
            # Like kubectl delete: the file must parse, but what its objects refer to does not matter.
            gone = {(m.kind, m.namespace, m.name) for m in load_file(path, cross_checks=False)}
            objects = [o for o in state.objects if _key(o["body"]) not in gone]
            deleted = [f"{o['body']['kind']}/{o['body']['metadata']['name']}"
                       for o in state.objects if _key(o["body"]) in gone]
            self._sync(state, objects, None)
            return deleted

    def applied(self) -> list[str]:
        """``Kind/name`` of every applied object, in apply order."""
        return [f"{o['body']['kind']}/{o['body']['metadata']['name']}" for o in self._state().objects]

    def pods(self) -> dict[str, PodState]:
        """The running service pods by name."""
        return self._state().pods

    def _sync(self, state: LabState, objects: list[dict[str, Any]],
              progress: ProgressCallback | None) -> None:
        """Make processes and sidecar config match ``objects``; save the state only if it all worked."""
        from lablib.manifests import pods_of
        from lablib.translate import Endpoint, translate

        bodies = [o["body"] for o in objects]
        wanted = {t.name: t for t in pods_of(bodies) if not _is_client_pod(dict(t.labels), t.image or "")}
        keep: dict[str, PodState] = {}
        stop: list[PodState] = []
        for name, pod in state.pods.items():
            t = wanted.get(name)
            same = t is not None and dict(t.labels) == pod.labels and (t.image or "") == pod.image \
                and (t.container_port or 80) == pod.container_port
            if same:
                keep[name] = pod
            else:
                stop.append(pod)
        new_names = [n for n in wanted if n not in keep]
        version = state.config_version + 1
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            ports = _free_ports(2 * len(new_names))
            added = {name: _pod_state(wanted[name], ports[2 * i], ports[2 * i + 1])
                     for i, name in enumerate(new_names)}
            pods = {**keep, **added}
            endpoints = [Endpoint(pod=p.name, namespace=p.namespace, labels=p.labels, address="127.0.0.1",
                                  port=p.port, app_port=p.app_port) for p in pods.values()]
            # May refuse the objects (ManifestError): nothing has been changed yet.
            mesh = translate(bodies, endpoints, track_remaining=state.track_remaining)
            # Replaced pods go first (their names and files are reused); removed ones after the client stops
            # routing to them.
            stop_all([r for p in stop if p.name in wanted for r in p.procs])
            for p in pods.values():
                self._write_pod_config(p, mesh.inbound_clusters.get(p.name), version)
            try:
                self._start_pods(state, list(added.values()), progress)
                self._push_client(state, mesh, version)
                break
            except BaseException as exc:
                stop_all([r for p in added.values() for r in p.procs])
                # A port we picked was taken before our process bound it (the OS hands the same range to
                # outgoing connections): pick again. Anything else is the user's to see.
                if attempt == _PORT_ATTEMPTS or "Address already in use" not in str(exc):
                    raise
        stop_all([r for p in stop if p.name not in added for r in p.procs])
        for p in stop:
            if p.name not in added:
                for f in self.dir.config.glob(f"pod-{p.name}-*"):
                    f.unlink(missing_ok=True)
        state.pods = pods
        state.objects = objects
        state.config_version = version
        self.dir.write(state)

    # ----------------------------------------------------------------- pods
    def _write_pod_config(self, pod: PodState, inbound: list[JSONDict] | None, version: int) -> None:
        cfg = self.dir.config
        clusters = _render.inbound_clusters(inbound, container_port=pod.container_port, app_port=pod.app_port)
        listener = _render.inbound_listener(clusters, port=pod.port, container_port=pod.container_port)
        cds, lds = cfg / f"pod-{pod.name}-cds.json", cfg / f"pod-{pod.name}-lds.json"
        if pod.procs and pod.admin_port:
            admin = AdminClient("127.0.0.1", pod.admin_port)
            log = self.dir.logs / f"{pod.name}-sidecar.log"
            _push(admin, cds, clusters, xds.CLUSTER_TYPE, version, r"^cluster_manager\.cds\.", log)
            _push(admin, lds, [listener], xds.LISTENER_TYPE, version, r"^listener_manager\.lds\.", log)
        else:
            xds.write_atomic(cds, xds.discovery_response(clusters, xds.CLUSTER_TYPE, str(version)))
            xds.write_atomic(lds, xds.discovery_response([listener], xds.LISTENER_TYPE, str(version)))
            xds.write_atomic(cfg / f"pod-{pod.name}-bootstrap.json",
                             xds.bootstrap(f"sidecar~127.0.0.1~{pod.name}.{pod.namespace}~"
                                           f"{pod.namespace}.svc.cluster.local", cds_path=cds, lds_path=lds))

    def _start_pods(self, state: LabState, pods: list[PodState], progress: ProgressCallback | None) -> None:
        """Start each pod's app and sidecar (all at once), then wait for all; record them as they start."""
        if not pods:
            return
        owned = state.owner is not None and state.owner.pid == os.getpid()
        launches = []
        for pod in pods:
            version = pod.labels.get("version", "v1")
            app = spawn([sys.executable, "-m", "lablib.service_go", "--port", str(pod.app_port),
                         "--version", version, "--service-time-ms", str(state.service_time_ms)],
                        log_path=self.dir.logs / f"{pod.name}-app.log", cwd=self.dir.logs,
                        launcher=die_with_parent() if owned else (),
                        env=_child_env())
            self._popens.append(app)
            pod.procs = [record_of(app, "app")]
            launch = start_envoy(self.dir.config / f"pod-{pod.name}-bootstrap.json", workdir=self.dir.logs,
                                 name=f"{pod.name}-sidecar", workers=state.workers,
                                 launcher=die_with_parent() if owned else ())
            self._popens.append(launch.popen)
            pod.procs.append(record_of(launch.popen, "sidecar"))
            launches.append((pod, app, launch))
        for i, (pod, app, launch) in enumerate(launches):
            if progress:
                progress(i, len(launches), f"starting pod {pod.name}")
            pod.admin_port = wait_ready(launch)
            _wait_app(app, pod, self.dir.logs / f"{pod.name}-app.log")
            _check_accepted(AdminClient("127.0.0.1", pod.admin_port), launch.log_path, pod.name)
        if progress:
            progress(len(launches), len(launches), "pods ready")

    # ----------------------------------------------------------------- client sidecar
    def _client_admin(self, state: LabState | None = None) -> AdminClient:
        state = state or self._state()
        if not all(p.alive() for p in state.client_procs):
            raise LabNotRunning(f"the fortio pod's sidecar Envoy of lab {self.lab_name!r} is not running; "
                                f"call cleanup() and start a new Lab(). Its last words:\n"
                                f"{log_tail(self.dir.logs / f'{_CLIENT}.log', 10)}")
        return AdminClient("127.0.0.1", state.client_admin_port)

    def _push_client(self, state: LabState, mesh: Any, version: int) -> None:
        """Push CDS, then RDS, then LDS: routes never name a cluster the sidecar does not know yet."""
        admin = self._client_admin(state)
        cfg, log = self.dir.config, self.dir.logs / f"{_CLIENT}.log"
        _push(admin, cfg / "client-cds.json", mesh.outbound_clusters, xds.CLUSTER_TYPE, version,
              r"^cluster_manager\.cds\.", log)
        _push(admin, cfg / "client-rds.json", mesh.outbound_routes, xds.ROUTE_TYPE, version,
              r"^http\.outbound_.*\.rds\.", log)
        ports = _render.route_ports(mesh.outbound_routes)
        listeners = {p: state.client_listeners[p] for p in ports if p in state.client_listeners}
        fresh = [p for p in ports if p not in listeners]
        listeners.update(zip(fresh, _free_ports(len(fresh)), strict=False))
        lds = _render.client_listeners(listeners, rds_path=str(cfg / "client-rds.json"),
                                       access_log_path=str(self.access_log_path))
        _push(admin, cfg / "client-lds.json", lds, xds.LISTENER_TYPE, version, r"^listener_manager\.lds\.",
              log)
        for port in listeners.values():  # accepted is not yet bound: wait, so fortio right after apply works
            _wait_listening(port, what="the fortio sidecar's outbound listener")
        state.client_listeners = listeners

    @property
    def access_log_path(self) -> Path:
        """The client sidecar's JSON access log (one line per response fortio got)."""
        return self.dir.logs / "fortio-sidecar-access.log"

    # ----------------------------------------------------------------- load
    def listener_for(self, url: str) -> tuple[str, int]:
        """Where the fortio pod's traffic to ``url`` goes: the client sidecar's listener for the URL's
        port."""
        state = self._state()
        parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        port = str(parts.port or (443 if parts.scheme == "https" else 80))
        if port not in state.client_listeners:
            known = ", ".join(sorted(state.client_listeners)) or "none"
            raise BackendError(f"no service port {port} in the mesh (ports with routes: {known}); apply a "
                               "Service for it first, e.g. manifests/service/go/service-go.yaml")
        return "127.0.0.1", state.client_listeners[port]

    def fortio(self, args: str | Sequence[str], *, progress: ProgressCallback | None = None) -> Any:
        """Run ``fortio load …`` from the fortio pod: through the client sidecar, Host header kept."""
        from lablib import fortio

        argv = shlex.split(args) if isinstance(args, str) else list(args)
        urls = [a for a in argv if "://" in a or (a and not a.startswith("-") and "/" in a)]
        if not urls:
            raise LabError(f"fortio: no URL in {argv!r} (e.g. load -c 2 -n 20 http://service-go/env)")
        connect_to = self.listener_for(urls[-1])
        before_c, before_s = self._client_stats(), self._server_stats()
        done0 = self._downstream_completed()
        offset = self._log_size()
        start = time.time()
        result = fortio.load(argv, connect_to=connect_to, progress=progress)
        end = time.time()
        requests = self._downstream_completed() - done0
        self.last_run = Run(start=start, end=end, requests=requests, client_before=before_c,
                            client_after=self._client_stats(), server_before=before_s,
                            server_after=self._server_stats(), log_offset=offset)
        self._runs[id(result)] = (result, self.last_run)
        while len(self._runs) > 64:  # keep the recent runs explainable, not every run of a long session
            del self._runs[next(iter(self._runs))]
        return result

    def _log_size(self) -> int:
        try:
            return self.access_log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _downstream_completed(self) -> int:
        flat = self._client_admin().stats(r"^http\.outbound_.*\.downstream_rq_completed$")
        return sum(flat.values())

    # ----------------------------------------------------------------- stats
    def _client_stats(self) -> dict[str, ClusterStats]:
        return self.stats()  # type: ignore[return-value]

    def _server_stats(self) -> dict[str, dict[str, ClusterStats]]:
        out = {}
        for name, pod in self._state().pods.items():
            with contextlib.suppress(OSError):
                flat = AdminClient("127.0.0.1", pod.admin_port).stats(r"^cluster\.inbound\|")
                out[name] = {c: cluster_stats(flat, c) for c in cluster_names(flat, prefix="inbound|")}
        return out

    def stats(self, cluster: str | None = None, *, pod: str | None = None
              ) -> ClusterStats | dict[str, ClusterStats]:
        """Stats of one Envoy cluster (or all), from the client sidecar, or from ``pod``'s inbound sidecar.

        Raises LabError for a cluster the sidecar does not have, naming the ones it has.
        """
        if pod is not None:
            state = self._state()
            if pod not in state.pods:
                raise LabError(f"no pod {pod!r}; pods: {', '.join(state.pods) or 'none'}")
            flat = AdminClient("127.0.0.1", state.pods[pod].admin_port).stats(r"^cluster\.")
            names = cluster_names(flat, prefix="inbound|")
        else:
            flat = self._client_admin().stats(r"^cluster\.")
            names = cluster_names(flat)
        if cluster is not None:
            if cluster not in cluster_names(flat, prefix=""):
                where = f"pod {pod}'s" if pod else "the fortio pod's"
                raise LabError(f"no Envoy cluster {cluster!r} in {where} sidecar; "
                               f"it has: {', '.join(names) or 'none (apply a Service first)'}")
            return cluster_stats(flat, cluster)
        return {c: cluster_stats(flat, c) for c in names}

    def reset_counters(self) -> None:
        """Zero the counters of every sidecar (client and servers), like Envoy's ``POST /reset_counters``."""
        state = self._state()
        self._client_admin(state).reset_counters()
        for pod in state.pods.values():
            with contextlib.suppress(OSError):
                AdminClient("127.0.0.1", pod.admin_port).reset_counters()

    def hosts(self, cluster: str | None = None) -> list[HostStatus]:
        """Host health as the client sidecar sees it (``/clusters``), for one cluster or all outbound ones."""
        hosts = self._client_admin().clusters()
        if cluster is not None:
            return [h for h in hosts if h.cluster == cluster]
        return [h for h in hosts if h.cluster.startswith("outbound|")]

    def proxy_config(self, what: str = "cluster") -> str:
        """The client sidecar's live config as YAML, like ``istioctl proxy-config cluster fortio -o yaml``."""
        kinds = {"cluster": ("dynamic_active_clusters", "cluster"), "route": ("dynamic_route_configs",
                 "route_config"), "listener": ("dynamic_listeners", "listener")}
        key = what.rstrip("s")
        if key not in kinds:
            raise LabError(f"proxy-config {what!r}: use one of cluster, route, listener")
        resource, field = kinds[key]
        dump = json.loads(self._client_admin().get("/config_dump", resource=resource))
        items = []
        for c in dump.get("configs", []):
            item = c.get(field) or (c.get("active_state") or {}).get(field)
            if item:
                items.append({k: v for k, v in item.items() if k != "@type"})
        if key == "cluster":
            from lablib.translate import render_yaml

            return render_yaml(items)
        import yaml

        return yaml.safe_dump(items, sort_keys=False)

    # ----------------------------------------------------------------- responses and faults
    def responses(self, since: float | None = None, *, wait_for: int = 0, timeout: float = 3.0,
                  offset: int = 0) -> list[ResponseRecord]:
        """Responses the client sidecar sent (its access log), those started at/after ``since`` (epoch s).

        ``wait_for`` waits (up to ``timeout``) until that many records are there: Envoy flushes the log every
        100 ms. ``offset`` skips that many bytes of the log (a run's records start at its ``log_offset``).
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.access_log_path, "rb") as f:
                    f.seek(offset)
                    text = f.read().decode(errors="replace")
            except FileNotFoundError:
                text = ""
            records = parse_access_log(text.splitlines(), since=since)
            if len(records) >= wait_for or time.monotonic() > deadline:
                return records
            time.sleep(0.05)

    def explain(self, run: Any = None) -> RunExplanation:
        """Attribute every response of a ``fortio`` run to what produced it, next to the counters it moved.

        ``run`` is the ``FortioResult`` that ``fortio()`` returned (or its ``Run``); default the last run.
        """
        if run is None:
            run = self.last_run
        elif not isinstance(run, Run):
            found = self._runs.get(id(run))
            if found is None or found[0] is not run:
                raise LabError("explain(): that result was not produced by this lab's fortio() "
                               "(or is too old)")
            run = found[1]
        if run is None:
            raise LabError("nothing to explain: run lab.fortio(...) first")
        records = [r for r in self.responses(run.start - 0.001, wait_for=run.requests, offset=run.log_offset)
                   if r.start_time <= run.end]
        server = {pod: counter_deltas(run.server_before.get(pod, {}), after)
                  for pod, after in run.server_after.items()}
        return explain_run(records, client_counters=counter_deltas(run.client_before, run.client_after),
                           server_counters={p: c for p, c in server.items() if c})

    def set_fault(self, target: str, *, code: int = 503, fraction: float = 1.0) -> list[str]:
        """Make the app of pod ``target`` (or of every pod of Deployment ``target``) answer ``code`` for
        ``fraction`` of its calls; ``fraction=0`` heals it. Returns the pods changed."""
        state = self._state()
        pods = [p for p in state.pods.values() if target in (p.name, p.owner, p.owner.partition("/")[2])]
        if not pods:
            raise LabError(f"no pod or deployment {target!r}; pods: {', '.join(state.pods) or 'none'}")
        body = json.dumps({"code": code, "fraction": fraction}).encode()
        for p in pods:
            status, text = _app_request(p, "POST", "/fault", body)
            if status != 200:
                raise LabError(f"set_fault on {p.name}: {status} {text.strip()}")
        return [p.name for p in pods]

    def app_stats(self, *, reset: bool = False) -> dict[str, dict[str, Any]]:
        """Each pod's app counters: ``requests``, ``in_flight`` and ``max_in_flight`` (the concurrency the
        breakers let through to it). ``reset=True`` restarts them after reading."""
        out = {}
        for name, p in self._state().pods.items():
            status, text = _app_request(p, "GET", "/stats?reset=1" if reset else "/stats")
            if status == 200:
                out[name] = json.loads(text)
        return out

    @property
    def workers(self) -> int:
        """Envoy worker threads per sidecar in the running lab (an attached lab keeps its own setting)."""
        return self._state().workers

    @property
    def service_time_ms(self) -> float:
        """service-go's time per call in the running lab."""
        return self._state().service_time_ms

    def rss_bytes(self) -> int:
        """Resident memory of every process of the lab (all Envoys and apps), in bytes."""
        total = 0
        for r in self._state().all_procs():
            with contextlib.suppress(psutil.Error):
                if r.alive():
                    total += psutil.Process(r.pid).memory_info().rss
        return total

    def processes(self) -> list[ProcRecord]:
        """Every process the lab runs (client sidecar, apps, server sidecars)."""
        return self._state().all_procs()


def _app_request(pod: PodState, method: str, path: str, body: bytes | None = None) -> tuple[int, str]:
    """One request straight to a pod's app (not through its sidecar): the lab's control channel."""
    conn = http.client.HTTPConnection("127.0.0.1", pod.app_port, timeout=5)
    try:
        conn.request(method, path, body=body, headers={"content-type": "application/json"} if body else {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    except OSError as exc:
        raise BackendError(f"pod {pod.name}: service-go on port {pod.app_port} did not answer: {exc}"
                           ) from exc
    finally:
        conn.close()


def _key(body: dict[str, Any]) -> tuple[str, str, str]:
    meta = body.get("metadata") or {}
    return (str(body.get("kind", "")), str(meta.get("namespace") or "default"), str(meta.get("name", "")))


def _update_counts(admin: AdminClient, regex: str) -> tuple[int, int]:
    """(accepted, rejected) xDS updates of the subscriptions whose stats match ``regex``."""
    flat = admin.stats(regex + r".*update_(success|rejected|failure)$")
    ok = sum(v for k, v in flat.items() if k.endswith("update_success"))
    bad = sum(v for k, v in flat.items() if not k.endswith("update_success"))
    return ok, bad


def _push(admin: AdminClient, path: Path, resources: Iterable[JSONDict], type_url: str, version: int,
          stat_regex: str, log_path: Path) -> None:
    """Write one xDS file the way istiod pushes, then wait until Envoy accepted it (EnvoyError if rejected).

    Unchanged resources are not rewritten. A subscription with no stats yet (RDS before any listener uses it)
    is loaded by whoever subscribes later, so there is nothing to wait for.
    """
    resources = list(resources)
    try:
        old = json.loads(path.read_text()).get("resources")
    except (OSError, ValueError):
        old = None
    doc = xds.discovery_response(resources, type_url, str(version))
    if old == doc["resources"]:
        return
    ok0, bad0 = _update_counts(admin, stat_regex)
    subscribed = bool(admin.stats(stat_regex + r".*update_attempt$"))
    log_size = log_path.stat().st_size if log_path.exists() else 0
    xds.write_atomic(path, doc)
    if not subscribed:
        return
    deadline = time.monotonic() + _PUSH_TIMEOUT_S
    while time.monotonic() < deadline:
        ok, bad = _update_counts(admin, stat_regex)
        if bad > bad0:
            raise EnvoyError(f"envoy rejected {path.name} (version {version})",
                             envoy_output=_log_since(log_path, log_size))
        if ok > ok0:
            return
        time.sleep(0.02)
    raise EnvoyError(f"envoy did not load {path.name} within {_PUSH_TIMEOUT_S:.0f}s",
                     envoy_output=_log_since(log_path, log_size))


def _log_since(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace").strip()
    except OSError:
        return ""
    return text or log_tail(path)


def _check_accepted(admin: AdminClient, log_path: Path, pod: str) -> None:
    """A sidecar that started but rejected its first config would serve nothing: say so with Envoy's words."""
    for regex in (r"^cluster_manager\.cds\.", r"^listener_manager\.lds\."):
        _, bad = _update_counts(admin, regex)
        if bad:
            raise EnvoyError(f"the sidecar of pod {pod} rejected its config", envoy_output=log_tail(log_path))


def _wait_listening(port: int, *, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.01)
    raise BackendError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def _wait_app(popen: Any, pod: PodState, log_path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise BackendError(f"service-go of pod {pod.name} exited ({popen.returncode}):\n"
                               f"{log_tail(log_path)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", pod.app_port), timeout=0.5):
            return
        time.sleep(0.02)
    raise BackendError(f"service-go of pod {pod.name} did not listen on {pod.app_port} within {timeout:.0f}s")
