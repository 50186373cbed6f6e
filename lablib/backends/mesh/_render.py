"""What each sidecar's xDS files contain, from ``lablib.translate``'s ``MeshConfig``.

The client (fortio) sidecar gets what istiod would push to it: the outbound clusters (CDS), one outbound
listener per service port with routes by Host header from RDS (named ``"80"`` like Istio's), and a JSON access
log. Each service pod's inbound sidecar gets its ``inbound|<port>||`` cluster (with the DestinationRule's
connectionPool, as Istio applies it server-side) behind a listener on the pod's port; with mTLS that listener
has Istio's PERMISSIVE inbound chains (mTLS with a verified client certificate, plaintext beside it) chosen by
the TLS inspector.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from lablib._types import JSONDict
from lablib.envoy.access_log import file_access_log
from lablib.envoy.bootstrap import http_listener
from lablib.translate import defaults
from lablib.translate.tls import TLS_INSPECTOR, SecretSource, build_inbound_tls

__all__ = ["client_listeners", "inbound_clusters", "inbound_listener", "route_ports"]


def route_ports(routes: Iterable[JSONDict]) -> list[str]:
    """The service ports the outbound routes are for (Istio names each RouteConfiguration after its port)."""
    return [str(r["name"]) for r in routes]


def client_listeners(listener_ports: dict[str, int], *, rds_paths: dict[str, str],
                     access_log_path: str, reuse_port: bool = True) -> list[JSONDict]:
    """One outbound listener per service port: ``0.0.0.0_80`` on its local port, routes from RDS ``"80"``
    (read from ``rds_paths[port]``: Envoy's file-based RDS holds one route configuration per file).

    ``reuse_port=False`` sets ``enable_reuse_port: false``: one accept socket shared by the workers, as
    Envoy before 1.20 (Istio <= 1.11) had, instead of the kernel hashing each connection to one worker.
    """
    listeners = [http_listener(f"0.0.0.0_{port}", local, stat_prefix=f"outbound_0.0.0.0_{port}",
                               route_config_name=port, rds_path=rds_paths[port],
                               access_log=[file_access_log(access_log_path)])
                 for port, local in sorted(listener_ports.items())]
    if not reuse_port:
        for listener in listeners:
            listener["enable_reuse_port"] = False
    return listeners


def _inbound_name(port: int) -> str:
    return f"inbound|{port}||"


def inbound_clusters(translated: list[JSONDict] | None, *, container_port: int,
                     app_port: int) -> list[JSONDict]:
    """The pod's inbound clusters, each pointed at the app on ``127.0.0.1:app_port``.

    When no Service selects the pod, translate gives none and the pod still serves through a default
    ``inbound|<port>||`` cluster with Istio's default (unlimited) thresholds.
    """
    clusters = copy.deepcopy(translated or [])
    if not clusters:
        clusters = [{"name": _inbound_name(container_port), "type": "STATIC",
                     "connect_timeout": defaults.ISTIO_CONNECT_TIMEOUT,
                     "circuit_breakers": {"thresholds": [defaults.circuit_breaker_thresholds()]}}]
    for c in clusters:
        # The app runs on its own port next to the sidecar; point every inbound cluster at it.
        c["type"] = "STATIC"
        c.pop("eds_cluster_config", None)
        c["load_assignment"] = {"cluster_name": c["name"], "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": app_port}}}}]}]}
    return clusters


def inbound_listener(clusters: list[JSONDict], *, port: int, container_port: int,
                     secrets: SecretSource | None = None) -> JSONDict:
    """The pod's inbound listener on ``127.0.0.1:port``: everything to its ``inbound|<container_port>||``.

    With ``secrets`` (the pod's certificate source) the listener serves Istio's default PeerAuthentication,
    PERMISSIVE: a sidecar client's mTLS (client certificate required and verified against the mesh root) and
    plaintext (a DestinationRule's ``tls.mode: DISABLE``), each chain with the same HTTP filters.
    """
    names = [c["name"] for c in clusters]
    target = _inbound_name(container_port)
    cluster = target if target in names else names[0]
    # BuildDefaultHTTPInboundRoute: no timeout, and (Istio >= 1.24) two retries of a request the app never
    # saw; an overflow of the inbound breaker is never retried (Envoy retries no overflow).
    action = {"cluster": cluster, "timeout": "0s",
              "max_stream_duration": {"max_stream_duration": "0s", "grpc_timeout_header_max": "0s"},
              "retry_policy": {"retry_on": defaults.ISTIO_INBOUND_RETRY_ON,
                               "num_retries": defaults.ISTIO_INBOUND_NUM_RETRIES}}
    route_config = {"name": f"inbound|{container_port}||", "virtual_hosts": [{
        "name": f"inbound|http|{container_port}", "domains": ["*"],
        "routes": [{"name": "default", "match": {"prefix": "/"}, "route": action}]}]}
    listener = http_listener(f"virtualInbound_{container_port}", port,
                             stat_prefix=f"inbound_0.0.0.0_{container_port}",
                             route_config=route_config)
    if secrets is not None:
        filters = listener["filter_chains"][0]["filters"]
        listener["filter_chains"] = [{**chain, "filters": copy.deepcopy(filters)}
                                     for chain in build_inbound_tls(secrets, mode="PERMISSIVE")]
        listener["listener_filters"] = [copy.deepcopy(TLS_INSPECTOR)]
    return listener
