"""DestinationRule trafficPolicy -> Envoy cluster fields: every row of the reference's §1 and §2 tables.

Each case goes through ``translate()`` with the seed's Service and reads ``outbound|80||service-go...``.
"""

from __future__ import annotations

from typing import Any

import pytest
from translate_helpers import DEFAULT, SERVICE, V1, V2, dr, seed_endpoints

from lablib.translate import translate
from lablib.translate.defaults import HTTP_PROTOCOL_OPTIONS_KEY, MAX_UINT32
from lablib.translate.traffic_policy import istio_uint_is_set


def outbound(
    policy: dict[str, Any] | None, *, port_name: str = "http", name: str = DEFAULT, **kw: Any
) -> dict:
    service = {**SERVICE, "spec": {**SERVICE["spec"], "ports": [{"name": port_name, "port": 80}]}}
    objects: list[Any] = [service]
    if policy is not None:
        objects.append(
            dr(
                {
                    "host": "service-go",
                    "trafficPolicy": policy,
                    "subsets": [{"name": "v1", "labels": {"version": "v1"}}],
                }
            )
        )
    return translate(objects, seed_endpoints(), **kw).cluster(name)


def thresholds(cluster: dict) -> dict:
    (entry,) = cluster["circuit_breakers"]["thresholds"]  # exactly one entry
    return entry


def http_options(cluster: dict) -> dict | None:
    return cluster.get("typed_extension_protocol_options", {}).get(HTTP_PROTOCOL_OPTIONS_KEY)


DEFAULTS = {
    "max_connections": MAX_UINT32,
    "max_pending_requests": MAX_UINT32,
    "max_requests": MAX_UINT32,
    "max_retries": MAX_UINT32,
    "track_remaining": False,
}

# (test name, connectionPool, expected thresholds[0] overrides)
THRESHOLD_CASES = [
    ("no connectionPool block: Istio's 2^32-1 on all four", None, {}),
    ("empty connectionPool: still 2^32-1 on all four", {}, {}),
    ("tcp.maxConnections -> max_connections", {"tcp": {"maxConnections": 10}}, {"max_connections": 10}),
    (
        "http.http1MaxPendingRequests -> max_pending_requests",
        {"http": {"http1MaxPendingRequests": 1}},
        {"max_pending_requests": 1},
    ),
    (
        "http.http2MaxRequests -> max_requests (HTTP/1.1 too)",
        {"http": {"http2MaxRequests": 10}},
        {"max_requests": 10},
    ),
    ("http.maxRetries -> max_retries", {"http": {"maxRetries": 3}}, {"max_retries": 3}),
    ("0 means unset: http1MaxPendingRequests 0 gives 2^32-1", {"http": {"http1MaxPendingRequests": 0}}, {}),
    ("0 means unset: maxConnections 0 gives 2^32-1", {"tcp": {"maxConnections": 0}}, {}),
    (
        "0 means unset: http2MaxRequests 0 and maxRetries 0 give 2^32-1",
        {"http": {"http2MaxRequests": 0, "maxRetries": 0}},
        {},
    ),
    (
        "the seed's pool: 10 connections, 10 requests, pending unlimited",
        {"tcp": {"maxConnections": 10}, "http": {"http2MaxRequests": 10, "maxRequestsPerConnection": 10}},
        {"max_connections": 10, "max_requests": 10},
    ),
]


@pytest.mark.parametrize(
    ("pool", "expected"), [c[1:] for c in THRESHOLD_CASES], ids=[c[0] for c in THRESHOLD_CASES]
)
def test_connection_pool_thresholds(pool: dict | None, expected: dict) -> None:
    cluster = outbound({} if pool is None else {"connectionPool": pool})
    assert thresholds(cluster) == {**DEFAULTS, **expected}
    assert "priority" not in thresholds(cluster)  # DEFAULT priority; HIGH keeps Envoy's 1024s


