"""Istio objects -> the Envoy configuration Istio would give the sidecars. Pure: no I/O.

Where to look: ``cluster.py`` builds clusters from Services + DestinationRules, ``traffic_policy.py`` maps
one policy block to cluster fields, ``route.py`` turns VirtualServices into routes, ``defaults.py`` holds
Envoy's and Istio's defaults with their sources (Istio ``ISTIO_VERSION``, 1.30), ``version.py`` what changed
since Istio 1.0, ``tls.py`` Istio's mTLS between sidecars, ``names.py`` Istio's names, ``mesh_config.py`` ties
them together in ``translate()``. Facts: docs/reference/istio-to-envoy.md (cited as "ref §N").

>>> from lablib.translate import Endpoint, translate
>>> labels = {"app": "service-go", "version": "v1"}
>>> pod = Endpoint("service-go-v1-0", "default", labels, "127.0.0.1", 15001, app_port=8081)
>>> config = translate(objects, [pod])
>>> config.cluster("outbound|80|v1|service-go.default.svc.cluster.local")["circuit_breakers"]
"""

from lablib.translate._render import format_table, render_yaml, summary_table
from lablib.translate.cluster import build_inbound_cluster, build_outbound_clusters
from lablib.translate.mesh_config import MeshConfig, translate
from lablib.translate.model import Endpoint
from lablib.translate.names import (
    build_dns_srv_subset_key,
    build_inbound_key,
    build_subset_key,
    fqdn,
    parse_subset_key,
)
from lablib.translate.route import FAULT_FILTER, build_route_configuration, translate_route
from lablib.translate.tls import MeshTls, build_inbound_tls, file_secrets, spiffe_id
from lablib.translate.traffic_policy import (
    apply_connection_pool,
    apply_load_balancer,
    apply_outlier_detection,
    merge_subset_traffic_policy,
)
from lablib.translate.version import ISTIO_VERSION, istiod_version_warning

__all__ = [
    "FAULT_FILTER",
    "ISTIO_VERSION",
    "Endpoint",
    "MeshConfig",
    "MeshTls",
    "apply_connection_pool",
    "apply_load_balancer",
    "apply_outlier_detection",
    "build_dns_srv_subset_key",
    "build_inbound_cluster",
    "build_inbound_key",
    "build_inbound_tls",
    "build_outbound_clusters",
    "build_route_configuration",
    "build_subset_key",
    "file_secrets",
    "format_table",
    "fqdn",
    "istiod_version_warning",
    "merge_subset_traffic_policy",
    "parse_subset_key",
    "render_yaml",
    "spiffe_id",
    "summary_table",
    "translate",
    "translate_route",
]
