"""Whole clusters from the lab's manifests, the server side's inbound clusters, and the readable views."""

from __future__ import annotations

import yaml
from translate_helpers import (
    DEFAULT,
    FQDN,
    OUTLIER_DR,
    SEED_DR,
    SERVICE,
    SERVICE_GO,
    TASK_DR,
    V1,
    V2,
    dr,
    load,
    seed_endpoints,
)

from lablib.translate import Endpoint, render_yaml, summary_table, translate
from lablib.translate._render import format_table
from lablib.translate.defaults import MAX_UINT32

# The reference's §7: what Istio >= 1.29 generates for the seed's DR, subset v1 (minus fidelity items).
SECTION_7_V1 = yaml.safe_load("""
name: "outbound|80|v1|service-go.default.svc.cluster.local"
type: STATIC
connect_timeout: 10s
lb_policy: LEAST_REQUEST
circuit_breakers:
  thresholds:
  - max_connections: 10
    max_pending_requests: 4294967295
    max_requests: 10
    max_retries: 4294967295
    track_remaining: false
typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    common_http_protocol_options: {max_requests_per_connection: 10}
    explicit_http_config: {http_protocol_options: {}}
outlier_detection:
  {enforcing_success_rate: 0, interval: 3s, base_ejection_time: 180s, max_ejection_percent: 100}
common_lb_config: {healthy_panic_threshold: {value: 0}}
load_assignment: {cluster_name: "outbound|80|v1|service-go.default.svc.cluster.local",
  endpoints: [{lb_endpoints: [
  {endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 15101}}}}]}]}
""")


def test_the_seed_rule_gives_the_reference_cluster_for_subset_v1() -> None:
    config = translate(load(SERVICE_GO, SEED_DR), seed_endpoints())
    cluster = dict(config.cluster(V1))
    assert cluster.pop("@type") == "type.googleapis.com/envoy.config.cluster.v3.Cluster"
    metadata = cluster.pop("metadata")
    assert cluster == SECTION_7_V1
    assert metadata["filter_metadata"]["istio"]["config"].endswith(
        "/namespaces/default/destination-rule/service-go"
    )
    assert [c["name"] for c in config.outbound_clusters] == [DEFAULT, V1, V2]
    assert config.warnings == []  # consecutiveErrors: the validator warns (load), the translation does not


def test_the_istio_task_rule_limits_one_connection_and_one_pending_request() -> None:
    config = translate(load(SERVICE_GO, TASK_DR), seed_endpoints())
    for name in (DEFAULT, V1, V2):
        cluster = config.cluster(name)
        assert cluster["circuit_breakers"]["thresholds"][0] == {
            "max_connections": 1,
            "max_pending_requests": 1,
            "max_requests": MAX_UINT32,
            "max_retries": MAX_UINT32,
            "track_remaining": False,
        }
        options = cluster["typed_extension_protocol_options"][
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
        ]
        assert options["common_http_protocol_options"] == {"max_requests_per_connection": 1}
        assert cluster["outlier_detection"] == {
            "enforcing_success_rate": 0,
            "consecutive_5xx": 1,
            "enforcing_consecutive_5xx": 100,
            "interval": "1s",
            "base_ejection_time": "180s",
            "max_ejection_percent": 100,
        }


def test_the_outlier_rule_ejects_after_three_5xx_and_keeps_istio_pool_defaults() -> None:
    config = translate(load(SERVICE_GO, OUTLIER_DR), seed_endpoints())
    cluster = config.cluster(V2)
    assert cluster["outlier_detection"]["consecutive_5xx"] == 3
    assert cluster["outlier_detection"]["base_ejection_time"] == "15s"
    assert cluster["circuit_breakers"]["thresholds"][0]["max_connections"] == MAX_UINT32
    assert "typed_extension_protocol_options" not in cluster


def test_pods_and_deployments_in_the_objects_are_ignored() -> None:
    objects = load(SERVICE_GO)
    assert {getattr(o, "body", o)["kind"] for o in objects} >= {"Service", "Deployment"}
    assert [c["name"] for c in translate(objects, seed_endpoints()).outbound_clusters] == [DEFAULT]


def test_endpoints_in_another_namespace_or_with_other_labels_are_not_selected() -> None:
    strangers = [
        Endpoint("other-ns", "lab", {"app": "service-go"}, "127.0.0.1", 15201, 18201),
        Endpoint("other-app", "default", {"app": "fortio"}, "127.0.0.1", 15202, 18202),
    ]
    config = translate([SERVICE], seed_endpoints() + strangers)
    groups = config.cluster(DEFAULT)["load_assignment"]["endpoints"]
    assert [
        e["endpoint"]["address"]["socket_address"]["port_value"] for g in groups for e in g["lb_endpoints"]
    ] == [15101, 15102]
    assert set(config.inbound_clusters) == {"service-go-v1-0", "service-go-v2-0"}


# --- server side ----------------------------------------------------------------------------------

POOL = {"tcp": {"maxConnections": 10}, "http": {"http2MaxRequests": 10, "maxRequestsPerConnection": 10}}


def test_inbound_cluster_carries_the_dr_connection_pool_but_not_outlier_detection() -> None:
    config = translate(load(SERVICE_GO, SEED_DR), seed_endpoints())
    (cluster,) = config.inbound_clusters["service-go-v1-0"]
    assert cluster["name"] == "inbound|80||"
    assert cluster["circuit_breakers"]["thresholds"][0]["max_connections"] == 10
    assert cluster["circuit_breakers"]["thresholds"][0]["max_requests"] == 10
    assert "outlier_detection" not in cluster
    assert "common_lb_config" not in cluster  # no panic threshold, no load balancing on the server side
    assert cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"] == {
        "socket_address": {"address": "127.0.0.1", "port_value": 18081}
    }  # the app, behind the pod's sidecar


