"""The embedded mesh's pure parts for HTTP/2 and gRPC services (lab 06, Steps 2 and 3): a container's ``args``
reach the app's command line as the image's ENTRYPOINT appends them; a service on a second port gets its own
route configuration file (Envoy's file-based RDS takes one resource per file); the port's name decides the
protocol each side talks upstream. No process, no file."""

from __future__ import annotations

import itertools
from pathlib import Path

import yaml
from mesh_helpers import service_go_yaml

from lablib.backends.mesh import _plan
from lablib.backends.mesh._service_go import app_command
from lablib.envoy.bootstrap import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from lablib.lab_defaults import MANIFESTS

CONFIG = Path("/lab/config")
LOG = Path("/lab/logs/access.log")
GRPC = MANIFESTS / "service/go/service-go-grpc.yaml"
H2 = MANIFESTS / "service/go/service-go-h2.yaml"
H2_OPTIONS = {"http2_protocol_options": {}}


def _plan_for(*texts: str, current=None, listeners=None):
    bodies = [d for text in texts for d in yaml.safe_load_all(text) if d]
    return _plan.plan_sync(bodies, current or {}, listeners or {}, itertools.count(20000), config=CONFIG,
                           access_log=LOG)


def _protocol(cluster: dict) -> dict:
    options = cluster.get("typed_extension_protocol_options", {})
    return next(iter(options.values()), {}).get("explicit_http_config", {})


def test_a_containers_args_reach_the_apps_command_line_before_what_the_lab_owns():
    plan = _plan_for(GRPC.read_text())
    pod = plan.pods.start["service-go-grpc-0"]
    assert pod.args == ["--grpc", "--port", "8079"] and pod.container_port == 8079
    cmd = app_command(pod, service_time_ms=25)
    # the manifest's flags after the lab's defaults (a pod may set its own service time), and the lab's
    # port, address and control socket last: argparse keeps the last, so the app listens where the lab says
    assert cmd.index("--grpc") > cmd.index("--service-time-ms")
    assert cmd[-6:-4] == ["--port", str(pod.app_port)] and cmd[-4:-2] == ["--host", "127.0.0.1"]
    assert cmd.index("--grpc") < len(cmd) - 6


def test_a_pod_without_args_runs_the_http_app_and_changed_args_replace_the_pod():
    first = _plan_for(service_go_yaml(versions=("v1",)))
    pod = first.pods.start["service-go-v1-0"]
    assert pod.args == [] and "--grpc" not in app_command(pod, service_time_ms=25)
    ports = "        ports: [{containerPort: 80}]"
    grpc = service_go_yaml(versions=("v1",)).replace(ports, "        args: [--grpc]\n" + ports)
    plan = _plan_for(grpc, current=first.pods.pods, listeners=first.client_listeners)
    assert [p.name for p in plan.pods.replaced] == ["service-go-v1-0"]
    started = plan.pods.start["service-go-v1-0"]
    assert started.args == ["--grpc"] and started.container_port == 80


def test_each_service_port_gets_its_own_route_file_and_listener():
    plan = _plan_for(service_go_yaml(versions=("v1",)), GRPC.read_text())
    client = plan.sidecar(_plan.CLIENT)
    assert [(t, p.name) for t, p, _ in client.files] == [
        (CLUSTER_TYPE, "client-cds.json"), (ROUTE_TYPE, "client-rds-80.json"),
        (ROUTE_TYPE, "client-rds-8079.json"), (LISTENER_TYPE, "client-lds.json")]
    routes = {p.name: [r["name"] for r in resources] for t, p, resources in client.files if t == ROUTE_TYPE}
    assert routes == {"client-rds-80.json": ["80"], "client-rds-8079.json": ["8079"]}
    listeners = {lst["name"]: lst for lst in client.files[-1][2]}
    assert set(listeners) == {"0.0.0.0_80", "0.0.0.0_8079"}
    for port in ("80", "8079"):
        hcm = listeners[f"0.0.0.0_{port}"]["filter_chains"][0]["filters"][0]["typed_config"]
        assert hcm["rds"]["route_config_name"] == port
        assert hcm["rds"]["config_source"]["path_config_source"]["path"].endswith(f"client-rds-{port}.json")


def test_the_port_name_decides_http2_on_both_sides_and_http_stays_http1():
    plan = _plan_for(service_go_yaml(versions=("v1",)), GRPC.read_text(), H2.read_text())
    clusters = {c["name"]: c for c in plan.mesh.outbound_clusters}
    assert _protocol(clusters["outbound|8079||service-go-grpc.default.svc.cluster.local"]) == H2_OPTIONS
    assert _protocol(clusters["outbound|80||service-go-h2.default.svc.cluster.local"]) == H2_OPTIONS
    assert _protocol(clusters["outbound|80||service-go.default.svc.cluster.local"]) == {}  # HTTP/1.1
    inbound = {pod: plan.sidecar(pod).files[0][2][0] for pod in
               ("service-go-grpc-0", "service-go-h2-0", "service-go-v1-0")}
    assert inbound["service-go-grpc-0"]["name"] == "inbound|8079||"
    assert _protocol(inbound["service-go-grpc-0"]) == H2_OPTIONS
    assert _protocol(inbound["service-go-h2-0"]) == H2_OPTIONS
    assert _protocol(inbound["service-go-v1-0"]) == {}
