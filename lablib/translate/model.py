"""The translator's inputs: endpoints, and the Service / VirtualService / DestinationRule objects it reads.

Objects arrive as plain dicts (apiVersion/kind/metadata/spec) or as ``lablib.manifests.Manifest`` (anything
with a ``.body`` dict); :class:`Object` wraps both and turns a problem into a positioned ``ManifestError``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lablib._exceptions import ManifestError
from lablib.translate.names import fqdn as resolve_fqdn

__all__ = ["Endpoint", "Object", "Service", "ServicePort", "labels_match", "port_protocol"]


@dataclass(frozen=True)
class Endpoint:
    """One server pod as the client sidecar sees it.

    ``port`` is what clients dial (the pod's inbound sidecar listener); ``app_port`` is where the app listens
    behind that sidecar (the target of the pod's ``inbound|<port>||`` cluster). ``app_port=None`` means the
    pod has no sidecar of its own: no inbound cluster is built for it, and auto mTLS talks plaintext to it
    (Istio's ``security.istio.io/tlsMode`` label). ``service_account`` is the pod's
    ``spec.serviceAccountName`` (Kubernetes' default ``default``), its mTLS identity.
    """

    pod: str
    namespace: str
    labels: Mapping[str, str]
    address: str
    port: int
    app_port: int | None = None
    service_account: str = "default"

    @property
    def has_sidecar(self) -> bool:
        """Whether the pod runs a sidecar (so accepts Istio mTLS)."""
        return self.app_port is not None


def labels_match(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes equality selector: every selector label present, same value. Empty selects nothing."""
    if not selector:
        return False
    return all(labels.get(k) == str(v) for k, v in selector.items())


def port_protocol(name: str | None, app_protocol: str | None = None) -> str:
    """Istio's protocol for a Service port (``protocol.Parse`` on ``appProtocol`` or the name prefix).

    ``http``/``http-*`` -> ``HTTP``; ``http2``/``grpc`` -> ``HTTP2``/``GRPC``; ``tcp`` -> ``TCP``; anything
    else (unnamed ports included) -> ``UNSUPPORTED``, which Istio handles by protocol sniffing.
    """
    raw = (app_protocol or (name or "").split("-", 1)[0]).lower()
    return {
        "http": "HTTP",
        "http2": "HTTP2",
        "grpc": "GRPC",
        "grpc-web": "GRPC",
        "h2c": "HTTP2",
        "tcp": "TCP",
        "tls": "TLS",
        "https": "HTTPS",
        "mongo": "TCP",
        "redis": "TCP",
        "mysql": "TCP",
    }.get(raw, "UNSUPPORTED")


class Object:
    """A Kubernetes/Istio object, from a dict or a ``Manifest``; keeps the original for error positions."""

    def __init__(self, origin: Any, default_namespace: str) -> None:
        self.origin = origin
        body = getattr(origin, "body", origin)
        if not isinstance(body, Mapping):
            raise TypeError(f"expected a Kubernetes object (dict or Manifest), got {type(origin).__name__}")
        self.body: Mapping[str, Any] = body
        meta = body.get("metadata") or {}
        self.kind: str = str(body.get("kind", ""))
        self.api_version: str = str(body.get("apiVersion", ""))
        self.name: str = str(meta.get("name", ""))
        self.namespace: str = str(meta.get("namespace") or default_namespace)
        self.spec: Mapping[str, Any] = body.get("spec") or {}

    def error(self, path: str, message: str, fix: str | None = None) -> ManifestError:
        """A ``ManifestError`` at dotted ``path`` (``spec.http[0].route``), with file and line if known."""
        source = getattr(self.origin, "source", None)
        file = getattr(source, "file", None)
        line = getattr(source, "line", None)
        line_of = getattr(self.origin, "line_of", None)
        if callable(line_of):
            # A path the manifest cannot place keeps the object's own line.
            with contextlib.suppress(Exception):
                line = line_of(path) or line
        return ManifestError(
            message,
            file=str(file) if file else None,
            line=line,
            kind=self.kind,
            name=self.name,
            path=path,
            fix=fix,
        )

    @property
    def ref(self) -> str:
        """``name.namespace``, as istioctl's DESTINATION RULE column prints it."""
        return f"{self.name}.{self.namespace}"


@dataclass(frozen=True)
class ServicePort:
    """One ``spec.ports[]`` entry of a Service."""

    port: int
    name: str = ""
    target_port: int | None = None
    protocol: str = "UNSUPPORTED"

    @property
    def is_http(self) -> bool:
        """Gets an HTTP route configuration (HTTP, HTTP/2, gRPC, or sniffed)."""
        return self.protocol in ("HTTP", "HTTP2", "GRPC", "UNSUPPORTED")

    @property
    def workload_port(self) -> int:
        """The pod port naming the server sidecar's inbound cluster: numeric ``targetPort``, else ``port``."""
        return self.target_port if self.target_port is not None else self.port


@dataclass(frozen=True)
class Service:
    """A Kubernetes Service as the translator needs it."""

    name: str
    namespace: str
    fqdn: str
    ports: tuple[ServicePort, ...]
    selector: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_object(cls, obj: Object, domain: str) -> Service:
        ports = []
        for i, raw in enumerate(obj.spec.get("ports") or ()):
            number = raw.get("port") if isinstance(raw, Mapping) else None
            if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 65536:
                raise obj.error(
                    f"spec.ports[{i}].port", f"must be a port number, got {number!r}", "write e.g. 'port: 80'"
                )
            target = raw.get("targetPort")
            ports.append(
                ServicePort(
                    port=number,
                    name=str(raw.get("name") or ""),
                    target_port=target if isinstance(target, int) and not isinstance(target, bool) else None,
                    protocol=port_protocol(raw.get("name"), raw.get("appProtocol")),
                )
            )
        selector = {str(k): str(v) for k, v in (obj.spec.get("selector") or {}).items()}
        return cls(
            obj.name, obj.namespace, resolve_fqdn(obj.name, obj.namespace, domain), tuple(ports), selector
        )

    def port(self, number: int | None) -> ServicePort | None:
        """The port with that number; with ``None``, the only port (``None`` if there are several)."""
        if number is None:
            return self.ports[0] if len(self.ports) == 1 else None
        return next((p for p in self.ports if p.port == int(number)), None)
