"""Istio's mTLS between sidecars as pure translation (``cluster_tls.go``, ``BuildInboundTLS``): which socket
each cluster gets, with which certificate names, ALPN, SNI and SANs, and the server's filter chains."""

from __future__ import annotations

from typing import Any

import pytest
from translate_helpers import SERVICE, dr, seed_endpoints

from lablib.translate import Endpoint, MeshTls, build_inbound_tls, file_secrets, translate
from lablib.translate.tls import ALL_ISTIO_MTLS_ALPNS

FQDN = "service-go.default.svc.cluster.local"
SECRETS = file_secrets("/run/lab/fortio")
MESH_TLS = MeshTls(SECRETS)
SUBSETS = [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]
IDENTITIES = ["spiffe://cluster.local/ns/default/sa/default"]  # both seed pods run as `default`


def clusters(policy: dict[str, Any] | None = None, *, mtls: MeshTls | None = MESH_TLS, **spec: Any) -> dict:
    rule = dr(
        {"host": "service-go", "subsets": SUBSETS, **({"trafficPolicy": policy} if policy else {}), **spec}
    )
    config = translate([SERVICE, rule], seed_endpoints(), mtls=mtls)
    return {c["name"]: c for c in config.outbound_clusters}


def tls_context(socket: dict) -> dict:
    assert socket["name"] == "envoy.transport_sockets.tls"
    return socket["typed_config"]


def socket_kind(cluster: dict) -> str:
    """``auto`` (Istio's two transport-socket matches), ``istio-mutual`` (one TLS socket) or ``plaintext``."""
    if "transport_socket_matches" in cluster:
        assert "transport_socket" not in cluster
        return "auto"
    return "istio-mutual" if "transport_socket" in cluster else "plaintext"


def test_auto_mtls_gives_istio_transport_socket_matches_tls_for_sidecars_plaintext_fallback() -> None:
    cluster = clusters()[f"outbound|80|v1|{FQDN}"]
    tls_match, plain_match = cluster["transport_socket_matches"]
    assert tls_match["name"] == "tlsMode-istio"
    assert tls_match["match"] == {"tlsMode": "istio"}
    assert plain_match == {
        "name": "tlsMode-disabled",
        "match": {},
        "transport_socket": {
            "name": "envoy.transport_sockets.raw_buffer",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
            },
        },
    }
    context = tls_context(tls_match["transport_socket"])
    assert context["sni"] == f"outbound_.80_.v1_.{FQDN}"
    common = context["common_tls_context"]
    assert common["alpn_protocols"] == ["istio-peer-exchange", "istio"]
    assert common["tls_params"] == {
        "tls_minimum_protocol_version": "TLSv1_2",
        "tls_maximum_protocol_version": "TLSv1_3",
    }
    assert common["tls_certificate_sds_secret_configs"] == [
        {
            "name": "default",
            "sds_config": {
                "path_config_source": {"path": "/run/lab/fortio/default.json"},
                "resource_api_version": "V3",
            },
        }
    ]
    validation = common["combined_validation_context"]
    assert validation["default_validation_context"] == {"match_subject_alt_names": [{"exact": IDENTITIES[0]}]}
    assert validation["validation_context_sds_secret_config"]["name"] == "ROOTCA"
    assert validation["validation_context_sds_secret_config"]["sds_config"]["path_config_source"] == {
        "path": "/run/lab/fortio/ROOTCA.json"
    }


def test_endpoints_of_pods_with_a_sidecar_carry_tls_mode_istio() -> None:
    pods = [
        Endpoint(
            "service-go-v1-0", "default", {"app": "service-go", "version": "v1"}, "127.0.0.1", 15101, 18081
        ),
        Endpoint(
            "service-go-v1-1", "default", {"app": "service-go", "version": "v1"}, "127.0.0.1", 18082, None
        ),
    ]
    config = translate([SERVICE], pods, mtls=MESH_TLS)
    (locality,) = config.cluster(f"outbound|80||{FQDN}")["load_assignment"]["endpoints"]
    by_port = {e["endpoint"]["address"]["socket_address"]["port_value"]: e for e in locality["lb_endpoints"]}
    assert by_port[15101]["metadata"] == {
        "filter_metadata": {"envoy.transport_socket_match": {"tlsMode": "istio"}}
    }
    assert "metadata" not in by_port[18082]  # no sidecar: the plaintext fallback serves it


def test_the_sans_are_the_service_accounts_of_the_pods_behind_the_service_sorted_once() -> None:
    labels = {"app": "service-go"}
    pods = [
        Endpoint("a", "default", labels, "127.0.0.1", 1, 2, service_account="service-go"),
        Endpoint("b", "default", labels, "127.0.0.1", 3, 4, service_account="service-go"),
        Endpoint("c", "default", labels, "127.0.0.1", 5, 6, service_account="canary"),
    ]
    config = translate([SERVICE], pods, mtls=MeshTls(SECRETS, trust_domain="lab.local"))
    (match, _) = config.cluster(f"outbound|80||{FQDN}")["transport_socket_matches"]
    sans = tls_context(match["transport_socket"])["common_tls_context"]["combined_validation_context"]
    assert sans["default_validation_context"]["match_subject_alt_names"] == [
        {"exact": "spiffe://lab.local/ns/default/sa/canary"},
        {"exact": "spiffe://lab.local/ns/default/sa/service-go"},
    ]