def test_every_outbound_cluster_has_istio_defaults_even_without_a_destination_rule() -> None:
    config = translate([SERVICE], seed_endpoints())
    assert [c["name"] for c in config.outbound_clusters] == [DEFAULT]
    cluster = config.cluster(DEFAULT)
    assert thresholds(cluster) == DEFAULTS
    assert cluster["connect_timeout"] == "10s"
    assert cluster["lb_policy"] == "LEAST_REQUEST"
    assert cluster["type"] == "STATIC"
    assert cluster["@type"] == "type.googleapis.com/envoy.config.cluster.v3.Cluster"
    assert "outlier_detection" not in cluster
    assert "healthy_panic_threshold" not in cluster["common_lb_config"]
    assert http_options(cluster) is None  # an `http` port is HTTP/1.1, Envoy's default: nothing to say


def test_track_remaining_can_be_turned_on_for_the_remaining_gauges() -> None:
    config = translate(
        [SERVICE, dr({"host": "service-go", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]})],
        seed_endpoints(),
        track_remaining=True,
    )
    assert all(thresholds(c)["track_remaining"] is True for c in config.outbound_clusters)
    assert all(
        thresholds(c)["track_remaining"] is True for cs in config.inbound_clusters.values() for c in cs
    )


# (test name, connectionPool, port name, expected HttpProtocolOptions or None, expected other cluster fields)
OPTION_CASES = [
    (
        "http.maxRequestsPerConnection -> common options, explicit HTTP/1.1",
        {"http": {"maxRequestsPerConnection": 10}},
        "http",
        {
            "common_http_protocol_options": {"max_requests_per_connection": 10},
            "explicit_http_config": {"http_protocol_options": {}},
        },
        {},
    ),
    (
        "http.maxRequestsPerConnection 1 disables keep-alive (the Istio task)",
        {"http": {"maxRequestsPerConnection": 1}},
        "http",
        {
            "common_http_protocol_options": {"max_requests_per_connection": 1},
            "explicit_http_config": {"http_protocol_options": {}},
        },
        {},
    ),
    (
        "http.idleTimeout -> idle_timeout",
        {"http": {"idleTimeout": "30s"}},
        "http",
        {
            "common_http_protocol_options": {"idle_timeout": "30s"},
            "explicit_http_config": {"http_protocol_options": {}},
        },
        {},
    ),
    (
        "tcp.idleTimeout -> idle_timeout when http.idleTimeout is unset",
        {"tcp": {"idleTimeout": "1m"}},
        "http",
        {
            "common_http_protocol_options": {"idle_timeout": "60s"},
            "explicit_http_config": {"http_protocol_options": {}},
        },
        {},
    ),
    (
        "http.idleTimeout wins over tcp.idleTimeout",
        {"tcp": {"idleTimeout": "1m"}, "http": {"idleTimeout": "5s"}},
        "http",
        {
            "common_http_protocol_options": {"idle_timeout": "5s"},
            "explicit_http_config": {"http_protocol_options": {}},
        },
        {},
    ),
    (
        "tcp.maxConnectionDuration -> max_connection_duration",
        {"tcp": {"maxConnectionDuration": "1h"}},
        "http",
        {
            "common_http_protocol_options": {"max_connection_duration": "3600s"},
            "explicit_http_config": {"http_protocol_options": {}},
        },
        {},
    ),
    (
        "tcp.connectTimeout -> connect_timeout in proto3 JSON",
        {"tcp": {"connectTimeout": "30ms"}},
        "http",
        None,
        {"connect_timeout": "0.030s"},
    ),
    (
        "tcp.tcpKeepalive -> tcp_keepalive in whole seconds",
        {"tcp": {"tcpKeepalive": {"probes": 3, "time": "2m", "interval": "75s"}}},
        "http",
        None,
        {
            "upstream_connection_options": {
                "tcp_keepalive": {"keepalive_probes": 3, "keepalive_time": 120, "keepalive_interval": 75}
            }
        },
    ),
    (
        "h2UpgradePolicy UPGRADE -> http2_protocol_options",
        {"http": {"h2UpgradePolicy": "UPGRADE"}},
        "http",
        {"explicit_http_config": {"http2_protocol_options": {}}},
        {},
    ),
    (
        "h2UpgradePolicy DEFAULT follows the mesh: DO_NOT_UPGRADE",
        {"http": {"h2UpgradePolicy": "DEFAULT"}},
        "http",
        None,
        {},
    ),
    (
        "h2UpgradePolicy UPGRADE wins even on a tcp port",
        {"http": {"h2UpgradePolicy": "UPGRADE"}},
        "tcp",
        {"explicit_http_config": {"http2_protocol_options": {}}},
        {},
    ),
    (
        "maxConcurrentStreams is ignored on an HTTP/1.1 cluster",
        {"http": {"maxConcurrentStreams": 7}},
        "http",
        {"common_http_protocol_options": {}, "explicit_http_config": {"http_protocol_options": {}}},
        {},
    ),
    (
        "maxConcurrentStreams applies to an http2 port",
        {"http": {"maxConcurrentStreams": 7}},
        "http2",
        {
            "explicit_http_config": {"http2_protocol_options": {"max_concurrent_streams": 7}},
            "common_http_protocol_options": {},
        },
        {},
    ),
    (
        "maxConcurrentStreams applies to a cluster upgraded by h2UpgradePolicy (Istio >= 1.28)",
        {"http": {"maxConcurrentStreams": 7, "h2UpgradePolicy": "UPGRADE"}},
        "http",
        {
            "common_http_protocol_options": {},
            "explicit_http_config": {"http2_protocol_options": {"max_concurrent_streams": 7}},
        },
        {},
    ),
    (
        "useClientProtocol -> use_downstream_protocol_config, and no upgrade",
        {"http": {"useClientProtocol": True, "h2UpgradePolicy": "UPGRADE"}},
        "http",
        {"use_downstream_protocol_config": {"http_protocol_options": {}, "http2_protocol_options": {}}},
        {},
    ),
    (
        "an unnamed port is sniffed: use_downstream_protocol_config",
        {},
        "",
        {"use_downstream_protocol_config": {"http_protocol_options": {}, "http2_protocol_options": {}}},
        {},
    ),
    ("a grpc port talks HTTP/2", {}, "grpc", {"explicit_http_config": {"http2_protocol_options": {}}}, {}),
]


