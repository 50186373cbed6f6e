"""Istio's names for hosts, clusters and virtual hosts.

Mirrors ``model.BuildSubsetKey`` (``pilot/pkg/model/service.go``), ``ResolveShortnameToFQDN``
(``pilot/pkg/model/config.go``) and ``generateVirtualHostDomains`` (``route/route.go``).
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = [
    "INBOUND",
    "OUTBOUND",
    "SubsetKey",
    "build_dns_srv_subset_key",
    "build_inbound_key",
    "build_subset_key",
    "fqdn",
    "parse_subset_key",
    "virtual_host_domains",
    "virtual_host_name",
]

#: ``model.TrafficDirectionOutbound`` / ``Inbound``: the first field of a cluster name.
OUTBOUND: Final = "outbound"
INBOUND: Final = "inbound"


class SubsetKey(NamedTuple):
    """The four fields of an Istio cluster name ``direction|port|subset|fqdn``."""

    direction: str
    port: int
    subset: str
    fqdn: str


def fqdn(host: str, namespace: str = "default", domain: str = "cluster.local") -> str:
    """Resolve a host as Istio does (``ResolveShortnameToFQDN``).

    A host without a dot is a short name in ``namespace``: ``service-go`` ->
    ``service-go.default.svc.cluster.local``.
    A host with a dot is taken as already fully qualified, exactly like Istio: ``service-go.default`` stays
    as it is and matches no Service (Istio's own "gross hack" comment admits it). ``*`` stays ``*``.
    """
    host = host.strip()
    if not host or host == "*" or "." in host:
        return host
    return f"{host}.{namespace}.svc.{domain}"


def build_subset_key(direction: str, port: int, subset: str | None, fqdn: str) -> str:
    """``outbound|80|v1|service-go.default.svc.cluster.local``; an empty subset gives ``outbound|80||...``."""
    return f"{direction}|{int(port)}|{subset or ''}|{fqdn}"


def build_dns_srv_subset_key(direction: str, port: int, subset: str | None, fqdn: str) -> str:
    """``outbound_.80_.v1_.service-go.default.svc.cluster.local``: the cluster's name in DNS SRV form
    (``model.BuildDNSSrvSubsetKey``), which Istio sends as the SNI of in-mesh mTLS."""
    return f"{direction}_.{int(port)}_.{subset or ''}_.{fqdn}"


def build_inbound_key(port: int) -> str:
    """``inbound|80||``: the server sidecar's cluster for a workload port
    (``model.BuildInboundSubsetKey``)."""
    return build_subset_key(INBOUND, port, "", "")


def parse_subset_key(name: str) -> SubsetKey:
    """Split a cluster name back into its fields; raises ``ValueError`` if it is not an Istio cluster name."""
    parts = name.split("|")
    if len(parts) != 4 or not parts[1].isdigit():
        raise ValueError(
            f"{name!r} is not an Istio cluster name like 'outbound|80|v1|service-go.default.svc...'"
        )
    return SubsetKey(parts[0], int(parts[1]), parts[2], parts[3])


def virtual_host_name(fqdn: str, port: int) -> str:
    """``service-go.default.svc.cluster.local:80``, the virtual host Istio builds per service port."""
    return f"{fqdn}:{int(port)}"


def virtual_host_domains(
    name: str, namespace: str, port: int, *, proxy_namespace: str = "default", domain: str = "cluster.local"
) -> list[str]:
    """The ``domains`` of a service's virtual host, each also with ``:port``, FQDN first.

    The bare short name (``service-go``) is only added for a client in the service's own namespace, as in
    Istio: from another namespace ``service-go`` means a different service.
    """
    full = f"{name}.{namespace}.svc.{domain}"
    hosts = [full]
    if namespace == proxy_namespace:
        hosts.append(name)
    hosts += [f"{name}.{namespace}.svc", f"{name}.{namespace}"]
    out: list[str] = []
    for host in hosts:
        out += [host, f"{host}:{int(port)}"]
    return out
