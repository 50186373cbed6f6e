"""The Sidecar resource's inbound connection pool on a server pod's ``inbound|<port>||`` cluster, as Istio
1.30 builds it. Istio's own expectations (pilot/pkg/model/sidecar_test.go, TestInboundConnectionPoolForPort:
no settings -> nil for every port; a port's settings for that port only; top-level settings for every port;
a port's settings override the top level) and ``buildInboundCluster``'s precedence over the DestinationRule
(the Sidecar's pool replaces the DR's whole ``connectionPool``; the client side keeps the DR's)."""

from __future__ import annotations

from typing import Any

import pytest
from translate_helpers import DEFAULT, SERVICE, dr, envoy_validate, seed_endpoints, static_bootstrap

from lablib.translate import translate
from lablib.translate.defaults import MAX_UINT32
from lablib.translate.model import Endpoint, Object
from lablib.translate.sidecar import inbound_connection_pool, sidecar_for

TOP = {"tcp": {"maxConnections": 1024}, "http": {"http1MaxPendingRequests": 1024, "http2MaxRequests": 1024}}
OVERRIDE = {"http": {"http1MaxPendingRequests": 1, "http2MaxRequests": 2}}
HTTP80 = {"number": 80, "protocol": "HTTP", "name": "http"}
HTTPS443 = {"number": 443, "protocol": "HTTPS", "name": "https"}


def sidecar(spec: dict[str, Any], name: str = "sidecar", namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


@pytest.mark.parametrize(("spec", "want"), [
    ({}, {22: None, 80: None, 443: None}),  # "no settings"
    ({"ingress": [{"port": HTTP80}, {"port": HTTPS443}]}, {22: None, 80: None, 443: None}),
    ({"ingress": [{"port": HTTP80, "connectionPool": TOP}]}, {22: None, 80: TOP, 443: None}),
    ({"inboundConnectionPool": TOP, "ingress": [{"port": HTTP80}]}, {22: TOP, 80: TOP, 443: TOP}),
    ({"inboundConnectionPool": TOP, "ingress": [{"port": HTTP80, "connectionPool": OVERRIDE}]},
     {22: TOP, 80: OVERRIDE, 443: TOP}),
], ids=["no settings", "no settings multiple ports", "single port with settings", "top level settings",
        "port settings override top level"])
def test_inbound_connection_pool_for_port_as_istios_own_test(spec: dict[str, Any],
                                                             want: dict[int, Any]) -> None:
    scope = Object(sidecar(spec), "default")
    assert {port: inbound_connection_pool(scope, port) for port in want} == want


def _thresholds(config: Any, pod: str = "service-go-v1-0") -> dict[str, Any]:
    (cluster,) = config.inbound_clusters[pod]
    return dict(cluster["circuit_breakers"]["thresholds"][0])


def test_the_sidecar_pool_replaces_the_dr_pool_on_the_server_side_only() -> None:
    rule = dr({"host": "service-go", "trafficPolicy": {
        "connectionPool": {"tcp": {"maxConnections": 100}, "http": {"http2MaxRequests": 100}}}})
    server = sidecar({"workloadSelector": {"labels": {"app": "service-go"}},
                      "inboundConnectionPool": {"tcp": {"maxConnections": 5}}})
    config = translate([SERVICE, rule, server], seed_endpoints())
    inbound = _thresholds(config)
    # Replaced whole, not merged: the DR's http2MaxRequests does not survive on the inbound cluster.
    assert inbound["max_connections"] == 5 and inbound["max_requests"] == MAX_UINT32
    client = config.cluster(DEFAULT)["circuit_breakers"]["thresholds"][0]
    assert client["max_connections"] == 100 and client["max_requests"] == 100  # the clients keep the DR's


def test_a_port_pool_beats_the_top_level_pool_and_without_a_dr_the_sidecar_alone_applies() -> None:
    server = sidecar({"inboundConnectionPool": {"tcp": {"maxConnections": 7}},
                      "ingress": [{"port": HTTP80, "defaultEndpoint": "127.0.0.1:80",
                                   "connectionPool": {"http": {"http2MaxRequests": 3}}}]})
    config = translate([SERVICE, server], seed_endpoints())
    for pod in ("service-go-v1-0", "service-go-v2-0"):  # no selector: every pod of the namespace
        inbound = _thresholds(config, pod)
        assert inbound["max_requests"] == 3 and inbound["max_connections"] == MAX_UINT32
    assert config.cluster(DEFAULT)["circuit_breakers"]["thresholds"][0]["max_requests"] == MAX_UINT32


def test_a_selecting_sidecar_beats_the_namespace_one_and_other_namespaces_do_not_count() -> None:
    everyone = sidecar({"inboundConnectionPool": {"tcp": {"maxConnections": 9}}}, name="default")
    v1_only = sidecar({"workloadSelector": {"labels": {"version": "v1"}},
                       "inboundConnectionPool": {"tcp": {"maxConnections": 1}}}, name="v1")
    elsewhere = sidecar({"inboundConnectionPool": {"tcp": {"maxConnections": 2}}}, namespace="other")
    config = translate([SERVICE, everyone, v1_only, elsewhere], seed_endpoints())
    assert _thresholds(config, "service-go-v1-0")["max_connections"] == 1
    assert _thresholds(config, "service-go-v2-0")["max_connections"] == 9
    pod = Endpoint("x", "other", {"app": "service-go"}, "127.0.0.1", 1, 2)
    found = sidecar_for(pod, [Object(everyone, "default"), Object(elsewhere, "default")])
    assert found is not None and found.namespace == "other"


def test_envoy_accepts_the_inbound_cluster_a_sidecar_configures() -> None:
    server = sidecar({"workloadSelector": {"labels": {"app": "service-go"}},
                      "inboundConnectionPool": {"tcp": {"maxConnections": 2},
                                                "http": {"http1MaxPendingRequests": 1,
                                                         "http2MaxRequests": 2, "maxRetries": 3}}})
    config = translate([SERVICE, server], seed_endpoints())
    assert _thresholds(config)["max_retries"] == 3
    result = envoy_validate(static_bootstrap(config, pod="service-go-v1-0"))
    assert result.returncode == 0, result.stderr
