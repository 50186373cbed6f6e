"""Istio's auto mutual TLS between sidecars, as Envoy configuration. Pure: no I/O, no paths of its own.

Client side follows ``pilot/pkg/networking/core/cluster_tls.go`` (``CT``; ``buildUpstreamTLSSettings``,
``buildUpstreamClusterTLSContext``, ``applyUpstreamTLSSettings``): with auto mTLS a cluster gets two
``transport_socket_matches``, ``tlsMode-istio`` (ISTIO_MUTUAL, for endpoints whose metadata says
``tlsMode: istio``, i.e. pods with a sidecar) and the plaintext fallback ``tlsMode-disabled``. A DR's
``tls.mode: ISTIO_MUTUAL`` puts the TLS socket on the cluster itself (every endpoint); ``DISABLE`` none.

Server side follows ``pilot/pkg/security/authn/utils/utils.go`` ``BuildInboundTLS`` and the filter-chain
matches of ``pilot/pkg/networking/core/filterchain_options.go``: :func:`build_inbound_tls` returns the
DownstreamTlsContext (client certificate required and verified against the root) and the filter chains a
STRICT or PERMISSIVE inbound HTTP port has.

Certificates come over SDS under Istio's two resource names, ``default`` (the workload's certificate and key)
and ``ROOTCA`` (the mesh root). Where Envoy fetches them is the caller's :data:`SecretSource`: Istio uses its
agent's SDS socket; the lab uses Envoy's filesystem SDS (:func:`file_secrets`) with files written by
``lablib.mtls``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from lablib._types import JSONDict

__all__ = [
    "ALL_ISTIO_MTLS_ALPNS",
    "ALPN_DOWNSTREAM_HTTP",
    "ALPN_IN_MESH_H2_WITH_MXC",
    "ALPN_IN_MESH_WITH_MXC",
    "INBOUND_CIPHER_SUITES",
    "SDS_DEFAULT",
    "SDS_ROOT",
    "TLS_INSPECTOR",
    "TLS_MODE_DISABLED_MATCH",
    "TLS_MODE_ISTIO",
    "TLS_MODE_ISTIO_MATCH",
    "TRANSPORT_SOCKET_MATCH_KEY",
    "MeshTls",
    "SecretSource",
    "apply_upstream_tls",
    "build_inbound_tls",
    "endpoint_metadata",
    "file_secrets",
    "istio_mutual_tls_context",
    "sds_secret_config",
    "spiffe_id",
]

#: ``sec_model.SDSDefaultResourceName`` / ``SDSRootResourceName`` (``pilot/pkg/security/model``).
SDS_DEFAULT: Final = "default"
SDS_ROOT: Final = "ROOTCA"
#: ``model.TLSModeLabelShortname`` = ``IstioMutualTLSModeLabel`` on EDS endpoints of pods with a sidecar
#: (their ``security.istio.io/tlsMode: istio`` label), under Envoy's ``envoy.transport_socket_match``.
TRANSPORT_SOCKET_MATCH_KEY: Final = "envoy.transport_socket_match"
TLS_MODE_ISTIO: Final = "istio"
#: ``"tlsMode-" + IstioMutualTLSModeLabel`` and ``defaultTransportSocketMatch()`` names (``CT``).
TLS_MODE_ISTIO_MATCH: Final = "tlsMode-istio"
TLS_MODE_DISABLED_MATCH: Final = "tlsMode-disabled"
#: ``util.ALPNInMeshWithMxc`` / ``ALPNInMeshH2WithMxc`` (``pilot/pkg/networking/util/util.go``): "istio"
#: marks in-mesh traffic, "istio-peer-exchange" metadata exchange (on by default).
ALPN_IN_MESH_WITH_MXC: Final = ("istio-peer-exchange", "istio")
ALPN_IN_MESH_H2_WITH_MXC: Final = ("istio-peer-exchange", "istio", "h2")
#: ``util.ALPNHttp``: the server's own ALPN on an HTTP port; "istio" must NOT be in it (``BuildInboundTLS``).
ALPN_DOWNSTREAM_HTTP: Final = ("h2", "http/1.1")
#: ``allIstioMtlsALPNs`` (``filterchain_options.go``): what a PERMISSIVE port's mTLS chain matches.
ALL_ISTIO_MTLS_ALPNS: Final = ("istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2")
#: ``utils.SupportedCiphers``: the inbound cipher suites (TLS 1.2; TLS 1.3 suites are not configurable).
INBOUND_CIPHER_SUITES: Final = (
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
)

#: The listener filter that reads the ClientHello (transport protocol "tls", SNI, ALPN) for the chain matches.
TLS_INSPECTOR: Final[JSONDict] = {
    "name": "envoy.filters.listener.tls_inspector",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
    },
}

_TLS_SOCKET = "envoy.transport_sockets.tls"
_UPSTREAM_TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
_DOWNSTREAM_TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
_RAW_BUFFER: Final[JSONDict] = {
    "name": "envoy.transport_sockets.raw_buffer",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
    },
}

#: Maps an SDS resource name (:data:`SDS_DEFAULT`, :data:`SDS_ROOT`) to the Envoy ``ConfigSource`` to fetch
#: it from. Per proxy: each sidecar has its own workload certificate.
SecretSource = Callable[[str], JSONDict]


def file_secrets(directory: str) -> SecretSource:
    """Envoy's filesystem SDS: resource ``name`` is read from ``<directory>/<name>.json`` (a
    DiscoveryResponse holding one ``Secret``) and re-read when that file is replaced by a rename."""
    base = directory.rstrip("/")

    def source(name: str) -> JSONDict:
        return {"path_config_source": {"path": f"{base}/{name}.json"}, "resource_api_version": "V3"}

    return source


@dataclass(frozen=True)
class MeshTls:
    """Mesh-wide mTLS settings for :func:`~lablib.translate.translate` (one client sidecar).

    Attributes:
        secrets: where the client sidecar's Envoy gets the ``default`` and ``ROOTCA`` secrets.
        trust_domain: MeshConfig ``trustDomain`` (default ``cluster.local``), the SPIFFE identities' domain.
        auto: MeshConfig ``enableAutoMtls`` (default true): TLS to sidecar endpoints without any DR ``tls``.
    """

    secrets: SecretSource
    trust_domain: str = "cluster.local"
    auto: bool = True


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    """``spiffe://cluster.local/ns/default/sa/default``: a workload's identity, its certificate's URI SAN
    (``pkg/spiffe`` ``MustGenSpiffeURI``)."""
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def sds_secret_config(name: str, secrets: SecretSource) -> JSONDict:
    """An ``SdsSecretConfig`` (``ConstructSdsSecretConfig``): Istio's name, fetched from ``secrets``."""
    return {"name": name, "sds_config": secrets(name)}


