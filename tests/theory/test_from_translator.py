"""Limits read from what ``lablib.translate`` builds out of the lab's own manifests (the book's layout)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lablib.theory import limit_band, limits_for, overflow_onset, theoretical_limit

REPO = Path(__file__).resolve().parents[2]
SERVICE = "manifests/service/go/service-go.yaml"
VS_50_50 = "manifests/istio/route/virtual-service-go-v1-v2-50.yaml"
V1 = "outbound|80|v1|service-go.default.svc.cluster.local"
V2 = "outbound|80|v2|service-go.default.svc.cluster.local"
DEFAULT = "outbound|80||service-go.default.svc.cluster.local"


def mesh(*files: str):
    manifests = pytest.importorskip("lablib.manifests")
    translate = pytest.importorskip("lablib.translate")
    objects = manifests.load_files([REPO / f for f in files])
    endpoints = [translate.Endpoint(pod.name, pod.namespace, pod.labels, "127.0.0.1", 15000 + i,
                                    app_port=16000 + i)
                 for i, pod in enumerate(manifests.pods_of(objects))]
    return translate.translate(objects, endpoints)


def test_istio_task_rule_without_virtual_service_uses_the_default_cluster() -> None:
    limits = limits_for(mesh(SERVICE, "manifests/istio/resilience/destination-rule-go-istio-task.yaml"),
                        "service-go", workers=1)
    assert [(lim.cluster, lim.weight, lim.endpoints) for lim in limits] == [(DEFAULT, 1.0, 2)]
    assert theoretical_limit(limits) == 2 and limit_band(limits) == (1, 3)


def test_book_rule_with_pending_limit_and_50_50_split_admits_10_plus_10_per_subset() -> None:
    limits = limits_for(mesh(SERVICE, "manifests/istio/resilience/destination-rule-go-cb-pending.yaml",
                             VS_50_50), "service-go", workers=2)
    assert [(lim.cluster, lim.weight) for lim in limits] == [(V1, 0.5), (V2, 0.5)]
    assert all((lim.in_flight, lim.queue) == (10, 10) for lim in limits)
    assert theoretical_limit(limits) == 40 == overflow_onset(limits)


def test_seed_rule_leaves_the_queue_unlimited_so_the_exact_breaker_never_rejects() -> None:
    limits = limits_for(mesh(SERVICE, "manifests/istio/resilience/destination-rule-go-cb.yaml", VS_50_50),
                        "service-go", workers=2)
    assert theoretical_limit(limits) == math.inf
    # ...but real Envoy with 2 workers may reject past max_requests on a slack connection.
    assert limit_band(limits)[0] == 20
