"""Shared builders for the theory tests: Envoy v3 cluster and route dicts written by hand, as the translator
emits them (proto3-JSON snake_case), so the theory is tested without depending on the translator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

UNLIMITED = 2**32 - 1
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def envoy_cluster(
    name: str,
    *,
    max_connections: int = UNLIMITED,
    max_pending_requests: int = UNLIMITED,
    max_requests: int = UNLIMITED,
    max_requests_per_connection: int | None = None,
    http2: bool = False,
    endpoints: int = 1,
    lb_policy: str = "LEAST_REQUEST",
) -> dict[str, Any]:
    """An outbound cluster the way Istio writes it: one DEFAULT thresholds entry, explicit HTTP protocol."""
    common: dict[str, Any] = {}
    if max_requests_per_connection is not None:
        common["max_requests_per_connection"] = max_requests_per_connection
    protocol = {"http2_protocol_options": {}} if http2 else {"http_protocol_options": {}}
    return {
        "name": name,
        "type": "STATIC",
        "lb_policy": lb_policy,
        "circuit_breakers": {"thresholds": [{
            "max_connections": max_connections, "max_pending_requests": max_pending_requests,
            "max_requests": max_requests, "max_retries": UNLIMITED}]},
        "typed_extension_protocol_options": {HTTP_OPTIONS: {
            "@type": "type.googleapis.com/" + HTTP_OPTIONS,
            "common_http_protocol_options": common,
            "explicit_http_config": protocol}},
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9000 + i}}}}
            for i in range(endpoints)]}]},
    }


def route_config(host: str, clusters: list[tuple[str, int]], *, port: int = 80) -> dict[str, Any]:
    """A RouteConfiguration named after the port, one virtual host for ``host``, like Istio's."""
    fqdn = f"{host}.default.svc.cluster.local"
    if len(clusters) == 1:
        action: dict[str, Any] = {"cluster": clusters[0][0], "timeout": "0s"}
    else:
        action = {"weighted_clusters": {"clusters": [{"name": n, "weight": w} for n, w in clusters]},
                  "timeout": "0s"}
    return {"name": str(port), "virtual_hosts": [
        {"name": "allow_any", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "route": {"cluster": "PassthroughCluster"}}]},
        {"name": f"{fqdn}:{port}", "domains": [host, f"{host}:{port}", fqdn, f"{fqdn}:{port}"],
         "routes": [{"match": {"prefix": "/"}, "route": action}]},
    ]}


@pytest.fixture
def make_cluster() -> Callable[..., dict[str, Any]]:
    """``envoy_cluster`` as a fixture (test modules cannot import conftest under --import-mode=importlib)."""
    return envoy_cluster


@pytest.fixture
def make_routes() -> Callable[..., dict[str, Any]]:
    """``route_config`` as a fixture."""
    return route_config
