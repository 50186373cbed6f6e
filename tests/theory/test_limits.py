"""Breaker limits read from Envoy config: which limit applies where (istio-to-envoy.md §4)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from lablib.theory import (
    UNLIMITED,
    ClusterLimits,
    cluster_limits,
    limit_band,
    limits_for,
    overflow_onset,
    theoretical_limit,
)

V1 = "outbound|80|v1|service-go.default.svc.cluster.local"
V2 = "outbound|80|v2|service-go.default.svc.cluster.local"
DEFAULT = "outbound|80||service-go.default.svc.cluster.local"


Make = Callable[..., dict]


@pytest.fixture
def istio_task_cluster(make_cluster: Make) -> Make:
    """The Istio task's DR as Envoy gets it: 1 connection, 1 pending, no keep-alive; v1 and v2 endpoints."""
    def build(name: str = DEFAULT, endpoints: int = 2) -> dict:
        return make_cluster(name, max_connections=1, max_pending_requests=1, max_requests_per_connection=1,
                            endpoints=endpoints)
    return build


def test_http1_in_flight_is_min_of_connections_and_requests_and_pending_queues(make_cluster: Make) -> None:
    lim = cluster_limits(make_cluster(V1, max_connections=10, max_requests=10, max_pending_requests=10))
    assert (lim.in_flight, lim.queue, lim.admitted) == (10, 10, 20)
    assert not lim.http2


def test_http1_limited_by_max_requests_rejects_instead_of_queueing(make_cluster: Make) -> None:
    # More connections allowed than requests: the excess attaches and overflows max_requests, never waits.
    lim = cluster_limits(make_cluster(V1, max_connections=10, max_requests=5, max_pending_requests=7))
    assert lim.in_flight == 5
    assert lim.max_pending_requests == 7 and lim.queue == 0 and lim.admitted == 5


def test_http2_in_flight_is_max_requests_and_nothing_queues(make_cluster: Make) -> None:
    lim = cluster_limits(make_cluster(V1, max_connections=1, max_requests=10, max_pending_requests=4,
                                       http2=True))
    assert lim.http2
    assert (lim.in_flight, lim.queue, lim.admitted) == (10, 0, 10)
    assert lim.admitted_high == 10  # per-worker connection slack does not add HTTP/2 streams


def test_istio_unset_threshold_2_to_the_32_minus_1_means_unlimited(make_cluster: Make) -> None:
    lim = cluster_limits(make_cluster(DEFAULT))
    assert lim.max_connections == math.inf and lim.in_flight == math.inf and lim.admitted == math.inf
    assert lim.max_requests_per_connection == math.inf
    assert theoretical_limit([lim]) == math.inf


def test_absent_thresholds_fall_back_to_envoy_defaults(make_cluster: Make) -> None:
    cluster = make_cluster(V1)
    del cluster["circuit_breakers"]
    lim = cluster_limits(cluster)
    assert (lim.max_connections, lim.max_pending_requests, lim.max_requests) == (1024, 1024, 1024)


def test_istio_task_rule_and_envoy_slack(istio_task_cluster: Make) -> None:
    lim = cluster_limits(istio_task_cluster(), workers=1)
    assert (lim.in_flight, lim.queue, lim.admitted) == (1, 1, 2)
    assert lim.endpoints == 2 and lim.max_requests_per_connection == 1 and not lim.reuses_connections
    # One worker: only an empty pool may pass the limit, so each of the 2 endpoints may hold one connection.
    assert lim.slack_connections == 2 and lim.admitted_high == 3
    # Without keep-alive a request holds a pending slot while its connection comes up: at worst 1 admitted.
    assert lim.admitted_low == 1
    assert limit_band([lim]) == (1, 3)
    # Several workers: Envoy's documented bound, max_connections + endpoints × workers.
    assert cluster_limits(istio_task_cluster(), workers=4).slack_connections == 1 + 2 * 4
    assert cluster_limits(istio_task_cluster(endpoints=1), workers=1).slack_connections == 1


def test_seed_rule_slack_turns_queueing_into_503s_only_with_several_workers(make_cluster: Make) -> None:
    # The seed's DR: 10 connections, 10 requests, pending unset (2^32-1): the exact breaker never rejects.
    seed = make_cluster(V1, max_connections=10, max_requests=10, max_requests_per_connection=10)
    one, two = cluster_limits(seed, workers=1), cluster_limits(seed, workers=2)
    assert one.admitted == math.inf and theoretical_limit([one]) == math.inf
    assert not one.slack_exceeds_max_requests and one.admitted_low == math.inf
    # With 2 workers a slack connection carries an 11th stream, which max_requests rejects (measured: 503s).
    assert two.slack_exceeds_max_requests and two.admitted_low == 10 and two.admitted_high == math.inf


def test_a_requests_bound_may_be_passed_by_one_per_other_worker_for_a_moment(make_cluster: Make) -> None:
    # Envoy checks max_requests, then counts the request, on a count all workers share
    # (envoy.breaker.check-then-increment): a sampled upstream_rq_active may read the bound + workers - 1.
    requests_bound = make_cluster(V1, max_connections=5, max_requests=5, max_requests_per_connection=10)
    two, four = cluster_limits(requests_bound, workers=2), cluster_limits(requests_bound, workers=4)
    assert (two.in_flight_high, two.in_flight_race) == (5, 1)
    assert four.in_flight_race == 3
    assert cluster_limits(requests_bound, workers=1).in_flight_race == 0  # one worker: no race
    # A connection bound (HTTP/1.1: one request per connection) has its slack already: nothing more.
    connection_bound = make_cluster(V1, max_connections=3, max_requests=5, max_requests_per_connection=10)
    lim = cluster_limits(connection_bound, workers=2)
    assert (lim.in_flight_high, lim.in_flight_race) == (5, 0)
    h2 = cluster_limits(make_cluster(V1, max_connections=1, max_requests=5, http2=True), workers=2)
    assert (h2.in_flight_high, h2.in_flight_race) == (5, 1)


