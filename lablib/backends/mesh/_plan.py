"""PURE: what one apply/delete does to the embedded mesh, computed without touching a process or a file.

``plan_sync`` takes the lab's state and the objects it should run and says which pods keep running, which
stop and which start (a pod whose template changed, or that died, is started afresh like a Deployment
controller would; a bare Pod whose ``proxy.istio.io/config`` alone changed keeps running with the workers
its sidecar started with, as on a cluster), and what every sidecar should run afterwards (``desired``: its
CDS/RDS/LDS files). The backend executes a plan (``backend.py``); ``desired`` of the current state is what
a failed push rolls back to.
Names follow Kubernetes (pods ``<deployment>-<i>``) and Envoy/Istio (``inbound|80||``, ``0.0.0.0_80``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lablib._exceptions import LabError
from lablib._types import JSONDict
from lablib.backends.mesh import _mtls, _render
from lablib.backends.mesh._state import PodState
from lablib.envoy.bootstrap import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from lablib.i18n import Msg
from lablib.translate import Endpoint, MeshConfig, translate
from lablib.translate.proxy_config import sidecar_workers

__all__ = ["CLIENT", "PodPlan", "SidecarFiles", "SyncPlan", "client_files", "desired", "endpoints_of",
           "is_client_pod", "mesh_config", "plan_pods", "plan_sync", "pod_files", "rds_file",
           "workers_by_owner"]

#: The fortio pod's sidecar: the lab's client, always running.
CLIENT = "fortio-sidecar"
#: The pod whose sidecar is ``CLIENT``: ``fortio`` (manifests/kubernetes/fortio.yaml), or ``fortio-0`` of a
#: Deployment ``fortio``; every other pod of the fortio image gets its own client sidecar.
MAIN_CLIENT_PODS = ("fortio", "fortio-0")


def is_client_pod(labels: Mapping[str, str], image: str) -> bool:
    """The fortio pod is the lab's client: its sidecar is the one the lab always runs."""
    return labels.get("app") == "fortio" or "fortio" in image


@dataclass(frozen=True)
class PodPlan:
    """Which pods keep running, which stop (removed, changed or dead) and which start."""

    keep: dict[str, PodState]
    #: pods to stop: removed from the objects, or replaced by a new pod of the same name.
    stop: list[PodState]
    #: pods to start, with their new ports (replacements and recreations of dead pods included).
    start: dict[str, PodState]
    #: bare Pods (``kind: Pod``) kept running although their ``proxy.istio.io/config`` workers changed: a
    #: cluster updates a running Pod's annotations in place and restarts nothing, and Istio injects (reads the
    #: annotation into) the sidecar only when a Pod is created; a Deployment's changed template rolls out new
    #: pods instead.
    kept_workers: list[str] = field(default_factory=list)

    @property
    def pods(self) -> dict[str, PodState]:
        """The pods after the change, by name."""
        return {**self.keep, **self.start}

    @property
    def replaced(self) -> list[PodState]:
        """Stopped pods whose name a started pod takes over (their files are reused): stop these first."""
        return [p for p in self.stop if p.name in self.start]


def _is_client(t: Any) -> bool:
    return is_client_pod(dict(t.labels), t.image or "")


def _template_pod(t: Any, port: int, app_port: int, workers: int | None = None) -> PodState:
    """A pod to start from its ``lablib.manifests.PodTemplate``, listening on the given ports."""
    return PodState(name=t.name, namespace=t.namespace, labels=dict(t.labels), owner=t.owner,
                    image=t.image or "", container_port=t.container_port or 80, port=port, app_port=app_port,
                    service_account=getattr(t, "service_account", "default"), client=_is_client(t),
                    workers=workers, args=list(getattr(t, "args", ())))


def workers_by_owner(objects: Sequence[Mapping[str, Any]]) -> dict[str, int | None]:
    """``Kind/name`` -> its pods' sidecar workers from ``proxy.istio.io/config`` (None: not set)."""
    out: dict[str, int | None] = {}
    for body in objects:
        kind, meta = body.get("kind"), body.get("metadata") or {}
        if kind == "Pod":
            annotations = meta.get("annotations")
        elif kind == "Deployment":
            annotations = (((body.get("spec") or {}).get("template") or {}).get("metadata") or {}
                           ).get("annotations")
        else:
            continue
        owner = f"{kind}/{meta.get('name')}"
        try:
            out[owner] = sidecar_workers(annotations, None)
        except LabError as exc:  # nothing has run yet: the apply stops here, naming the object and field
            where = "spec.template.metadata" if kind == "Deployment" else "metadata"
            raise LabError(Msg("mesh.plan.annotations", owner=owner, where=where, error=exc)) from None
    return out