def endpoint_metadata() -> JSONDict:
    """The ``lb_endpoints[].metadata`` Istio's EDS gives an endpoint whose pod has a sidecar."""
    return {"filter_metadata": {TRANSPORT_SOCKET_MATCH_KEY: {"tlsMode": TLS_MODE_ISTIO}}}


def _common_tls_params() -> JSONDict:
    # defaultUpstreamCommonTLSContext: "if not specified, envoy use TLSv1_2 as default for client".
    return {"tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_3"}


def istio_mutual_tls_context(
    *, sni: str, subject_alt_names: Sequence[str], http2: bool, secrets: SecretSource
) -> JSONDict:
    """The ``UpstreamTlsContext`` of mode ISTIO_MUTUAL (``buildUpstreamClusterTLSContext``): the workload
    certificate, the mesh root with the server's SPIFFE identities as exact SAN matches, Istio's ALPN."""
    return {
        "@type": _UPSTREAM_TLS_TYPE,
        "common_tls_context": {
            "tls_params": _common_tls_params(),
            "alpn_protocols": list(ALPN_IN_MESH_H2_WITH_MXC if http2 else ALPN_IN_MESH_WITH_MXC),
            "tls_certificate_sds_secret_configs": [sds_secret_config(SDS_DEFAULT, secrets)],
            "combined_validation_context": {
                "default_validation_context": {
                    "match_subject_alt_names": [{"exact": san} for san in subject_alt_names]
                },
                "validation_context_sds_secret_config": sds_secret_config(SDS_ROOT, secrets),
            },
        },
        "sni": sni,
    }


def _is_http2(cluster: Mapping[str, Any]) -> bool:
    # isHttp2Cluster: explicit HTTP/2 upstream (an http2/grpc port or an h2 upgrade).
    options = (cluster.get("typed_extension_protocol_options") or {}).values()
    return any("http2_protocol_options" in (o.get("explicit_http_config") or {}) for o in options)


