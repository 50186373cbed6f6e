"""Real Envoy 1.40 takes the translation: ``--mode validate`` on every lab rule, then a running Envoy whose
admin ``/clusters`` shows our names and thresholds and whose listener routes real requests by our weights."""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from translate_helpers import (
    DEFAULT,
    MANIFESTS,
    OUTLIER_DR,
    SEED_DR,
    SERVICE,
    SERVICE_GO,
    TASK_DR,
    V1,
    V2,
    VS_50_50,
    dr,
    envoy_validate,
    listener,
    load,
    seed_endpoints,
    static_bootstrap,
    vs,
)

from lablib.translate import Endpoint, translate

pytestmark = pytest.mark.envoy

PENDING_DR = MANIFESTS / "istio" / "resilience" / "destination-rule-go-cb-pending.yaml"

SCENARIOS: dict[str, list[Path]] = {
    "the seed's DR": [SERVICE_GO, SEED_DR],
    "the Istio task's DR": [SERVICE_GO, TASK_DR],
    "the 50/50 VirtualService over the seed's DR": [SERVICE_GO, SEED_DR, VS_50_50],
    "the outlier DR": [SERVICE_GO, OUTLIER_DR],
    "the seed's DR with a pending limit": [SERVICE_GO, PENDING_DR],
}

# Every field the translator can emit, at once: Envoy must accept all of them.
EVERYTHING = [
    {
        **SERVICE,
        "spec": {
            **SERVICE["spec"],
            "ports": [
                {"name": "http", "port": 80},
                {"name": "grpc-api", "port": 9090},
                {"name": "tcp-db", "port": 5432},
                {"port": 8000},
            ],
        },
    },
    dr(
        {
            "host": "service-go",
            "trafficPolicy": {
                "connectionPool": {
                    "tcp": {
                        "maxConnections": 10,
                        "connectTimeout": "30ms",
                        "maxConnectionDuration": "1h",
                        "idleTimeout": "5m",
                        "tcpKeepalive": {"probes": 3, "time": "2m", "interval": "75s"},
                    },
                    "http": {
                        "http1MaxPendingRequests": 5,
                        "http2MaxRequests": 10,
                        "maxRequestsPerConnection": 2,
                        "maxRetries": 3,
                        "idleTimeout": "30s",
                        "maxConcurrentStreams": 100,
                    },
                },
                "outlierDetection": {
                    "consecutive5xxErrors": 3,
                    "consecutiveGatewayErrors": 2,
                    "interval": "1s",
                    "baseEjectionTime": "30s",
                    "maxEjectionPercent": 50,
                    "minHealthPercent": 20,
                    "splitExternalLocalOriginErrors": True,
                    "consecutiveLocalOriginFailures": 4,
                },
                "loadBalancer": {"simple": "ROUND_ROBIN", "warmupDurationSecs": "10s"},
                "retryBudget": {"percent": 25, "minRetryConcurrency": 5},
                "portLevelSettings": [
                    {
                        "port": {"number": 8000},
                        "connectionPool": {"http": {"useClientProtocol": True}},
                        "loadBalancer": {"consistentHash": {"ringHash": {"minimumRingSize": 1024}}},
                    }
                ],
            },
            "subsets": [
                {
                    "name": "v1",
                    "labels": {"version": "v1"},
                    "trafficPolicy": {"connectionPool": {"http": {"h2UpgradePolicy": "UPGRADE"}}},
                },
                {
                    "name": "v2",
                    "labels": {"version": "v2"},
                    "trafficPolicy": {"loadBalancer": {"consistentHash": {"maglev": {"tableSize": 65537}}}},
                },
            ],
        }
    ),
    vs(
        {
            "hosts": ["service-go"],
            "http": [
                {
                    "name": "env",
                    "match": [
                        {"uri": {"prefix": "/env"}, "headers": {"x-user": {"regex": "j.*"}}},
                        {"uri": {"exact": "/status"}, "method": {"exact": "GET"}, "ignoreUriCase": True},
                    ],
                    "route": [
                        {
                            "destination": {"host": "service-go", "subset": "v1", "port": {"number": 80}},
                            "weight": 70,
                        },
                        {
                            "destination": {"host": "service-go", "subset": "v2", "port": {"number": 80}},
                            "weight": 30,
                        },
                    ],
                    "timeout": "2s",
                    "retries": {"attempts": 3, "perTryTimeout": "500ms", "retryOn": "5xx,503,reset"},
                    "fault": {
                        "abort": {"percentage": {"value": 10}, "httpStatus": 500},
                        "delay": {"percent": 5, "fixedDelay": "100ms"},
                    },
                    "rewrite": {"uri": "/", "authority": "service-go"},
                },
                {"route": [{"destination": {"host": "service-go"}}], "retries": {"attempts": 0}},
            ],
        }
    ),
]


def assert_valid(config: Any, pod: str | None) -> None:
    result = envoy_validate(static_bootstrap(config, pod=pod))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout + result.stderr


