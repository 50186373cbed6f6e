"""Services and DestinationRules -> Envoy clusters (Istio's ``cluster_builder.go``, ``CB``; ref §1-§3).

One outbound cluster per service port (``outbound|80||fqdn``) plus one per DR subset
(``outbound|80|v1|fqdn``), each with its own circuit breakers and outlier detector; and, for each server pod,
the inbound cluster its own sidecar uses (``inbound|80||`` -> 127.0.0.1:app_port), which carries the DR's
connection pool but not its outlier detection nor its subsets.

Precedence (tested in ``tests/translate``): Istio defaults < DR ``trafficPolicy`` < DR port-level entry (which
replaces, not merges) ; for subsets, the subset's blocks replace the DR's blocks one by one
(:func:`~lablib.translate.traffic_policy.merge_subset_traffic_policy`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lablib._types import JSONDict
from lablib.translate import defaults
from lablib.translate.model import Endpoint, Object, Service, ServicePort, labels_match
from lablib.translate.names import (
    INBOUND,
    OUTBOUND,
    build_dns_srv_subset_key,
    build_inbound_key,
    build_subset_key,
)
from lablib.translate.sidecar import inbound_policy
from lablib.translate.tls import MeshTls, apply_upstream_tls, endpoint_metadata, spiffe_id
from lablib.translate.traffic_policy import (
    apply_traffic_policy,
    get_port_level_traffic_policy,
    merge_subset_traffic_policy,
    set_h2_options,
    set_use_downstream_protocol,
)

__all__ = [
    "build_cluster",
    "build_inbound_cluster",
    "build_outbound_clusters",
    "service_accounts",
    "service_endpoints",
    "set_upstream_protocol",
    "subset_endpoints",
]

#: Field order of a finished cluster: the order a reader wants, not alphabetical.
_ORDER = (
    "@type",
    "name",
    "type",
    "connect_timeout",
    "lb_policy",
    "least_request_lb_config",
    "round_robin_lb_config",
    "ring_hash_lb_config",
    "maglev_lb_config",
    "circuit_breakers",
    "transport_socket",
    "transport_socket_matches",
    "upstream_connection_options",
    "typed_extension_protocol_options",
    "outlier_detection",
    "common_lb_config",
    "load_assignment",
    "metadata",
)


def service_endpoints(service: Service, endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    """The endpoints a Service selects: same namespace, labels matching its selector; sorted by pod name."""
    picked = [
        e for e in endpoints if e.namespace == service.namespace and labels_match(service.selector, e.labels)
    ]
    return sorted(picked, key=lambda e: e.pod)


def subset_endpoints(labels: Mapping[str, str] | None, endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    """The service endpoints in a subset; a subset without labels has them all."""
    return [e for e in endpoints if all(e.labels.get(k) == str(v) for k, v in (labels or {}).items())]


def _lb_endpoint(address: str, port: int, metadata: JSONDict | None) -> JSONDict:
    socket = {"address": address, "port_value": int(port)}
    out: JSONDict = {"endpoint": {"address": {"socket_address": socket}}}
    if metadata is not None:
        out["metadata"] = metadata
    return out


def _load_assignment(name: str, addresses: Iterable[tuple[str, int, JSONDict | None]]) -> JSONDict:
    lb_endpoints = [_lb_endpoint(*entry) for entry in addresses]
    return {"cluster_name": name, "endpoints": [{"lb_endpoints": lb_endpoints}] if lb_endpoints else []}


def _outbound_addresses(
    endpoints: Iterable[Endpoint], mesh_tls: MeshTls | None
) -> list[tuple[str, int, JSONDict | None]]:
    # With mTLS on, an endpoint whose pod has a sidecar carries tlsMode: istio, as Istio's EDS sends it.
    return [
        (e.address, e.port, endpoint_metadata() if mesh_tls is not None and e.has_sidecar else None)
        for e in endpoints
    ]


def service_accounts(endpoints: Iterable[Endpoint], trust_domain: str) -> list[str]:
    """The SPIFFE identities of a service's pods (``push.ServiceAccounts``), sorted, each once: the SANs a
    client accepts from the server's certificate."""
    return sorted({spiffe_id(trust_domain, e.namespace, e.service_account) for e in endpoints})


def set_upstream_protocol(cluster: JSONDict, port: ServicePort) -> None:
    """``setUpstreamProtocol``: h2 for http2/grpc ports; a sniffed (unnamed) port uses the client's protocol.

    An ``http``/``http-*`` port (HTTP/1.1) gets nothing here: Envoy's default is HTTP/1.1.
    """
    if port.protocol in ("HTTP2", "GRPC"):
        set_h2_options(cluster)
    elif port.protocol == "UNSUPPORTED":
        set_use_downstream_protocol(cluster)


def build_cluster(
    name: str, addresses: Iterable[tuple[str, int] | tuple[str, int, JSONDict | None]], *, direction: str
) -> JSONDict:
    """``buildCluster``: the skeleton every cluster starts from, before any policy.

    Istio uses EDS for outbound clusters; STATIC with the same endpoints is the local equivalent (ref §7).
    An address may carry the endpoint's metadata as a third item.
    """
    cluster: JSONDict = {
        "@type": defaults.CLUSTER_TYPE,
        "name": name,
        "type": "STATIC",
        "connect_timeout": defaults.ISTIO_CONNECT_TIMEOUT,
    }
    if direction == OUTBOUND:
        # Outbound only: the inbound cluster has one local endpoint and keeps Envoy's ROUND_ROBIN.
        cluster["lb_policy"] = defaults.ISTIO_DEFAULT_LB_POLICY
        cluster["common_lb_config"] = {}
    entries = [(a[0], a[1], a[2] if len(a) > 2 else None) for a in addresses]  # type: ignore[misc]
    cluster["load_assignment"] = _load_assignment(name, entries)
    return cluster


