"""The lab notices its own broken parts (issue #10): a killed sidecar or app is named by the next command,
with how it died, and the next apply recreates it like a Deployment controller would. No raw ``OSError`` or
``ConnectionRefusedError`` reaches the user."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mesh_helpers import SERVICE, destination_rule_yaml, service_go_yaml

from lablib import LabError, LabNotRunning
from lablib.backends.mesh import MeshBackend

pytestmark = pytest.mark.envoy
REPO = Path(__file__).resolve().parents[2]
URL = "http://service-go/env"


def _kill(mesh: MeshBackend, pod: str, role: str, sig: int = signal.SIGKILL) -> int:
    record = next(r for r in mesh.pods()[pod].procs if r.role == role)
    os.kill(record.pid, sig)
    mesh._popens[record.pid].wait(timeout=10)
    return record.pid


def _every_verb(mesh: MeshBackend):
    """Each verb a student uses, as a thunk."""
    return {
        "fortio": lambda: mesh.fortio(f"load -c 1 -n 2 -qps 0 -loglevel Error {URL}"),
        "stats": lambda: mesh.stats(),
        "stats(pod)": lambda: mesh.stats(pod="service-go-v2-0"),
        "hosts": lambda: mesh.hosts(),
        "proxy_config": lambda: mesh.proxy_config("cluster"),
        "reset_counters": lambda: mesh.reset_counters(),
        "responses": lambda: mesh.responses(),
        "explain": lambda: mesh.explain(),
        "set_fault": lambda: mesh.set_fault("service-go-v2", fraction=0.0),
    }


def test_a_killed_server_sidecar_is_named_by_every_verb_and_recreated_by_apply(make_mesh, write):
    mesh = make_mesh()
    svc = write("service-go.yaml", service_go_yaml())
    mesh.apply(svc)
    mesh.fortio(f"load -c 1 -n 2 -qps 0 -loglevel Error {URL}")  # something for explain()
    old = _kill(mesh, "service-go-v1-0", "sidecar")

    for verb, call in _every_verb(mesh).items():
        with pytest.raises(LabError) as err:
            call()
        message = str(err.value)
        assert "service-go-v1-0" in message, (verb, message)
        assert "sidecar Envoy was killed by SIGKILL" in message, (verb, message)
        assert not isinstance(err.value.__cause__, OSError), verb

    events = []
    mesh.apply(svc, progress=lambda done, total, msg: events.append(msg))
    assert any("service-go-v1-0" in e and "SIGKILL" in e and "recreating" in e for e in events), events
    assert mesh.events[-1] == events[0]
    pod = mesh.pods()["service-go-v1-0"]
    assert old not in {r.pid for r in pod.procs} and all(r.alive() for r in pod.procs)
    # The next DR apply reaches every sidecar (no ConnectionRefusedError), and traffic is whole again.
    mesh.apply(write("dr.yaml", destination_rule_yaml(max_connections=3)))
    assert "maxConnections: 3" in mesh.proxy_config("cluster", pod="service-go-v1-0")
    assert mesh.fortio(f"load -c 2 -n 40 -qps 0 -loglevel Error {URL}").codes == {200: 40}
    assert {h.address for h in mesh.hosts(SERVICE)} == \
        {f"127.0.0.1:{p.port}" for p in mesh.pods().values()}


def test_a_dead_app_is_named_with_its_exit_and_a_foreign_handle_says_no_longer_running(make_mesh, write):
    mesh = make_mesh()
    mesh.apply(write("service-go.yaml", service_go_yaml(versions=("v1",))))
    _kill(mesh, "service-go-v1-0", "app", signal.SIGTERM)
    with pytest.raises(LabError, match=r"pod service-go-v1-0: its app \(service-go\) (was killed by SIGTERM|"
                                       r"exited with code)"):
        mesh.stats()
    other = MeshBackend(home=mesh.dir.home, attach_only=True)  # not its parent: it cannot know the exit code
    with pytest.raises(LabError, match=r"service-go-v1-0: its app \(service-go\) is no longer running"):
        other.fortio(f"load -n 1 {URL}")


def test_a_killed_client_sidecar_says_the_lab_is_gone(make_mesh, write):
    mesh = make_mesh()
    mesh.apply(write("service-go.yaml", service_go_yaml(versions=("v1",))))
    client = mesh.processes()[0]
    os.kill(client.pid, signal.SIGKILL)
    mesh._popens[client.pid].wait(timeout=10)
    with pytest.raises(LabNotRunning, match=r"fortio pod's sidecar Envoy .* was killed by SIGKILL"):
        mesh.stats()
    with pytest.raises(LabNotRunning):
        mesh.apply(write("dr.yaml", destination_rule_yaml(max_connections=3)))


def test_proxy_config_of_a_server_pod_shows_its_inbound_breaker(make_mesh, write, lab_home):
    from lablib.lab import Lab

    mesh = make_mesh()
    mesh.apply(write("service-go.yaml", service_go_yaml(versions=("v1",))))
    mesh.apply(write("dr.yaml", destination_rule_yaml(max_connections=5, pending=2)))
    text = mesh.proxy_config("cluster", pod="service-go-v1-0")
    assert "inbound|80||" in text and "outbound|" not in text
    assert "maxConnections: 5" in text and "maxPendingRequests: 2" in text
    assert "outbound|80||service-go" in mesh.proxy_config("cluster", pod="fortio")
    assert set(mesh.stats(pod="service-go-v1-0")) == {"inbound|80||"}
    with pytest.raises(LabError, match="no pod 'nope'"):
        mesh.proxy_config("cluster", pod="nope")

    lab = Lab(backend="embedded", home=lab_home, attach_only=True)
    assert lab.proxy_config("cluster", pod="service-go-v1-0") == text
    env = {**os.environ, "LABLIB_HOME": str(lab_home), "PYTHONPATH": str(REPO)}
    cli = subprocess.run([sys.executable, "-m", "lablib", "proxy-config", "cluster", "--pod",
                          "service-go-v1-0"], capture_output=True, text=True, env=env, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "maxConnections: 5" in cli.stdout and "inbound|80||" in cli.stdout
    mesh.fortio(f"load -c 1 -n 3 -qps 0 -loglevel Error {URL}")  # all-cluster stats show what Envoy touched
    cli = subprocess.run([sys.executable, "-m", "lablib", "stats", "--pod", "service-go-v1-0", "--grep",
                          "cx_"], capture_output=True, text=True, env=env, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "cluster.inbound|80||.upstream_cx_total: 1" in cli.stdout
