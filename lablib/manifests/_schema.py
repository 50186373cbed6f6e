"""One validator per kind: the fields of Pod, Deployment, Service (the parts the lab uses, leniently) and of
Istio's VirtualService and DestinationRule (the whole networking API, strictly), with Istio's own rules.

Field names and rules follow istio/api ``networking/v1alpha3/{virtual_service,destination_rule}.proto`` and
istio/istio ``pkg/config/validation/validation.go``; Kubernetes ones follow ``k8s.io/api/core/v1``.
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from lablib.manifests._fields import (
    INT32_MAX,
    UINT32_MAX,
    AnyValue,
    Bool,
    Checker,
    Deprecated,
    Duration,
    Enum,
    Int,
    IntOrString,
    ListOf,
    Map,
    MapOf,
    Number,
    Quantity,
    Regex,
    Str,
    Type,
    field_locations,
    parse_quantity,
)
from lablib.manifests._limits import (
    EMBEDDED_POD,
    ENVOY_CLUSTER,
    MAX_DESTINATIONS,
    MAX_REPLICAS,
    MAX_ROUTES,
    MAX_SUBSETS,
)
from lablib.manifests._problem import Problem
from lablib.manifests._yaml import InputLimit, load_bounded
from lablib.manifests.objects import SUPPORTED_KINDS, Manifest

__all__ = ["SCHEMAS", "check_kind", "validate_manifest"]

# --- names --------------------------------------------------------------------------------------------------
DNS_SUBDOMAIN = Str(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
    "lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (RFC 1123)",
    253,
)
DNS_LABEL = Str(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?",
    "at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit",
    63,
)
SERVICE_NAME = Str(
    r"[a-z]([-a-z0-9]*[a-z0-9])?",
    "at most 63 lower-case letters, digits and '-', starting with a letter (RFC 1035)",
    63,
)
LABEL_VALUE = Str(
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?",
    "at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    63,
)
PORT_NAME = Str(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", "at most 15 lower-case letters, digits and '-'", 15)
LABELS = MapOf(LABEL_VALUE)
PORT_NUMBER = Int(1, 65535)


# Istio's scalar types (istio/api networking/v1alpha3/*.proto): int32 fields, uint32 fields, and the
# wrappers (google.protobuf.UInt32Value, DoubleValue), which YAML writes as the plain number (an explicit 0
# is a value).
def int32(zero: str | None = None) -> Int:
    return Int(0, INT32_MAX, zero=zero, proto="int32")


def uint32() -> Int:
    return Int(0, UINT32_MAX, proto="uint32")


def uint32_value() -> Int:
    return Int(0, UINT32_MAX, proto="google.protobuf.UInt32Value")


class Annotations(MapOf):
    """Annotation values are strings; Istio's ``proxy.istio.io/config`` must parse as ProxyConfig YAML."""

    def __init__(self) -> None:
        super().__init__(Str())

    def check(self, value: Any, path: str, c: Checker) -> None:
        super().check(value, path, c)
        config = value.get("proxy.istio.io/config") if isinstance(value, dict) else None
        if not isinstance(config, str):
            return
        where = f'{path}["proxy.istio.io/config"]'
        try:
            parsed = load_bounded(config)
        except InputLimit as exc:
            c.error(where, f"the proxy config is not usable: {exc.message}", exc.fix)
            return
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" (line {mark.line + 1} of the value)" if mark is not None else ""
            c.error(
                where,
                f"the proxy config is not YAML{at}: {getattr(exc, 'problem', exc)}; Istio's sidecar "
                "injector cannot use it",
                "write it as a YAML block: `proxy.istio.io/config: |` and indented lines",
            )
            return
        if parsed is not None and not isinstance(parsed, dict):
            c.error(
                where,
                "the proxy config must be a mapping (ProxyConfig fields such as proxyStatsMatcher)",
                "write `proxyStatsMatcher:` with `inclusionPrefixes:` under it",
            )


ANNOTATIONS = Annotations()


