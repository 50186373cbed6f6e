"""Istio's auto mTLS in the embedded mesh, on real Envoy sidecars: on by default, handshakes on both sides,
the client's certificate verified by the server, ``tls.mode: DISABLE`` per destination turning it off."""

from __future__ import annotations

import json
import stat

import pytest
from mesh_helpers import SERVICE, service_go_yaml

from lablib._exceptions import ValidationFailed

pytestmark = pytest.mark.envoy
URL = "http://service-go/env"
POD = "service-go-v1-0"
#: the module's shared lab (``mesh``): one service pod, so the server-side counters see every request
SHARED_SERVICE = service_go_yaml(versions=("v1",))


def _server_tls(mesh, pod: str = POD) -> dict[str, int]:
    """The pod sidecar's inbound listener TLS counters (``listener.<address>.ssl.*``)."""
    flat = mesh._admin(pod).stats(r"^listener\.127\.0\.0\.1_\d+\.ssl\.(handshake|no_certificate|fail)")
    out: dict[str, int] = {}
    for name, value in flat.items():
        key = name.split(".ssl.", 1)[1]
        out[key] = out.get(key, 0) + value
    return out


def _dr(tls_mode: str | None = None, *, per_connection: int | None = None) -> str:
    policy = []
    if per_connection:
        policy.append(f"    connectionPool: {{http: {{maxRequestsPerConnection: {per_connection}}}}}")
    if tls_mode:
        policy.append(f"    tls: {{mode: {tls_mode}}}")
    body = "\n".join(policy) or "    {}"
    return f"""apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: service-go}}
spec:
  host: service-go
  trafficPolicy:
{body}
"""


def test_sidecars_talk_mtls_by_default_with_spiffe_identities(mesh, write):
    mesh.apply(write("dr.yaml", _dr(per_connection=1)))  # one connection per request: one handshake each
    result = mesh.fortio(f"load -c 2 -qps 0 -n 20 -loglevel Error {URL}")
    assert result.codes == {200: 20}

    client = mesh.stats(SERVICE)
    assert client.get("ssl.handshake") >= 20, "every new upstream connection is a TLS handshake"
    assert client.get("ssl.connection_error") == 0
    server = _server_tls(mesh)
    assert server.get("handshake", 0) >= 20, f"the server sidecar terminated TLS: {server}"
    assert server.get("no_certificate", 0) == 0, "the client presented its workload certificate"

    cluster = mesh.proxy_config("cluster")
    assert "tlsMode-istio" in cluster and "spiffe://cluster.local/ns/default/sa/default" in cluster
    listener = mesh.proxy_config("listener", pod=POD)
    assert "require_client_certificate: true" in listener and "tls_inspector" in listener

    secrets = mesh.proxy_config("secret", pod=POD)
    assert "spiffe://cluster.local/ns/default/sa/default" in secrets and "ROOTCA" in secrets
    secret_dir = mesh.dir.config / "secrets" / POD
    assert stat.S_IMODE(secret_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((secret_dir / "default.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((mesh.dir.root / "ca" / "ca-key.pem").stat().st_mode) == 0o600


def test_service_account_is_the_pod_identity(make_mesh, write):
    mesh = make_mesh()
    text = service_go_yaml(versions=("v1",)).replace(
        "      containers:", "      serviceAccountName: service-go\n      containers:")
    mesh.apply(write("svc.yaml", text))
    assert mesh.fortio(f"load -c 1 -qps 0 -n 3 -loglevel Error {URL}").codes == {200: 3}
    assert "spiffe://cluster.local/ns/default/sa/service-go" in mesh.proxy_config("cluster")
    assert "spiffe://cluster.local/ns/default/sa/service-go" in mesh.proxy_config("secret", pod=POD)


def test_destination_rule_tls_disable_turns_mtls_off_for_that_host(mesh, write):
    mesh.apply(write("dr.yaml", _dr("DISABLE", per_connection=1)))
    assert "tlsMode-istio" not in mesh.proxy_config("cluster")
    mesh.reset_counters()  # the shared lab's earlier handshakes
    result = mesh.fortio(f"load -c 2 -qps 0 -n 20 -loglevel Error {URL}")
    assert result.codes == {200: 20}, "PERMISSIVE: the server still takes plaintext"
    assert mesh.stats(SERVICE).get("ssl.handshake") == 0
    assert _server_tls(mesh).get("handshake", 0) == 0

    mesh.apply(write("dr.yaml", _dr("ISTIO_MUTUAL", per_connection=1)))  # and back on, every sidecar
    assert mesh.fortio(f"load -c 2 -qps 0 -n 10 -loglevel Error {URL}").codes == {200: 10}
    assert mesh.stats(SERVICE).get("ssl.handshake") >= 10
    assert _server_tls(mesh).get("handshake", 0) >= 10


def test_mtls_off_for_the_whole_lab(make_mesh, write):
    mesh = make_mesh(mtls=False)
    mesh.apply(write("svc.yaml", service_go_yaml(versions=("v1",))))
    assert mesh.fortio(f"load -c 1 -qps 0 -n 5 -loglevel Error {URL}").codes == {200: 5}
    assert "transport_socket" not in mesh.proxy_config("cluster")
    assert mesh.stats(SERVICE).get("ssl.handshake") == 0
    assert not (mesh.dir.root / "ca").exists()
    state = json.loads((mesh.dir.root / "state.json").read_text())
    assert state["mtls"] is False


def test_tls_to_servers_outside_the_mesh_is_refused_at_its_line_and_nothing_changes(mesh, write):
    path = write("dr.yaml", _dr("SIMPLE"))
    with pytest.raises(ValidationFailed) as caught:  # the validator refuses it: valid Istio, not in the lab
        mesh.apply(path)
    (problem,) = [p for p in caught.value.problems if p.is_error]
    assert str(problem).startswith(f"{path}:7: DestinationRule/service-go: spec.trafficPolicy.tls.mode")
    assert "not supported by this lab" in str(problem)
    assert "DestinationRule/service-go" not in mesh.applied()
    assert mesh.fortio(f"load -c 1 -qps 0 -n 3 -loglevel Error {URL}").codes == {200: 3}
