"""The translator's inputs: endpoints, and the Service / VirtualService / DestinationRule objects it reads.

Objects arrive as plain dicts (apiVersion/kind/metadata/spec) or as ``lablib.manifests.Manifest`` (anything
with a ``.body`` dict); :class:`Object` wraps both. They come validated: ``lablib.manifests`` is the one gate
that refuses, at FILE:LINE and in the student's language, everything the translator cannot translate. What
the translator still checks is an internal assertion (:class:`UnvalidatedInput`), a bug of the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lablib.translate.names import fqdn as resolve_fqdn

__all__ = [
    "Endpoint",
    "Object",
    "Service",
    "ServicePort",
    "UnvalidatedInput",
    "labels_match",
    "port_protocol",
]


class UnvalidatedInput(AssertionError):
    """An object ``lablib.manifests`` refuses reached the translator: the caller skipped validation.

    A bug, not a student's mistake (so not a ``LabError`` and not translated): every path from a manifest to
    ``translate()`` goes through ``lablib.manifests.load_file(s)``, which refuses this input at FILE:LINE.
    """


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


#: Ports Istio takes as TCP when their protocol cannot be told (``wellKnownPorts``: SMTP, DNS, MySQL,
#: MongoDB).
_WELL_KNOWN_PORTS = frozenset({25, 53, 3306, 27017})
#: ``protocol.Parse``: a lower-cased name (or name prefix) -> Istio's protocol.
_PARSE = {"tcp": "TCP", "udp": "UDP", "grpc": "GRPC", "http": "HTTP", "http2": "HTTP2", "https": "HTTPS",
          "tls": "TLS", "mongo": "TCP", "redis": "TCP", "mysql": "TCP"}
#: Kubernetes' standard appProtocol names, read only from ``appProtocol`` (a port name cannot hold them).
_K8S_APP_PROTOCOLS = {"kubernetes.io/h2c": "HTTP2", "kubernetes.io/ws": "HTTP", "kubernetes.io/wss": "HTTPS"}


def port_protocol(name: str | None, app_protocol: str | None = None, *, number: int | None = None,
                  l4: str | None = None) -> str:
    """Istio's protocol for a Service port (``kube.ConvertProtocol``, ``pkg/config/kube/conversion.go``).

    ``appProtocol`` when set, else the port name; a ``grpc-web`` prefix is gRPC-Web (HTTP/2 like gRPC: here
    ``GRPC``), else the part before the first ``-`` is parsed: ``http``/``http-*`` -> ``HTTP``,
    ``http2``/``grpc`` -> ``HTTP2``/``GRPC`` (the upstream speaks HTTP/2), ``tcp`` -> ``TCP``…; anything
    else (unnamed ports included) -> ``UNSUPPORTED``, which Istio handles by protocol sniffing (the upstream
    then uses the client's protocol), except on a well-known port (``number``), which is TCP. ``l4`` is the
    port's Kubernetes ``protocol``: UDP is UDP whatever the name says.
    """
    if str(l4 or "").upper() == "UDP":
        return "UDP"
    raw = str(app_protocol) if app_protocol is not None else str(name or "")
    if app_protocol is not None and raw in _K8S_APP_PROTOCOLS:
        return _K8S_APP_PROTOCOLS[raw]
    if raw[:8].lower() == "grpc-web":
        return "GRPC"
    found = _PARSE.get(raw.split("-", 1)[0].lower(), "UNSUPPORTED")
    if found == "UNSUPPORTED" and number in _WELL_KNOWN_PORTS:
        return "TCP"
    return found


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

    def require(self, condition: object, path: str, what: str) -> None:
        """Assert a fact the validator guarantees; :class:`UnvalidatedInput` naming the object if it fails."""
        if not condition:
            raise UnvalidatedInput(
                f"{self.kind}/{self.name}: {path}: {what} (validate it first: lablib.manifests.load_files)"
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
            obj.require(
                isinstance(number, int) and not isinstance(number, bool) and 0 < number < 65536,
                f"spec.ports[{i}].port",
                f"a port number, not {number!r}",
            )
            target = raw.get("targetPort")
            ports.append(
                ServicePort(
                    port=number,
                    name=str(raw.get("name") or ""),
                    target_port=target if isinstance(target, int) and not isinstance(target, bool) else None,
                    protocol=port_protocol(raw.get("name"), raw.get("appProtocol"), number=number,
                                           l4=raw.get("protocol")),
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