@pytest.mark.parametrize(
    ("pool", "port_name", "options", "fields"),
    [c[1:] for c in OPTION_CASES],
    ids=[c[0] for c in OPTION_CASES],
)
def test_connection_pool_options(pool: dict, port_name: str, options: dict | None, fields: dict) -> None:
    cluster = outbound({"connectionPool": pool}, port_name=port_name)
    got = http_options(cluster)
    if options is None:
        assert got is None
    else:
        assert got is not None
        assert (
            got.pop("@type") == "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
        )
        assert got == options
    for key, value in fields.items():
        assert cluster[key] == value
    if "connect_timeout" not in fields:
        assert cluster["connect_timeout"] == "10s"


# (test name, outlierDetection, expected outlier_detection, expected panic threshold)
OUTLIER_CASES = [
    ("empty block: success-rate off and panic threshold 0 only", {}, {"enforcing_success_rate": 0}, 0),
    (
        "consecutive5xxErrors -> consecutive_5xx enforced 100",
        {"consecutive5xxErrors": 3},
        {"enforcing_success_rate": 0, "consecutive_5xx": 3, "enforcing_consecutive_5xx": 100},
        0,
    ),
    (
        "consecutive5xxErrors 0 switches the 5xx detector off",
        {"consecutive5xxErrors": 0},
        {"enforcing_success_rate": 0, "consecutive_5xx": 0, "enforcing_consecutive_5xx": 0},
        0,
    ),
    (
        "consecutiveGatewayErrors -> consecutive_gateway_failure enforced 100",
        {"consecutiveGatewayErrors": 2},
        {
            "enforcing_success_rate": 0,
            "consecutive_gateway_failure": 2,
            "enforcing_consecutive_gateway_failure": 100,
        },
        0,
    ),
    (
        "consecutiveGatewayErrors 0 -> enforcing 0",
        {"consecutiveGatewayErrors": 0},
        {
            "enforcing_success_rate": 0,
            "consecutive_gateway_failure": 0,
            "enforcing_consecutive_gateway_failure": 0,
        },
        0,
    ),
    (
        "consecutiveErrors is ignored (Istio >= 1.7)",
        {"consecutiveErrors": 3},
        {"enforcing_success_rate": 0},
        0,
    ),
    (
        "interval and baseEjectionTime in proto3 JSON (3m -> 180s)",
        {"interval": "3s", "baseEjectionTime": "3m"},
        {"enforcing_success_rate": 0, "interval": "3s", "base_ejection_time": "180s"},
        0,
    ),
    (
        "maxEjectionPercent 100 -> max_ejection_percent",
        {"maxEjectionPercent": 100},
        {"enforcing_success_rate": 0, "max_ejection_percent": 100},
        0,
    ),
    (
        "maxEjectionPercent 0 means unset (Envoy's 10%)",
        {"maxEjectionPercent": 0},
        {"enforcing_success_rate": 0},
        0,
    ),
    (
        "minHealthPercent -> healthy_panic_threshold",
        {"minHealthPercent": 30},
        {"enforcing_success_rate": 0},
        30,
    ),
    (
        "splitExternalLocalOriginErrors with consecutiveLocalOriginFailures",
        {"splitExternalLocalOriginErrors": True, "consecutiveLocalOriginFailures": 4},
        {
            "enforcing_success_rate": 0,
            "split_external_local_origin_errors": True,
            "consecutive_local_origin_failure": 4,
            "enforcing_consecutive_local_origin_failure": 100,
            "enforcing_local_origin_success_rate": 0,
        },
        0,
    ),
    (
        "the seed's outlier block: consecutiveErrors dropped, times converted",
        {"consecutiveErrors": 3, "interval": "3s", "baseEjectionTime": "3m", "maxEjectionPercent": 100},
        {
            "enforcing_success_rate": 0,
            "interval": "3s",
            "base_ejection_time": "180s",
            "max_ejection_percent": 100,
        },
        0,
    ),
]


