"""An apply reaches every sidecar (the fortio pod's and each server pod's) and is confirmed from each live
Envoy, or changes nothing: a rejection anywhere puts every sidecar back on the previous config, leaves the
state as it was, and says who rejected what at which manifest line. Issue #10's partial apply and "retried
apply says configured" are the regressions here.

Envoy must really reject something that passes validation, so a test wraps ``_plan.desired`` (the pure
function that says what each sidecar runs) to give one sidecar a cluster with an address Envoy refuses
(``not-an-ip``) whenever the DestinationRule asks for ``maxConnections: 10``. Everything else is real.
"""

from __future__ import annotations

import copy
import json

import pytest
from mesh_helpers import SUBSET_V1, destination_rule_yaml, service_go_yaml

from lablib import EnvoyError
from lablib.backends.mesh import _plan
from lablib.envoy import bootstrap, xds

pytestmark = pytest.mark.envoy
PODS = ("service-go-v1-0", "service-go-v2-0")
SIDECARS = ("fortio", *PODS)


def _poison(monkeypatch: pytest.MonkeyPatch, victim: str) -> None:
    """From now on, a max_connections of 10 makes ``victim``'s clusters point at an address Envoy rejects."""
    real = _plan.desired

    def desired(*args, **kwargs):
        out = real(*args, **kwargs)
        for sidecar in out:
            if sidecar.sidecar != victim:
                continue
            for type_url, _path, resources in sidecar.files:
                for cluster in resources if type_url == bootstrap.CLUSTER_TYPE else ():
                    limits = (cluster.get("circuit_breakers") or {}).get("thresholds") or [{}]
                    localities = cluster.get("load_assignment", {}).get("endpoints") or []
                    if limits[0].get("max_connections") == 10 and localities:  # one with a host to spoil
                        endpoint = localities[0]["lb_endpoints"][0]["endpoint"]
                        endpoint["address"]["socket_address"]["address"] = "not-an-ip"
        return out

    monkeypatch.setattr(_plan, "desired", desired)


def _max_connections(mesh, pod: str) -> set[int]:
    """The max_connections every cluster of that sidecar runs, read from its live /config_dump."""
    found = set()
    key = _plan.CLIENT if pod == "fortio" else pod
    for item in mesh._admin(key).config_dump("dynamic_active_clusters"):
        for t in (item["cluster"].get("circuit_breakers") or {}).get("thresholds", []):
            if "max_connections" in t:
                found.add(int(t["max_connections"]))
    return found


def _addresses(mesh, pod: str) -> str:
    key = _plan.CLIENT if pod == "fortio" else pod
    return json.dumps(mesh._admin(key).config_dump("dynamic_active_clusters"))


@pytest.mark.parametrize("victim", ["service-go-v2-0", _plan.CLIENT])
def test_a_rejection_anywhere_leaves_every_sidecar_and_the_state_on_the_previous_config(
        mesh, write, monkeypatch, victim):  # the module's lab: service-go v1 and v2
    mesh.apply(write("dr5.yaml", destination_rule_yaml(max_connections=5)))
    assert all(_max_connections(mesh, s) == {5} for s in SIDECARS)
    state_before = mesh.dir.read()
    _poison(monkeypatch, victim)

    dr10 = write("dr10.yaml", destination_rule_yaml(max_connections=10))
    for _attempt in (1, 2):  # a retried apply of a rejected file fails again: the live Envoy is what counts
        with pytest.raises(EnvoyError) as err:
            mesh.apply(dr10)
        message = str(err.value)
        who = "the fortio pod's sidecar" if victim == _plan.CLIENT else f"the sidecar of pod {victim}"
        # Positioned in the manifest's terms, with who rejected it and Envoy's own words on a details line.
        line = next(i for i, t in enumerate(dr10.read_text().splitlines(), 1) if "maxConnections" in t)
        field = "spec.trafficPolicy.connectionPool.tcp.maxConnections"
        assert f"{dr10}:{line}: DestinationRule/service-go: {field}: {who} rejected" in message, message
        assert "nothing was applied" in message
        assert "not-an-ip" in err.value.envoy_output
        for s in SIDECARS:  # every sidecar, the ones that took the new config first included, is back on 5
            assert _max_connections(mesh, s) == {5}, s
            assert "not-an-ip" not in _addresses(mesh, s)
        state = mesh.dir.read()
        assert state.objects == state_before.objects and state.config_version == state_before.config_version
        assert {n: p.procs for n, p in state.pods.items()} == \
            {n: p.procs for n, p in state_before.pods.items()}

    # The pods still serve, and a good value goes everywhere.
    mesh.apply(write("dr7.yaml", destination_rule_yaml(max_connections=7)))
    assert all(_max_connections(mesh, s) == {7} for s in SIDECARS)
    assert mesh.fortio("load -c 1 -n 4 -qps 0 -loglevel Error http://service-go/env").codes == {200: 4}