@pytest.mark.parametrize("files", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_envoy_validates_the_translation_of_each_lab_rule(files: list[Path]) -> None:
    config = translate(load(*files), seed_endpoints())
    assert_valid(config, pod="service-go-v1-0")


def test_envoy_validates_every_field_the_translator_emits() -> None:
    config = translate(EVERYTHING, seed_endpoints(), track_remaining=True)
    assert {r["name"] for r in config.outbound_routes} == {"80", "9090", "8000"}  # no routes for the tcp port
    assert_valid(config, pod="service-go-v2-0")


def test_a_broken_translation_fails_validation() -> None:
    config = translate(load(SERVICE_GO, SEED_DR), seed_endpoints())
    bootstrap = static_bootstrap(config)
    bootstrap["static_resources"]["clusters"][1]["lb_policy"] = "LEAST_CONNECTIONS"  # no such Envoy policy
    result = envoy_validate(bootstrap)
    assert result.returncode != 0
    assert "LEAST_CONNECTIONS" in result.stdout + result.stderr


def test_the_type_field_belongs_in_cds_files_not_inline() -> None:
    config = translate([SERVICE], seed_endpoints())
    bootstrap = {"static_resources": {"clusters": config.outbound_clusters}}  # with "@type"
    result = envoy_validate(bootstrap)
    assert result.returncode != 0
    assert "@type" in result.stdout + result.stderr


# --- a running Envoy ------------------------------------------------------------------------------


class _Named(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def backends() -> Iterator[list[http.server.ThreadingHTTPServer]]:
    """Two tiny HTTP servers on 127.0.0.1 answering "v1" / "v2" (stand-ins for the pods' sidecars)."""
    servers = []
    for name in ("v1", "v2"):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Named)
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def test_running_envoy_takes_our_cluster_names_thresholds_and_weights(run_envoy: Any, backends: list) -> None:
    ports = [s.server_address[1] for s in backends]
    endpoints = [
        Endpoint(f"service-go-{v}-0", "default", {"app": "service-go", "version": v}, "127.0.0.1", p, None)
        for v, p in zip(("v1", "v2"), ports, strict=True)
    ]
    config = translate(load(SERVICE_GO, SEED_DR, VS_50_50), endpoints, track_remaining=True)
    # Clusters from a CDS file, as the embedded mesh serves them: resources keep their "@type".
    cds = {"version_info": "1", "resources": config.outbound_clusters}
    bootstrap = {
        "node": {"id": "fortio", "cluster": "fortio"},
        "dynamic_resources": {
            "cds_config": {"path_config_source": {"path": "@WORKDIR@/cds.json"}, "resource_api_version": "V3"}
        },
        "static_resources": {"listeners": [listener(config.route_configuration(80))]},
    }
    envoy = run_envoy(bootstrap, {"cds.json": cds})

    deadline = time.monotonic() + 20
    clusters = ""
    while time.monotonic() < deadline and f"{V2}::default_priority::max_connections::10" not in clusters:
        time.sleep(0.1)
        clusters = envoy.get("/clusters")
    for name in (DEFAULT, V1, V2):
        assert f"{name}::default_priority::max_connections::10" in clusters
        assert f"{name}::default_priority::max_requests::10" in clusters
        assert f"{name}::default_priority::max_pending_requests::4294967295" in clusters
        assert f"{name}::default_priority::max_retries::4294967295" in clusters
        assert f"{name}::high_priority::max_connections::1024" in clusters  # HIGH keeps Envoy's defaults
    assert f"{V1}::127.0.0.1:{ports[0]}::" in clusters
    assert f"{V2}::127.0.0.1:{ports[1]}::" in clusters
    assert f"{V1}::127.0.0.1:{ports[1]}::" not in clusters  # subset v1 holds only the v1 pod

    # Envoy holds the outlier detector exactly as translated: the seed's consecutiveErrors left no trace.
    dump = json.loads(envoy.get("/config_dump?resource=dynamic_active_clusters"))
    active = {c["cluster"]["name"]: c["cluster"] for c in dump["configs"]}
    assert active[V1]["outlier_detection"] == {
        "enforcing_success_rate": 0,
        "interval": "3s",
        "base_ejection_time": "180s",
        "max_ejection_percent": 100,
    }
    assert active[V1]["common_lb_config"]["healthy_panic_threshold"] == {}  # Percent 0 prints as {}

    stats = envoy.get("/stats")
    assert f"cluster.{V1}.circuit_breakers.default.remaining_rq: 10" in stats  # track_remaining=True

    listeners = json.loads(envoy.get("/listeners?format=json"))
    address = listeners["listener_statuses"][0]["local_address"]["socket_address"]
    seen: dict[str, int] = {}
    for _ in range(40):
        request = urllib.request.Request(
            f"http://127.0.0.1:{address['port_value']}/env", headers={"Host": "service-go"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read().decode()
            seen[body] = seen.get(body, 0) + 1
    assert set(seen) == {"v1", "v2"}, seen  # 50/50 weights: 40 requests reach both subsets


def test_running_envoy_takes_the_server_side_inbound_cluster(run_envoy: Any, backends: list) -> None:
    app_port = backends[0].server_address[1]
    pod = Endpoint(
        "service-go-v1-0", "default", {"app": "service-go", "version": "v1"}, "127.0.0.1", 0, app_port
    )
    config = translate(load(SERVICE_GO, SEED_DR), [pod])
    inbound = config.static_clusters("service-go-v1-0")
    route = {
        "name": "inbound|80||",
        "virtual_hosts": [
            {
                "name": "inbound",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "inbound|80||", "timeout": "0s"}}],
            }
        ],
    }
    envoy = run_envoy({"static_resources": {"clusters": inbound, "listeners": [listener(route)]}})
    clusters = envoy.get("/clusters")
    assert "inbound|80||::default_priority::max_connections::10" in clusters
    assert "inbound|80||::default_priority::max_requests::10" in clusters
    assert f"inbound|80||::127.0.0.1:{app_port}::" in clusters
    listeners = json.loads(envoy.get("/listeners?format=json"))
    port = listeners["listener_statuses"][0]["local_address"]["socket_address"]["port_value"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/env", timeout=10) as response:
        assert response.read() == b"v1"  # the sidecar hands the request to the app behind it
