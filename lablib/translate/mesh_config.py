"""``translate()``: Kubernetes/Istio objects + endpoints -> the Envoy configuration Istio would push.

The result, :class:`MeshConfig`, holds the client sidecar's clusters and route configurations and each server
pod's inbound clusters, as Envoy v3 proto3-JSON dicts. Pure: no I/O, no processes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lablib._types import JSONDict
from lablib.i18n import Msg
from lablib.translate import defaults
from lablib.translate.cluster import build_inbound_cluster, build_outbound_clusters, service_endpoints
from lablib.translate.model import Endpoint, Object, Service
from lablib.translate.names import OUTBOUND, build_subset_key
from lablib.translate.names import fqdn as resolve_fqdn
from lablib.translate.route import (
    build_default_route,
    build_route_configuration,
    build_virtual_host,
    destination_cluster,
    translate_route,
)
from lablib.translate.sidecar import sidecar_for
from lablib.translate.tls import MeshTls

__all__ = ["MeshConfig", "consistent_hash_for", "translate"]


@dataclass
class MeshConfig:
    """What Istio would configure, for one client sidecar and for each server pod's sidecar.

    Attributes:
        outbound_clusters: the client sidecar's CDS resources (each has ``"@type"``), one per service port and
            one per DR subset, named like ``outbound|80|v1|service-go.default.svc.cluster.local``.
        outbound_routes: RouteConfigurations, one per HTTP service port, named by the port (``"80"``).
        inbound_clusters: per server pod name, its sidecar's ``inbound|<port>||`` clusters.
        warnings: what only the translation shows (each a ``Msg``): several VirtualServices for one service
            (the first is used), a VirtualService host no Service has, two Services naming one pod's inbound
            cluster. What the validator reports (deprecated fields, two DestinationRules for one host,
            routes to undefined subsets, hosts no Service has) is not repeated here.
    """

    outbound_clusters: list[JSONDict] = field(default_factory=list)
    outbound_routes: list[JSONDict] = field(default_factory=list)
    inbound_clusters: dict[str, list[JSONDict]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def cluster(self, name: str) -> JSONDict:
        """The outbound cluster with that name; ``KeyError`` listing the names there are."""
        for cluster in self.outbound_clusters:
            if cluster["name"] == name:
                return cluster
        names = ", ".join(c["name"] for c in self.outbound_clusters) or "none"
        raise KeyError(f"no outbound cluster {name!r}; there are: {names}")

    def static_clusters(self, pod: str | None = None) -> list[JSONDict]:
        """Clusters for a bootstrap's ``static_resources.clusters``: the client's outbound clusters, or
        ``pod``'s inbound ones, without the top-level ``@type`` (only CDS files carry it; Envoy rejects it
        inline as an unknown field)."""
        clusters = self.inbound_clusters.get(pod, []) if pod is not None else self.outbound_clusters
        return [{k: v for k, v in c.items() if k != "@type"} for c in clusters]

    def route_configuration(self, port: int | str) -> JSONDict:
        """The RouteConfiguration named ``str(port)``."""
        for config in self.outbound_routes:
            if config["name"] == str(port):
                return config
        raise KeyError(
            f"no route configuration {str(port)!r}; there are: "
            f"{', '.join(r['name'] for r in self.outbound_routes) or 'none'}"
        )

    def route_clusters(
        self, host: str, port: int | None = None, *, path: str | None = None
    ) -> list[tuple[str, int]]:
        """The clusters (name, weight) a request for ``host`` is sent to: weight 100 for a single destination.

        ``host`` is any name a client may use (``service-go``, ``service-go:80``, the FQDN). ``port=None``
        looks in every route configuration (lowest port first). ``path`` picks the first route whose path
        match fits (header matches ignored); ``None`` takes the first route.
        """
        candidates = (
            [self.route_configuration(port)]
            if port is not None
            else sorted(self.outbound_routes, key=lambda r: int(r["name"]))
        )
        for config in candidates:
            for vhost in config["virtual_hosts"]:
                if host not in vhost["domains"]:
                    continue
                for route in vhost["routes"]:
                    if path is not None and not _path_matches(route["match"], path):
                        continue
                    action = route["route"]
                    if "cluster" in action:
                        return [(action["cluster"], 100)]
                    return [(c["name"], int(c["weight"])) for c in action["weighted_clusters"]["clusters"]]
                raise KeyError(
                    f"no route for {host!r} path {path!r} in route configuration {config['name']!r}"
                )
        raise KeyError(f"no virtual host serves {host!r}" + (f" on port {port}" if port is not None else ""))


def _path_matches(match: Mapping[str, Any], path: str) -> bool:
    if "prefix" in match:
        return (
            path.startswith(match["prefix"])
            if match.get("case_sensitive", True)
            else path.lower().startswith(match["prefix"].lower())
        )
    if "path" in match:
        return path == match["path"]
    if "safe_regex" in match:
        return re.fullmatch(match["safe_regex"]["regex"], path) is not None
    return False


def _host_matches(pattern: str, host: str) -> bool:
    # Istio hosts may be wildcards: "*.default.svc.cluster.local" matches
    # "service-go.default.svc.cluster.local".
    if pattern.startswith("*"):
        return host.endswith(pattern[1:])
    return pattern == host


def _tls_modes(dr: Object) -> list[tuple[str, Any]]:
    """Every ``tls.mode`` of a DR with its path: top level, port level, subsets and their port levels."""
    out: list[tuple[str, Any]] = []
    policies = [("spec.trafficPolicy", dr.spec.get("trafficPolicy"))] + [
        (f"spec.subsets[{i}].trafficPolicy", s.get("trafficPolicy"))
        for i, s in enumerate(dr.spec.get("subsets") or ())
    ]
    for path, policy in policies:
        if not isinstance(policy, Mapping):
            continue
        out.append((f"{path}.tls", policy.get("tls")))
        for j, entry in enumerate(policy.get("portLevelSettings") or ()):
            if isinstance(entry, Mapping):
                out.append((f"{path}.portLevelSettings[{j}].tls", entry.get("tls")))
    # An absent mode is the enum's zero value, DISABLE.
    return [(f"{path}.mode", (tls or {}).get("mode", "DISABLE")) for path, tls in out if tls is not None]


def _port_level_hash(destination: Mapping[str, Any], policy: Mapping[str, Any] | None) -> Any:
    # portLevelSettingsConsistentHash: only a destination that names its port picks a port-level entry
    number = (destination.get("port") or {}).get("number")
    if number is None:
        return None
    for entry in (policy or {}).get("portLevelSettings") or ():
        if int((entry.get("port") or {}).get("number", -1)) == int(number):
            return (entry.get("loadBalancer") or {}).get("consistentHash")
    return None


def consistent_hash_for(destination: Mapping[str, Any], rule: Mapping[str, Any] | None
                        ) -> Mapping[str, Any] | None:
    """``hashForHTTPDestination``: the ``consistentHash`` a route destination is load balanced by, from its
    host's DestinationRule ``rule`` (its spec): the subset's port-level entry, else the subset's, else the
    rule's port-level entry, else the rule's; None when there is none."""
    if rule is None:
        return None
    policy = rule.get("trafficPolicy") or {}
    found = (policy.get("loadBalancer") or {}).get("consistentHash")
    port_level = _port_level_hash(destination, policy)
    subset_hash = subset_port_level = None
    for subset in rule.get("subsets") or ():
        if subset.get("name") == destination.get("subset"):
            subset_policy = subset.get("trafficPolicy") or {}
            subset_hash = (subset_policy.get("loadBalancer") or {}).get("consistentHash")
            subset_port_level = _port_level_hash(destination, subset_policy)
            break
    for candidate in (subset_port_level, subset_hash, port_level):
        if candidate is not None:
            return candidate
    return found


def translate(
    objects: Iterable[Any],
    endpoints: Iterable[Endpoint],
    *,
    namespace: str = "default",
    domain: str = "cluster.local",
    track_remaining: bool = defaults.ISTIO_DEFAULT_TRACK_REMAINING,
    mtls: MeshTls | None = None,
) -> MeshConfig:
    """Translate Services, VirtualServices and DestinationRules as Istio would for a client in ``namespace``.

    Args:
        objects: plain dicts (apiVersion/kind/metadata/spec) or ``Manifest`` objects (with ``.body``). Other
            kinds (Pod, Deployment, ...) are ignored: ``endpoints`` say where the pods are.
        endpoints: the server pods; an endpoint belongs to a Service whose selector its labels match, in
            the same namespace.
        namespace: the client's namespace, and the namespace of objects that name none.
        domain: the cluster domain of FQDNs (``service-go.default.svc.<domain>``).
        track_remaining: ``circuit_breakers.thresholds[0].track_remaining`` (Istio >= 1.29: false); true makes
            Envoy emit the ``remaining_*`` gauges.
        mtls: Istio's mutual TLS between sidecars (auto mTLS, DR ``tls`` ISTIO_MUTUAL / DISABLE), with the
            client sidecar's certificate source; ``None`` (the default, until the mesh backend serves TLS on
            its inbound listeners) gives plaintext clusters and ignores DR ``tls`` blocks.

    Objects must be validated (``lablib.manifests.load_file(s)``): the validator refuses, at FILE:LINE and
    in the student's language, everything the lab cannot translate (``tls.mode: SIMPLE``, ``PASSTHROUGH``,
    ``redirect``, ...). Input it would refuse raises ``UnvalidatedInput`` (an ``AssertionError``: a bug).
    """
    endpoints = list(endpoints)
    out = MeshConfig()
    services: dict[str, Service] = {}
    rules: list[tuple[str, Object]] = []
    virtual_services: list[tuple[str, Object]] = []
    sidecars: list[Object] = []  # in the order applied: the first one wins a tie, as the lab documents
    latest: dict[tuple[str, str, str], Object] = {}
    for origin in objects:
        obj = Object(origin, namespace)
        # Like `kubectl apply`: a later object of the same kind, namespace and name replaces the earlier.
        latest.pop((obj.kind, obj.namespace, obj.name), None)
        latest[(obj.kind, obj.namespace, obj.name)] = obj
    for obj in latest.values():
        if obj.kind == "Service":
            service = Service.from_object(obj, domain)
            services[service.fqdn] = service
        elif obj.kind == "DestinationRule":
            host = obj.spec.get("host")
            obj.require(host, "spec.host", "a DestinationRule has a host")
            for i, subset in enumerate(obj.spec.get("subsets") or ()):  # unique names: the validator's job
                obj.require(isinstance(subset, Mapping) and subset.get("name"), f"spec.subsets[{i}].name",
                            "a subset has a name")
            if mtls is not None:  # SIMPLE and MUTUAL need certificates of the student's own: not in the lab
                for path, mode in _tls_modes(obj):
                    obj.require(mode in ("ISTIO_MUTUAL", "DISABLE"), path, f"mode {mode!r} is not translated")
            rules.append((resolve_fqdn(str(host), obj.namespace, domain), obj))
        elif obj.kind == "Sidecar":
            sidecars.append(obj)
        elif obj.kind == "VirtualService":
            gateways = obj.spec.get("gateways")
            if gateways and "mesh" not in gateways:
                continue  # bound to gateways only: not applied to sidecars
            for i, host in enumerate(obj.spec.get("hosts") or ()):
                obj.require(host, f"spec.hosts[{i}]", "a host is not empty")
                virtual_services.append((resolve_fqdn(str(host), obj.namespace, domain), obj))

    def rule_for_host(host_fqdn: str) -> Object | None:
        exact = [dr for host, dr in rules if host == host_fqdn]
        wild = sorted(
            (dr for host, dr in rules if host.startswith("*") and _host_matches(host, host_fqdn)),
            key=lambda dr: -len(str(dr.spec.get("host"))),
        )
        picked = exact + wild  # several for one host: the validator warns; the first is used, as in Istio
        return picked[0] if picked else None

    def rule_for(service: Service) -> Object | None:
        return rule_for_host(service.fqdn)

    routes_by_port: dict[int, list[JSONDict]] = {}
    for service in sorted(services.values(), key=lambda s: (s.namespace, s.name)):
        dr = rule_for(service)
        matching = [v for host, v in virtual_services if _host_matches(host, service.fqdn)]
        vs = matching[0] if matching else None
        if len({id(v) for v in matching}) > 1:
            out.warnings.append(
                Msg("translate.mesh.virtual_services", n=len(matching), host=service.fqdn,
                    name=matching[0].name)
            )
        for port in service.ports:
            out.outbound_clusters += build_outbound_clusters(
                service, port, endpoints, dr, track_remaining=track_remaining, mesh_tls=mtls
            )
            if not port.is_http:
                continue
            if vs is not None and vs.spec.get("http"):

                def cluster_for(dest: Mapping[str, Any], _vs: Object = vs, _port: int = port.port) -> str:
                    return destination_cluster(dest, _vs.namespace, services, _port, domain)

                def hash_for(dest: Mapping[str, Any], _vs: Object = vs) -> Mapping[str, Any] | None:
                    rule = rule_for_host(resolve_fqdn(str(dest.get("host", "")), _vs.namespace, domain))
                    return consistent_hash_for(dest, rule.spec if rule is not None else None)

                routes = []
                for i, http in enumerate(vs.spec["http"]):
                    routes += translate_route(http, vs=vs, index=i, port=port.port, cluster_for=cluster_for,
                                              hash_for=hash_for)
            else:
                routes = [build_default_route(build_subset_key(OUTBOUND, port.port, "", service.fqdn))]
            routes_by_port.setdefault(port.port, []).append(
                build_virtual_host(service, port.port, routes, proxy_namespace=namespace, domain=domain)
            )

        for endpoint in service_endpoints(service, endpoints):
            if endpoint.app_port is None:
                continue
            mine = out.inbound_clusters.setdefault(endpoint.pod, [])
            for port in service.ports:
                cluster = build_inbound_cluster(service, port, endpoint, dr, track_remaining=track_remaining,
                                                sidecar=sidecar_for(endpoint, sidecars))
                if any(c["name"] == cluster["name"] for c in mine):
                    out.warnings.append(
                        Msg("translate.mesh.inbound_taken", pod=endpoint.pod, cluster=cluster["name"])
                    )
                    continue
                mine.append(cluster)

    out.outbound_routes = [build_route_configuration(p, routes_by_port[p]) for p in sorted(routes_by_port)]
    for host, vs in virtual_services:
        if not any(_host_matches(host, fq) for fq in services):
            out.warnings.append(Msg("translate.mesh.host_without_service", name=vs.name, host=host))
    return out

