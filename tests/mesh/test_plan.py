"""The embedded mesh's pure parts: plan (``_plan``), blame (``_blame``), health words; no process or file."""

from __future__ import annotations

import itertools
from pathlib import Path

import yaml
from mesh_helpers import destination_rule_yaml, service_go_yaml

from lablib.backends.mesh import _blame, _plan
from lablib.backends.mesh._state import PodState
from lablib.envoy.bootstrap import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from lablib.manifests import load_file

CONFIG = Path("/lab/config")
LOG = Path("/lab/logs/access.log")


def _bodies(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def _ports(start: int = 20000):
    return itertools.count(start)


def _plan_for(text: str, current=None, listeners=None, dead=(), first_port: int = 20000):
    return _plan.plan_sync(_bodies(text), current or {}, listeners or {}, _ports(first_port), config=CONFIG,
                           access_log=LOG, dead=dead)


def test_a_fresh_apply_starts_every_pod_and_configures_every_sidecar_client_first():
    plan = _plan_for(service_go_yaml(replicas=2))
    assert sorted(plan.pods.start) == [f"service-go-{v}-{i}" for v in ("v1", "v2") for i in (0, 1)]
    assert plan.pods.keep == {} and plan.pods.stop == []
    ports = [p for pod in plan.pods.start.values() for p in (pod.port, pod.app_port)]
    assert len(set(ports)) == len(ports)  # every pod gets its own listener and app port
    assert [s.sidecar for s in plan.sidecars] == [_plan.CLIENT, *plan.pods.start]
    client = plan.sidecar(_plan.CLIENT)
    assert [(t, p.name) for t, p, _ in client.files] == [
        (CLUSTER_TYPE, "client-cds.json"), (ROUTE_TYPE, "client-rds-80.json"),
        (LISTENER_TYPE, "client-lds.json")]
    listeners = client.files[2][2]
    assert [lst["name"] for lst in listeners] == ["0.0.0.0_80"]
    assert listeners[0]["address"]["socket_address"]["port_value"] == plan.client_listeners["80"]
    pod = plan.sidecar("service-go-v1-0")
    assert [(t, p.name) for t, p, _ in pod.files] == [(CLUSTER_TYPE, "pod-service-go-v1-0-cds.json"),
                                                      (LISTENER_TYPE, "pod-service-go-v1-0-lds.json")]
    assert [c["name"] for c in pod.files[0][2]] == ["inbound|80||"]


def test_unchanged_pods_keep_running_and_their_ports_and_the_client_keeps_its_listener():
    first = _plan_for(service_go_yaml())
    current = first.pods.pods
    objects = service_go_yaml() + "---\n" + destination_rule_yaml(max_connections=5)
    again = _plan_for(objects, current, first.client_listeners)
    assert again.pods.keep == current and again.pods.start == {} and again.pods.stop == []
    assert again.client_listeners == first.client_listeners
    inbound = again.sidecar("service-go-v1-0").files[0][2][0]
    # The server side takes the DR's connectionPool too.
    assert inbound["circuit_breakers"]["thresholds"][0]["max_connections"] == 5


def test_a_dead_pod_is_recreated_on_new_ports_and_a_removed_one_stops():
    first = _plan_for(service_go_yaml())
    plan = _plan_for(service_go_yaml(versions=("v1",)), first.pods.pods, first.client_listeners,
                     dead={"service-go-v1-0"}, first_port=30000)
    assert list(plan.pods.start) == ["service-go-v1-0"] and plan.pods.keep == {}
    assert {p.name for p in plan.pods.stop} == {"service-go-v1-0", "service-go-v2-0"}
    assert [p.name for p in plan.pods.replaced] == ["service-go-v1-0"]  # stopped first: its files are reused
    assert plan.pods.start["service-go-v1-0"].port != first.pods.pods["service-go-v1-0"].port


def test_a_changed_template_replaces_the_pod():
    first = _plan_for(service_go_yaml(versions=("v1",)))
    changed = service_go_yaml(versions=("v1",)).replace("lablib/service-go:v1", "lablib/service-go:v1b")
    plan = _plan_for(changed, first.pods.pods, first.client_listeners)
    assert list(plan.pods.start) == ["service-go-v1-0"] and [p.name for p in plan.pods.replaced] == \
        ["service-go-v1-0"]


def test_the_fortio_pod_is_the_client_not_a_service_pod():
    fortio = """apiVersion: apps/v1
kind: Deployment
metadata: {name: fortio}
spec:
  selector: {matchLabels: {app: fortio}}
  template:
    metadata: {labels: {app: fortio}}
    spec: {containers: [{name: fortio, image: fortio/fortio, ports: [{containerPort: 8080}]}]}
"""
    plan = _plan_for(fortio)
    assert plan.pods.start == {} and [s.sidecar for s in plan.sidecars] == [_plan.CLIENT]


def test_blame_names_the_changed_field_of_the_rule_that_made_the_rejected_cluster(tmp_path):
    svc = tmp_path / "svc.yaml"
    svc.write_text(service_go_yaml(versions=("v1",)))
    dr = tmp_path / "dr.yaml"
    dr.write_text(destination_rule_yaml(max_connections=10, pending=3))
    objects = [*load_file(svc), *load_file(dr)]
    old_dr = _bodies(destination_rule_yaml(max_connections=5, pending=3))[0]
    previous = {("DestinationRule", "default", "service-go"): old_dr}
    pods = {"service-go-v1-0": PodState(name="service-go-v1-0", namespace="default",
                                        labels={"app": "service-go", "version": "v1"},
                                        owner="Deployment/service-go-v1", image="", container_port=80,
                                        port=1, app_port=2)}
    line = next(i for i, t in enumerate(dr.read_text().splitlines(), 1) if "maxConnections" in t)
    field = "spec.trafficPolicy.connectionPool.tcp.maxConnections"
    # Server side: the pod's inbound cluster comes from the DR's connectionPool.
    assert _blame.blame(["inbound|80||"], CLUSTER_TYPE, "service-go-v1-0", objects, pods, previous) == [
        f"{dr}:{line}: DestinationRule/service-go: {field}"]
    # Client side: a subset cluster points at the subset; unchanged there, so the place itself is named.
    subset = _blame.blame(["outbound|80|v1|service-go.default.svc.cluster.local"], CLUSTER_TYPE,
                          _plan.CLIENT, objects, pods, previous)
    assert subset == [f"{dr}:{objects[-1].line_of('spec.subsets[0]')}: DestinationRule/service-go: "
                      "spec.subsets[0].trafficPolicy"]
    # Without a previous version (a new object), the whole block is named.
    fresh = _blame.blame(["inbound|80||"], CLUSTER_TYPE, "service-go-v1-0", objects, pods)
    assert fresh == [f"{dr}:{objects[-1].line_of('spec.trafficPolicy.connectionPool')}: "
                     "DestinationRule/service-go: spec.trafficPolicy.connectionPool"]
    # A pod's listener comes from its Deployment.
    assert _blame.blame(["virtualInbound_80"], LISTENER_TYPE, "service-go-v1-0", objects, pods) == [
        f"{svc}:{objects[1].line_of('spec.template')}: Deployment/service-go-v1: spec.template"]


def test_how_a_process_ended_in_words():
    from lablib.backends.mesh._health import how_it_ended

    assert how_it_ended(-9) == "was killed by SIGKILL"
    assert how_it_ended(-15) == "was killed by SIGTERM"
    assert how_it_ended(3) == "exited with code 3"
    assert how_it_ended(None) == "is no longer running"  # not our child: its exit status went elsewhere
