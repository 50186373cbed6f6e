"""PURE: which manifest lines an Envoy resource came from, so a sidecar's rejection is told in the manifest's
terms (``FILE:LINE: Kind/name: field``) rather than Envoy's.

Istio's names carry their origin: ``outbound|80|v1|service-go.default.svc.cluster.local`` is subset ``v1`` of
the DestinationRule for host ``service-go`` (or, without one, the Service); ``inbound|80||`` on a pod is the
DestinationRule's connectionPool applied server-side (or the Sidecar's pool that replaces it); route ``"80"``
is the VirtualServices (or Services) of port 80; a pod's listener comes from the workload that made the pod.
When the object was applied before, the fields this apply changed under that place are named
(``…connectionPool.tcp.maxConnections``), since the previous value ran.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from lablib._exceptions import ManifestError
from lablib.backends.mesh._plan import CLIENT
from lablib.backends.mesh._state import PodState
from lablib.envoy.bootstrap import CLUSTER_TYPE, ROUTE_TYPE
from lablib.manifests.objects import Manifest

__all__ = ["blame", "positioned"]

_Previous = Mapping[tuple[str, str, str], Any] | None


def _short(host: str) -> str:
    return str(host).split(".")[0]


def _host(rule: Manifest) -> str:
    return _short(rule.spec.get("host", ""))


def _changed(old: Any, new: Any, path: str) -> Iterator[str]:
    """Dotted paths (``a.b[0].c``) of the leaves that differ between ``old`` and ``new``."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new), key=str):
            yield from _changed(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _changed(a, b, f"{path}[{i}]")
    elif old != new:
        yield path


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def _where(m: Manifest, path: str, previous: Mapping[tuple[str, str, str], Any] | None = None) -> list[str]:
    """``FILE:LINE: Kind/name: field`` for ``path`` in ``m``, or for each field this apply changed there."""
    before = (previous or {}).get((m.kind, m.namespace, m.name))
    paths = [p for p in _changed(before, m.body, "") if _under(p, path)] if before is not None else []
    return [f"{m.source.file}:{m.line_of(p)}: {m.kind}/{m.name}: {p}" for p in (paths[:3] or [path])]


def _by_kind(objects: Iterable[Manifest], kind: str) -> list[Manifest]:
    return [m for m in objects if m.kind == kind]


def _selects(service: Manifest, labels: Mapping[str, str]) -> bool:
    selector = service.spec.get("selector") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _sidecar_selects(sidecar: Manifest, pod: PodState) -> bool:
    """Whether a Sidecar may configure ``pod``'s inbound side (its selector's labels, or none: everyone)."""
    selector = sidecar.spec.get("workloadSelector")
    labels = selector.get("labels") if isinstance(selector, dict) else None
    return not labels or all(pod.labels.get(k) == v for k, v in labels.items())


def _cluster(name: str, objects: Sequence[Manifest], pod: PodState | None, previous: _Previous) -> list[str]:
    direction, _port, subset, host = [*name.split("|"), "", "", "", ""][:4]
    if direction == "inbound" and pod is not None:
        services = [s.name for s in _by_kind(objects, "Service") if _selects(s, pod.labels)]
        rules = [d for d in _by_kind(objects, "DestinationRule") if _host(d) in services]
        found = [w for d in rules for w in _where(d, "spec.trafficPolicy.connectionPool", previous)]
        found += [w for sc in _by_kind(objects, "Sidecar") if _sidecar_selects(sc, pod)
                  for path in ("spec.inboundConnectionPool", "spec.ingress") if sc.spec.get(path[5:])
                  for w in _where(sc, path, previous)]
        return found or _workload(objects, pod, previous)
    rules = [d for d in _by_kind(objects, "DestinationRule") if _host(d) == _short(host)]
    found = []
    for d in rules:
        subsets = d.spec.get("subsets") or []
        index = next((i for i, s in enumerate(subsets) if isinstance(s, dict) and s.get("name") == subset),
                     None)
        found.extend(_where(d, f"spec.subsets[{index}].trafficPolicy" if index is not None
                            else "spec.trafficPolicy", previous))
    return found or [w for s in _by_kind(objects, "Service") if s.name == _short(host)
                     for w in _where(s, "spec.ports", previous)]


def _each(objects: Sequence[Manifest], kind: str, path: str, previous: _Previous) -> list[str]:
    return [w for m in _by_kind(objects, kind) for w in _where(m, path, previous)]


def _workload(objects: Sequence[Manifest], pod: PodState, previous: _Previous) -> list[str]:
    kind, _, name = pod.owner.partition("/")
    return [w for m in objects if m.kind == kind and m.name == name
            for w in _where(m, "spec.template" if kind == "Deployment" else "spec", previous)]


def blame(resources: Sequence[str], type_url: str, sidecar: str, objects: Sequence[Manifest],
          pods: Mapping[str, PodState], previous: _Previous = None) -> list[str]:
    """``FILE:LINE: Kind/name: field`` of the objects that made ``resources`` (Envoy names) of ``type_url``
    on ``sidecar`` (``CLIENT`` or a pod name). ``previous`` holds the bodies that ran before, by (kind,
    namespace, name): the fields that changed are named."""
    pod = pods.get(sidecar) if sidecar != CLIENT else None
    found: list[str] = []
    for name in resources:
        if type_url == CLUSTER_TYPE:
            lines = _cluster(name, objects, pod, previous)
        elif type_url == ROUTE_TYPE:
            lines = (_each(objects, "VirtualService", "spec.http", previous)
                     or _each(objects, "Service", "spec.ports", previous))
        elif pod is not None:
            lines = _workload(objects, pod, previous)
        else:
            lines = _each(objects, "Service", "spec.ports", previous)
        found.extend(line for line in lines if line not in found)
    return found


def positioned(exc: ManifestError, manifests: Sequence[Manifest]) -> ManifestError:
    """A translation error on plain bodies (``<manifest>``) placed at its ``FILE:LINE`` in the manifest just
    applied (the object it names, the line of its field); unchanged when that object is not among them."""
    if exc.file is not None:
        return exc
    m = next((m for m in manifests if m.kind == exc.kind and m.name == exc.name), None)
    if m is None:
        return exc
    return ManifestError(exc.message, file=str(m.source.file), line=m.line_of(exc.path or ""), kind=exc.kind,
                         name=exc.name, path=exc.path, fix=exc.fix)