def apply_upstream_tls(
    cluster: JSONDict,
    tls: Mapping[str, Any] | None,
    *,
    sni: str,
    service_accounts: Sequence[str],
    mesh_tls: MeshTls,
) -> None:
    """``buildUpstreamTLSSettings`` + ``applyUpstreamTLSSettings`` for one outbound cluster.

    ``tls`` is the DR's (merged, port-level) ``trafficPolicy.tls``. Without it and with auto mTLS, the cluster
    gets the two transport-socket matches; ``ISTIO_MUTUAL`` gives one TLS socket for every endpoint, with the
    DR's ``sni`` / ``subjectAltNames`` if set; ``DISABLE`` (or auto mTLS off) leaves plaintext. SIMPLE and
    MUTUAL (TLS to servers outside the mesh) are refused before translation.
    """
    if tls is None and not mesh_tls.auto:
        return
    # ClientTLSSettings.mode is a proto enum whose zero value is DISABLE: `tls: {}` means plaintext.
    if tls is not None and tls.get("mode", "DISABLE") != "ISTIO_MUTUAL":
        return
    sans = (tls or {}).get("subjectAltNames")
    context = istio_mutual_tls_context(
        sni=(tls or {}).get("sni") or sni,
        subject_alt_names=list(sans) if sans is not None else list(service_accounts),
        http2=_is_http2(cluster),
        secrets=mesh_tls.secrets,
    )
    socket = {"name": _TLS_SOCKET, "typed_config": context}
    if tls is not None:
        cluster["transport_socket"] = socket  # user supplied: every endpoint, sidecar or not
        return
    # Auto-detected: TLS only to endpoints that say they have a sidecar, plaintext to the others.
    cluster["transport_socket_matches"] = [
        {"name": TLS_MODE_ISTIO_MATCH, "match": {"tlsMode": TLS_MODE_ISTIO}, "transport_socket": socket},
        {"name": TLS_MODE_DISABLED_MATCH, "match": {}, "transport_socket": dict(_RAW_BUFFER)},
    ]


def build_inbound_tls(secrets: SecretSource, *, mode: str = "PERMISSIVE") -> list[JSONDict]:
    """The filter chains (match + transport socket, no filters) of a server sidecar's inbound HTTP port.

    ``mode`` is the PeerAuthentication mTLS mode: ``STRICT`` gives one chain accepting only TLS with a
    client certificate from the mesh root (``inboundStrictHTTPFilterChainMatchOptions``); ``PERMISSIVE``
    (Istio's default) adds plaintext beside it, telling them apart by the TLS inspector's transport protocol
    and Istio's ALPNs; ``DISABLE`` gives plaintext only. The listener needs the ``tls_inspector`` listener
    filter for the TLS matches. The caller adds each chain's ``filters``.
    """
    if mode not in ("STRICT", "PERMISSIVE", "DISABLE"):
        raise ValueError(f"mTLS mode must be STRICT, PERMISSIVE or DISABLE, got {mode!r}")
    plaintext: JSONDict = {"filter_chain_match": {"transport_protocol": "raw_buffer"}}
    if mode == "DISABLE":
        return [plaintext]
    context = {
        "@type": _DOWNSTREAM_TLS_TYPE,
        "common_tls_context": {
            "tls_params": {
                **_common_tls_params(),
                "cipher_suites": list(INBOUND_CIPHER_SUITES),
            },
            "alpn_protocols": list(ALPN_DOWNSTREAM_HTTP),
            "tls_certificate_sds_secret_configs": [sds_secret_config(SDS_DEFAULT, secrets)],
            # No SAN match: any workload of the mesh may call; authorization is another policy's job.
            "combined_validation_context": {
                "default_validation_context": {},
                "validation_context_sds_secret_config": sds_secret_config(SDS_ROOT, secrets),
            },
        },
        "require_client_certificate": True,
    }
    mtls: JSONDict = {
        "filter_chain_match": {"transport_protocol": "tls"},
        "transport_socket": {"name": _TLS_SOCKET, "typed_config": context},
    }
    if mode == "STRICT":
        return [mtls]
    mtls["filter_chain_match"]["application_protocols"] = list(ALL_ISTIO_MTLS_ALPNS)
    return [mtls, plaintext]
