"""Istio's names: FQDNs, cluster names, virtual host domains (durations: tests/test_duration.py)."""

from __future__ import annotations

import pytest

from lablib.translate import build_inbound_key, build_subset_key, fqdn, parse_subset_key
from lablib.translate.names import virtual_host_domains


@pytest.mark.parametrize(
    ("host", "namespace", "expected"),
    [
        ("service-go", "default", "service-go.default.svc.cluster.local"),
        ("service-go", "lab", "service-go.lab.svc.cluster.local"),
        ("service-go.default.svc.cluster.local", "lab", "service-go.default.svc.cluster.local"),
        # Istio takes any dotted name as fully qualified: this one matches no Service (as in Istio).
        ("service-go.default", "default", "service-go.default"),
        ("*", "default", "*"),
    ],
    ids=[
        "short name in its namespace",
        "short name in another namespace",
        "FQDN kept",
        "dotted short form kept as Istio does",
        "wildcard kept",
    ],
)
def test_fqdn_resolves_short_names_like_istio(host: str, namespace: str, expected: str) -> None:
    assert fqdn(host, namespace, "cluster.local") == expected


def test_fqdn_uses_the_cluster_domain() -> None:
    assert fqdn("service-go", "default", "lab.local") == "service-go.default.svc.lab.local"


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (
            ("outbound", 80, "v1", "service-go.default.svc.cluster.local"),
            "outbound|80|v1|service-go.default.svc.cluster.local",
        ),
        (
            ("outbound", 80, None, "service-go.default.svc.cluster.local"),
            "outbound|80||service-go.default.svc.cluster.local",
        ),
        (
            ("outbound", 8000, "", "httpbin.default.svc.cluster.local"),
            "outbound|8000||httpbin.default.svc.cluster.local",
        ),
    ],
    ids=["subset cluster", "default cluster (no subset)", "the Istio task's httpbin"],
)
def test_build_subset_key_round_trips(args: tuple, name: str) -> None:
    assert build_subset_key(*args) == name
    key = parse_subset_key(name)
    assert (key.direction, key.port, key.subset or None, key.fqdn) == (
        args[0],
        args[1],
        args[2] or None,
        args[3],
    )


def test_inbound_key_is_istio_short_form() -> None:
    assert build_inbound_key(80) == "inbound|80||"
    assert parse_subset_key("inbound|80||").direction == "inbound"


def test_parse_rejects_what_is_not_a_cluster_name() -> None:
    with pytest.raises(ValueError, match="not an Istio cluster name"):
        parse_subset_key("service-go")


def test_virtual_host_domains_add_the_port_to_each_name() -> None:
    assert virtual_host_domains("service-go", "default", 80) == [
        "service-go.default.svc.cluster.local",
        "service-go.default.svc.cluster.local:80",
        "service-go",
        "service-go:80",
        "service-go.default.svc",
        "service-go.default.svc:80",
        "service-go.default",
        "service-go.default:80",
    ]


def test_the_bare_short_name_is_only_for_clients_in_the_same_namespace() -> None:
    assert "service-go" not in virtual_host_domains("service-go", "lab", 80, proxy_namespace="default")