def metadata(name_type: Type = DNS_SUBDOMAIN) -> Map:
    return Map(
        {
            "name": name_type,
            "namespace": DNS_LABEL,
            "labels": LABELS,
            "annotations": ANNOTATIONS,
            "generateName": Str(),
            "uid": Str(),
            "resourceVersion": Str(),
            "generation": Int(0),
            "creationTimestamp": AnyValue(),
            "deletionTimestamp": AnyValue(),
            "ownerReferences": AnyValue(),
            "finalizers": ListOf(Str()),
            "managedFields": AnyValue(),
            "deletionGracePeriodSeconds": Int(0),
            "selfLink": Str(),
        },
        required={"name": "add `name: <object name>` under metadata"},
        strict=False,
    )


def top(api_kind_spec: Type, *, name_type: Type = DNS_SUBDOMAIN, spec_fix: str) -> Map:
    """The top level every object shares: apiVersion, kind, metadata, spec (status is ignored)."""
    return Map(
        {
            "apiVersion": Str(),
            "kind": Str(),
            "metadata": metadata(name_type),
            "spec": api_kind_spec,
            "status": AnyValue(),
        },
        required={"metadata": "add a `metadata:` block with `name:`", "spec": spec_fix},
    )


# --- Kubernetes: the parts the lab uses, lenient elsewhere --------------------------------------------------
def _requests_within_limits(resources: dict[str, Any], path: str, c: Checker) -> None:
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    if not isinstance(requests, dict) or not isinstance(limits, dict):
        return
    for resource, request in requests.items():
        want, cap = parse_quantity(request), parse_quantity(limits.get(resource))
        if want is not None and cap is not None and 0 <= cap < want:
            c.error(
                f"{path}.requests.{resource}",
                f"request {request} is above the limit {limits[resource]}; Kubernetes rejects the pod",
                f"lower the request or raise limits.{resource}",
            )


RESOURCES = Map(
    {"requests": MapOf(Quantity()), "limits": MapOf(Quantity()), "claims": AnyValue()},
    rules=(_requests_within_limits,),
)
CONTAINER_PORT = Map(
    {
        "containerPort": PORT_NUMBER,
        "name": PORT_NAME,
        "protocol": Enum("TCP", "UDP", "SCTP"),
        "hostPort": PORT_NUMBER,
        "hostIP": Str(),
    },
    required={"containerPort": "add `containerPort: <port the app listens on>`"},
)
CONTAINER = Map(
    {
        "name": DNS_LABEL,
        "image": Str(),
        "imagePullPolicy": Enum("Always", "IfNotPresent", "Never"),
        "ports": ListOf(CONTAINER_PORT),
        "resources": RESOURCES,
        "command": ListOf(Str()),
        "args": ListOf(Str()),
        "env": ListOf(
            Map(
                {"name": Str(), "value": Str(), "valueFrom": AnyValue()},
                required={"name": "add `name:` to the variable"},
                strict=False,
            )
        ),
        "workingDir": Str(),
        "readinessProbe": AnyValue(),
        "livenessProbe": AnyValue(),
        "startupProbe": AnyValue(),
        "volumeMounts": AnyValue(),
        "securityContext": AnyValue(),
        "envFrom": AnyValue(),
        "lifecycle": AnyValue(),
    },
    required={"name": "add `name: <container name>`", "image": "add `image: <image>`"},
    strict=False,
)
POD_SPEC = Map(
    {
        "containers": ListOf(CONTAINER, min_items=1),
        "initContainers": ListOf(CONTAINER),
        "restartPolicy": Enum("Always", "OnFailure", "Never"),
        "nodeSelector": MapOf(Str()),
        "serviceAccountName": Str(),
        "terminationGracePeriodSeconds": Int(0),
        "volumes": AnyValue(),
        "affinity": AnyValue(),
        "tolerations": AnyValue(),
        "hostname": Str(),
        "securityContext": AnyValue(),
    },
    required={"containers": "add `containers:` with at least one `- name: … image: …`"},
    strict=False,
)


