"""The embedded mesh's life: apply/delete reach running Envoys, pods follow Deployments, cleanup leaves
nothing, a killed owner's orphans are reaped, and a persistent (CLI) lab is shared with a notebook's Lab()."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from mesh_helpers import (
    SERVICE,
    SUBSET_V1,
    VS_50_50,
    destination_rule_yaml,
    service_go_yaml,
)

from lablib import EnvoyError, LabNotRunning
from lablib.backends.base import Backend
from lablib.backends.mesh import MeshBackend
from tests.support import processes_under

pytestmark = pytest.mark.envoy
REPO = Path(__file__).resolve().parents[2]


def get(mesh: MeshBackend, host: str = "service-go", path: str = "/env") -> tuple[int, bytes]:
    addr, port = mesh.listener_for(f"http://{host}{path}")
    req = urllib.request.Request(f"http://{addr}:{port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_mesh_backend_is_a_backend(mesh):
    assert isinstance(mesh, Backend)


def test_apply_delete_apply_cleanup_leaves_nothing(make_mesh, write, lab_home):
    mesh = make_mesh()
    svc = write("service-go.yaml", service_go_yaml())
    assert mesh.apply(svc) == ["Service/service-go", "Deployment/service-go-v1", "Deployment/service-go-v2"]
    # Host-header routing, both names Istio's route answers to; both versions behind the subset-less route.
    seen = set()
    for host in ("service-go", "service-go.default.svc.cluster.local"):
        for _ in range(6):
            code, body = get(mesh, host)
            assert code == 200
            seen.add(json.loads(body)["message"])
    assert seen == {"go v1", "go v2"}
    pods = mesh.pods()
    assert sorted(pods) == ["service-go-v1-0", "service-go-v2-0"]
    ports = [p.port for p in pods.values()] + [p.app_port for p in pods.values()]
    procs = mesh.processes()
    assert len(procs) == 5 and all(r.alive() for r in procs)  # client sidecar + 2 x (app + sidecar)

    assert mesh.delete(svc) == ["Service/service-go", "Deployment/service-go-v1", "Deployment/service-go-v2"]
    assert mesh.pods() == {}
    assert not any(p.alive() for p in procs[1:]), "deleting the Deployments must stop their pods"
    assert not any(port_open(p) for p in ports)

    mesh.apply(svc)
    assert get(mesh)[0] == 200
    all_procs = mesh.processes()
    state = mesh.dir.read()
    # Admin endpoints are owner-only Unix sockets, no TCP port (tests/mesh/test_ownership.py).
    ports = [*state.client_listeners.values(),
             *(port for p in state.pods.values() for port in (p.port, p.app_port))]
    assert all(port_open(p) for p in ports)
    mesh.cleanup()
    mesh.cleanup()  # idempotent
    assert not any(r.alive() for r in all_procs)
    assert not any(port_open(p) for p in ports)
    assert not processes_under(lab_home)
    assert not (lab_home / "default").exists()
    assert list(lab_home.iterdir()) == []
    with pytest.raises(LabNotRunning):
        mesh.stats()


def test_deleting_one_deployment_stops_only_its_pods_and_routes_around_them(make_mesh, write):
    mesh = make_mesh()
    mesh.apply(write("service-go.yaml", service_go_yaml(replicas=2)))
    pods = mesh.pods()
    assert sorted(pods) == ["service-go-v1-0", "service-go-v1-1", "service-go-v2-0", "service-go-v2-1"]
    v2 = [r for name, p in pods.items() if "v2" in name for r in p.procs]
    mesh.delete(write("v2.yaml", service_go_yaml(versions=("v2",)).split("---", 1)[1]))
    assert sorted(mesh.pods()) == ["service-go-v1-0", "service-go-v1-1"]
    assert not any(r.alive() for r in v2)
    assert {json.loads(get(mesh)[1])["message"] for _ in range(8)} == {"go v1"}
    assert sorted(h.address for h in mesh.hosts(SERVICE)) == sorted(
        f"127.0.0.1:{p.port}" for p in mesh.pods().values())


def test_replicas_make_pods_and_labels_select_subsets(make_mesh, write):
    mesh = make_mesh()
    mesh.apply(write("service-go.yaml", service_go_yaml(replicas=3)))
    mesh.apply(write("dr.yaml", destination_rule_yaml(max_connections=10)))
    assert len(mesh.pods()) == 6
    v1_ports = {f"127.0.0.1:{p.port}" for p in mesh.pods().values() if p.labels["version"] == "v1"}
    assert {h.address for h in mesh.hosts(SUBSET_V1)} == v1_ports
    assert len(mesh.hosts(SERVICE)) == 6
    assert all(h.healthy for h in mesh.hosts())


def _max_connections(mesh: MeshBackend, cluster: str) -> int:
    text = mesh._client_admin().get("/clusters")
    key = f"{cluster}::default_priority::max_connections"
    line = next(line for line in text.splitlines() if line.startswith(key))
    return int(line.rsplit("::", 1)[1])


def test_apply_reaches_running_envoys_without_restart(mesh, write):  # the module's lab: service-go v1, v2
    sidecars = mesh.processes()
    mesh.apply(write("dr.yaml", destination_rule_yaml(max_connections=1)))
    assert _max_connections(mesh, SERVICE) == 1
    assert _max_connections(mesh, SUBSET_V1) == 1
    mesh.apply(write("dr.yaml", destination_rule_yaml(max_connections=7)))
    assert _max_connections(mesh, SERVICE) == 7
    # Istio applies the DR's connectionPool server-side too: each pod's inbound cluster follows.
    pod = next(iter(mesh.pods().values()))
    inbound = list(mesh.stats(pod=pod.name))
    assert inbound and all(c.startswith("inbound|") for c in inbound)
    assert mesh.processes() == sidecars, "no Envoy may be restarted by a config change"
    assert all(r.alive() for r in sidecars)
    assert "max_connections: 7" in mesh.proxy_config("cluster").replace("maxConnections", "max_connections")
    assert get(mesh)[0] == 200


def test_rejected_config_raises_envoy_error_with_envoys_words(make_mesh):
    from lablib.envoy import xds
    from lablib.envoy.bootstrap import CLUSTER_TYPE

    mesh = make_mesh()
    address = {"socket_address": {"address": "not-an-ip", "port_value": 80}}
    bad = [{"name": "bad", "type": "STATIC", "connect_timeout": "1s", "lb_policy": "ROUND_ROBIN",
            "load_assignment": {"cluster_name": "bad",
                                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}]}}]
    with pytest.raises(EnvoyError) as err:
        sidecar = xds.SidecarConfig("the fortio pod's sidecar", mesh._client_admin(),
                                    mesh.dir.logs / "fortio-sidecar.log", [])
        xds.push(sidecar, xds.XdsFile(CLUSTER_TYPE, mesh.dir.config / "client-cds.json", bad), "99")
    assert "not-an-ip" in str(err.value)  # Envoy's own message names the bad address
    assert err.value.envoy_output


def test_envoy_that_cannot_start_raises_envoy_error(tmp_path):
    from lablib.envoy.process import start_envoy, wait_ready

    cfg = tmp_path / "bad.yaml"
    cfg.write_text("static_resources: {clusters: [{name: x, type: NOT_A_TYPE}]}\n")
    launch = start_envoy(cfg, workdir=tmp_path, name="bad")
    with pytest.raises(EnvoyError) as err:
        wait_ready(launch, timeout=20)
    assert "NOT_A_TYPE" in err.value.envoy_output
    launch.popen.wait()


_OWNER = """
import json, sys, time
import lablib.backends.mesh.backend as backend
if sys.argv[2] == "no-pdeathsig":  # as on a platform without PR_SET_PDEATHSIG: orphans stay behind
    backend.die_with_parent = lambda: []