def test_the_pending_queue_may_be_passed_by_one_per_other_worker_for_a_moment(make_cluster: Make) -> None:
    # lab 03's workers rule: 10 connections, 10 waiting, requests unlimited. The pending count is checked
    # (newStreamImpl) before the pending stream counts itself, on a count all workers share.
    rule = make_cluster(V1, max_connections=10, max_pending_requests=10, max_requests_per_connection=10)
    one, four = cluster_limits(rule, workers=1), cluster_limits(rule, workers=4)
    assert (one.admitted_high, one.admitted_race) == (20, 0)
    assert (four.admitted_high, four.in_flight_race, four.admitted_race) == (24, 0, 3)
    seed = make_cluster(V1, max_connections=5, max_requests=5, max_pending_requests=1,
                        max_requests_per_connection=10)
    assert cluster_limits(seed, workers=2).admitted_race == 2  # both counts race: in flight and waiting


def test_limits_for_reads_weighted_clusters_and_normalizes_weights(make_cluster: Make,
                                                                    make_routes: Make) -> None:
    config = {
        "outbound_clusters": [make_cluster(V1, max_connections=10, max_requests=10, max_pending_requests=10),
                              make_cluster(V2, max_connections=10, max_requests=10, max_pending_requests=10)],
        "outbound_routes": [make_routes("service-go", [(V1, 80), (V2, 20)])],
    }
    limits = limits_for(config, "service-go", port=80, workers=1)
    assert [(lim.cluster, lim.weight) for lim in limits] == [(V1, 0.8), (V2, 0.2)]
    # L is the aggregate capacity; the onset is where the heavier cluster overflows first.
    assert theoretical_limit(limits) == 40
    assert overflow_onset(limits) == pytest.approx(20 / 0.8)


def test_limits_for_single_destination_and_fqdn_host(make_routes: Make, istio_task_cluster: Make) -> None:
    config = {"outbound_clusters": [istio_task_cluster()],
              "outbound_routes": [make_routes("service-go", [(DEFAULT, 100)])]}
    for host in ("service-go", "service-go.default.svc.cluster.local"):
        (lim,) = limits_for(config, host)
        assert lim.cluster == DEFAULT and lim.weight == 1.0 and lim.workers == 2


def test_limits_for_uses_mesh_config_route_clusters_when_present(istio_task_cluster: Make) -> None:
    class Mesh:  # the MeshConfig contract: route_clusters decides the route
        def __init__(self) -> None:
            self.outbound_clusters = [istio_task_cluster(V1), istio_task_cluster(V2)]
            self.outbound_routes: list[dict] = []

        def route_clusters(self, host: str, port: int | None = None) -> list[tuple[str, int]]:
            return [(V1, 50), (V2, 50)]

    limits = limits_for(Mesh(), "service-go", workers=1)
    assert [lim.weight for lim in limits] == [0.5, 0.5]
    assert theoretical_limit(limits) == 4 == overflow_onset(limits)


def test_limits_for_errors_name_what_is_missing(make_routes: Make) -> None:
    config = {"outbound_clusters": [], "outbound_routes": [make_routes("service-go", [(V1, 100)])]}
    with pytest.raises(LookupError, match=r"uses cluster 'outbound\|80\|v1\|"):
        limits_for(config, "service-go")
    with pytest.raises(LookupError, match="no outbound route for host 'httpbin'"):
        limits_for(config, "httpbin")  # the '*' PassthroughCluster vhost is never taken for a named host
    with pytest.raises(ValueError, match="workers"):
        limits_for(config, "service-go", workers=0)


def test_zero_weight_cluster_adds_nothing() -> None:
    a = ClusterLimits("a", 1.0, 2, 3, UNLIMITED, math.inf, False, 1, 1)
    b = ClusterLimits("b", 0.0, 5, 5, UNLIMITED, math.inf, False, 1, 1)
    assert theoretical_limit([a, b]) == 5 and overflow_onset([a, b]) == 5


def test_reads_lower_camel_case_as_istioctl_yaml_writes_it() -> None:
    # proto3 JSON parsers accept both names; istioctl-style YAML (and lab.proxy_config) uses lowerCamelCase.
    cluster = {
        "name": DEFAULT, "lbPolicy": "LEAST_REQUEST",
        "circuitBreakers": {"thresholds": [{"maxConnections": 1, "maxPendingRequests": 1,
                                            "maxRequests": UNLIMITED, "maxRetries": UNLIMITED}]},
        "typedExtensionProtocolOptions": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "commonHttpProtocolOptions": {"maxRequestsPerConnection": 1},
            "explicitHttpConfig": {"http2ProtocolOptions": {}}}},
        "loadAssignment": {"endpoints": [{"lbEndpoints": [{}, {}, {}]}]},
    }
    lim = cluster_limits(cluster, workers=1)
    assert (lim.max_connections, lim.max_pending_requests, lim.max_requests) == (1, 1, math.inf)
    assert lim.max_requests_per_connection == 1 and lim.http2 and lim.endpoints == 3
    assert lim.lb_policy == "LEAST_REQUEST"