def _selector_matches_template(spec: dict[str, Any], path: str, c: Checker) -> None:
    selector = (
        (spec.get("selector") or {}).get("matchLabels") if isinstance(spec.get("selector"), dict) else None
    )
    template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
    labels = (
        (template.get("metadata") or {}).get("labels") if isinstance(template.get("metadata"), dict) else {}
    )
    if isinstance(selector, dict) and isinstance(labels, dict):
        missing = {k: v for k, v in selector.items() if labels.get(k) != v}
        if missing:
            shown = ", ".join(f"{k}: {v}" for k, v in missing.items())
            c.error(
                f"{path}.selector.matchLabels",
                f"selector does not match the template's labels ({shown} "
                "missing); Kubernetes rejects the Deployment",
                "give spec.template.metadata.labels every selector label",
            )


DEPLOYMENT_SPEC = Map(
    {
        "replicas": Int(0, MAX_REPLICAS, max_why=EMBEDDED_POD),
        "selector": Map({"matchLabels": LABELS, "matchExpressions": AnyValue()}),
        "template": Map(
            {
                "metadata": Map({"labels": LABELS, "annotations": ANNOTATIONS, "name": Str()}, strict=False),
                "spec": POD_SPEC,
            },
            required={"spec": "add the pod's `spec:` with its containers"},
        ),
        "strategy": AnyValue(),
        "minReadySeconds": Int(0, INT32_MAX, proto="int32"),
        "revisionHistoryLimit": Int(0, INT32_MAX, proto="int32"),
        "progressDeadlineSeconds": Int(1, INT32_MAX, proto="int32"),
        "paused": Bool(),
    },
    required={
        "selector": "add `selector: {matchLabels: …}` with the template's labels",
        "template": "add `template:` with the pod's metadata.labels and spec",
    },
    strict=False,
    rules=(_selector_matches_template,),
)


def _service_ports_named(spec: dict[str, Any], path: str, c: Checker) -> None:
    ports = spec.get("ports")
    if isinstance(ports, list) and len(ports) > 1:
        for i, port in enumerate(ports):
            if isinstance(port, dict) and not port.get("name"):
                c.error(
                    f"{path}.ports[{i}]",
                    "a Service with several ports needs a name on each",
                    "add `name: http` (Istio picks the protocol from the name prefix)",
                )


SERVICE_PORT = Map(
    {
        "name": PORT_NAME,
        "port": PORT_NUMBER,
        "targetPort": IntOrString(),
        "protocol": Enum("TCP", "UDP", "SCTP"),
        "nodePort": PORT_NUMBER,
        "appProtocol": Str(),
    },
    required={"port": "add `port: 80`"},
)
SERVICE_SPEC = Map(
    {
        "selector": LABELS,
        "ports": ListOf(SERVICE_PORT, min_items=1),
        "type": Enum("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"),
        "clusterIP": Str(),
        "clusterIPs": ListOf(Str()),
        "externalName": Str(),
        "sessionAffinity": Enum("None", "ClientIP"),
    },
    required={"ports": "add `ports:` with `- name: http` and `port: 80`"},
    strict=False,
    rules=(_service_ports_named,),
)

# --- Istio networking: strict, the whole API of the two kinds ----------------------------------------------
# istio.networking.v1alpha3.Percent: a message, `percentage: {value: 10}` (not a wrapper).
PERCENT = Map({"value": Number(0, 100, proto="double")}, scalar_key="value")
PORT_SELECTOR = Map({"number": PORT_NUMBER})


def _one_match(match: dict[str, Any], path: str, c: Checker) -> None:
    # StringMatch is a proto oneof: Istio refuses none (the translator has nothing to match on) or several.
    given = [k for k in ("exact", "prefix", "regex") if match.get(k) is not None]
    if len(given) != 1:
        c.error(
            path,
            "a string match needs exactly one of exact, prefix or regex"
            + (f", not {' and '.join(given)}" if given else ""),
            "keep one, e.g. `prefix: /env`",
        )