def test_inbound_cluster_ignores_subset_policies() -> None:
    rule = dr(
        {
            "host": "service-go",
            "trafficPolicy": {"connectionPool": POOL},
            "subsets": [
                {
                    "name": "v1",
                    "labels": {"version": "v1"},
                    "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 1}}},
                }
            ],
        }
    )
    config = translate([SERVICE, rule], seed_endpoints())
    assert config.cluster(V1)["circuit_breakers"]["thresholds"][0]["max_connections"] == 1
    (inbound,) = config.inbound_clusters["service-go-v1-0"]
    assert inbound["circuit_breakers"]["thresholds"][0]["max_connections"] == 10


def test_inbound_cluster_without_a_rule_has_istio_defaults() -> None:
    config = translate([SERVICE], seed_endpoints())
    (inbound,) = config.inbound_clusters["service-go-v2-0"]
    assert inbound["circuit_breakers"]["thresholds"][0]["max_connections"] == MAX_UINT32
    assert inbound["connect_timeout"] == "10s"


def test_inbound_cluster_is_named_after_the_target_port() -> None:
    service = {
        **SERVICE,
        "spec": {**SERVICE["spec"], "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }
    config = translate([service], seed_endpoints())
    assert [c["name"] for c in config.inbound_clusters["service-go-v1-0"]] == ["inbound|8080||"]


def test_a_pod_without_app_port_has_no_sidecar_and_no_inbound_cluster() -> None:
    bare = Endpoint("bare", "default", {"app": "service-go", "version": "v1"}, "127.0.0.1", 18300)
    config = translate([SERVICE], [bare])
    assert config.inbound_clusters == {}
    assert (
        config.cluster(DEFAULT)["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
            "socket_address"
        ]["port_value"]
        == 18300
    )


# --- readable views -------------------------------------------------------------------------------


def test_render_yaml_reads_like_istioctl_proxy_config() -> None:
    config = translate(load(SERVICE_GO, SEED_DR), seed_endpoints())
    text = render_yaml(config.cluster(V1))
    (shown,) = yaml.safe_load(text)
    assert "@type" not in shown  # istioctl shows the cluster itself, not its Any wrapper
    assert shown["circuitBreakers"]["thresholds"][0]["maxConnections"] == 10
    assert shown["outlierDetection"]["baseEjectionTime"] == "180s"
    assert shown["typedExtensionProtocolOptions"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"][
        "commonHttpProtocolOptions"
    ] == {"maxRequestsPerConnection": 10}
    assert list(shown) == sorted(shown)
    whole = yaml.safe_load(render_yaml(config))
    assert [c["name"] for c in whole] == [DEFAULT, V1, V2]


def test_render_yaml_envoy_style_is_the_config_file_form() -> None:
    config = translate(load(SERVICE_GO, SEED_DR), seed_endpoints())
    (shown,) = yaml.safe_load(render_yaml([config.cluster(V1)], style="envoy"))
    assert shown == config.cluster(V1)


def test_summary_table_has_istioctl_columns() -> None:
    config = translate(load(SERVICE_GO, SEED_DR), seed_endpoints())
    rows = summary_table(config)
    assert rows[1] == {
        "SERVICE FQDN": FQDN,
        "PORT": 80,
        "SUBSET": "v1",
        "DIRECTION": "outbound",
        "TYPE": "STATIC",
        "DESTINATION RULE": "service-go.default",
    }
    assert rows[0]["SUBSET"] == "-"
    inbound = summary_table(config, pod="service-go-v1-0")
    assert inbound[0]["DIRECTION"] == "inbound" and inbound[0]["PORT"] == 80
    text = format_table(rows)
    assert text.splitlines()[0].split() == [
        "SERVICE",
        "FQDN",
        "PORT",
        "SUBSET",
        "DIRECTION",
        "TYPE",
        "DESTINATION",
        "RULE",
    ]
    assert len(text.splitlines()) == 4


def test_a_later_object_with_the_same_name_replaces_the_earlier_like_kubectl_apply() -> None:
    # The book's canary files ship a DestinationRule `service-go` without trafficPolicy: applying one after
    # the breaker rule silently removes the breaker.
    canary = dr({"host": "service-go", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]})
    config = translate([*load(SERVICE_GO, SEED_DR), canary], seed_endpoints())
    assert config.cluster(V1)["circuit_breakers"]["thresholds"][0]["max_connections"] == MAX_UINT32
    assert [c["name"] for c in config.outbound_clusters] == [DEFAULT, V1]


def test_two_rules_for_one_host_use_the_first() -> None:
    first = dr(
        {"host": "service-go", "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 3}}}}, "a"
    )
    second = dr(
        {"host": "service-go", "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 4}}}}, "b"
    )
    config = translate([SERVICE, first, second], seed_endpoints())
    assert config.cluster(DEFAULT)["circuit_breakers"]["thresholds"][0]["max_connections"] == 3
    assert config.warnings == []  # the validator warns (manifests.checks.two_rules), once


def test_a_rule_for_an_unknown_host_changes_nothing() -> None:
    config = translate([SERVICE, dr({"host": "service-go.default"})], seed_endpoints())
    assert config.cluster(DEFAULT)["circuit_breakers"]["thresholds"][0]["max_connections"] == MAX_UINT32
    assert config.warnings == []  # the validator warns (manifests.checks.unknown_host), once
