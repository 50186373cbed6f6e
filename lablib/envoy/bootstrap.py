"""Envoy bootstrap and xDS files for sidecars configured from files, the way istiod would push them.

Each sidecar boots with ``dynamic_resources.cds_config`` / ``lds_config`` pointing at files
(``path_config_source``); listeners take routes from an RDS file. Writing a new file to a temporary name and
renaming it over the watched path makes the running Envoy load it (checked on 1.40, see
``docs/reference/measured-envoy-1.40.md``): no restart, like an xDS push.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from lablib._types import JSONDict

__all__ = ["ADMIN_SOCKET_MODE", "CLUSTER_TYPE", "LISTENER_TYPE", "ROUTE_TYPE", "admin_address", "bootstrap",
           "discovery_response", "file_source",
           "http_listener", "write_atomic"]

CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
_HCM_TYPE = ("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
             "HttpConnectionManager")
_ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def file_source(path: str | os.PathLike[str]) -> JSONDict:
    """A ``ConfigSource`` reading a discovery file; Envoy reloads it when a file is renamed over that path."""
    return {"resource_api_version": "V3", "path_config_source": {"path": str(path)}}


#: The admin socket's permissions: owner read/write only (Envoy chmods the socket after binding it).
ADMIN_SOCKET_MODE = 0o600


def admin_address(socket_path: str | os.PathLike[str] | None) -> JSONDict:
    """Envoy's admin address: a Unix socket only the owner may connect to, or (without one) 127.0.0.1 on an
    ephemeral port, which every local user can reach."""
    if socket_path is None:
        return {"socket_address": {"address": "127.0.0.1", "port_value": 0}}
    return {"pipe": {"path": str(socket_path), "mode": ADMIN_SOCKET_MODE}}


def bootstrap(node_id: str, *, cds_path: str | os.PathLike[str], lds_path: str | os.PathLike[str],
              cluster: str = "lablib", admin_socket: str | os.PathLike[str] | None = None) -> JSONDict:
    """A sidecar bootstrap: node identity, CDS and LDS from files, admin on ``admin_socket`` (a path relative
    to Envoy's working directory fits ``sun_path`` whatever the lab's depth)."""
    return {
        "node": {"id": node_id, "cluster": cluster},
        "dynamic_resources": {"cds_config": file_source(cds_path), "lds_config": file_source(lds_path)},
        "admin": {"address": admin_address(admin_socket)},
        # Istio's proxies run with overload protection off and no runtime layers; keep Envoy's defaults here.
        "layered_runtime": {"layers": [{"name": "static", "static_layer": {}}]},
    }


def discovery_response(resources: Iterable[JSONDict], type_url: str, version: str) -> JSONDict:
    """The file content Envoy expects for ``path_config_source``: a DiscoveryResponse."""
    return {"version_info": version, "type_url": type_url,
            "resources": [{"@type": type_url, **r} for r in resources]}


def http_listener(name: str, port: int, *, stat_prefix: str, route_config_name: str | None = None,
                  rds_path: str | os.PathLike[str] | None = None, route_config: JSONDict | None = None,
                  access_log: list[JSONDict] | None = None) -> JSONDict:
    """A listener on ``127.0.0.1:port`` with an HTTP connection manager and the router filter.

    Routes come from an RDS file (``rds_path`` + ``route_config_name``) or inline (``route_config``).
    """
    hcm: JSONDict = {
        "@type": _HCM_TYPE,
        "stat_prefix": stat_prefix,
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER_TYPE}}],
        # Istio sets these on sidecar listeners: keep the client's request id, never trust forwarded headers.
        "use_remote_address": False,
        "normalize_path": True,
    }
    if route_config is not None:
        hcm["route_config"] = route_config
    else:
        hcm["rds"] = {"route_config_name": route_config_name, "config_source": file_source(rds_path)}  # type: ignore[arg-type]
    if access_log:
        hcm["access_log"] = access_log
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                        "typed_config": hcm}]}],
    }


def write_atomic(path: str | os.PathLike[str], data: JSONDict | str) -> None:
    """Write ``data`` (JSON-able or text) to ``path`` by renaming a temp file over it: readers never see
    half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    text = data if isinstance(data, str) else json.dumps(data, indent=1, sort_keys=False)
    tmp.write_text(text)
    os.replace(tmp, path)