STRING_MATCH = Map({"exact": Str(), "prefix": Str(), "regex": Regex()}, rules=(_one_match,))
HEADER_OPS = Map({"set": MapOf(Str()), "add": MapOf(Str()), "remove": ListOf(Str())})
HEADERS = Map({"request": HEADER_OPS, "response": HEADER_OPS})
DESTINATION = Map(
    {"host": Str(), "subset": Str(), "port": PORT_SELECTOR},
    required={"host": "add `host: <service name>` to the destination"},
)


def _deprecated_percent(value: Any) -> tuple[str, str]:
    return ("'percent' is deprecated", f"use `percentage: {{value: {value}}}`")


PERCENT_OLD = Deprecated(Int(0, 100, proto="int32"), _deprecated_percent)
HTTP_FAULT = Map(
    {
        "delay": Map(
            {
                "fixedDelay": Duration(),
                "exponentialDelay": Duration(),
                "percentage": PERCENT,
                "percent": PERCENT_OLD,
            }
        ),
        "abort": Map(
            {
                "httpStatus": Int(200, 599),
                "grpcStatus": Str(),
                "http2Error": Str(),
                "percentage": PERCENT,
                "percent": PERCENT_OLD,
            }
        ),
    }
)
HTTP_MATCH = Map(
    {
        "name": Str(),
        "uri": STRING_MATCH,
        "scheme": STRING_MATCH,
        "method": STRING_MATCH,
        "authority": STRING_MATCH,
        "headers": MapOf(STRING_MATCH),
        "port": PORT_NUMBER,
        "sourceLabels": LABELS,
        "gateways": ListOf(Str()),
        "queryParams": MapOf(STRING_MATCH),
        "ignoreUriCase": Bool(),
        "withoutHeaders": MapOf(STRING_MATCH),
        "sourceNamespace": Str(),
        "statPrefix": Str(),
    }
)
HTTP_ROUTE_DESTINATION = Map(
    {"destination": DESTINATION, "weight": int32(), "headers": HEADERS},
    required={"destination": "add `destination: {host: <service>}`"},
)


def _route_weights(route: dict[str, Any], path: str, c: Checker) -> None:
    destinations = route.get("route")
    if isinstance(destinations, list) and len(destinations) > 1:
        # `weight:` left empty is unset, i.e. 0, as for Istio
        weights = [d.get("weight") or 0 for d in destinations if isinstance(d, dict)]
        if all(isinstance(w, int) and not isinstance(w, bool) for w in weights) and sum(weights) == 0:
            c.error(
                f"{path}.route",
                "the destinations' weights add up to 0, so no request has anywhere to go",
                "give each destination a `weight:` (e.g. 50 and 50)",
            )
        elif all(isinstance(w, int) for w in weights) and sum(weights) > UINT32_MAX:
            c.error(
                f"{path}.route",
                f"the destinations' weights add up to {sum(weights)}; Envoy refuses a total above "
                f"{UINT32_MAX} (a uint32)",
                "use small weights that say the split, e.g. 90 and 10",
            )


def _route_has_action(route: dict[str, Any], path: str, c: Checker) -> None:
    if not any(route.get(k) for k in ("route", "redirect", "directResponse", "delegate")):
        c.error(
            path,
            "an http route needs `route`, `redirect`, `directResponse` or `delegate`",
            "add `route:` with `- destination: {host: <service>}`",
        )


