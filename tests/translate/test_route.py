"""VirtualServices -> RouteConfigurations (ref §3): weights, defaults for timeout and retries, matches."""

from __future__ import annotations

from typing import Any

import pytest
from translate_helpers import (
    DEFAULT,
    FQDN,
    SEED_DR,
    SERVICE,
    SERVICE_GO,
    V1,
    V2,
    VS_50_50,
    VS_SEED,
    dr,
    load,
    seed_endpoints,
    vs,
)

from lablib.translate import translate
from lablib.translate.defaults import retry_policy

SUBSETS = dr(
    {
        "host": "service-go",
        "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}],
    }
)
PREVIOUS_HOSTS_TYPE = (
    "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
)
ISTIO_DEFAULT_RETRIES = {
    "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
    "num_retries": 2,
    "retry_host_predicate": [
        {
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {"@type": PREVIOUS_HOSTS_TYPE},
        }
    ],
    "host_selection_retry_max_attempts": "5",
}


def routes(*objects: Any) -> list[dict]:
    config = translate([SERVICE, *objects], seed_endpoints())
    (vhost,) = config.route_configuration(80)["virtual_hosts"]
    return vhost["routes"]


def http(*route: dict, **fields: Any) -> dict:
    return vs({"hosts": ["service-go"], "http": [{"route": list(route), **fields}]})


def to(subset: str | None = None, weight: int | None = None, host: str = "service-go") -> dict:
    dest: dict[str, Any] = {"destination": {"host": host, **({"subset": subset} if subset else {})}}
    return {**dest, **({"weight": weight} if weight is not None else {})}


def test_the_default_retry_policy_is_istios() -> None:
    assert retry_policy() == ISTIO_DEFAULT_RETRIES
    assert "retriable_status_codes" not in retry_policy()  # no code listed: application 5xx are not retried


def test_a_service_without_virtual_service_gets_istios_default_route() -> None:
    config = translate([SERVICE], seed_endpoints())
    (route_config,) = config.outbound_routes
    assert route_config["name"] == "80"
    (vhost,) = route_config["virtual_hosts"]
    assert vhost["name"] == f"{FQDN}:80"
    assert {"service-go", "service-go:80", "service-go.default", FQDN, f"{FQDN}:80"} <= set(vhost["domains"])
    (route,) = vhost["routes"]
    assert route["match"] == {"prefix": "/"}
    assert route["route"] == {"cluster": DEFAULT, "timeout": "0s", "max_grpc_timeout": "0s",
                              "retry_policy": ISTIO_DEFAULT_RETRIES}
    assert config.route_clusters("service-go") == [(DEFAULT, 100)]


def test_the_seeds_virtual_service_routes_to_the_subsetless_cluster() -> None:
    config = translate(load(SERVICE_GO, VS_SEED), seed_endpoints())
    assert config.route_clusters("service-go") == [(DEFAULT, 100)]
    (route,) = config.route_configuration(80)["virtual_hosts"][0]["routes"]
    assert route["route"]["timeout"] == "0s"
    assert route["route"]["retry_policy"] == ISTIO_DEFAULT_RETRIES


def test_the_50_50_virtual_service_becomes_weighted_clusters() -> None:
    config = translate(load(SERVICE_GO, SEED_DR, VS_50_50), seed_endpoints())
    (route,) = config.route_configuration(80)["virtual_hosts"][0]["routes"]
    assert route["route"]["weighted_clusters"] == {
        "clusters": [{"name": V1, "weight": 50}, {"name": V2, "weight": 50}]
    }
    assert "total_weight" not in route["route"]["weighted_clusters"]  # deprecated; Envoy sums the weights
    assert config.route_clusters("service-go", 80) == [(V1, 50), (V2, 50)]
    assert config.route_clusters(FQDN) == [(V1, 50), (V2, 50)]


# (test name, VirtualService http entry fields, expected route action subset)
ROUTE_CASES = [
    ("one destination -> route.cluster", [to("v1")], {}, {"cluster": V1}),
    ("one destination with a weight -> still route.cluster", [to("v1", 100)], {}, {"cluster": V1}),
    ("weight 0 destinations are dropped", [to("v1", 100), to("v2", 0)], {}, {"cluster": V1}),
    (
        "70/30 weights kept as given",
        [to("v1", 70), to("v2", 30)],
        {},
        {"weighted_clusters": {"clusters": [{"name": V1, "weight": 70}, {"name": V2, "weight": 30}]}},
    ),
    (
        "weights need not add up to 100",
        [to("v1", 1), to("v2", 3)],
        {},
        {"weighted_clusters": {"clusters": [{"name": V1, "weight": 1}, {"name": V2, "weight": 3}]}},
    ),
    ("no timeout -> 0s (never)", [to()], {}, {"timeout": "0s"}),
    ("timeout honoured", [to()], {"timeout": "2.5s"}, {"timeout": "2.500s"}),
    ("no retries -> Istio's default policy", [to()], {}, {"retry_policy": ISTIO_DEFAULT_RETRIES}),
    (
        "retries honoured: attempts, perTryTimeout, retryOn with a code",
        [to()],
        {"retries": {"attempts": 3, "perTryTimeout": "1s", "retryOn": "5xx,503"}},
        {
            "retry_policy": {
                **ISTIO_DEFAULT_RETRIES,
                "num_retries": 3,
                "retry_on": "5xx,retriable-status-codes",
                "retriable_status_codes": [503],
                "per_try_timeout": "1s",
            }
        },
    ),
    (
        "retries attempts 0 -> no retry policy at all",
        [to()],
        {"retries": {"attempts": 0}},
        {"retry_policy": None},
    ),
    (
        "destination port picks the cluster port",
        [{"destination": {"host": "service-go", "port": {"number": 80}}}],
        {},
        {"cluster": DEFAULT},
    ),
]