def _same(t: Any, pod: PodState) -> bool:
    return (dict(t.labels) == pod.labels and (t.image or "") == pod.image
            and (t.container_port or 80) == pod.container_port
            and getattr(t, "service_account", "default") == pod.service_account
            and list(getattr(t, "args", ())) == pod.args)


def plan_pods(current: Mapping[str, PodState], templates: Sequence[Any], ports: Iterator[int], *,
              dead: Iterable[str] = (), workers: Mapping[str, int | None] | None = None) -> PodPlan:
    """Keep a running pod whose template (and sidecar ``workers``, by owner) is unchanged and alive; start
    the others on ports from ``ports`` (two each: the sidecar's listener, then the app's; none for a client
    pod, whose listeners are per service port). The fortio pod itself is the lab's ``CLIENT``."""
    wanted = {t.name: t for t in templates
              if not (t.name in MAIN_CLIENT_PODS and t.owner.endswith("/fortio") and _is_client(t))}
    workers = workers or {}
    dead = set(dead)
    keep, stop, kept_workers = {}, [], []
    for name, pod in current.items():
        t = wanted.get(name)
        if t is not None and _same(t, pod) and pod.client == _is_client(t) and name not in dead:
            if pod.workers == workers.get(t.owner):
                keep[name] = pod
                continue
            if t.owner.startswith("Pod/") and pod.owner == t.owner:  # not re-created: the sidecar runs on
                keep[name] = pod
                kept_workers.append(name)
                continue
        stop.append(pod)
    start = {name: _template_pod(t, *((0, 0) if _is_client(t) else (next(ports), next(ports))),
                                 workers=workers.get(t.owner))
             for name, t in wanted.items() if name not in keep}
    return PodPlan(keep=keep, stop=stop, start=start, kept_workers=kept_workers)


def endpoints_of(pods: Mapping[str, PodState]) -> list[Endpoint]:
    return [Endpoint(pod=p.name, namespace=p.namespace, labels=p.labels, address="127.0.0.1", port=p.port,
                     app_port=p.app_port, service_account=p.service_account)
            for p in pods.values() if not p.client]


def mesh_config(objects: Sequence[Mapping[str, Any]], pods: Mapping[str, PodState], *, config: Path,
                track_remaining: bool = False, mtls: bool = False) -> MeshConfig:
    """What istiod pushes to the client sidecar for ``objects`` over ``pods``; with ``mtls``, Istio's auto
    mTLS from the client's certificate (its secret files under ``config``)."""
    return translate(objects, endpoints_of(pods), track_remaining=track_remaining,
                     mtls=_mtls.client_mesh_tls(config, CLIENT) if mtls else None)


@dataclass(frozen=True)
class SidecarFiles:
    """What one sidecar should run: (type, file, resources) in push order CDS, RDS (a file per route
    configuration), LDS."""

    sidecar: str  #: ``CLIENT`` or a pod name
    files: list[tuple[str, Path, list[JSONDict]]]


def pod_files(config: Path, pod: str) -> dict[str, Path]:
    """A pod sidecar's files: bootstrap, CDS, LDS (a service pod's routes are inline in its listener), RDS
    (a client pod's outbound routes)."""
    return {kind: config / f"pod-{pod}-{kind}.json" for kind in ("bootstrap", "cds", "lds", "rds")}


def access_log_of(client_log: Path, sidecar: str) -> Path:
    """A client sidecar's access log, next to the fortio pod's (``<pod>-sidecar-access.log``)."""
    return client_log if sidecar == CLIENT else client_log.with_name(f"{sidecar}-sidecar-access.log")


def rds_file(rds: Path, port: str) -> Path:
    """The file of route configuration ``port`` (``client-rds-80.json``): Envoy's file-based RDS takes exactly
    one resource per file, so each service port (80, 8079, …) has its own."""
    return rds.with_name(f"{rds.stem}-{port}{rds.suffix}")


