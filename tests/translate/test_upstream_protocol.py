"""Which HTTP a sidecar talks upstream, as Istio 1.30 decides it (lab 06, Steps 2 and 3).

``kube.ConvertProtocol`` reads a Service port's protocol from its ``appProtocol`` when set, else its name
(a ``grpc-web`` prefix, else the part before the first ``-``); ``setUpstreamProtocol`` (in
``buildCluster``, so on the clients' outbound cluster **and** the server pod's inbound cluster) gives HTTP/2
to ``http2``/``grpc`` ports and the client's own protocol to a sniffed (unnamed) port;
``h2UpgradePolicy: UPGRADE`` upgrades an ``http`` port's outbound cluster only (``applyH2Upgrade`` runs for
outbound clusters).
"""

from __future__ import annotations

from typing import Any

import pytest

from lablib.translate import Endpoint, translate
from lablib.translate.model import port_protocol

H2 = {"http2_protocol_options": {}}
DOWNSTREAM = {"http_protocol_options": {}, "http2_protocol_options": {}}
_UPSTREAM = ("explicit_http_config", "use_downstream_protocol_config")
POD = Endpoint(pod="svc-0", namespace="default", labels={"app": "svc"}, address="127.0.0.1", port=15006,
               app_port=8080)


@pytest.mark.parametrize(("name", "app_protocol", "kwargs", "expected"), [
    ("http", None, {}, "HTTP"),
    ("http-web", None, {}, "HTTP"),
    ("http2", None, {}, "HTTP2"),
    ("grpc", None, {}, "GRPC"),
    ("grpc-ping", None, {}, "GRPC"),
    ("grpc-web", None, {}, "GRPC"),  # gRPC-Web: HTTP/2 upstream too
    ("HTTP2", None, {}, "HTTP2"),  # case does not matter
    ("", None, {}, "UNSUPPORTED"),  # unnamed: sniffed
    ("web", None, {}, "UNSUPPORTED"),
    ("", None, {"number": 3306}, "TCP"),  # a well-known port is TCP when it cannot be told
    ("http", "grpc", {}, "GRPC"),  # appProtocol wins over the name
    ("grpc", "http", {}, "HTTP"),
    ("web", "http2-x", {}, "HTTP2"),  # appProtocol's prefix is read like a name's
    ("web", "kubernetes.io/h2c", {}, "HTTP2"),  # Kubernetes' standard names, appProtocol only
    ("web", "kubernetes.io/ws", {}, "HTTP"),
    ("kubernetes.io/h2c", None, {}, "UNSUPPORTED"),
    ("web", "h2c", {}, "UNSUPPORTED"),  # not a protocol Istio parses
    ("http", None, {"l4": "UDP"}, "UDP"),
])
def test_port_protocol_as_istios_convert_protocol(name: str, app_protocol: str | None, kwargs: dict[str, Any],
                                                 expected: str) -> None:
    assert port_protocol(name, app_protocol, **kwargs) == expected


def _sides(port: dict[str, Any], pool: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``explicit_http_config``/``use_downstream_protocol_config`` of the client's outbound cluster and of
    the server pod's inbound cluster for a Service with ``port``."""
    objects: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
                                      "spec": {"selector": {"app": "svc"}, "ports": [port]}}]
    if pool is not None:
        objects.append({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                        "metadata": {"name": "svc"},
                        "spec": {"host": "svc", "trafficPolicy": {"connectionPool": pool}}})
    mesh = translate(objects, [POD])

    def upstream(cluster: dict[str, Any]) -> dict[str, Any]:
        options = next(iter(cluster.get("typed_extension_protocol_options", {}).values()), {})
        return {k: v for k, v in options.items() if k in _UPSTREAM}

    return upstream(mesh.outbound_clusters[0]), upstream(mesh.inbound_clusters["svc-0"][0])


@pytest.mark.parametrize("port", [{"name": "http2", "port": 80, "targetPort": 8080},
                                  {"name": "grpc", "port": 8079, "targetPort": 8080},
                                  {"name": "web", "appProtocol": "grpc", "port": 80, "targetPort": 8080}])
def test_an_http2_or_grpc_port_talks_http2_on_both_sides(port: dict[str, Any]) -> None:
    assert _sides(port) == ({"explicit_http_config": H2}, {"explicit_http_config": H2})


def test_an_http_port_stays_http1_and_upgrade_changes_the_client_side_only() -> None:
    port = {"name": "http", "port": 80, "targetPort": 8080}
    assert _sides(port) == ({}, {})  # no options at all: Envoy's default, HTTP/1.1
    outbound, inbound = _sides(port, {"http": {"h2UpgradePolicy": "UPGRADE"}})
    assert outbound == {"explicit_http_config": H2}
    # the server's inbound cluster gets the pool (here only HTTP/1.1 options), never the upgrade
    assert "http2_protocol_options" not in str(inbound)


def test_an_unnamed_port_uses_the_clients_protocol_on_both_sides() -> None:
    port = {"port": 80, "targetPort": 8080}
    assert _sides(port) == ({"use_downstream_protocol_config": DOWNSTREAM},
                            {"use_downstream_protocol_config": DOWNSTREAM})