@pytest.mark.parametrize(
    ("outlier", "expected", "panic"), [c[1:] for c in OUTLIER_CASES], ids=[c[0] for c in OUTLIER_CASES]
)
def test_outlier_detection(outlier: dict, expected: dict, panic: int) -> None:
    cluster = outbound({"outlierDetection": outlier})
    assert cluster["outlier_detection"] == expected
    assert cluster["common_lb_config"]["healthy_panic_threshold"] == {"value": panic}


@pytest.mark.parametrize(
    ("lb", "expected"),
    [
        ({"simple": "ROUND_ROBIN"}, {"lb_policy": "ROUND_ROBIN"}),
        ({"simple": "LEAST_CONN"}, {"lb_policy": "LEAST_REQUEST"}),
        ({"simple": "RANDOM"}, {"lb_policy": "RANDOM"}),
        (
            {"simple": "LEAST_REQUEST", "warmupDurationSecs": "10s"},
            {
                "lb_policy": "LEAST_REQUEST",
                "least_request_lb_config": {"slow_start_config": {"slow_start_window": "10s"}},
            },
        ),
        (
            {"consistentHash": {"ringHash": {"minimumRingSize": 2048}}},
            {"lb_policy": "RING_HASH", "ring_hash_lb_config": {"minimum_ring_size": "2048"}},
        ),
        (
            {"consistentHash": {"httpHeaderName": "x-user", "minimumRingSize": 64}},
            {"lb_policy": "RING_HASH", "ring_hash_lb_config": {"minimum_ring_size": "64"}},
        ),
    ],
    ids=[
        "ROUND_ROBIN",
        "LEAST_CONN is Envoy's LEAST_REQUEST",
        "RANDOM",
        "warmup -> slow start",
        "ring hash",
        "the deprecated minimumRingSize without ringHash",
    ],
)
def test_load_balancer(lb: dict, expected: dict) -> None:
    cluster = outbound({"loadBalancer": lb})
    for key, value in expected.items():
        assert cluster[key] == value


