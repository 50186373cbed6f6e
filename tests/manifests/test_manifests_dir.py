"""Every manifest shipped in manifests/ loads without error, in the lab state of the step that uses it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lablib.manifests import load_file, load_files, validate_files

ROOT = Path(__file__).resolve().parents[2] / "manifests"
#: Every manifest we ship, relative to manifests/ (manifests/kind/ is the cluster config, not a lab object).
SHIPPED = sorted(p.relative_to(ROOT) for p in ROOT.rglob("*.yaml") if p.relative_to(ROOT).parts[0] != "kind")


def test_the_book_layout_is_there(manifests_dir):
    for name in [
        "kubernetes/fortio.yaml",
        "service/go/service-go.yaml",
        "istio/route/virtual-service-go.yaml",
        "istio/route/virtual-service-go-v1-v2-50.yaml",
        "istio/resilience/destination-rule-go-cb.yaml",
        "istio/resilience/destination-rule-go-cb-pending.yaml",
        "istio/resilience/destination-rule-go-istio-task.yaml",
        "istio/resilience/destination-rule-go-outlier.yaml",
    ]:
        assert (manifests_dir / name).is_file(), name


@pytest.mark.parametrize("name", [str(p) for p in SHIPPED])
def test_each_manifest_loads_without_error_on_top_of_the_workloads(name, manifests_dir, workloads):
    path = manifests_dir / name
    # The 50/50 route needs a rule that defines subsets v1/v2 first, as in the lab.
    context = list(workloads)
    if "virtual-service" in name:
        context += load_file(manifests_dir / "istio/resilience/destination-rule-go-cb.yaml")
    objects = load_file(path, context=context)
    assert objects, "the file holds at least one object"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# "), "each file opens with a header comment saying what it demonstrates"
    problems = validate_files([path], context=context)
    if name.endswith("destination-rule-go-cb.yaml"):
        assert [p.path for p in problems] == ["spec.trafficPolicy.outlierDetection.consecutiveErrors"]
        assert problems[0].severity == "warning"
    else:
        assert problems == [], "\n".join(map(str, problems))


def test_the_lab_steps_applied_in_order_give_no_error(manifests_dir):
    steps = [
        "kubernetes/fortio.yaml",
        "service/go/service-go.yaml",
        "istio/route/virtual-service-go.yaml",
        "istio/resilience/destination-rule-go-cb.yaml",
        "istio/route/virtual-service-go-v1-v2-50.yaml",
    ]
    objects = load_files([manifests_dir / s for s in steps])
    assert [o.kind for o in objects] == [
        "Pod",
        "Service",
        "Deployment",
        "Deployment",
        "VirtualService",
        "DestinationRule",
        "VirtualService",
    ]


def test_the_breaker_rule_is_the_seed_with_an_ascii_colon(manifests_dir, seed_text):
    shipped = (manifests_dir / "istio/resilience/destination-rule-go-cb.yaml").read_text(encoding="utf-8")
    body = "".join(line + "\n" for line in shipped.splitlines() if not line.startswith("#"))
    assert body == seed_text.replace("apiVersion\uff1a", "apiVersion: ", 1)


def test_the_rules_say_what_the_book_and_the_istio_task_say(manifests_dir):
    def pool(name):
        doc = yaml.safe_load((manifests_dir / "istio/resilience" / name).read_text(encoding="utf-8"))
        return doc["spec"]["trafficPolicy"]

    assert (
        pool("destination-rule-go-cb-pending.yaml")["connectionPool"]["http"]["http1MaxPendingRequests"] == 10
    )
    task = pool("destination-rule-go-istio-task.yaml")
    assert task["connectionPool"] == {
        "tcp": {"maxConnections": 1},
        "http": {"http1MaxPendingRequests": 1, "maxRequestsPerConnection": 1},
    }
    assert task["outlierDetection"] == {
        "consecutive5xxErrors": 1,
        "interval": "1s",
        "baseEjectionTime": "3m",
        "maxEjectionPercent": 100,
    }
    outlier = pool("destination-rule-go-outlier.yaml")["outlierDetection"]
    assert outlier == {
        "consecutive5xxErrors": 3,
        "interval": "1s",
        "baseEjectionTime": "15s",
        "maxEjectionPercent": 100,
    }


def test_the_weighted_route_ships_no_destination_rule(manifests_dir):
    objects = load_file(
        manifests_dir / "istio/route/virtual-service-go-v1-v2-50.yaml",
        context=load_file(manifests_dir / "istio/resilience/destination-rule-go-cb.yaml"),
    )
    assert [o.kind for o in objects] == ["VirtualService"]
    weights = [(r["destination"]["subset"], r["weight"]) for r in objects[0].spec["http"][0]["route"]]
    assert weights == [("v1", 50), ("v2", 50)]