_DESTINATIONS_WHY = (
    "each destination is one more Envoy cluster the route balances over, and the lab's services have a few"
)
_ROUTES_WHY = "every route is matched in order for each request, and the lab's services need a few"
HTTP_ROUTE = Map(
    {
        "name": Str(),
        "match": ListOf(HTTP_MATCH),
        "route": ListOf(HTTP_ROUTE_DESTINATION, max_items=MAX_DESTINATIONS, max_why=_DESTINATIONS_WHY),
        "redirect": AnyValue(),
        "directResponse": AnyValue(),
        "delegate": AnyValue(),
        "rewrite": Map({"uri": Str(), "authority": Str(), "uriRegexRewrite": AnyValue()}),
        "timeout": Duration(),
        "retries": Map(
            {
                "attempts": int32(),
                "perTryTimeout": Duration(),
                "retryOn": Str(),
                "retryRemoteLocalities": Bool(),  # google.protobuf.BoolValue
                "retryIgnorePreviousHosts": Bool(),  # google.protobuf.BoolValue
                "backoff": Duration(),
            }
        ),
        "fault": HTTP_FAULT,
        "mirror": DESTINATION,
        "mirrorPercentage": PERCENT,
        "mirrorPercent": Deprecated(
            Int(0, 100, proto="google.protobuf.UInt32Value"),
            lambda v: ("'mirrorPercent' is deprecated", f"use `mirrorPercentage: {{value: {v}}}`"),
        ),
        "mirrors": ListOf(Map({"destination": DESTINATION, "percentage": PERCENT})),
        "corsPolicy": AnyValue(),
        "headers": HEADERS,
    },
    rules=(_route_has_action, _route_weights),
)
L4_MATCH = Map(
    {
        "destinationSubnets": ListOf(Str()),
        "port": PORT_NUMBER,
        "sourceLabels": LABELS,
        "gateways": ListOf(Str()),
        "sourceNamespace": Str(),
        "sourceSubnet": Str(),
    }
)
ROUTE_DESTINATION = Map(
    {"destination": DESTINATION, "weight": int32()},
    required={"destination": "add `destination: {host: <service>}`"},
)
ROUTE_DESTINATIONS = ListOf(ROUTE_DESTINATION, max_items=MAX_DESTINATIONS, max_why=_DESTINATIONS_WHY)
TCP_ROUTE = Map({"match": ListOf(L4_MATCH), "route": ROUTE_DESTINATIONS})
TLS_MATCH = Map(
    {
        "sniHosts": ListOf(Str(), min_items=1),
        "destinationSubnets": ListOf(Str()),
        "port": PORT_NUMBER,
        "sourceLabels": LABELS,
        "gateways": ListOf(Str()),
        "sourceNamespace": Str(),
    },
    required={"sniHosts": "add `sniHosts: [<host>]`"},
)
TLS_ROUTE = Map({"match": ListOf(TLS_MATCH), "route": ROUTE_DESTINATIONS})
VIRTUAL_SERVICE_SPEC = Map(
    {
        "hosts": ListOf(Str(), min_items=1),
        "gateways": ListOf(Str()),
        "http": ListOf(HTTP_ROUTE, max_items=MAX_ROUTES, max_why=_ROUTES_WHY),
        "tls": ListOf(TLS_ROUTE, max_items=MAX_ROUTES, max_why=_ROUTES_WHY),
        "tcp": ListOf(TCP_ROUTE, max_items=MAX_ROUTES, max_why=_ROUTES_WHY),
        "exportTo": ListOf(Str()),
    },
    required={"hosts": "add `hosts:` with `- <service name>` (the host the clients call)"},
)

_UNSET = "Istio treats 0 as unset, not as zero: "
_THRESHOLD_ZERO = _UNSET + "the limit becomes 2^32-1 (4294967295), i.e. no limit at all"


def _at_least_one_pool(pool: dict[str, Any], path: str, c: Checker) -> None:
    if pool.get("tcp") is None and pool.get("http") is None:
        c.error(
            path,
            "connectionPool needs at least one of `tcp` or `http` (Istio rejects an empty pool)",
            "add `tcp: {maxConnections: …}` or `http: {…}`, or delete connectionPool",
        )


def _local_origin_needs_split(od: dict[str, Any], path: str, c: Checker) -> None:
    if od.get("consecutiveLocalOriginFailures") and not od.get("splitExternalLocalOriginErrors"):
        c.error(
            f"{path}.consecutiveLocalOriginFailures",
            "consecutiveLocalOriginFailures only applies when "
            "splitExternalLocalOriginErrors is true; Istio rejects the rule",
            "add `splitExternalLocalOriginErrors: true`, or delete consecutiveLocalOriginFailures",
        )