def test_ring_hash_without_a_size_keeps_envoys_default_and_ignores_the_deprecated_field() -> None:
    cluster = outbound({"loadBalancer": {"consistentHash": {"ringHash": {}, "minimumRingSize": 64}}})
    assert cluster["lb_policy"] == "RING_HASH"
    assert "ring_hash_lb_config" not in cluster  # Envoy's 1024, as ApplyRingHashLoadBalancer leaves it


# --- precedence: subsets and port-level settings --------------------------------------------------

SEED_POOL = {"tcp": {"maxConnections": 10}, "http": {"http2MaxRequests": 10}}
OUTLIER = {"consecutive5xxErrors": 3}


def subset_clusters(spec: dict) -> dict[str, dict]:
    config = translate([SERVICE, dr({"host": "service-go", **spec})], seed_endpoints())
    return {c["name"]: c for c in config.outbound_clusters}


def test_subset_without_policy_inherits_the_rule_policy() -> None:
    clusters = subset_clusters(
        {
            "trafficPolicy": {"connectionPool": SEED_POOL, "outlierDetection": OUTLIER},
            "subsets": [{"name": "v1", "labels": {"version": "v1"}}],
        }
    )
    assert thresholds(clusters[V1])["max_connections"] == 10
    assert clusters[V1]["outlier_detection"]["consecutive_5xx"] == 3
    # Separate clusters: the same limits, but their own counters in Envoy (ref §3).
    assert clusters[V1]["circuit_breakers"] == clusters[DEFAULT]["circuit_breakers"]
    assert clusters[V1]["circuit_breakers"] is not clusters[DEFAULT]["circuit_breakers"]


def test_dr_connection_pool_overrides_outlier_inherited() -> None:
    clusters = subset_clusters(
        {
            "trafficPolicy": {"connectionPool": SEED_POOL, "outlierDetection": OUTLIER},
            "subsets": [
                {
                    "name": "v1",
                    "labels": {"version": "v1"},
                    "trafficPolicy": {"connectionPool": {"http": {"http2MaxRequests": 2}}},
                }
            ],
        }
    )
    # The subset's pool replaces the rule's whole pool: maxConnections is NOT inherited.
    assert thresholds(clusters[V1]) == {**DEFAULTS, "max_requests": 2}
    assert clusters[V1]["outlier_detection"]["consecutive_5xx"] == 3
    assert thresholds(clusters[DEFAULT])["max_connections"] == 10  # the default cluster keeps the rule's pool


def test_subset_outlier_overrides_pool_inherited() -> None:
    clusters = subset_clusters(
        {
            "trafficPolicy": {"connectionPool": SEED_POOL, "outlierDetection": OUTLIER},
            "subsets": [
                {
                    "name": "v1",
                    "labels": {"version": "v1"},
                    "trafficPolicy": {"outlierDetection": {"consecutiveGatewayErrors": 1}},
                }
            ],
        }
    )
    assert thresholds(clusters[V1])["max_connections"] == 10
    assert "consecutive_5xx" not in clusters[V1]["outlier_detection"]
    assert clusters[V1]["outlier_detection"]["consecutive_gateway_failure"] == 1


