"""The contract other modules code against (docs/ARCHITECTURE.md, ``lablib.translate``)."""

from __future__ import annotations

import dataclasses
import inspect

import lablib.translate as translate_pkg
from lablib.translate import Endpoint, MeshConfig, render_yaml, summary_table, translate


def test_exported_names_exist_once() -> None:
    assert len(set(translate_pkg.__all__)) == len(translate_pkg.__all__)
    for name in translate_pkg.__all__:
        assert getattr(translate_pkg, name) is not None, name


def test_endpoint_fields_match_the_contract() -> None:
    fields = [(f.name, f.default) for f in dataclasses.fields(Endpoint)]
    assert [name for name, _ in fields] == [
        "pod",
        "namespace",
        "labels",
        "address",
        "port",
        "app_port",
        "service_account",
    ]
    assert dict(fields)["app_port"] is None
    assert dict(fields)["service_account"] == "default"  # Kubernetes' default service account
    assert Endpoint.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_translate_signature_matches_the_contract() -> None:
    params = inspect.signature(translate).parameters
    assert list(params)[:2] == ["objects", "endpoints"]
    assert params["namespace"].default == "default"
    assert params["domain"].default == "cluster.local"
    assert params["track_remaining"].default is False
    assert params["mtls"].default is None  # off until the mesh backend serves mTLS inbound
    assert all(
        params[p].kind is inspect.Parameter.KEYWORD_ONLY
        for p in ("namespace", "domain", "track_remaining", "mtls")
    )


def test_mesh_config_shape_matches_the_contract() -> None:
    names = {f.name for f in dataclasses.fields(MeshConfig)}
    assert {"outbound_clusters", "outbound_routes", "inbound_clusters"} <= names
    for method in ("cluster", "route_clusters", "route_configuration", "static_clusters"):
        assert callable(getattr(MeshConfig, method))
    assert callable(render_yaml) and callable(summary_table)
