"""What lab 06 applies, each as the manifest a student would apply: service-go as one pod whose sidecar serves
its inbound breaker stats, the clients' DestinationRule (with or without outlier detection), and the server's
own limit as a ``Sidecar`` (Istio >= 1.21: ``inboundConnectionPool``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lablib import _yamlio
from lablib.i18n import t
from lablib.lab_defaults import MANIFESTS
from lablib.manifests.builder import NETWORKING_API_VERSION, build_destination_rule, write_manifest

__all__ = ["CLIENT_LIMIT", "OUTLIER", "SERVER", "SERVER_POD", "SIDECAR_NAME", "UNLIMITED", "client_rule",
           "server_sidecar", "sidecar_object"]

#: service-go as one pod (``service-go-v1-0``), its sidecar serving ``cluster.inbound`` stats.
SERVER = MANIFESTS / "service/go/service-go-one-pod.yaml"
SERVER_POD = "service-go-v1-0"
SIDECAR_NAME = "service-go"
#: Each client sidecar's limit: 10 in flight (maxConnections and http2MaxRequests) and 10 waiting.
CLIENT_LIMIT = 10
#: A server limit larger than anything the lab sends: "no limit of its own" (Istio's own test uses 1024).
UNLIMITED = 1024
#: Outlier detection as lab 02 runs it, with a short ejection so the step fits in seconds.
OUTLIER = {"consecutive5xxErrors": 3, "interval": "1s", "baseEjectionTime": "3s", "maxEjectionPercent": 100}


def client_rule(directory: Path, *, outlier: dict[str, Any] | None = None, lang: str = "en") -> Path:
    """The clients' DestinationRule: 10 in flight + 10 waiting per client sidecar, no subsets, and
    ``outlierDetection`` only when given (a server's overflow is a 5xx the clients count). Its comment is in
    ``lang`` (the notebook shows the file)."""
    directory.mkdir(parents=True, exist_ok=True)
    pool = {"tcp": {"maxConnections": CLIENT_LIMIT},
            "http": {"http1MaxPendingRequests": CLIENT_LIMIT, "http2MaxRequests": CLIENT_LIMIT}}
    rule = build_destination_rule(subsets=(), connection_pool=pool, outlier_detection=outlier or {})
    name = "destination-rule-go-clients-outlier.yaml" if outlier else "destination-rule-go-clients.yaml"
    return write_manifest(directory / name, rule,
                          comment=t("lab06.rule.clients", lang, limit=CLIENT_LIMIT))


def sidecar_object(max_requests: int) -> dict[str, Any]:
    """A ``Sidecar`` for service-go's pods whose inbound pool admits ``max_requests`` requests at once."""
    return {"apiVersion": NETWORKING_API_VERSION, "kind": "Sidecar", "metadata": {"name": SIDECAR_NAME},
            "spec": {"workloadSelector": {"labels": {"app": "service-go"}},
                     "inboundConnectionPool": {"http": {"http2MaxRequests": max_requests}}}}


def server_sidecar(directory: Path, max_requests: int, *, lang: str = "en") -> Path:
    """Write the server's own limit (``inboundConnectionPool.http.http2MaxRequests``) as a Sidecar."""
    directory.mkdir(parents=True, exist_ok=True)
    return write_manifest(directory / f"sidecar-service-go-{max_requests}.yaml", sidecar_object(max_requests),
                          comment=t("lab06.rule.sidecar", lang, limit=max_requests))


def load_server() -> list[dict[str, Any]]:
    """The one-pod service-go manifest as plain objects (the tests build variants of it)."""
    return _yamlio.load_all(SERVER.read_text())