def test_cds_accepted_but_rds_rejected_rolls_cds_back_too(make_mesh, write):
    """Envoy 1.40 takes a CDS file and may then reject the matching RDS: the CDS change must not stay."""
    mesh = make_mesh()
    mesh.apply(write("service-go.yaml", service_go_yaml(versions=("v1",))))
    state = mesh.dir.read()
    now = mesh._desired(state)
    client = mesh._sidecar_config(next(s for s in now if s.sidecar == _plan.CLIENT))
    cds, rds, lds = client.files
    extra = copy.deepcopy(cds.resources[0])
    extra["name"] = "outbound|80|extra|service-go.default.svc.cluster.local"
    extra["load_assignment"]["cluster_name"] = extra["name"]
    bad_routes = copy.deepcopy(rds.resources)
    bad_routes[0]["virtual_hosts"][0]["routes"][0]["match"] = {"safe_regex": {"regex": "(unclosed"}}
    new = xds.SidecarConfig(client.sidecar, client.admin, client.log_path, [
        xds.XdsFile(cds.type_url, cds.path, [*cds.resources, extra]),
        xds.XdsFile(rds.type_url, rds.path, bad_routes), lds])
    with pytest.raises(xds.XdsRejected) as err:
        xds.push_all([new], [client], version="99", old_version=str(state.config_version))
    assert err.value.xds_file.type_url == bootstrap.ROUTE_TYPE
    assert "unclosed" in err.value.envoy_output or "regex" in err.value.envoy_output.lower()
    live = {i["cluster"]["name"] for i in client.admin.config_dump("dynamic_active_clusters")}
    assert extra["name"] not in live and SUBSET_V1 not in live
    assert client.admin.text_readouts(r"^cluster_manager\.cds\.version_text$") == {
        "cluster_manager.cds.version_text": str(state.config_version)}
    assert mesh.fortio("load -c 1 -n 2 -qps 0 -loglevel Error http://service-go/env").codes == {200: 2}


def test_a_file_already_on_disk_is_pushed_and_confirmed_again(mesh, write):
    """"Already on disk" is not "running": an apply that changes nothing still confirms every sidecar."""
    path = write("service-go.yaml", service_go_yaml(versions=("v1",)))  # as the module's lab has it
    mesh.apply(path)
    before = mesh.dir.read().config_version
    mesh.apply(path)
    version = str(mesh.dir.read().config_version)
    assert int(version) == before + 1
    for key in (_plan.CLIENT, "service-go-v1-0"):
        readouts = mesh._admin(key).text_readouts(
            r"^(cluster_manager\.cds|listener_manager\.lds)\.version_text$")
        assert set(readouts.values()) == {version}, (key, readouts)


def test_a_new_pod_that_rejects_its_first_config_is_not_left_running(make_mesh, write, monkeypatch, lab_home):
    from tests.support import processes_under

    mesh = make_mesh()
    mesh.apply(write("v1.yaml", service_go_yaml(versions=("v1",)) + "---\n" +
                     destination_rule_yaml(max_connections=5)))
    before = mesh.dir.read()
    _poison(monkeypatch, "service-go-v2-0")
    both = write("both.yaml", service_go_yaml() + "---\n" + destination_rule_yaml(max_connections=10))
    with pytest.raises(EnvoyError) as err:
        mesh.apply(both)
    assert "the sidecar of pod service-go-v2-0 rejected" in str(err.value)
    assert f"{both}:" in str(err.value) and "not-an-ip" in err.value.envoy_output
    assert not [p for p in processes_under(lab_home) if "service-go-v2-0" in " ".join(p.cmdline())]
    after = mesh.dir.read()
    assert list(after.pods) == ["service-go-v1-0"] and after.objects == before.objects
    assert all(_max_connections(mesh, s) == {5} for s in ("fortio", "service-go-v1-0"))


def test_a_pod_replaced_by_a_failed_apply_comes_back_on_its_old_template_and_ports(make_mesh, write,
                                                                                   monkeypatch):
    mesh = make_mesh()
    mesh.apply(write("v1.yaml", service_go_yaml(versions=("v1",)) + "---\n" +
                     destination_rule_yaml(max_connections=5)))
    old = mesh.pods()["service-go-v1-0"]
    _poison(monkeypatch, _plan.CLIENT)
    changed = service_go_yaml(versions=("v1",)).replace("lablib/service-go:v1", "lablib/service-go:v1b")
    with pytest.raises(EnvoyError, match="the fortio pod's sidecar rejected"):
        mesh.apply(write("changed.yaml", changed + "---\n" + destination_rule_yaml(max_connections=10)))
    pod = mesh.pods()["service-go-v1-0"]
    assert (pod.image, pod.port, pod.app_port) == (old.image, old.port, old.app_port)
    assert pod.procs != old.procs and all(r.alive() for r in pod.procs)
    assert all(_max_connections(mesh, s) == {5} for s in ("fortio", "service-go-v1-0"))
    assert mesh.fortio("load -c 1 -n 4 -qps 0 -loglevel Error http://service-go/env").codes == {200: 4}
