"""Pure planning of client pods and per-pod workers: a fortio pod other than ``fortio`` is a sidecar with its
own outbound config, listeners and access log (no app, no endpoint); ``proxy.istio.io/config``
``concurrency`` is its sidecar's workers, read when the pod is created: a Deployment's changed template rolls
out new pods, a running Pod keeps its sidecar."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml
from mesh_helpers import service_go_yaml

from lablib import LabError
from lablib.backends.mesh import _plan
from lablib.envoy.bootstrap import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from lablib.translate.proxy_config import proxy_concurrency, sidecar_workers

CONFIG = Path("/lab/config")
LOG = Path("/lab/logs/fortio-sidecar-access.log")
REPO = Path(__file__).resolve().parents[2]


def client(name: str, concurrency: int | None = None) -> str:
    body = yaml.safe_load((REPO / "manifests/kubernetes/fortio-2.yaml").read_text())
    body["metadata"]["name"] = name
    if concurrency is not None:
        body["metadata"]["annotations"]["proxy.istio.io/config"] += f"concurrency: {concurrency}\n"
    return yaml.safe_dump(body)


def plan(*texts: str, current=None, listeners=None):
    bodies = [d for text in texts for d in yaml.safe_load_all(text) if d]
    return _plan.plan_sync(bodies, current or {}, listeners or {}, itertools.count(20000), config=CONFIG,
                           access_log=LOG)


def test_a_second_fortio_pod_is_a_client_sidecar_with_its_own_listeners_and_log():
    p = plan(service_go_yaml(versions=("v1",)), client("fortio"), client("fortio-2"))
    assert "fortio" not in p.pods.start, "the fortio pod is the lab's own client sidecar"
    second = p.pods.start["fortio-2"]
    assert second.client and (second.port, second.app_port) == (0, 0)
    assert set(second.listeners) == {"80"} and second.listeners["80"] != p.client_listeners["80"]
    assert [e.pod for e in _plan.endpoints_of(p.pods.pods)] == ["service-go-v1-0"], "no endpoint of a service"
    files = p.sidecar("fortio-2").files
    assert [(t, f.name) for t, f, _ in files] == [(CLUSTER_TYPE, "pod-fortio-2-cds.json"),
                                                  (ROUTE_TYPE, "pod-fortio-2-rds-80.json"),
                                                  (LISTENER_TYPE, "pod-fortio-2-lds.json")]
    assert files[0][2] == p.sidecar(_plan.CLIENT).files[0][2], "the same outbound clusters as the fortio pod"
    listener = files[2][2][0]
    assert listener["address"]["socket_address"]["port_value"] == second.listeners["80"]
    assert "fortio-2-sidecar-access.log" in str(listener)


def test_a_kept_client_keeps_its_listener_ports_and_a_changed_concurrency_keeps_it_running():
    first = plan(service_go_yaml(versions=("v1",)), client("fortio-2", 1))
    pod = first.pods.start["fortio-2"]
    assert pod.workers == 1
    again = plan(service_go_yaml(versions=("v1",)), client("fortio-2", 1), current=first.pods.pods,
                 listeners=first.client_listeners)
    assert "fortio-2" in again.pods.keep and again.pods.keep["fortio-2"].listeners == pod.listeners
    assert again.pods.kept_workers == []
    # A Pod is not re-created by an apply: its sidecar keeps the workers it was injected with.
    changed = plan(service_go_yaml(versions=("v1",)), client("fortio-2", 4), current=first.pods.pods,
                   listeners=first.client_listeners)
    assert changed.pods.keep["fortio-2"].workers == 1 and not changed.pods.stop and not changed.pods.start
    assert changed.pods.kept_workers == ["fortio-2"]
    # Another change of the Pod (its labels here) still starts it afresh, on the new annotation.
    relabelled = client("fortio-2", 4).replace("app: fortio", "app: fortio\n    team: b")
    assert "team: b" in relabelled
    moved = plan(service_go_yaml(versions=("v1",)), relabelled, current=first.pods.pods,
                 listeners=first.client_listeners)
    assert moved.pods.start["fortio-2"].workers == 4 and moved.pods.kept_workers == []


def test_a_deployments_changed_concurrency_rolls_out_new_pods():
    def service(concurrency: int) -> str:
        body = [d for d in yaml.safe_load_all(service_go_yaml(versions=("v1",))) if d]
        template = body[1]["spec"]["template"]["metadata"]
        template["annotations"] = {"proxy.istio.io/config": f"concurrency: {concurrency}\n"}
        return "---\n".join(yaml.safe_dump(d) for d in body)

    first = plan(service(1))
    assert first.pods.start["service-go-v1-0"].workers == 1
    changed = plan(service(4), current=first.pods.pods, listeners=first.client_listeners)
    assert changed.pods.start["service-go-v1-0"].workers == 4
    assert [p.name for p in changed.pods.stop] == ["service-go-v1-0"] and changed.pods.kept_workers == []


def test_proxy_config_concurrency_follows_istio():
    annotation = "proxy.istio.io/config"
    assert proxy_concurrency({}) is None
    assert proxy_concurrency({annotation: "holdApplicationUntilProxyStarts: true"}) is None
    assert proxy_concurrency({annotation: "concurrency: 3\n"}) == 3
    assert sidecar_workers({annotation: "concurrency: 0"}, 2) >= 1, "0: every core of the machine"
    assert sidecar_workers({}, 2) == 2 and sidecar_workers(None, None) is None
    for bad in ("concurrency: -1", "concurrency: two", "concurrency: [1"):
        with pytest.raises(LabError, match=r"proxy\.istio\.io/config"):
            proxy_concurrency({annotation: bad})