def _consecutive_errors(value: Any) -> tuple[str, str]:
    n = value if isinstance(value, int) and not isinstance(value, bool) else 3
    return (
        "consecutiveErrors is deprecated and IGNORED by Istio >= 1.7, so Envoy's default applies: a host is "
        "ejected after 5 consecutive 5xx responses" + ("" if n == 5 else f", not {n}"),
        f"use `consecutive5xxErrors: {n}` (every 5xx counts, 500 included) "
        f"or `consecutiveGatewayErrors: {n}` "
        "(only 502, 503 and 504 count)",
    )


# Istio writes tcpKeepalive.time/interval as whole seconds into Envoy's uint32 keepalive_time/interval.
KEEPALIVE = Duration(
    min_s=1,
    max_s=UINT32_MAX,
    why="Istio hands it to Envoy as whole seconds in a uint32 (under 1s becomes 0, which the kernel refuses)",
)

# Istio 1.30 (istio/api networking/v1alpha3/destination_rule.proto): every connectionPool limit is a plain
# int32 (0 = unset), tcpKeepalive.probes a uint32; validation.go's validateConnectionPool only adds ">= 0".
# http.http2KeepAlive is newer (1.31), so Istio 1.30 rejects it as an unknown field, as this schema does.
CONNECTION_POOL = Map(
    {
        "tcp": Map(
            {
                "maxConnections": int32(zero=_THRESHOLD_ZERO),
                "connectTimeout": Duration(),
                "tcpKeepalive": Map({"probes": uint32(), "time": KEEPALIVE, "interval": KEEPALIVE}),
                "maxConnectionDuration": Duration(),
                "idleTimeout": Duration(),
            }
        ),
        "http": Map(
            {
                "http1MaxPendingRequests": int32(zero=_THRESHOLD_ZERO),
                "http2MaxRequests": int32(zero=_THRESHOLD_ZERO),
                "maxRequestsPerConnection": int32(zero=_UNSET + "connections then carry unlimited requests"),
                "maxRetries": int32(zero=_THRESHOLD_ZERO),
                "idleTimeout": Duration(),
                "h2UpgradePolicy": Enum("DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"),
                "useClientProtocol": Bool(),
                "maxConcurrentStreams": int32(zero=_UNSET + "Envoy's default of 1024 streams applies"),
            }
        ),
    },
    rules=(_at_least_one_pool,),
)
# consecutiveErrors is an int32; the three newer counters are google.protobuf.UInt32Value (0 disables, unset
# keeps Envoy's default); the two percentages int32 checked 0-100 by validation.go's ValidatePercent.
OUTLIER_DETECTION = Map(
    {
        "consecutiveErrors": Deprecated(int32(), _consecutive_errors),
        "consecutive5xxErrors": uint32_value(),
        "consecutiveGatewayErrors": uint32_value(),
        "splitExternalLocalOriginErrors": Bool(),
        "consecutiveLocalOriginFailures": uint32_value(),
        "interval": Duration(),
        "baseEjectionTime": Duration(),
        "maxEjectionPercent": Int(0, 100, proto="int32"),
        "minHealthPercent": Int(0, 100, proto="int32"),
    },
    rules=(_local_origin_needs_split,),
)


def _maglev_prime(maglev: dict[str, Any], path: str, c: Checker) -> None:
    size = maglev.get("tableSize")
    # 0 is unset (Envoy's default 65537); any other value must be prime for Envoy (1 is not)
    if isinstance(size, int) and not isinstance(size, bool) and 0 < size <= MAGLEV_MAX and not _prime(size):
        c.error(
            f"{path}.tableSize",
            f"{size} is not a prime number; Envoy's Maglev load balancer refuses the cluster",
            "use a prime such as 65537 (Envoy's default) or 5000011",
        )


def _prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


