"""Istio's mTLS between two real Envoy 1.40 sidecars, built from the translator's output and the lab CA.

A server sidecar (inbound filter chains of :func:`build_inbound_tls`, answering with ``direct_response``)
and a client sidecar (the translated outbound clusters) talk over 127.0.0.1. Checked in Envoy's own stats:
``cluster.<name>.ssl.handshake`` on the client, ``listener.<address>.ssl.handshake`` on the server.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from translate_helpers import HCM_TYPE, ROUTER, SERVICE, dr, envoy_validate, static_bootstrap

from lablib.envoy.admin import parse_stats
from lablib.mtls import LabCA, write_sidecar_secrets
from lablib.translate import Endpoint, MeshTls, build_inbound_tls, file_secrets, translate
from lablib.translate.tls import TLS_INSPECTOR

pytestmark = pytest.mark.envoy

CLUSTER = "outbound|80||service-go.default.svc.cluster.local"
ACCESS_LOG_FORMAT = "peer=%DOWNSTREAM_PEER_URI_SAN% tls=%DOWNSTREAM_TLS_VERSION%\n"


def server_listener(mode: str, secrets_dir: Path) -> dict[str, Any]:
    """The server sidecar's inbound listener: Istio's filter chains for ``mode``, each answering 200 itself
    and logging the caller's SPIFFE identity (empty over plaintext)."""
    chains = []
    for chain in build_inbound_tls(file_secrets(str(secrets_dir)), mode=mode):
        hcm = {
            "@type": HCM_TYPE,
            "stat_prefix": "inbound_80",
            "route_config": {
                "name": "inbound|80||",
                "virtual_hosts": [
                    {
                        "name": "inbound",
                        "domains": ["*"],
                        "routes": [
                            {
                                "match": {"prefix": "/"},
                                "direct_response": {"status": 200, "body": {"inline_string": "served"}},
                            }
                        ],
                    }
                ],
            },
            "http_filters": [ROUTER],
            "access_log": [
                {
                    "name": "envoy.access_loggers.file",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                        "path": "@WORKDIR@/access.log",
                        "log_format": {"text_format_source": {"inline_string": ACCESS_LOG_FORMAT}},
                    },
                }
            ],
        }
        chains.append(
            {
                **chain,
                "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}],
            }
        )
    return {
        "name": "virtualInbound",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
        "listener_filters": [TLS_INSPECTOR],
        "filter_chains": chains,
    }


def sidecar_node(pod: str) -> dict[str, str]:
    """Istio's node id (``sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local``) and cluster."""
    return {"id": f"sidecar~127.0.0.1~{pod}.default~default.svc.cluster.local", "cluster": f"{pod}.default"}


def listen_port(envoy: Any) -> int:
    listeners = json.loads(envoy.get("/listeners?format=json"))
    return int(listeners["listener_statuses"][0]["local_address"]["socket_address"]["port_value"])


def stat(envoy: Any, name: str) -> int:
    """A counter from /stats; 0 when Envoy has not created it (nothing happened)."""
    return parse_stats(envoy.get("/stats")).get(name, 0)


def get(port: int) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/env", headers={"Host": "service-go"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(scope="module")
def ca() -> LabCA:
    return LabCA.create()


def start_pair(
    run_envoy: Any,
    tmp_path: Path,
    *,
    server_ca: LabCA,
    client_ca: LabCA,
    mode: str,
    policy: dict[str, Any] | None = None,
) -> tuple[Any, Any]:
    """Start the server sidecar, then a client sidecar whose translated cluster points at it."""
    server_dir, client_dir = tmp_path / "server-secrets", tmp_path / "client-secrets"
    write_sidecar_secrets(server_dir, server_ca, server_ca.issue("default", "service-go"))
    write_sidecar_secrets(client_dir, client_ca, client_ca.issue("default", "fortio"))
    server = run_envoy(
        {
            "node": sidecar_node("service-go-v1-0"),  # SDS needs a node id and cluster
            "static_resources": {"listeners": [server_listener(mode, server_dir)]},
        }
    )
    pod = Endpoint(
        "service-go-v1-0",
        "default",
        {"app": "service-go", "version": "v1"},
        "127.0.0.1",
        listen_port(server),
        app_port=8080,  # has a sidecar: its endpoint says tlsMode: istio
        service_account="service-go",
    )
    objects: list[Any] = [SERVICE]
    if policy is not None:
        objects.append(dr({"host": "service-go", "trafficPolicy": policy}))
    config = translate(objects, [pod], mtls=MeshTls(file_secrets(str(client_dir))))
    client = run_envoy({"node": sidecar_node("fortio"), **static_bootstrap(config)})
    return server, client


def server_listener_stat(server: Any, name: str) -> int:
    # Listener stats are named after the configured address (port 0: the OS picks the real one).
    return stat(server, f"listener.127.0.0.1_0.{name}")


def test_auto_mtls_handshakes_on_both_sidecars_and_the_server_sees_the_client_identity(
    run_envoy: Any, tmp_path: Path, ca: LabCA
) -> None:
    server, client = start_pair(run_envoy, tmp_path, server_ca=ca, client_ca=ca, mode="PERMISSIVE")
    assert get(listen_port(client)) == (200, "served")
    assert stat(client, f"cluster.{CLUSTER}.ssl.handshake") >= 1
    assert server_listener_stat(server, "ssl.handshake") >= 1
    log = _wait_for_log(server.workdir / "access.log")
    assert "peer=spiffe://cluster.local/ns/default/sa/fortio tls=TLSv1.3" in log