# (test name, trafficPolicy, {cluster subset: expected socket kind})
MODE_CASES = [
    ("no tls block: auto mTLS on every cluster", None, {"": "auto", "v1": "auto", "v2": "auto"}),
    (
        "tls DISABLE on the rule: plaintext everywhere",
        {"tls": {"mode": "DISABLE"}},
        {"": "plaintext", "v1": "plaintext", "v2": "plaintext"},
    ),
    (
        "explicit ISTIO_MUTUAL: one TLS socket for every endpoint",
        {"tls": {"mode": "ISTIO_MUTUAL"}},
        {"": "istio-mutual", "v1": "istio-mutual", "v2": "istio-mutual"},
    ),
    (
        "a tls block without mode is DISABLE (the enum's zero value)",
        {"tls": {}},
        {"": "plaintext", "v1": "plaintext", "v2": "plaintext"},
    ),
    (
        "tls DISABLE on one port only",
        {"portLevelSettings": [{"port": {"number": 80}, "tls": {"mode": "DISABLE"}}]},
        {"": "plaintext", "v1": "plaintext", "v2": "plaintext"},
    ),
]


@pytest.mark.parametrize(("policy", "expected"), [c[1:] for c in MODE_CASES], ids=[c[0] for c in MODE_CASES])
def test_tls_mode_per_destination(policy: dict | None, expected: dict[str, str]) -> None:
    got = clusters(policy)
    assert {subset: socket_kind(got[f"outbound|80|{subset}|{FQDN}"]) for subset in expected} == expected


def test_tls_disable_on_one_subset_turns_off_only_that_subset() -> None:
    subsets = [SUBSETS[0], {**SUBSETS[1], "trafficPolicy": {"tls": {"mode": "DISABLE"}}}]
    got = clusters(subsets=subsets)
    assert socket_kind(got[f"outbound|80|v1|{FQDN}"]) == "auto"
    assert socket_kind(got[f"outbound|80|v2|{FQDN}"]) == "plaintext"


def test_a_subset_istio_mutual_overrides_the_rule_disable() -> None:
    subsets = [{**SUBSETS[0], "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}, SUBSETS[1]]
    got = clusters({"tls": {"mode": "DISABLE"}}, subsets=subsets)
    assert socket_kind(got[f"outbound|80|v1|{FQDN}"]) == "istio-mutual"
    assert socket_kind(got[f"outbound|80|v2|{FQDN}"]) == "plaintext"


def test_explicit_istio_mutual_keeps_the_rule_sni_and_sans() -> None:
    policy = {
        "tls": {"mode": "ISTIO_MUTUAL", "sni": "custom.sni", "subjectAltNames": ["spiffe://x/ns/y/sa/z"]}
    }
    context = tls_context(clusters(policy)[f"outbound|80||{FQDN}"]["transport_socket"])
    assert context["sni"] == "custom.sni"
    common = context["common_tls_context"]
    assert common["combined_validation_context"]["default_validation_context"] == {
        "match_subject_alt_names": [{"exact": "spiffe://x/ns/y/sa/z"}]
    }


def test_auto_mtls_off_leaves_plaintext_unless_the_rule_asks_for_istio_mutual() -> None:
    off = MeshTls(SECRETS, auto=False)
    assert socket_kind(clusters(mtls=off)[f"outbound|80||{FQDN}"]) == "plaintext"
    assert (
        socket_kind(clusters({"tls": {"mode": "ISTIO_MUTUAL"}}, mtls=off)[f"outbound|80||{FQDN}"])
        == "istio-mutual"
    )


def test_an_http2_cluster_also_offers_h2_in_alpn() -> None:
    got = clusters({"connectionPool": {"http": {"h2UpgradePolicy": "UPGRADE"}}})
    (match, _) = got[f"outbound|80||{FQDN}"]["transport_socket_matches"]
    alpn = tls_context(match["transport_socket"])["common_tls_context"]["alpn_protocols"]
    assert alpn == ["istio-peer-exchange", "istio", "h2"]


def test_without_mtls_the_translation_is_plaintext_and_ignores_tls_blocks() -> None:
    got = clusters({"tls": {"mode": "SIMPLE"}}, mtls=None)
    for cluster in got.values():
        assert socket_kind(cluster) == "plaintext"
        assert all(
            "metadata" not in e
            for loc in cluster["load_assignment"]["endpoints"]
            for e in loc["lb_endpoints"]
        )


def test_strict_inbound_requires_and_verifies_the_client_certificate() -> None:
    (chain,) = build_inbound_tls(SECRETS, mode="STRICT")
    assert chain["filter_chain_match"] == {"transport_protocol": "tls"}
    context = tls_context(chain["transport_socket"])
    assert context["require_client_certificate"] is True
    common = context["common_tls_context"]
    assert common["alpn_protocols"] == ["h2", "http/1.1"]  # never "istio": it would break h2 negotiation
    assert common["tls_certificate_sds_secret_configs"][0]["name"] == "default"
    assert common["combined_validation_context"]["validation_context_sds_secret_config"]["name"] == "ROOTCA"
    assert common["tls_params"]["tls_minimum_protocol_version"] == "TLSv1_2"
    assert "ECDHE-RSA-AES128-GCM-SHA256" in common["tls_params"]["cipher_suites"]


def test_permissive_inbound_matches_istio_alpn_for_mtls_and_keeps_plaintext() -> None:
    mtls, plaintext = build_inbound_tls(SECRETS, mode="PERMISSIVE")
    assert mtls["filter_chain_match"] == {
        "transport_protocol": "tls",
        "application_protocols": list(ALL_ISTIO_MTLS_ALPNS),
    }
    assert plaintext == {"filter_chain_match": {"transport_protocol": "raw_buffer"}}
    assert build_inbound_tls(SECRETS, mode="DISABLE") == [plaintext]
    with pytest.raises(ValueError, match="STRICT, PERMISSIVE or DISABLE"):
        build_inbound_tls(SECRETS, mode="strict")
