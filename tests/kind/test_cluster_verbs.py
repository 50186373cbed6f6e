"""The cluster backend's verbs whose commands and parsers can be checked for real without a cluster:

- ``set_fault`` runs ``plan.fault_command`` in the app container; here the same argv runs against a real
  service-go process on 127.0.0.1 (only ``python`` is swapped for this interpreter).
- ``responses``/``explain`` parse Istio's text access log; here a real Envoy writes that format (Istio's
  ``EnvoyTextLogFormat``) for real responses: 200, a 503 from the app (fault knob), a 503 UO from a breaker,
  and a 404 NR (no route).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lablib.backends.kind import _plan as plan
from lablib.backends.kind._access_log import ISTIO_TEXT_FORMAT, parse_istio_access_log
from lablib.envoy.process import start_envoy, wait_ready, with_kill
from tests.support import free_port

CLUSTER = "outbound|80||service-go.default.svc.cluster.local"


@pytest.fixture
def service_go(tmp_path: Path) -> Iterator[int]:
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, "-m", "lablib.service_go", "--host", "127.0.0.1", "--port", "0",
                             "--version", "v1", "--service-time-ms", "50", "--port-file", str(port_file)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None and time.monotonic() < deadline, "service-go did not start"
            time.sleep(0.05)
        yield int(port_file.read_text())
    finally:
        proc.kill()
        proc.wait()


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_fault_command_sets_service_gos_knob(service_go):
    argv = plan.fault_command(503, 0.5, port=service_go)
    assert argv[0] == "python"  # the image's interpreter; nothing else is needed in the container
    done = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(done.stdout) == {"code": 503, "fraction": 0.5, "delay_ms": 0.0}
    with urllib.request.urlopen(f"http://127.0.0.1:{service_go}/fault", timeout=10) as resp:
        assert json.loads(resp.read()) == {"code": 503, "fraction": 0.5, "delay_ms": 0.0}
    subprocess.run([sys.executable, *plan.fault_command(503, 0.0, port=service_go)[1:]], check=True,
                   capture_output=True, timeout=30)
    assert _get(f"http://127.0.0.1:{service_go}/env") == 200


def test_pods_of_a_deployment_are_found_by_their_replicaset():
    pods = [
        {"metadata": {"name": "service-go-v1-6df8664cb-2jkxr", "labels": {"pod-template-hash": "6df8664cb"},
                      "ownerReferences": [{"kind": "ReplicaSet", "name": "service-go-v1-6df8664cb"}]}},
        {"metadata": {"name": "service-go-v10-7c9-abcde", "labels": {"pod-template-hash": "7c9"},
                      "ownerReferences": [{"kind": "ReplicaSet", "name": "service-go-v10-7c9"}]}},
        {"metadata": {"name": "fortio"}},
    ]
    assert plan.pods_of_target(pods, "service-go-v1") == ["service-go-v1-6df8664cb-2jkxr"]
    assert plan.pods_of_target(pods, "fortio") == ["fortio"]
    assert plan.pods_of_target(pods, "service-go") == []


def _envoy_config(listen: int, app: int, log: Path) -> dict:
    route = {"name": "80", "virtual_hosts": [{"name": "service-go", "domains": ["*"], "routes": [
        {"match": {"prefix": "/env"}, "route": {"cluster": CLUSTER, "timeout": "10s"}}]}]}
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                    "HttpConnectionManager",
           "stat_prefix": "outbound_0.0.0.0_80", "route_config": route,
           "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
               "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
           "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
               "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
               "path": str(log),
               "log_format": {"text_format_source": {"inline_string": ISTIO_TEXT_FORMAT}}}}]}
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [{"name": "0.0.0.0_80", "address": {"socket_address": {
                "address": "127.0.0.1", "port_value": listen}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}]}],
            "clusters": [{"name": CLUSTER, "type": "STATIC", "connect_timeout": "1s",
                          # One request at a time, no queue: a second concurrent call overflows (UO).
                          "circuit_breakers": {"thresholds": [{"max_requests": 1, "max_pending_requests": 1,
                                                               "max_connections": 1}]},
                          "load_assignment": {"cluster_name": CLUSTER, "endpoints": [{"lb_endpoints": [
                              {"endpoint": {"address": {"socket_address": {
                                  "address": "127.0.0.1", "port_value": app}}}}]}]}}]}}


@pytest.mark.envoy
def test_istios_text_access_log_from_a_real_envoy_parses_into_records(service_go, tmp_path):
    listen, log = free_port(), tmp_path / "access.log"
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml.safe_dump(_envoy_config(listen, service_go, log)))
    launch = start_envoy(config, workdir=tmp_path, name="client", workers=1)
    try:
        wait_ready(launch, name="client")
        since = time.time() - 1
        url = f"http://127.0.0.1:{listen}"
        assert _get(f"{url}/env") == 200
        assert _get(f"{url}/nowhere") == 404  # no route: NR
        subprocess.run([sys.executable, *plan.fault_command(503, 1.0, port=service_go)[1:]], check=True,
                       capture_output=True, timeout=30)
        assert _get(f"{url}/env") == 503  # the app answered 503
        subprocess.run([sys.executable, *plan.fault_command(503, 0.0, port=service_go)[1:]], check=True,
                       capture_output=True, timeout=30)
        codes: list[int] = []
        threads = [threading.Thread(target=lambda: codes.append(_get(f"{url}/env"))) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 503 in codes  # 8 concurrent calls through a 1-request breaker: some overflowed
        deadline = time.monotonic() + 10
        records = []
        while time.monotonic() < deadline:
            lines = log.read_text().splitlines() if log.exists() else []
            records = parse_istio_access_log(lines, since=since)
            if len(records) >= 11:
                break
            time.sleep(0.1)
    finally:
        with_kill(launch.popen)
    assert len(records) == 11
    assert all(abs(r.start_time - time.time()) < 120 for r in records)
    by_flags = {(r.code, r.flags, r.details) for r in records}
    assert (200, "-", "via_upstream") in by_flags
    assert (404, "NR", "route_not_found") in by_flags
    assert (503, "-", "via_upstream") in by_flags  # the app's own 503: no Envoy flag
    overflows = [r for r in records if r.flags == "UO"]
    assert overflows and all(r.code == 503 and r.upstream_cluster == CLUSTER for r in overflows)
    ok = next(r for r in records if r.code == 200)
    assert ok.upstream_host == f"127.0.0.1:{service_go}" and ok.path == "/env" and ok.duration_ms >= 40