def test_port_level_settings_replace_the_top_level_without_inheriting() -> None:
    clusters = subset_clusters(
        {
            "trafficPolicy": {
                "connectionPool": SEED_POOL,
                "outlierDetection": OUTLIER,
                "portLevelSettings": [
                    {"port": {"number": 80}, "connectionPool": {"http": {"http2MaxRequests": 5}}}
                ],
            }
        }
    )
    assert thresholds(clusters[DEFAULT]) == {**DEFAULTS, "max_requests": 5}
    assert "outlier_detection" not in clusters[DEFAULT]  # not inherited from the top level


def test_port_level_settings_for_another_port_are_ignored() -> None:
    clusters = subset_clusters(
        {
            "trafficPolicy": {
                "connectionPool": SEED_POOL,
                "portLevelSettings": [
                    {"port": {"number": 9090}, "connectionPool": {"http": {"http2MaxRequests": 5}}}
                ],
            }
        }
    )
    assert thresholds(clusters[DEFAULT])["max_requests"] == 10


def test_subset_port_level_settings_win_over_everything() -> None:
    clusters = subset_clusters(
        {
            "trafficPolicy": {"connectionPool": SEED_POOL, "outlierDetection": OUTLIER},
            "subsets": [
                {
                    "name": "v1",
                    "labels": {"version": "v1"},
                    "trafficPolicy": {
                        "portLevelSettings": [
                            {"port": {"number": 80}, "connectionPool": {"tcp": {"maxConnections": 1}}}
                        ]
                    },
                }
            ],
        }
    )
    assert thresholds(clusters[V1]) == {**DEFAULTS, "max_connections": 1}
    assert "outlier_detection" not in clusters[V1]


def test_each_subset_cluster_holds_only_its_pods() -> None:
    clusters = subset_clusters(
        {
            "subsets": [
                {"name": "v1", "labels": {"version": "v1"}},
                {"name": "v2", "labels": {"version": "v2"}},
            ]
        }
    )

    def ports(name: str) -> list[int]:
        groups = clusters[name]["load_assignment"]["endpoints"]
        return [
            e["endpoint"]["address"]["socket_address"]["port_value"]
            for g in groups
            for e in g["lb_endpoints"]
        ]

    assert ports(DEFAULT) == [15101, 15102]  # the pods' sidecar ports, not the apps'
    assert ports(V1) == [15101]
    assert ports(V2) == [15102]


# --- the 0-means-unset rule --------------------------------------------------------


@pytest.mark.parametrize(("value", "is_set"), [(None, False), (0, False), (1, True), (4294967295, True)])
def test_istio_treats_zero_as_unset(value: int | None, is_set: bool) -> None:
    assert istio_uint_is_set(value) is is_set


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        ({}, {"budget_percent": {"value": 20.0}, "min_retry_concurrency": 3}),
        (
            {"percent": 25, "minRetryConcurrency": 5},
            {"budget_percent": {"value": 25.0}, "min_retry_concurrency": 5},
        ),
        ({"minRetryConcurrency": 0}, {"budget_percent": {"value": 20.0}, "min_retry_concurrency": 3}),
        ({"percent": 0}, {"budget_percent": {"value": 0.0}, "min_retry_concurrency": 3}),
    ],
    ids=[
        "Istio 1.30's defaults: 20 percent, 3 retries",
        "percent and minRetryConcurrency",
        "0 concurrency means unset",
        "an explicit 0 percent is kept (a DoubleValue)",
    ],
)
def test_retry_budget(budget: dict, expected: dict) -> None:
    cluster = outbound({"retryBudget": budget})
    assert thresholds(cluster)["retry_budget"] == expected
    assert thresholds(cluster)["max_retries"] == MAX_UINT32  # still there; Envoy lets the budget win


def test_no_retry_budget_unless_configured() -> None:
    assert "retry_budget" not in thresholds(outbound({"connectionPool": {"http": {"maxRetries": 3}}}))