@pytest.mark.parametrize(
    ("route", "fields", "expected"), [c[1:] for c in ROUTE_CASES], ids=[c[0] for c in ROUTE_CASES]
)
def test_virtual_service_route(route: list, fields: dict, expected: dict) -> None:
    (envoy_route,) = routes(SUBSETS, http(*route, **fields))
    for key, value in expected.items():
        assert envoy_route["route"].get(key) == value
    if "cluster" in expected:
        assert "weighted_clusters" not in envoy_route["route"]


# (test name, VirtualService match list, expected Envoy matches)
MATCH_CASES = [
    ("no match -> prefix /", None, [{"prefix": "/"}]),
    ("uri prefix", [{"uri": {"prefix": "/env"}}], [{"prefix": "/env"}]),
    ("uri exact -> path", [{"uri": {"exact": "/status"}}], [{"path": "/status"}]),
    ("uri regex -> safe_regex", [{"uri": {"regex": "/e.*"}}], [{"safe_regex": {"regex": "/e.*"}}]),
    (
        "headers exact",
        [{"headers": {"X-User": {"exact": "jason"}}}],
        [{"prefix": "/", "headers": [{"name": "x-user", "string_match": {"exact": "jason"}}]}],
    ),
    (
        "two matches -> two routes with the same action",
        [{"uri": {"prefix": "/a"}}, {"uri": {"prefix": "/b"}}],
        [{"prefix": "/a"}, {"prefix": "/b"}],
    ),
    (
        "a match for another port is skipped",
        [{"port": 8080, "uri": {"prefix": "/a"}}, {"uri": {"prefix": "/b"}}],
        [{"prefix": "/b"}],
    ),
    (
        "ignoreUriCase",
        [{"uri": {"prefix": "/Env"}, "ignoreUriCase": True}],
        [{"prefix": "/Env", "case_sensitive": False}],
    ),
]


@pytest.mark.parametrize(("match", "expected"), [c[1:] for c in MATCH_CASES], ids=[c[0] for c in MATCH_CASES])
def test_virtual_service_match(match: list | None, expected: list) -> None:
    fields = {"match": match} if match is not None else {}
    got = routes(SUBSETS, http(to("v1"), **fields))
    assert [r["match"] for r in got] == expected
    assert all(r["route"]["cluster"] == V1 for r in got)


def test_routes_are_tried_in_order_and_route_clusters_follows_the_path() -> None:
    config = translate(
        [
            SERVICE,
            SUBSETS,
            vs(
                {
                    "hosts": ["service-go"],
                    "http": [
                        {"match": [{"uri": {"prefix": "/env"}}], "route": [to("v2")]},
                        {"route": [to("v1")]},
                    ],
                }
            ),
        ],
        seed_endpoints(),
    )
    assert config.route_clusters("service-go", path="/env") == [(V2, 100)]
    assert config.route_clusters("service-go", path="/status") == [(V1, 100)]
    assert config.route_clusters("service-go") == [(V2, 100)]  # the first route


def test_short_hosts_resolve_in_the_virtual_services_namespace() -> None:
    lab_service = {**SERVICE, "metadata": {"name": "service-go", "namespace": "lab"}}
    config = translate(
        [lab_service, vs({"hosts": ["service-go"], "http": [{"route": [to()]}]}, namespace="lab")],
        [],
        namespace="default",
    )
    lab_fqdn = "service-go.lab.svc.cluster.local"
    assert config.route_clusters(lab_fqdn) == [(f"outbound|80||{lab_fqdn}", 100)]
    vhost = config.route_configuration(80)["virtual_hosts"][0]
    assert "service-go" not in vhost["domains"]  # a client in `default` means its own namespace by that name


def test_a_virtual_service_bound_to_gateways_only_does_not_reach_sidecars() -> None:
    (route,) = routes(
        SUBSETS, vs({"hosts": ["service-go"], "gateways": ["ingress"], "http": [{"route": [to("v1")]}]})
    )
    assert route["route"]["cluster"] == DEFAULT


def test_a_route_to_an_undefined_subset_is_kept_as_istio_keeps_it() -> None:
    # The validator refuses it (manifests.checks.subset_undefined); Istio pushes it, Envoy answers 503 NC.
    config = translate([SERVICE, http(to("v3"))], seed_endpoints())
    assert config.route_clusters("service-go") == [(f"outbound|80|v3|{FQDN}", 100)]
    assert config.warnings == []


def test_fault_abort_becomes_per_route_fault_config() -> None:
    (route,) = routes(
        SUBSETS, http(to("v1"), fault={"abort": {"percentage": {"value": 50}, "httpStatus": 500}})
    )
    fault = route["typed_per_filter_config"]["envoy.filters.http.fault"]
    assert fault["abort"] == {
        "http_status": 500,
        "percentage": {"numerator": 500000, "denominator": "MILLION"},
    }
