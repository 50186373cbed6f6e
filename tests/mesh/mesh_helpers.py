"""Helpers for the embedded mesh tests: manifests as text."""

from __future__ import annotations

import textwrap

SERVICE = "outbound|80||service-go.default.svc.cluster.local"
SUBSET_V1 = "outbound|80|v1|service-go.default.svc.cluster.local"
SUBSET_V2 = "outbound|80|v2|service-go.default.svc.cluster.local"


def service_go_yaml(*, replicas: int = 1, versions: tuple[str, ...] = ("v1", "v2")) -> str:
    docs = ["""
        apiVersion: v1
        kind: Service
        metadata: {name: service-go, labels: {app: service-go}}
        spec:
          selector: {app: service-go}
          ports: [{name: http, port: 80, targetPort: 80}]
        """]
    for v in versions:
        docs.append(f"""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: service-go-{v}, labels: {{app: service-go, version: {v}}}}}
        spec:
          replicas: {replicas}
          selector: {{matchLabels: {{app: service-go, version: {v}}}}}
          template:
            metadata: {{labels: {{app: service-go, version: {v}}}}}
            spec:
              containers:
              - name: service-go
                image: lablib/service-go:{v}
                ports: [{{containerPort: 80}}]
        """)
    return "---".join(textwrap.dedent(d) for d in docs)


def destination_rule_yaml(*, max_connections: int | None = None, pending: int | None = None,
                          max_requests: int | None = None, per_connection: int | None = None,
                          subsets: bool = True) -> str:
    tcp = f"\n      tcp: {{maxConnections: {max_connections}}}" if max_connections else ""
    http = {k: v for k, v in (("http1MaxPendingRequests", pending), ("http2MaxRequests", max_requests),
                              ("maxRequestsPerConnection", per_connection)) if v}
    http_line = ("\n      http: {" + ", ".join(f"{k}: {v}" for k, v in http.items()) + "}") if http else ""
    subset_block = """
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}""" if subsets else ""
    return f"""apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: service-go}}
spec:
  host: service-go
  trafficPolicy:
    connectionPool:{tcp}{http_line}{subset_block}
"""


VS_50_50 = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: service-go}
spec:
  hosts: [service-go]
  http:
  - route:
    - {destination: {host: service-go, subset: v1}, weight: 50}
    - {destination: {host: service-go, subset: v2}, weight: 50}
"""


