"""The objects a manifest file holds: Manifest (one Kubernetes/Istio object with its position) and the pods
that Pods and Deployments make (PodTemplate)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ISTIO_NETWORKING_VERSIONS",
    "SUPPORTED_KINDS",
    "Manifest",
    "PodTemplate",
    "Source",
    "as_manifest",
    "pods_of",
]

#: apiVersions of networking.istio.io the lab accepts (all served by current Istio, same schema).
ISTIO_NETWORKING_VERSIONS = (
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
)

#: kind -> the apiVersions the lab accepts for it.
SUPPORTED_KINDS: dict[str, tuple[str, ...]] = {
    "Pod": ("v1",),
    "Deployment": ("apps/v1",),
    "Service": ("v1",),
    "VirtualService": ISTIO_NETWORKING_VERSIONS,
    "DestinationRule": ISTIO_NETWORKING_VERSIONS,
    "Sidecar": ISTIO_NETWORKING_VERSIONS,
}


@dataclass(frozen=True)
class Source:
    """Where an object was written: the file and the 1-based line where its document starts."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Manifest:
    """One Kubernetes or Istio object read from a file.

    ``body`` is the whole object as plain data (apiVersion, kind, metadata, spec). ``line_of(path)`` gives the
    line of a field from its dotted path, e.g. ``spec.trafficPolicy.connectionPool.tcp.maxConnections`` or
    ``spec.subsets[0].labels``; for a path that is not in the file it gives the line of its nearest ancestor.
    """

    api_version: str
    kind: str
    name: str
    namespace: str
    body: dict[str, Any]
    source: Source
    positions: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    #: Errors found checking this object on its own (0 = valid); cross-object checks only read valid ones.
    errors: int = field(default=0, repr=False, compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        """``(kind, namespace, name)``: the identity Kubernetes uses; applying the same key replaces."""
        return (self.kind, self.namespace, self.name)

    @property
    def spec(self) -> dict[str, Any]:
        """``body["spec"]`` (an empty dict when missing)."""
        spec = self.body.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def labels(self) -> dict[str, str]:
        """``metadata.labels`` (an empty dict when missing)."""
        labels = (
            (self.body.get("metadata") or {}).get("labels")
            if isinstance(self.body.get("metadata"), dict)
            else None
        )
        return dict(labels) if isinstance(labels, dict) else {}

    def line_of(self, path: str) -> int:
        """The 1-based line of the field at dotted ``path``, or of its nearest ancestor in the file."""
        while path:
            if path in self.positions:
                return self.positions[path]
            path = _parent(path)
        return self.source.line

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


def _parent(path: str) -> str:
    if path.endswith("]"):
        cut = path.rfind("[")
        return path[:cut]
    cut = path.rfind(".")
    return path[:cut] if cut > 0 else ""


def as_manifest(obj: Manifest | Mapping[str, Any], *, file: str = "<applied>") -> Manifest:
    """``obj`` if it is a Manifest, else a Manifest built from the plain dict (without positions)."""
    if isinstance(obj, Manifest):
        return obj
    body = copy.deepcopy(dict(obj))
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    return Manifest(
        api_version=str(body.get("apiVersion", "")),
        kind=str(body.get("kind", "")),
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace") or "default"),
        body=body,
        source=Source(file, 0),
    )


@dataclass(frozen=True)
class PodTemplate:
    """A pod that a Pod or a Deployment makes, as the backends start it."""

    name: str
    namespace: str
    labels: dict[str, str]
    image: str
    #: The first container's first containerPort (where the app listens), None when not declared.
    container_port: int | None
    #: ``Kind/name`` of the object that makes it: ``Pod/fortio``, ``Deployment/service-go-v1``.
    owner: str
    #: ``spec.serviceAccountName`` (Kubernetes' default ``default``): the pod's mTLS identity.
    service_account: str = "default"
    #: The first container's ``args``: appended to its image's entrypoint (service-go's ``--grpc``).
    args: tuple[str, ...] = ()


def pods_of(objects: Iterable[Manifest | Mapping[str, Any]]) -> list[PodTemplate]:
    """The pods ``objects`` make: a Pod makes itself, a Deployment ``replicas`` pods ``<deployment>-<i>``.

    Other kinds make no pods. Deployments without ``replicas`` make one (the Kubernetes default).
    """
    pods: list[PodTemplate] = []
    for obj in objects:
        m = as_manifest(obj)
        if m.kind == "Pod":
            pods.append(_pod(m.name, m.namespace, m.labels, m.spec, f"Pod/{m.name}"))
        elif m.kind == "Deployment":
            template = _mapping(m.spec.get("template"))
            labels = _mapping(_mapping(template.get("metadata")).get("labels"))
            for i in range(replica_count(m)):
                pods.append(
                    _pod(
                        f"{m.name}-{i}",
                        m.namespace,
                        labels,
                        _mapping(template.get("spec")),
                        f"Deployment/{m.name}",
                    )
                )
    return pods


def replica_count(m: Manifest) -> int:
    """The pods a Deployment asks for: ``spec.replicas`` (1 when unset or not a whole number >= 0)."""
    replicas = m.spec.get("replicas", 1)
    return replicas if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas >= 0 else 1


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _pod(
    name: str, namespace: str, labels: Mapping[str, Any], spec: Mapping[str, Any], owner: str
) -> PodTemplate:
    # Defensive on every level: pods_of also reads objects that were never validated (the lab state, context).
    containers = spec.get("containers")
    first = _mapping(containers[0]) if isinstance(containers, list) and containers else {}
    ports = first.get("ports")
    port = _mapping(ports[0]).get("containerPort") if isinstance(ports, list) and ports else None
    args = first.get("args")
    return PodTemplate(
        name=name,
        namespace=namespace,
        labels={str(k): str(v) for k, v in labels.items()},
        image=str(first.get("image", "")),
        container_port=port if isinstance(port, int) and not isinstance(port, bool) else None,
        owner=owner,
        service_account=str(spec.get("serviceAccountName") or "default"),
        args=tuple(str(a) for a in args) if isinstance(args, list) else (),
    )