# Envoy bounds the two tables (cluster.proto: RingHashLbConfig.minimum_ring_size <= 8M, MaglevLbConfig
# table_size <= 5000011 and prime); Istio passes the uint64 through, so Envoy would refuse the push.
RING_MAX = 8_388_608
MAGLEV_MAX = 5_000_011
CONSISTENT_HASH = Map(
    {
        "httpHeaderName": Str(),
        "httpCookie": Map(
            {"name": Str(), "path": Str(), "ttl": AnyValue(), "attributes": AnyValue()},
            required={"name": "add `name: <cookie name>`"},
        ),
        "useSourceIp": Bool(),
        "httpQueryParameterName": Str(),
        "ringHash": Map({"minimumRingSize": Int(0, RING_MAX, proto="uint64, at most 8388608 in Envoy")}),
        "maglev": Map(
            {"tableSize": Int(0, MAGLEV_MAX, proto="uint64, at most 5000011 in Envoy")},
            rules=(_maglev_prime,),
        ),
        "minimumRingSize": Deprecated(
            Int(0, RING_MAX, proto="uint64, at most 8388608 in Envoy"),
            lambda v: ("'minimumRingSize' is deprecated", f"use `ringHash: {{minimumRingSize: {v}}}`"),
        ),
        "localityAffinity": AnyValue(),
    }
)
LOAD_BALANCER = Map(
    {
        "simple": Enum("UNSPECIFIED", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN"),
        "consistentHash": CONSISTENT_HASH,
        "localityLbSetting": AnyValue(),
        "warmupDurationSecs": Duration(),
        "warmup": AnyValue(),
    }
)
CLIENT_TLS = Map(
    {
        "mode": Enum("DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"),
        "clientCertificate": Str(),
        "privateKey": Str(),
        "caCertificates": Str(),
        "credentialName": Str(),
        "subjectAltNames": ListOf(Str()),
        "sni": Str(),
        "insecureSkipVerify": Bool(),
        "caCrl": Str(),
    }
)
PORT_TRAFFIC_POLICY = Map(
    {
        "port": PORT_SELECTOR,
        "loadBalancer": LOAD_BALANCER,
        "connectionPool": CONNECTION_POOL,
        "outlierDetection": OUTLIER_DETECTION,
        "tls": CLIENT_TLS,
    }
)
TRAFFIC_POLICY = Map(
    {
        "loadBalancer": LOAD_BALANCER,
        "connectionPool": CONNECTION_POOL,
        "outlierDetection": OUTLIER_DETECTION,
        "tls": CLIENT_TLS,
        "portLevelSettings": ListOf(PORT_TRAFFIC_POLICY),
        "tunnel": AnyValue(),
        "proxyProtocol": AnyValue(),
        # TrafficPolicy.RetryBudget (Istio >= 1.27): `percent` is a google.protobuf.DoubleValue, written
        # `percent: 25` (not a Percent message), Envoy's 0-100 Percent; `minRetryConcurrency` a plain uint32.
        # Read in istio/istio pilot/pkg/networking/core/cluster_traffic_policy.go applyRetryBudget
        # (`retryBudget.Percent.Value`, `retryBudget.MinRetryConcurrency > 0`) and the CRD's generated models.
        "retryBudget": Map(
            {
                "percent": Number(0, 100, proto="google.protobuf.DoubleValue"),
                "minRetryConcurrency": uint32(),
            }
        ),
    }
)
SUBSET = Map(
    {"name": DNS_LABEL, "labels": LABELS, "trafficPolicy": TRAFFIC_POLICY},
    required={"name": "add `name: v1` (the name routes use as `subset:`)"},
)


def _unique_subsets(spec: dict[str, Any], path: str, c: Checker) -> None:
    seen: set[str] = set()
    subsets = spec.get("subsets")
    for i, subset in enumerate(subsets if isinstance(subsets, list) else []):
        name = subset.get("name") if isinstance(subset, dict) else None
        if isinstance(name, str) and name in seen:
            c.error(f"{path}.subsets[{i}].name", f"subset '{name}' is defined twice", "rename or delete one")
        if isinstance(name, str):
            seen.add(name)


DESTINATION_RULE_SPEC = Map(
    {
        "host": Str(),
        "trafficPolicy": TRAFFIC_POLICY,
        "subsets": ListOf(SUBSET, max_items=MAX_SUBSETS, max_why=ENVOY_CLUSTER),
        "exportTo": ListOf(Str()),
        "workloadSelector": Map({"matchLabels": LABELS}),
    },
    required={"host": "add `host: <service name>` (the service this rule is for, e.g. service-go)"},
    rules=(_unique_subsets,),
)

#: kind -> the schema of the whole object.
SCHEMAS: dict[str, Map] = {
    "Pod": top(POD_SPEC, spec_fix="add `spec:` with `containers:`"),
    "Deployment": top(DEPLOYMENT_SPEC, spec_fix="add `spec:` with `selector`, `replicas` and `template`"),
    "Service": top(SERVICE_SPEC, name_type=SERVICE_NAME, spec_fix="add `spec:` with `selector` and `ports`"),
    "VirtualService": top(VIRTUAL_SERVICE_SPEC, spec_fix="add `spec:` with `hosts` and `http`"),
    "DestinationRule": top(DESTINATION_RULE_SPEC, spec_fix="add `spec:` with `host`"),
}
_LOCATIONS = {kind: field_locations(schema) for kind, schema in SCHEMAS.items()}


def _supported() -> str:
    """``Pod (v1), …, VirtualService and DestinationRule (networking.istio.io/v1, v1beta1 or v1alpha3)``."""
    by_versions: dict[tuple[str, ...], list[str]] = {}
    for kind, versions in SUPPORTED_KINDS.items():
        by_versions.setdefault(versions, []).append(kind)
    parts = []
    for versions, kinds in by_versions.items():
        group, _, _ = versions[0].rpartition("/")
        shown = [versions[0]] + [
            v.rpartition("/")[2] if group and v.startswith(group) else v for v in versions[1:]
        ]
        listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
        parts.append(f"{' and '.join(kinds)} ({listed})")
    return ", ".join(parts)


def check_kind(m: Manifest) -> list[Problem]:
    """Problems with apiVersion/kind: unsupported kinds and versions, with the list of supported ones."""
    c = Checker(m)
    if not isinstance(m.body.get("kind"), str) or not m.kind:
        c.error("kind", "missing `kind`", f"add `kind:`; this lab supports {_supported()}")
    elif m.api_version.startswith("kind.x-k8s.io/"):
        c.error(
            "apiVersion",
            f"this is a kind cluster config ({m.kind}), not an object the lab applies",
            "use it with `kind create cluster --config FILE` (the kind backend does that for you)",
        )
    elif m.kind not in SUPPORTED_KINDS:
        close = difflib.get_close_matches(m.kind, list(SUPPORTED_KINDS), n=1, cutoff=0.7)
        hint = f"did you mean '{close[0]}'? " if close else ""
        c.error("kind", f"kind '{m.kind}' is not supported by this lab", f"{hint}supported: {_supported()}")
    elif not m.api_version:
        c.error("apiVersion", "missing `apiVersion`", f"add `apiVersion: {SUPPORTED_KINDS[m.kind][0]}`")
    elif m.api_version not in SUPPORTED_KINDS[m.kind]:
        c.error(
            "apiVersion",
            f"apiVersion '{m.api_version}' is not supported for {m.kind}",
            f"use `apiVersion: {SUPPORTED_KINDS[m.kind][0]}`; supported: {_supported()}",
        )
    return c.problems


def validate_manifest(m: Manifest) -> list[Problem]:
    """Every problem of one object on its own: kind/apiVersion, fields, types, ranges, Istio's rules."""
    problems = check_kind(m)
    if problems:
        return problems
    c = Checker(m, locations=_LOCATIONS[m.kind])
    SCHEMAS[m.kind].check(m.body, "", c)
    return c.problems
