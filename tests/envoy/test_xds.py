"""``lablib.envoy.xds`` on real Envoys reading CDS/LDS from files: a push is confirmed against the live Envoy,
a rejected file is never taken for an accepted one (not even when it is already on disk), and ``push_all``
is all or nothing across Envoys, saying so when even the way back fails."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from lablib.envoy import xds
from lablib.envoy.bootstrap import CLUSTER_TYPE, LISTENER_TYPE, bootstrap, discovery_response, write_atomic
from lablib.envoy.process import admin_socket_name, start_envoy, wait_ready, with_kill

pytestmark = pytest.mark.envoy


def _cluster(name: str, address: str = "127.0.0.1") -> dict:
    return {"name": name, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": address, "port_value": 9}}}}]}]}}


@pytest.fixture
def envoys(tmp_path: Path) -> Iterator[list[xds.SidecarConfig]]:
    """Two Envoys, each with empty CDS and LDS files; their SidecarConfig has the CDS file only."""
    launches, sidecars = [], []
    try:
        for name in ("a", "b"):
            cds, lds = tmp_path / f"{name}-cds.json", tmp_path / f"{name}-lds.json"
            write_atomic(cds, discovery_response([], CLUSTER_TYPE, "0"))
            write_atomic(lds, discovery_response([], LISTENER_TYPE, "0"))
            config = tmp_path / f"{name}-bootstrap.json"
            write_atomic(config, bootstrap(name, cds_path=cds, lds_path=lds,
                                           admin_socket=admin_socket_name(name)))
            launch = start_envoy(config, workdir=tmp_path, name=name, workers=1)
            launches.append(launch)
            admin = wait_ready(launch, name=f"envoy {name}")
            sidecars.append(xds.SidecarConfig(f"envoy {name}", admin, launch.log_path,
                                              [xds.XdsFile(CLUSTER_TYPE, cds, [])]))
        yield sidecars
    finally:
        for launch in launches:
            with_kill(launch.popen)


def _with(sidecar: xds.SidecarConfig, *clusters: dict) -> xds.SidecarConfig:
    f = sidecar.files[0]
    return xds.SidecarConfig(sidecar.sidecar, sidecar.admin, sidecar.log_path,
                             [xds.XdsFile(f.type_url, f.path, [copy.deepcopy(c) for c in clusters])])


def _live(sidecar: xds.SidecarConfig) -> set[str]:
    return {i["cluster"]["name"] for i in sidecar.admin.config_dump("dynamic_active_clusters")}


def _version(sidecar: xds.SidecarConfig) -> str:
    readouts = sidecar.admin.text_readouts(r"^cluster_manager\.cds\.version_text$")
    return readouts["cluster_manager.cds.version_text"]


def test_push_confirms_and_a_rejected_file_on_disk_is_still_rejected(envoys):
    a = envoys[0]
    good = _with(a, _cluster("x"))
    xds.push_all([good], [a], version="1", old_version="0")
    assert _live(a) == {"x"} and _version(a) == "1"
    xds.push_all([good], [a], version="2", old_version="1")  # same resources again: pushed and confirmed
    assert _version(a) == "2"

    bad = _with(a, _cluster("x"), _cluster("y", "not-an-ip"))
    for _ in range(2):  # the second time the file on disk already holds exactly this: still rejected
        with pytest.raises(xds.XdsRejected) as err:
            xds.push(bad, bad.files[0], "3")
        assert "not-an-ip" in err.value.envoy_output and err.value.blamed == ["y"]
    assert _version(a) == "2" and _live(a) == {"x"}
    with pytest.raises(Exception, match="runs CDS version 2, not the pushed 3"):
        xds.verify(bad, bad.files[0], "3")


def test_push_all_rolls_every_envoy_back_when_one_rejects(envoys):
    a, b = envoys
    xds.push_all([_with(a, _cluster("x")), _with(b, _cluster("x"))], envoys, version="1", old_version="0")
    old = [_with(a, _cluster("x")), _with(b, _cluster("x"))]
    new = [_with(a, _cluster("x"), _cluster("y")), _with(b, _cluster("x"), _cluster("y", "not-an-ip"))]
    with pytest.raises(xds.XdsRejected) as err:
        xds.push_all(new, old, version="2", old_version="1")
    assert err.value.sidecar == "envoy b" and not err.value.rollback_problems
    for sidecar in envoys:  # a took y, then gave it back; b took the valid x but is on version 1 again too
        assert _live(sidecar) == {"x"} and _version(sidecar) == "1"


def test_push_all_says_when_the_way_back_fails_too(envoys):
    a = envoys[0]
    broken_old = [_with(a, _cluster("x", "not-an-ip"))]
    with pytest.raises(xds.XdsRejected) as err:
        xds.push_all([_with(a, _cluster("y", "not-an-ip"))], broken_old, version="1", old_version="0")
    assert err.value.rollback_problems and "envoy a rejected" in err.value.rollback_problems[0]
    assert "putting the previous config back failed too" in str(err.value)