def _outbound(mesh: MeshConfig, files: Mapping[str, Path], listeners: Mapping[str, int],
              access_log: Path, reuse_port: bool = True) -> list[tuple[str, Path, list[JSONDict]]]:
    """A client sidecar's CDS, RDS (one file per route configuration) and LDS: what istiod pushes to every
    pod of the mesh for its outbound."""
    routes = [(ROUTE_TYPE, rds_file(files["rds"], str(r["name"])), [r]) for r in mesh.outbound_routes]
    return [(CLUSTER_TYPE, files["cds"], mesh.outbound_clusters), *routes,
            (LISTENER_TYPE, files["lds"], _render.client_listeners(
                dict(listeners), rds_paths={p: str(rds_file(files["rds"], p)) for p in listeners},
                access_log_path=str(access_log), reuse_port=reuse_port))]


def client_files(config: Path) -> dict[str, Path]:
    return {kind: config / f"client-{kind}.json" for kind in ("bootstrap", "cds", "rds", "lds")}


def desired(mesh: MeshConfig, pods: Mapping[str, PodState], client_listeners: Mapping[str, int], *,
            config: Path, access_log: Path, mtls: bool = False,
            reuse_port: bool = True) -> list[SidecarFiles]:
    """Every sidecar's config for ``mesh``: the client's first, then each pod's (in ``pods`` order); with
    ``mtls`` each pod's inbound listener serves mTLS from its secret files."""
    out = [SidecarFiles(CLIENT, _outbound(mesh, client_files(config), client_listeners, access_log,
                                          reuse_port))]
    for pod in pods.values():
        if pod.client:
            out.append(SidecarFiles(pod.name, _outbound(mesh, pod_files(config, pod.name), pod.listeners,
                                                        access_log_of(access_log, pod.name), reuse_port)))
            continue
        clusters = _render.inbound_clusters(mesh.inbound_clusters.get(pod.name),
                                            container_port=pod.container_port, app_port=pod.app_port)
        secrets = _mtls.secret_source(config, pod.name) if mtls else None
        listener = _render.inbound_listener(clusters, port=pod.port, container_port=pod.container_port,
                                            secrets=secrets)
        paths = pod_files(config, pod.name)
        out.append(SidecarFiles(pod.name, [(CLUSTER_TYPE, paths["cds"], clusters),
                                           (LISTENER_TYPE, paths["lds"], [listener])]))
    return out


@dataclass(frozen=True)
class SyncPlan:
    """One apply or delete: the pods to stop/start and every sidecar's config after it."""

    pods: PodPlan
    mesh: MeshConfig
    #: service port -> the client sidecar's local listener port for it, after the change.
    client_listeners: dict[str, int]
    sidecars: list[SidecarFiles] = field(default_factory=list)

    def sidecar(self, name: str) -> SidecarFiles:
        return next(s for s in self.sidecars if s.sidecar == name)


def plan_sync(objects: Sequence[Mapping[str, Any]], current: Mapping[str, PodState],
              client_listeners: Mapping[str, int], ports: Iterator[int], *, config: Path, access_log: Path,
              track_remaining: bool = False, dead: Iterable[str] = (), mtls: bool = False,
              reuse_port: bool = True) -> SyncPlan:
    """What makes the mesh run ``objects`` (plain bodies), from the running ``current`` pods.

    New pods and new service ports take ports from ``ports``. May raise ``ManifestError`` from translation:
    nothing has been done yet then.
    """
    from lablib.manifests import pods_of

    pods = plan_pods(current, pods_of(objects), ports, dead=dead, workers=workers_by_owner(objects))
    mesh = mesh_config(objects, pods.pods, config=config, track_remaining=track_remaining, mtls=mtls)
    route_ports = _render.route_ports(mesh.outbound_routes)

    def ports_for(kept: Mapping[str, int]) -> dict[str, int]:
        out = {p: kept[p] for p in route_ports if p in kept}
        out.update({p: next(ports) for p in route_ports if p not in out})
        return out

    listeners = ports_for(client_listeners)
    # Client pods get their own outbound listeners; on copies, so a failed apply leaves the state's pods as
    # they were.
    pods = PodPlan(
        keep={n: dataclasses.replace(p, listeners=ports_for(p.listeners)) if p.client else p
              for n, p in pods.keep.items()},
        stop=pods.stop,
        start={n: dataclasses.replace(p, listeners=ports_for(p.listeners)) if p.client else p
               for n, p in pods.start.items()},
        kept_workers=pods.kept_workers)
    return SyncPlan(pods=pods, mesh=mesh, client_listeners=listeners,
                    sidecars=desired(mesh, pods.pods, listeners, config=config, access_log=access_log,
                                     mtls=mtls, reuse_port=reuse_port))