def _finish(cluster: JSONDict, dr: Object | None, service: Service) -> JSONDict:
    """``clusterWrapper.build``: an HttpProtocolOptions with no protocol chosen gets explicit HTTP/1.1
    (Envoy requires one), then metadata naming the DR as istioctl's DESTINATION RULE column shows it."""
    options = (cluster.get("typed_extension_protocol_options") or {}).get(defaults.HTTP_PROTOCOL_OPTIONS_KEY)
    if options is not None and not any(
        k in options for k in ("explicit_http_config", "use_downstream_protocol_config", "auto_config")
    ):
        options["explicit_http_config"] = {"http_protocol_options": {}}
    istio: JSONDict = {
        "services": [{"host": service.fqdn, "name": service.name, "namespace": service.namespace}]
    }
    if dr is not None:
        group_version = dr.api_version or "networking.istio.io/v1"
        istio = {
            "config": f"/apis/{group_version}/namespaces/{dr.namespace}/destination-rule/{dr.name}",
            **istio,
        }
    cluster["metadata"] = {"filter_metadata": {"istio": istio}}
    ordered = {k: cluster[k] for k in _ORDER if k in cluster}
    ordered.update({k: v for k, v in cluster.items() if k not in ordered})
    return ordered


def _policy(dr: Object | None) -> Any:
    return dr.spec.get("trafficPolicy") if dr is not None else None


def build_outbound_clusters(
    service: Service,
    port: ServicePort,
    endpoints: Iterable[Endpoint],
    dr: Object | None = None,
    *,
    track_remaining: bool = defaults.ISTIO_DEFAULT_TRACK_REMAINING,
    mesh_tls: MeshTls | None = None,
) -> list[JSONDict]:
    """The client sidecar's clusters for one service port: ``outbound|<port>||<fqdn>`` then one per subset.

    ``endpoints`` are all endpoints; the service's selector and each subset's labels pick theirs. Each address
    is the endpoint's ``port`` (the server pod's sidecar), as the client's Envoy dials it. With ``mesh_tls``
    each cluster also gets Istio's upstream mTLS (:func:`~lablib.translate.tls.apply_upstream_tls`), last, as
    ``applyTrafficPolicy`` does; without it the clusters are plaintext and DR ``tls`` blocks are ignored.
    """
    selected = service_endpoints(service, endpoints)
    accounts = service_accounts(selected, mesh_tls.trust_domain) if mesh_tls is not None else []
    clusters = []
    # The default cluster takes the DR's port-level entry for this port if any, else its top-level policy.
    default_policy, _ = get_port_level_traffic_policy(_policy(dr), port.port)
    subsets = [(None, selected, default_policy)] + [
        (
            str(subset.get("name", "")),
            subset_endpoints(subset.get("labels"), selected),
            merge_subset_traffic_policy(_policy(dr), subset.get("trafficPolicy"), port.port),
        )
        for subset in ((dr.spec.get("subsets") or ()) if dr is not None else ())
    ]
    for subset_name, members, policy in subsets:
        name = build_subset_key(OUTBOUND, port.port, subset_name, service.fqdn)
        cluster = build_cluster(name, _outbound_addresses(members, mesh_tls), direction=OUTBOUND)
        set_upstream_protocol(cluster, port)
        # Each subset is a fresh cluster with its own policy: its own breaker counters and outlier detector.
        apply_traffic_policy(
            cluster, policy, port_protocol=port.protocol, direction=OUTBOUND, track_remaining=track_remaining
        )
        if mesh_tls is not None:
            apply_upstream_tls(
                cluster,
                (policy or {}).get("tls"),
                sni=build_dns_srv_subset_key(OUTBOUND, port.port, subset_name, service.fqdn),
                service_accounts=accounts,
                mesh_tls=mesh_tls,
            )
        clusters.append(_finish(cluster, dr, service))
    return clusters


def build_inbound_cluster(
    service: Service,
    port: ServicePort,
    endpoint: Endpoint,
    dr: Object | None = None,
    *,
    track_remaining: bool = defaults.ISTIO_DEFAULT_TRACK_REMAINING,
    sidecar: Object | None = None,
) -> JSONDict:
    """The server pod's ``inbound|<workload port>||`` cluster -> ``127.0.0.1:<app_port>`` (``CB`` 672-716).

    "When users specify circuit breakers, they need to be set on the receiver end (server side) as well as
    client side": the DR's top-level (or port-level) ``connectionPool`` applies here; outlier detection, load
    balancing and subset policies do not (ref §1). ``sidecar`` (the pod's ``Sidecar``, see
    :mod:`lablib.translate.sidecar`): its pool for this port replaces the DR's ``connectionPool`` whole.
    """
    if endpoint.app_port is None:
        raise ValueError(f"endpoint {endpoint.pod} has no app_port: it has no sidecar, so no inbound cluster")
    name = build_inbound_key(port.workload_port)
    cluster = build_cluster(name, [("127.0.0.1", endpoint.app_port)], direction=INBOUND)
    set_upstream_protocol(cluster, port)
    policy, _ = get_port_level_traffic_policy(_policy(dr), port.port)
    policy = inbound_policy(policy, sidecar, port.workload_port)
    apply_traffic_policy(
        cluster, policy, port_protocol=port.protocol, direction=INBOUND, track_remaining=track_remaining
    )
    return _finish(cluster, dr, service)