m = backend.MeshBackend(home=sys.argv[1], service_time_ms=5)
m.apply(sys.argv[3])
print(json.dumps([r.as_dict() for r in m.processes()]), flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("mode", ["pdeathsig", "no-pdeathsig"])
def test_a_killed_owner_leaves_nothing_once_a_new_lab_starts(lab_home, write, mode):
    from lablib.backends.mesh._procs import ProcRecord

    svc = write("service-go.yaml", service_go_yaml(versions=("v1",)))
    owner = subprocess.Popen([sys.executable, "-c", _OWNER, str(lab_home), mode, str(svc)],
                             stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = owner.stdout.readline()
        records = [ProcRecord.from_dict(d) for d in json.loads(line)]
        assert len(records) == 3 and all(r.alive() for r in records)
    finally:
        os.killpg(owner.pid, signal.SIGKILL)
        owner.wait()
    if mode == "no-pdeathsig":
        time.sleep(0.3)
        assert any(r.alive() for r in records), "without PDEATHSIG the owner's children outlive it"
    mesh = MeshBackend(home=lab_home, service_time_ms=5)
    try:
        assert not any(r.alive() for r in records)
        assert mesh.pods() == {} and mesh.owned
    finally:
        mesh.cleanup()


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABLIB_HOME": str(home), "LABLIB_BACKEND": "embedded"}
    return subprocess.run([sys.executable, "-m", "lablib", *args], env=env, capture_output=True, text=True,
                          timeout=60, cwd=REPO)


def test_cli_lab_persists_and_a_notebook_lab_attaches_to_it(lab_home, write):
    svc = write("service-go.yaml", service_go_yaml(versions=("v1",)))
    try:
        out = _cli(lab_home, "apply", "-f", str(svc))
        assert out.returncode == 0, out.stderr
        assert "Deployment/service-go-v1 configured" in out.stdout
        mesh = MeshBackend(home=lab_home)  # a kernel (re)attaching: no new lab
        assert mesh.attached and not mesh.owned
        assert sorted(mesh.pods()) == ["service-go-v1-0"]
        assert get(mesh)[0] == 200
        mesh.close()  # closing an attached handle leaves the lab running
        assert get(MeshBackend(home=lab_home, attach_only=True))[0] == 200
        stats = _cli(lab_home, "stats", SERVICE, "--grep", "upstream_rq_total")
        assert stats.returncode == 0, stats.stderr
        assert f"cluster.{SERVICE}.upstream_rq_total: 2" in stats.stdout
        pc = _cli(lab_home, "proxy-config", "cluster")
        assert pc.returncode == 0 and SERVICE in pc.stdout
        load = _cli(lab_home, "fortio", "load", "-c", "2", "-n", "10", "-qps", "0", "http://service-go/env")
        assert load.returncode == 0, load.stderr
        assert "Code 200 : 10" in load.stdout + load.stderr
        gone = _cli(lab_home, "delete", "-f", str(svc))
        assert gone.returncode == 0 and "Deployment/service-go-v1 deleted" in gone.stdout, gone.stderr
        assert MeshBackend(home=lab_home, attach_only=True).pods() == {}
    finally:
        out = _cli(lab_home, "cleanup")
    assert out.returncode == 0, out.stderr
    assert not processes_under(lab_home)
    assert _cli(lab_home, "cleanup").returncode == 0
    with pytest.raises(LabNotRunning):
        MeshBackend(home=lab_home, attach_only=True)


def test_cli_reports_bad_manifest_with_file_and_line(lab_home, write):
    bad = write("bad.yaml", "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: x}\n"
                "spec:\n  host: service-go\n  trafficPolicy:\n    connectionPool:\n      tcp:\n"
                "        maxConnections: lots\n")
    try:
        out = _cli(lab_home, "apply", "-f", str(bad))
        assert out.returncode == 1
        assert f"{bad}:9" in out.stderr
    finally:
        _cli(lab_home, "cleanup")


def test_owned_lab_rss_is_reported(mesh):
    rss = mesh.rss_bytes()
    assert 10e6 < rss < 2e9
    assert psutil.pid_exists(mesh.processes()[0].pid)


def test_workers_and_track_remaining_are_lab_options(make_mesh, write):
    mesh = make_mesh(workers=1, track_remaining=True)
    mesh.apply(write("service-go.yaml", service_go_yaml(versions=("v1",))))
    mesh.apply(write("dr.yaml", destination_rule_yaml(max_connections=2, pending=3, subsets=False)))
    stats = mesh.stats(SERVICE)
    assert stats["circuit_breakers.default.remaining_pending"] == 3
    assert stats["circuit_breakers.default.remaining_cx"] == 2
    for r in mesh.processes():
        cmd = psutil.Process(r.pid).cmdline()
        if "envoy" in cmd[0]:
            assert cmd[cmd.index("--concurrency") + 1] == "1"
    assert mesh.workers == 1


def test_default_sidecars_run_two_workers_without_remaining_gauges(mesh):
    assert "circuit_breakers.default.remaining_pending" not in mesh.stats(SERVICE).values
    cmds = [psutil.Process(r.pid).cmdline() for r in mesh.processes()]
    workers = [c[c.index("--concurrency") + 1] for c in cmds if "envoy" in c[0]]
    assert workers == ["2"] * (1 + len(mesh.pods())), "the fortio pod's sidecar and one per service pod"


def test_delete_takes_objects_in_any_order(mesh, write):  # the module's lab: service-go v1, v2
    dr = write("dr.yaml", destination_rule_yaml(max_connections=5))
    vs = write("vs.yaml", VS_50_50)
    mesh.apply(dr)
    mesh.apply(vs)
    assert mesh.applied()[-2:] == ["DestinationRule/service-go", "VirtualService/service-go"]
    assert mesh.delete(vs) == ["VirtualService/service-go"]  # its subsets need no DestinationRule to go
    assert mesh.delete(vs) == []  # already gone: tolerated
    assert mesh.delete(dr) == ["DestinationRule/service-go"]
    assert get(mesh)[0] == 200
    assert not mesh.hosts(SUBSET_V1)  # the subset clusters went with the DestinationRule


def test_a_port_taken_before_envoy_binds_it_is_picked_again(make_mesh, write, monkeypatch):
    import lablib.backends.mesh.backend as backend

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    real = backend._free_ports
    calls = []

    def racy():  # the first plan's first port is one someone else already listens on
        calls.append(1)
        ports = real()
        if len(calls) == 1:
            yield busy
        yield from ports

    monkeypatch.setattr(backend, "_free_ports", racy)
    mesh = make_mesh()
    try:
        mesh.apply(write("service-go.yaml", service_go_yaml(versions=("v1",))))
        assert len(calls) >= 2
        assert busy not in {p.port for p in mesh.pods().values()}
        assert get(mesh)[0] == 200
    finally:
        taken.close()


def test_reapplying_a_changed_pod_template_replaces_its_pods(make_mesh, write):
    mesh = make_mesh()
    path = write("service-go.yaml", service_go_yaml(versions=("v1",)))
    mesh.apply(path)
    before = mesh.pods()["service-go-v1-0"].procs
    path.write_text(path.read_text().replace("version: v1", "version: v9"))  # labels, selector, template
    mesh.apply(path)
    pod = mesh.pods()["service-go-v1-0"]
    assert pod.labels["version"] == "v9"
    assert not any(r.alive() for r in before) and all(r.alive() for r in pod.procs)
    assert json.loads(get(mesh)[1]) == {"message": "go v9"}
