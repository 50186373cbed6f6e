"""Across objects and files, like istioctl analyze: undefined subsets (IST0101), subsets selecting no pod,
two rules for one host, a rule replacing the breaker without one."""

from __future__ import annotations

import pytest

from lablib import ValidationFailed
from lablib.manifests import load_file, load_files, validate_files

CB = "istio/resilience/destination-rule-go-cb.yaml"
OUTLIER = "istio/resilience/destination-rule-go-outlier.yaml"
VS_50 = "istio/route/virtual-service-go-v1-v2-50.yaml"

RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: {name}
spec:
  host: {host}
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 10
  subsets:
  - name: v1
    labels:
      version: {label}
"""


def rule(name="service-go", host="service-go", label="v1"):
    return RULE.format(name=name, host=host, label=label)


def test_a_route_to_a_subset_no_rule_defines_is_an_error(manifests_dir, actionable, line_of):
    path = manifests_dir / VS_50
    problems = validate_files([path])
    assert [p.path for p in problems] == [
        "spec.http[0].route[0].destination.subset",
        "spec.http[0].route[1].destination.subset",
    ]
    text = path.read_text(encoding="utf-8")
    for p, subset in zip(problems, ["v1", "v2"], strict=True):
        assert p.severity == "error"
        assert f"subset '{subset}' is not defined" in p.message and "IST0101" in p.message
        assert "destination-rule-go-cb.yaml" in p.fix
    actionable(problems[0], path, line_of(text, "subset: v1"))
    with pytest.raises(ValidationFailed) as failed:
        load_file(path)
    assert len(failed.value.problems) == 2


def test_the_same_route_is_fine_after_the_rule_in_the_same_batch_or_in_the_context(manifests_dir):
    assert validate_files([manifests_dir / CB, manifests_dir / VS_50]) == [
        p for p in validate_files([manifests_dir / CB]) if p.severity == "warning"
    ]
    context = load_file(manifests_dir / CB)
    assert load_file(manifests_dir / VS_50, context=context)
    # The lab's state as plain dicts (what a backend keeps) works as context too.
    assert load_file(manifests_dir / VS_50, context=[m.body for m in context])


def test_a_rule_defining_other_subsets_names_them(manifests_dir, write):
    other = write("v3.yaml", rule().replace("name: v1", "name: v3"))
    (p,) = validate_files([manifests_dir / VS_50], context=load_file(other))[:1]
    assert "defines subsets v3 only" in p.message


def test_replacing_the_rule_under_an_applied_route_reports_on_the_new_rule(manifests_dir, write, actionable):
    context = load_files([manifests_dir / CB, manifests_dir / VS_50])
    no_subsets = write("no-subsets.yaml", rule().split("  subsets:")[0])
    problems = validate_files([no_subsets], context=context)
    errors = [p for p in problems if p.is_error]
    assert len(errors) == 2 and all(
        "VirtualService/service-go (already applied)" in p.message for p in errors
    )
    actionable(errors[0], no_subsets, 5)


def test_deleting_needs_no_cross_checks(manifests_dir):
    (route,) = load_file(manifests_dir / VS_50, cross_checks=False)
    assert route.kind == "VirtualService"


def test_a_subset_selecting_no_pod_is_a_warning_once_pods_are_known(write, workloads, actionable, line_of):
    text = rule(label="v3")
    path = write("v3.yaml", text)
    assert validate_files([path]) == [], "no pod known: nothing to compare with"
    (p,) = validate_files([path], context=workloads)
    assert p.severity == "warning" and p.path == "spec.subsets[0].labels"
    assert "selects no pod" in p.message and "service-go-v1-0" in p.message
    actionable(p, path, line_of(text, "labels:"))


def test_subsets_are_matched_against_the_services_pods_only(write, workloads):
    # fortio's pod has app: fortio; a subset selecting it is still wrong for host service-go.
    path = write("fortio-subset.yaml", rule().replace("version: v1", "app: fortio"))
    (p,) = validate_files([path], context=workloads)
    assert "selects no pod" in p.message


def test_the_shipped_rules_select_the_shipped_pods(manifests_dir, workloads):
    for name in (CB, OUTLIER):
        assert [
            p for p in validate_files([manifests_dir / name], context=workloads) if p.path.endswith("labels")
        ] == []


def test_two_rules_with_different_names_for_one_host_warn(write, actionable):
    first = write("a.yaml", rule(name="service-go"))
    second = write("b.yaml", rule(name="service-go-cb", host="service-go.default.svc.cluster.local"))
    (p,) = validate_files([first, second])
    assert p.severity == "warning" and p.file == str(second) and p.path == "spec.host"
    assert "DestinationRule/service-go" in p.message and "oldest rule's trafficPolicy wins" in p.message
    assert "name this one service-go" in p.fix
    actionable(p, second, 6)
    # In another namespace it is another host: no warning.
    third = write(
        "c.yaml", rule(name="other").replace("  name: other\n", "  name: other\n  namespace: lab\n")
    )
    assert validate_files([first, third]) == []


def test_the_same_rule_twice_in_one_batch_says_the_last_one_wins(write):
    first, second = write("a.yaml", rule()), write("b.yaml", rule(label="v1"))
    (p,) = validate_files([first, second])
    assert p.file == str(second) and "the one applied last (this one) replaces it" in p.message


def test_reapplying_the_same_file_says_nothing(manifests_dir):
    context = load_file(manifests_dir / CB)
    assert [p.path for p in validate_files([manifests_dir / CB], context=context)] == [
        "spec.trafficPolicy.outlierDetection.consecutiveErrors"
    ]


def test_a_rule_that_replaces_the_breaker_without_a_pool_warns(manifests_dir):
    context = load_file(manifests_dir / CB)
    (p,) = validate_files([manifests_dir / OUTLIER], context=context)
    assert p.severity == "warning" and "the circuit breaker goes away" in p.message
    assert f"{CB.split('/')[-1]}" in p.message


def test_an_unknown_host_gets_did_you_mean_once_services_are_known(write, workloads):
    path = write("typo.yaml", rule(host="service-og"))
    (p,) = [p for p in validate_files([path], context=workloads) if p.path == "spec.host"]
    assert p.severity == "warning" and p.fix == "did you mean 'service-go'?"