def test_tls_mode_disable_sends_plaintext_with_no_handshake(
    run_envoy: Any, tmp_path: Path, ca: LabCA
) -> None:
    server, client = start_pair(
        run_envoy,
        tmp_path,
        server_ca=ca,
        client_ca=ca,
        mode="PERMISSIVE",
        policy={"tls": {"mode": "DISABLE"}},
    )
    assert get(listen_port(client)) == (200, "served")  # PERMISSIVE takes plaintext too
    assert stat(client, f"cluster.{CLUSTER}.ssl.handshake") == 0
    assert server_listener_stat(server, "ssl.handshake") == 0
    assert "peer=- " in _wait_for_log(server.workdir / "access.log")  # no client identity


def test_strict_server_refuses_a_client_certificate_from_another_ca(
    run_envoy: Any, tmp_path: Path, ca: LabCA
) -> None:
    server, client = start_pair(run_envoy, tmp_path, server_ca=ca, client_ca=LabCA.create(), mode="STRICT")
    status, _ = get(listen_port(client))
    assert status == 503  # the client sidecar cannot connect upstream
    assert server_listener_stat(server, "ssl.handshake") == 0
    assert server_listener_stat(server, "ssl.connection_error") >= 1
    assert stat(client, f"cluster.{CLUSTER}.ssl.handshake") == 0


def test_strict_server_refuses_plaintext(run_envoy: Any, tmp_path: Path, ca: LabCA) -> None:
    server, client = start_pair(
        run_envoy, tmp_path, server_ca=ca, client_ca=ca, mode="STRICT", policy={"tls": {"mode": "DISABLE"}}
    )
    status, _ = get(listen_port(client))
    assert status == 503
    assert server_listener_stat(server, "no_filter_chain_match") >= 1


def test_rotated_secret_files_reach_the_running_envoy(run_envoy: Any, tmp_path: Path, ca: LabCA) -> None:
    # One request per upstream connection: every request makes a new handshake with the current secrets.
    fresh = {"connectionPool": {"http": {"maxRequestsPerConnection": 1}}}
    server, client = start_pair(run_envoy, tmp_path, server_ca=ca, client_ca=ca, mode="STRICT", policy=fresh)
    assert get(listen_port(client))[0] == 200
    updates = f"cluster.{CLUSTER}.client_ssl_socket_factory.ssl_context_update_by_sds"
    before = stat(client, updates)
    other = LabCA.create()  # the client's identity now comes from a CA the server does not trust
    write_sidecar_secrets(tmp_path / "client-secrets", other, other.issue("default", "fortio"))
    deadline = time.monotonic() + 20
    while stat(client, updates) < before + 2 and time.monotonic() < deadline:  # default and ROOTCA
        time.sleep(0.1)
    assert stat(client, updates) >= before + 2
    assert get(listen_port(client))[0] == 503  # the new connection presents the new certificate
    assert server_listener_stat(server, "ssl.connection_error") >= 1


def test_envoy_validates_the_mtls_translation_and_inbound_chains(tmp_path: Path, ca: LabCA) -> None:
    write_sidecar_secrets(tmp_path, ca, ca.issue("default", "fortio"))  # SDS paths must exist
    labels = {"app": "service-go", "version": "v1"}
    pods = [
        Endpoint("service-go-v1-0", "default", labels, "127.0.0.1", 15006, 8080),
        Endpoint("service-go-v1-1", "default", labels, "127.0.0.1", 8081, None),  # no sidecar: plaintext
    ]
    service = {
        **SERVICE,
        "spec": {**SERVICE["spec"], "ports": [{"name": "http", "port": 80}, {"name": "grpc", "port": 9090}]},
    }
    rule = dr(
        {
            "host": "service-go",
            "subsets": [
                {"name": "v1", "labels": {"version": "v1"}},
                {
                    "name": "v1-mtls",
                    "labels": {"version": "v1"},
                    "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
                },
                {
                    "name": "v1-plain",
                    "labels": {"version": "v1"},
                    "trafficPolicy": {"tls": {"mode": "DISABLE"}},
                },
            ],
        }
    )
    config = translate([service, rule], pods, mtls=MeshTls(file_secrets(str(tmp_path))))
    bootstrap = {"node": sidecar_node("fortio"), **static_bootstrap(config)}
    bootstrap["static_resources"]["listeners"] += [
        {**server_listener(mode, tmp_path), "name": f"inbound_{mode}"} for mode in ("STRICT", "PERMISSIVE")
    ]
    text = json.dumps(bootstrap).replace("@WORKDIR@", str(tmp_path))
    result = envoy_validate(json.loads(text))
    assert result.returncode == 0, result.stdout + result.stderr


def _wait_for_log(path: Path, timeout: float = 10.0) -> str:
    # Envoy flushes access logs on a timer (1s by default).
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.1)
    raise AssertionError(f"no access log line in {path} after {timeout}s")
