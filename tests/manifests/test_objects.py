"""Manifest (positions, identity) and pods_of (the pods Pods and Deployments make)."""

from __future__ import annotations

import dataclasses

import pytest

import lablib.manifests as manifests
from lablib.manifests import Manifest, PodTemplate, Problem, Source, as_manifest, load_file, pods_of


def test_a_manifest_knows_its_source_identity_and_field_lines(manifests_dir, line_of):
    path = manifests_dir / "istio/resilience/destination-rule-go-cb.yaml"
    text = path.read_text(encoding="utf-8")
    (rule,) = load_file(path)
    assert (rule.api_version, rule.kind, rule.name, rule.namespace) == (
        "networking.istio.io/v1alpha3",
        "DestinationRule",
        "service-go",
        "default",
    )
    assert rule.key == ("DestinationRule", "default", "service-go")
    assert rule.source == Source(str(path), line_of(text, "apiVersion: networking"))
    assert rule.body["spec"]["trafficPolicy"]["connectionPool"]["tcp"]["maxConnections"] == 10
    assert rule.line_of("spec.trafficPolicy.connectionPool.tcp.maxConnections") == line_of(
        text, "maxConnections"
    )
    assert rule.line_of("spec.subsets[1]") == line_of(text, "- name: v2")
    assert rule.line_of("spec.subsets[1].labels") == line_of(text, "- name: v2") + 1
    # A path that is not in the file gives its nearest ancestor's line.
    assert rule.line_of("spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests") == line_of(
        text, "http:"
    )
    assert rule.line_of("nothing.here") == rule.source.line


def test_annotation_keys_with_dots_have_bracketed_paths(manifests_dir, line_of):
    path = manifests_dir / "kubernetes/fortio.yaml"
    (pod,) = load_file(path)
    text = path.read_text(encoding="utf-8")
    assert pod.line_of('metadata.annotations["proxy.istio.io/config"]') == line_of(
        text, "proxy.istio.io/config"
    )
    assert "cluster.outbound" in pod.body["metadata"]["annotations"]["proxy.istio.io/config"]


def test_pods_of_the_lab_workloads(workloads):
    pods = pods_of(workloads)
    assert pods == [
        PodTemplate(
            "fortio", "default", {"app": "fortio"}, "fortio/fortio:latest_release", 8080, "Pod/fortio"
        ),
        PodTemplate(
            "service-go-v1-0",
            "default",
            {"app": "service-go", "version": "v1"},
            "lablib/service-go:v1",
            80,
            "Deployment/service-go-v1",
        ),
        PodTemplate(
            "service-go-v2-0",
            "default",
            {"app": "service-go", "version": "v2"},
            "lablib/service-go:v2",
            80,
            "Deployment/service-go-v2",
        ),
    ]


@pytest.mark.parametrize(
    ("replicas", "names"), [(0, []), (3, ["web-0", "web-1", "web-2"]), (None, ["web-0"])]
)
def test_a_deployment_makes_replicas_pods_numbered_from_0(replicas, names):
    spec = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "lab"},
        "spec": spec,
    }
    pods = pods_of([body])
    assert [p.name for p in pods] == names
    assert all(
        p.namespace == "lab" and p.owner == "Deployment/web" and p.container_port is None for p in pods
    )


def test_other_kinds_make_no_pods(manifests_dir):
    assert pods_of(load_file(manifests_dir / "istio/route/virtual-service-go.yaml")) == []


def test_as_manifest_wraps_plain_dicts_and_keeps_manifests():
    m = as_manifest({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}, file="state.json")
    assert (
        isinstance(m, Manifest)
        and m.key == ("Service", "default", "s")
        and m.source == Source("state.json", 0)
    )
    assert as_manifest(m) is m


def test_problem_prints_like_a_compiler():
    error = Problem(
        "error", "f.yaml", 7, "unknown field 'x'", fix="remove it", kind="Pod", name="p", path="spec.x"
    )
    warning = dataclasses.replace(error, severity="warning")
    assert str(error) == "f.yaml:7: Pod/p: spec.x: unknown field 'x'; remove it"
    assert str(warning) == "f.yaml:7: warning: Pod/p: spec.x: unknown field 'x'; remove it"
    with pytest.raises(dataclasses.FrozenInstanceError):
        error.line = 8  # type: ignore[misc]


def test_the_public_surface_is_exactly_all():
    public = {name for name in dir(manifests) if not name.startswith("_")}
    modules = {"objects", "builder"}  # the submodules are importable, the rest is private
    assert public - modules == set(manifests.__all__)
    assert manifests.Manifest.__module__ == "lablib.manifests"


def test_a_problem_becomes_the_exception_of_its_cause(write, seed_text):
    from lablib import ManifestError, SchemaError, UnknownKindError, YAMLSyntaxError
    from lablib.manifests import validate_files

    (yaml_error, *_) = validate_files([write("seed.yaml", seed_text)])
    assert isinstance(yaml_error.as_error(), YAMLSyntaxError)
    (kind_error,) = validate_files([write("k.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")])
    assert isinstance(kind_error.as_error(), UnknownKindError)
    schema = Problem(
        "error", "f.yaml", 7, "unknown field 'x'", fix="remove it", kind="Pod", name="p", path="spec.x"
    )
    error = schema.as_error()
    assert isinstance(error, SchemaError) and isinstance(error, ManifestError)
    assert str(error) == "f.yaml:7: Pod/p: spec.x: unknown field 'x' (remove it)"
