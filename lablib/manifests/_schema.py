"""One validator per kind: the fields of Pod, Deployment, Service (the parts the lab uses, leniently) and of
Istio's VirtualService and DestinationRule (the whole networking API, strictly), with Istio's own rules.

Field names and rules follow istio/api ``networking/v1alpha3/{virtual_service,destination_rule}.proto`` and
istio/istio ``pkg/config/validation/validation.go``; Kubernetes ones follow ``k8s.io/api/core/v1``.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import yaml

from lablib.i18n import Msg
from lablib.manifests._fields import (
    INT32_MAX,
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
    both,
    describe,
    either,
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
from lablib.manifests._yaml import InputLimit, _parser_words, load_bounded
from lablib.manifests.objects import SUPPORTED_KINDS, Manifest
from lablib.service_go import cli as service_go_cli
from lablib.translate import defaults

__all__ = ["SCHEMAS", "check_kind", "validate_manifest"]

# --- names --------------------------------------------------------------------------------------------------
DNS_SUBDOMAIN = Str(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", Msg("schema.name.dns_subdomain"), 253
)
DNS_LABEL = Str(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", Msg("schema.name.dns_label"), 63)
SERVICE_NAME = Str(r"[a-z]([-a-z0-9]*[a-z0-9])?", Msg("schema.name.service"), 63)
LABEL_VALUE = Str(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?", Msg("schema.name.label_value"), 63)
PORT_NAME = Str(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", Msg("schema.name.port"), 15)
LABELS = MapOf(LABEL_VALUE)
PORT_NUMBER = Int(1, 65535)
PROTOCOL = Enum("TCP", "UDP", "SCTP")  # Kubernetes' port protocols (containers and Services)
#: A host as Istio's ValidateWildcardDomain reads it, minus its DNS rules: at least not empty, no spaces.
HOST = Str(r"\S+", Msg("schema.name.host"), 255)


# Istio's scalar types (istio/api networking/v1alpha3/*.proto): int32 fields, uint32 fields, and the
# wrappers (google.protobuf.UInt32Value, DoubleValue), which YAML writes as the plain number (an explicit 0
# is a value).
def int32(zero: str | None = None) -> Int:
    return Int(0, INT32_MAX, zero=zero, proto="int32")


def uint32() -> Int:
    return Int(0, defaults.MAX_UINT32, proto="uint32")


def uint32_value() -> Int:
    return Int(0, defaults.MAX_UINT32, proto="google.protobuf.UInt32Value")


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
            c.error(where, Msg("schema.proxy_config.unusable", why=exc.message), exc.fix)
            return
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", exc)
            # the parser's usual sentences as Msgs (as in a file's syntax errors), else its own words
            said = _parser_words(problem) if isinstance(problem, str) else str(problem)
            message = (
                Msg("schema.proxy_config.not_yaml_at", line=mark.line + 1, said=said)
                if mark is not None
                else Msg("schema.proxy_config.not_yaml", said=said)
            )
            c.error(where, message, Msg("schema.proxy_config.not_yaml_fix"))
            return
        if parsed is not None and not isinstance(parsed, dict):
            c.error(where, Msg("schema.proxy_config.not_mapping"), Msg("schema.proxy_config.not_mapping_fix"))


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
        required={"name": Msg("schema.required.metadata_name")},
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
        required={"metadata": Msg("schema.required.metadata"), "spec": spec_fix},
    )


# --- Kubernetes: the parts the lab uses, lenient elsewhere --------------------------------------------------
def _requests_within_limits(resources: dict[str, Any], path: str, c: Checker) -> None:
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    if not isinstance(requests, dict) or not isinstance(limits, dict):
        return
    for resource, request in requests.items():
        want, cap = parse_quantity(request), parse_quantity(limits.get(resource))
        if want is not None and cap is not None and 0 <= cap < want:
            where = f"{path}.requests.{resource}"
            c.error(
                where,
                Msg(
                    "schema.resources.request_above_limit", request=str(request), limit=str(limits[resource])
                ),
                Msg("schema.resources.request_above_limit_fix", resource=str(resource)),
            )


RESOURCES = Map(
    {"requests": MapOf(Quantity()), "limits": MapOf(Quantity()), "claims": AnyValue()},
    rules=(_requests_within_limits,),
)
CONTAINER_PORT = Map(
    {
        "containerPort": PORT_NUMBER,
        "name": PORT_NAME,
        "protocol": PROTOCOL,
        "hostPort": PORT_NUMBER,
        "hostIP": Str(),
    },
    required={"containerPort": Msg("schema.required.container_port")},
)
#: The lab's service-go image (docker/service-go; the book's manifests name it ``lablib/service-go:v1``).
_SERVICE_GO_IMAGE = "lablib/service-go"


def _service_go_args(container: dict[str, Any], path: str, c: Checker) -> None:
    """service-go's image appends a container's args to its entrypoint: args it cannot read make every pod
    exit at start (the embedded lab runs the same app and parser), so they are refused here, at their line."""
    image, args = container.get("image"), container.get("args")
    if not (isinstance(image, str) and _SERVICE_GO_IMAGE in image and isinstance(args, list)):
        return
    if not all(isinstance(a, str) for a in args):
        return  # ListOf(Str()) says which item is not a string
    said = service_go_cli.args_problem(args)
    if said is not None:
        c.error(f"{path}.args", Msg("schema.service_go.args", said=said),
                Msg("schema.service_go.args_fix", flags=", ".join(service_go_cli.flags())))


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
                required={"name": Msg("schema.required.env_name")},
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
    required={"name": Msg("schema.required.container_name"), "image": Msg("schema.required.image")},
    strict=False,
    rules=(_service_go_args,),
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
    required={"containers": Msg("schema.required.containers")},
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
            where = f"{path}.selector.matchLabels"
            c.error(
                where,
                Msg("schema.deployment.selector_mismatch", labels=shown),
                Msg("schema.deployment.selector_mismatch_fix"),
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
            required={"spec": Msg("schema.required.template_spec")},
        ),
        "strategy": AnyValue(),
        "minReadySeconds": Int(0, INT32_MAX, proto="int32"),
        "revisionHistoryLimit": Int(0, INT32_MAX, proto="int32"),
        "progressDeadlineSeconds": Int(1, INT32_MAX, proto="int32"),
        "paused": Bool(),
    },
    required={
        "selector": Msg("schema.required.selector"),
        "template": Msg("schema.required.template"),
    },
    strict=False,
    rules=(_selector_matches_template,),
)


def _service_ports_named(spec: dict[str, Any], path: str, c: Checker) -> None:
    ports = spec.get("ports")
    if isinstance(ports, list) and len(ports) > 1:
        for i, port in enumerate(ports):
            if isinstance(port, dict) and not port.get("name"):
                where = f"{path}.ports[{i}]"
                c.error(where, Msg("schema.service.port_name"), Msg("schema.service.port_name_fix"))


SERVICE_PORT = Map(
    {
        "name": PORT_NAME,
        "port": PORT_NUMBER,
        "targetPort": IntOrString(),
        "protocol": PROTOCOL,
        "nodePort": PORT_NUMBER,
        "appProtocol": Str(),
    },
    required={"port": Msg("schema.required.port")},
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
    required={"ports": Msg("schema.required.ports")},
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
        message = Msg("schema.match.one_not", given=both(given)) if given else Msg("schema.match.one")
        c.error(path, message, Msg("schema.match.one_fix"))


STRING_MATCH = Map({"exact": Str(), "prefix": Str(), "regex": Regex()}, rules=(_one_match,))
HEADER_OPS = Map({"set": MapOf(Str()), "add": MapOf(Str()), "remove": ListOf(Str())})
HEADERS = Map({"request": HEADER_OPS, "response": HEADER_OPS})
DESTINATION = Map(
    {"host": HOST, "subset": Str(), "port": PORT_SELECTOR},
    required={"host": Msg("schema.required.destination_host")},
)


def _deprecated_percent(value: Any) -> tuple[str, str]:
    return (
        Msg("schema.deprecated.field", name="percent"),
        Msg("schema.deprecated.percent_fix", value=str(value)),
    )


PERCENT_OLD = Deprecated(Int(0, 100, proto="int32"), _deprecated_percent)
def _not_in_lab(c: Checker, path: str, field: str, why: Msg, fix: Msg) -> None:
    """Valid Istio that the lab cannot translate faithfully: refused as "not supported by this lab"."""
    c.error(path, Msg("schema.not_in_lab", field=field, why=why), fix)


def _one_of(block: dict[str, Any], path: str, fields: tuple[str, ...], c: Checker) -> list[str]:
    """The fields of a proto oneof that ``block`` sets; an error if it sets more than one (Istio refuses)."""
    given = [k for k in fields if block.get(k) is not None]
    if len(given) > 1:
        c.error(path, Msg("schema.oneof.several", fields=either(list(fields)), given=both(given)),
                Msg("schema.oneof.several_fix"))
    return given


def _fault_has_effect(fault: dict[str, Any], path: str, c: Checker) -> None:
    if fault.get("abort") is None and fault.get("delay") is None:  # Istio's validateHTTPFaultInjection
        c.error(path, Msg("schema.fault.empty"), Msg("schema.fault.empty_fix"))


def _abort_in_lab(abort: dict[str, Any], path: str, c: Checker) -> None:
    given = _one_of(abort, path, ("httpStatus", "grpcStatus", "http2Error"), c)
    if "grpcStatus" in given:  # valid Istio, but the lab's service speaks HTTP/1.1, not gRPC
        _not_in_lab(c, f"{path}.grpcStatus", "grpcStatus", Msg("schema.why.grpc"),
                    Msg("schema.fault.http_status_fix"))
    elif "http2Error" in given:  # Istio's validateHTTPFaultInjectionAbort refuses it
        c.error(f"{path}.http2Error",
                Msg("schema.fault.istio_not_yet", version=defaults.ISTIO_VERSION, field="http2Error"),
                Msg("schema.fault.http_status_fix"))
    elif not given:  # Istio warns ("abort configured, but error type not set") and drops the abort
        c.warning(path, Msg("schema.fault.abort_without_status"), Msg("schema.fault.http_status_fix"))


def _delay_in_lab(delay: dict[str, Any], path: str, c: Checker) -> None:
    given = _one_of(delay, path, ("fixedDelay", "exponentialDelay"), c)
    if "exponentialDelay" in given:  # Istio's validateHTTPFaultInjectionDelay refuses it
        c.error(f"{path}.exponentialDelay",
                Msg("schema.fault.istio_not_yet", version=defaults.ISTIO_VERSION, field="exponentialDelay"),
                Msg("schema.fault.fixed_delay_fix"))
    elif not given:  # Istio's TranslateFault drops a delay without a type
        c.warning(path, Msg("schema.fault.delay_without_fixed"), Msg("schema.fault.fixed_delay_fix"))


HTTP_FAULT = Map(
    {
        "delay": Map(
            {
                "fixedDelay": Duration(),
                "exponentialDelay": Duration(),
                "percentage": PERCENT,
                "percent": PERCENT_OLD,
            },
            rules=(_delay_in_lab,),
        ),
        "abort": Map(
            {
                "httpStatus": Int(200, 599),
                "grpcStatus": Str(),
                "http2Error": Str(),
                "percentage": PERCENT,
                "percent": PERCENT_OLD,
            },
            rules=(_abort_in_lab,),
        ),
    },
    rules=(_fault_has_effect,),
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
    required={"destination": Msg("schema.required.route_destination")},
)


def _route_weights(route: dict[str, Any], path: str, c: Checker) -> None:
    destinations = route.get("route")
    if isinstance(destinations, list) and len(destinations) > 1:
        # `weight:` left empty is unset, i.e. 0, as for Istio
        weights = [d.get("weight") or 0 for d in destinations if isinstance(d, dict)]
        where = f"{path}.route"
        if all(isinstance(w, int) and not isinstance(w, bool) for w in weights) and sum(weights) == 0:
            c.error(where, Msg("schema.route.weights_zero"), Msg("schema.route.weights_zero_fix"))
        elif all(isinstance(w, int) for w in weights) and sum(weights) > defaults.MAX_UINT32:
            c.error(
                where,
                Msg("schema.route.weights_too_big", total=str(sum(weights)), most=defaults.MAX_UINT32),
                Msg("schema.route.weights_too_big_fix"),
            )


def _route_has_action(route: dict[str, Any], path: str, c: Checker) -> None:
    if not any(route.get(k) for k in ("route", "redirect", "directResponse", "delegate")):
        c.error(path, Msg("schema.route.no_action"), Msg("schema.route.no_action_fix"))
    for action in ("redirect", "directResponse", "delegate"):  # valid Istio; the lab only routes
        if route.get(action) is not None:
            _not_in_lab(c, f"{path}.{action}", action, Msg("schema.why.route_only"),
                        Msg("schema.route.no_action_fix"))


def _retries_valid(retries: dict[str, Any], path: str, c: Checker) -> None:
    """Istio's ``validateHTTPRetry``: a retry field with retries off (``attempts`` 0 or unset) is refused, and
    every comma-separated part of ``retryOn``, taken as written (Istio does not trim it), must be a condition
    Envoy knows or a status code Go's ``http.StatusText`` names."""
    attempts = retries.get("attempts")
    set_fields = [f for f in ("perTryTimeout", "retryOn", "retryRemoteLocalities")
                  if retries.get(f) is not None]
    if (attempts is None or attempts == 0) and set_fields and not isinstance(attempts, bool):
        where = f"{path}.attempts" if attempts is not None else path
        c.error(where, Msg("schema.retries.disabled", fields=both(set_fields)),
                Msg("schema.retries.disabled_fix"))
    retry_on = retries.get("retryOn")
    if not isinstance(retry_on, str) or not retry_on:
        return
    conditions = ", ".join(sorted(defaults.ISTIO_RETRY_ON_POLICIES))
    for part in retry_on.split(","):
        if _retry_condition(part):
            continue
        if part.strip() and _retry_condition(part.strip()):
            fixed = ",".join(p.strip() for p in retry_on.split(","))
            c.error(f"{path}.retryOn", Msg("schema.retries.retry_on_spaces", part=part),
                    Msg("schema.retries.retry_on_spaces_fix", fixed=fixed))
        else:
            c.error(f"{path}.retryOn", Msg("schema.retries.retry_on_unknown", part=part),
                    Msg("schema.retries.retry_on_unknown_fix", conditions=conditions))


_GO_INT = re.compile(r"[+-]?[0-9]+")


def _retry_condition(part: str) -> bool:
    """A ``retryOn`` part Istio accepts: a condition of ``supportedRetryOnPolicies`` or, read by Go's
    ``strconv.Atoi``, a status code ``http.StatusText`` knows."""
    if part in defaults.ISTIO_RETRY_ON_POLICIES:
        return True
    return bool(_GO_INT.fullmatch(part)) and int(part) in defaults.GO_HTTP_STATUS_CODES


_DESTINATIONS_WHY = Msg("schema.limits.destinations_why")
_ROUTES_WHY = Msg("schema.limits.routes_why")
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
            },
            rules=(_retries_valid,),
        ),
        "fault": HTTP_FAULT,
        "mirror": DESTINATION,
        "mirrorPercentage": PERCENT,
        "mirrorPercent": Deprecated(
            Int(0, 100, proto="google.protobuf.UInt32Value"),
            lambda v: (
                Msg("schema.deprecated.field", name="mirrorPercent"),
                Msg("schema.deprecated.mirror_percent_fix", value=str(v)),
            ),
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
    required={"destination": Msg("schema.required.route_destination")},
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
    required={"sniHosts": Msg("schema.required.sni_hosts")},
)
TLS_ROUTE = Map({"match": ListOf(TLS_MATCH), "route": ROUTE_DESTINATIONS})
VIRTUAL_SERVICE_SPEC = Map(
    {
        "hosts": ListOf(HOST, min_items=1),
        "gateways": ListOf(Str()),
        "http": ListOf(HTTP_ROUTE, max_items=MAX_ROUTES, max_why=_ROUTES_WHY),
        "tls": ListOf(TLS_ROUTE, max_items=MAX_ROUTES, max_why=_ROUTES_WHY),
        "tcp": ListOf(TCP_ROUTE, max_items=MAX_ROUTES, max_why=_ROUTES_WHY),
        "exportTo": ListOf(Str()),
    },
    required={"hosts": Msg("schema.required.hosts")},
)

_THRESHOLD_ZERO = Msg("schema.zero.unset", then=Msg("schema.zero.no_limit", most=defaults.MAX_UINT32))


def _at_least_one_pool(pool: dict[str, Any], path: str, c: Checker) -> None:
    if pool.get("tcp") is None and pool.get("http") is None:
        c.error(path, Msg("schema.pool.empty"), Msg("schema.pool.empty_fix"))


def _local_origin_needs_split(od: dict[str, Any], path: str, c: Checker) -> None:
    if od.get("consecutiveLocalOriginFailures") and not od.get("splitExternalLocalOriginErrors"):
        where = f"{path}.consecutiveLocalOriginFailures"
        c.error(
            where,
            Msg("schema.outlier.local_origin_needs_split"),
            Msg("schema.outlier.local_origin_needs_split_fix"),
        )


def _consecutive_errors(value: Any) -> tuple[str, str]:
    default = defaults.ENVOY_DEFAULT_CONSECUTIVE_5XX  # what Envoy applies, the field being ignored
    n = value if isinstance(value, int) and not isinstance(value, bool) else 3
    return (
        Msg("schema.outlier.consecutive_errors", default=default)
        if n == default
        else Msg("schema.outlier.consecutive_errors_not", n=n, default=default),
        Msg("schema.outlier.consecutive_errors_fix", n=n),
    )


# Istio writes tcpKeepalive.time/interval as whole seconds into Envoy's uint32 keepalive_time/interval.
KEEPALIVE = Duration(
    min_s=1,
    max_s=defaults.MAX_UINT32,
    why=Msg("schema.duration.keepalive_why"),
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
                "maxRequestsPerConnection": int32(
                    zero=Msg("schema.zero.unset", then=Msg("schema.zero.unlimited_requests"))
                ),
                "maxRetries": int32(zero=_THRESHOLD_ZERO),
                "idleTimeout": Duration(),
                "h2UpgradePolicy": Enum("DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"),
                "useClientProtocol": Bool(),
                "maxConcurrentStreams": int32(
                    zero=Msg(
                        "schema.zero.unset",
                        then=Msg("schema.zero.default_streams",
                                 n=defaults.ENVOY_DEFAULT_MAX_CONCURRENT_STREAMS),
                    )
                ),
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
    # 0 is unset (Envoy's default table size); any other value must be prime for Envoy (1 is not)
    if isinstance(size, int) and not isinstance(size, bool) and 0 < size <= MAGLEV_MAX and not _prime(size):
        where = f"{path}.tableSize"
        default = defaults.ENVOY_DEFAULT_MAGLEV_TABLE_SIZE
        fix = Msg("schema.maglev.not_prime_fix", default=default, most=MAGLEV_MAX)
        c.error(where, Msg("schema.maglev.not_prime", size=size), fix)


def _prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


# Envoy bounds the two tables (defaults.ENVOY_MAX_*); Istio passes the uint64 through, so Envoy would refuse.
RING_MAX = defaults.ENVOY_MAX_RING_SIZE
MAGLEV_MAX = defaults.ENVOY_MAX_MAGLEV_TABLE_SIZE
_RING_PROTO = Msg("schema.proto.uint64_envoy", most=RING_MAX)
CONSISTENT_HASH = Map(
    {
        "httpHeaderName": Str(),
        "httpCookie": Map(
            {"name": Str(), "path": Str(), "ttl": AnyValue(), "attributes": AnyValue()},
            required={"name": Msg("schema.required.cookie_name")},
        ),
        "useSourceIp": Bool(),
        "httpQueryParameterName": Str(),
        "ringHash": Map({"minimumRingSize": Int(0, RING_MAX, proto=_RING_PROTO)}),
        "maglev": Map(
            {"tableSize": Int(0, MAGLEV_MAX, proto=Msg("schema.proto.uint64_envoy", most=MAGLEV_MAX))},
            rules=(_maglev_prime,),
        ),
        "minimumRingSize": Deprecated(
            Int(0, RING_MAX, proto=_RING_PROTO),
            lambda v: (
                Msg("schema.deprecated.field", name="minimumRingSize"),
                Msg("schema.deprecated.minimum_ring_size_fix", value=str(v)),
            ),
        ),
        "localityAffinity": AnyValue(),
    }
)


def _lb_in_lab(lb: dict[str, Any], path: str, c: Checker) -> None:
    # Valid Istio: an ORIGINAL_DST cluster, each request to the address the client dialled; the lab's client
    # sidecar has no original destination to forward to.
    if lb.get("simple") == "PASSTHROUGH":
        _not_in_lab(c, f"{path}.simple", "simple: PASSTHROUGH", Msg("schema.why.original_dst"),
                    Msg("schema.lb.simple_fix", default=defaults.ISTIO_DEFAULT_LB_POLICY))


LOAD_BALANCER = Map(
    {
        "simple": Enum("UNSPECIFIED", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN"),
        "consistentHash": CONSISTENT_HASH,
        "localityLbSetting": AnyValue(),
        "warmupDurationSecs": Duration(),
        "warmup": AnyValue(),
    },
    rules=(_lb_in_lab,),
)


def _tls_in_lab(tls: dict[str, Any], path: str, c: Checker) -> None:
    # Valid Istio, also between sidecars: the client originates TLS with certificates of the student's own.
    # The lab's sidecars only have Istio's certificates (ISTIO_MUTUAL) and plaintext (DISABLE).
    mode = tls.get("mode")
    if mode in ("SIMPLE", "MUTUAL"):
        _not_in_lab(c, f"{path}.mode", f"tls.mode: {mode}", Msg("schema.why.own_certificates"),
                    Msg("schema.tls.mode_fix"))


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
    },
    rules=(_tls_in_lab,),
)
PORT_TRAFFIC_POLICY = Map(
    {
        "port": PORT_SELECTOR,
        "loadBalancer": LOAD_BALANCER,
        "connectionPool": CONNECTION_POOL,
        "outlierDetection": OUTLIER_DETECTION,
        "tls": CLIENT_TLS,
    },
    required={"port": Msg("schema.required.port_level_port")},  # Istio: "must have valid port"
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
    required={"name": Msg("schema.required.subset_name")},
)


def _unique_subsets(spec: dict[str, Any], path: str, c: Checker) -> None:
    seen: set[str] = set()
    subsets = spec.get("subsets")
    for i, subset in enumerate(subsets if isinstance(subsets, list) else []):
        name = subset.get("name") if isinstance(subset, dict) else None
        if isinstance(name, str) and name in seen:
            where = f"{path}.subsets[{i}].name"
            c.error(
                where,
                Msg("schema.subset.twice", name=name),
                Msg("schema.subset.twice_fix"),
            )
        if isinstance(name, str):
            seen.add(name)


DESTINATION_RULE_SPEC = Map(
    {
        "host": HOST,
        "trafficPolicy": TRAFFIC_POLICY,
        "subsets": ListOf(SUBSET, max_items=MAX_SUBSETS, max_why=ENVOY_CLUSTER),
        "exportTo": ListOf(Str()),
        "workloadSelector": Map({"matchLabels": LABELS}),
    },
    required={"host": Msg("schema.required.rule_host")},
    rules=(_unique_subsets,),
)


# --- Sidecar (istio/api networking/v1alpha3/sidecar.proto; validation.go ValidateSidecar) ------------------
#: Istio's protocol names (``protocol.Parse``: case does not matter); what a Sidecar port may say.
ISTIO_PROTOCOLS = ("HTTP", "HTTPS", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-WEB", "TCP", "TLS", "UDP", "MONGO",
                   "REDIS", "MYSQL")


def _sidecar_port(port: dict[str, Any], path: str, c: Checker) -> None:
    protocol = port.get("protocol")
    if not isinstance(protocol, str) or protocol.upper() not in ISTIO_PROTOCOLS:
        c.error(f"{path}.protocol", Msg("schema.sidecar.protocol", value=describe(protocol)),
                Msg("schema.sidecar.protocol_fix", values=list(ISTIO_PROTOCOLS)))
    elif protocol.upper() != "HTTP":
        # Istio builds a TCP proxy (or TLS, h2, gRPC) inbound chain for these; the lab's server sidecars
        # speak HTTP/1.1 to the app behind an HTTP connection manager only.
        _not_in_lab(c, f"{path}.protocol", f"protocol: {protocol}", Msg("schema.why.inbound_http_only"),
                    Msg("schema.sidecar.protocol_http_fix"))
    if port.get("targetPort"):
        c.error(f"{path}.targetPort", Msg("schema.sidecar.target_port"),
                Msg("schema.sidecar.target_port_fix"))


def _default_endpoint(endpoint: Any, path: str, c: Checker) -> None:
    if not isinstance(endpoint, str) or not endpoint:
        return
    if endpoint.startswith("unix://"):
        _not_in_lab(c, path, "defaultEndpoint: unix://…", Msg("schema.why.no_uds"),
                    Msg("schema.sidecar.endpoint_fix"))
        return
    host, sep, port = endpoint.rpartition(":")
    host = host.strip("[]")
    if not sep or host not in ("", "127.0.0.1", "0.0.0.0", "::1", "::") or not port.isdigit() \
            or not 0 < int(port) < 65536:
        c.error(path, Msg("schema.sidecar.endpoint", value=endpoint), Msg("schema.sidecar.endpoint_fix"))


def _ingress_in_lab(ingress: dict[str, Any], path: str, c: Checker) -> None:
    _default_endpoint(ingress.get("defaultEndpoint"), f"{path}.defaultEndpoint", c)
    for name in ("bind", "tls"):
        if ingress.get(name):
            _not_in_lab(c, f"{path}.{name}", name, Msg("schema.why.sidecar_listener"),
                        Msg("schema.sidecar.delete_fix", field=name))
    if ingress.get("captureMode") not in (None, "DEFAULT"):
        _not_in_lab(c, f"{path}.captureMode", f"captureMode: {ingress['captureMode']}",
                    Msg("schema.why.sidecar_listener"), Msg("schema.sidecar.delete_fix", field="captureMode"))
    pool, port = ingress.get("connectionPool"), ingress.get("port")
    protocol = port.get("protocol") if isinstance(port, dict) else None
    if isinstance(pool, dict) and pool.get("http") is not None and isinstance(protocol, str) \
            and protocol.upper() in ("TCP", "TLS", "MONGO", "REDIS", "MYSQL"):
        c.warning(f"{path}.connectionPool.http", Msg("schema.sidecar.http_pool_on_tcp", protocol=protocol),
               Msg("schema.sidecar.http_pool_on_tcp_fix"))


def _unique_ingress_ports(spec: dict[str, Any], path: str, c: Checker) -> None:
    seen: set[int] = set()
    ingress = spec.get("ingress")
    for i, listener in enumerate(ingress if isinstance(ingress, list) else []):
        port = listener.get("port") if isinstance(listener, dict) else None
        number = port.get("number") if isinstance(port, dict) else None
        if isinstance(number, int) and number in seen:
            c.error(f"{path}.ingress[{i}].port.number", Msg("schema.sidecar.port_twice", port=number),
                    Msg("schema.sidecar.port_twice_fix"))
        if isinstance(number, int):
            seen.add(number)


def _sidecar_in_lab(spec: dict[str, Any], path: str, c: Checker) -> None:
    # Istio: "sidecar: empty configuration provided".
    if not any(spec.get(k) for k in ("egress", "ingress", "outboundTrafficPolicy", "inboundConnectionPool")):
        c.error(path, Msg("schema.sidecar.empty"), Msg("schema.sidecar.empty_fix"))
    for name in ("egress", "outboundTrafficPolicy"):
        if spec.get(name) is not None:
            # What a client sidecar may reach: the lab's client sees every Service, as without a Sidecar.
            _not_in_lab(c, f"{path}.{name}", name, Msg("schema.why.sidecar_egress"),
                        Msg("schema.sidecar.delete_fix", field=name))
    selector = spec.get("workloadSelector")
    if isinstance(selector, dict) and not selector.get("labels"):
        # Istio warns: "workloadSelector cannot have empty labels, will be applied to all services in …"
        c.warning(f"{path}.workloadSelector", Msg("schema.sidecar.selector_empty"),
                  Msg("schema.sidecar.selector_empty_fix"))


SIDECAR_PORT = Map(
    {"number": PORT_NUMBER, "protocol": Str(), "name": PORT_NAME, "targetPort": uint32()},
    required={"number": Msg("schema.required.sidecar_port_number"),
              "protocol": Msg("schema.required.sidecar_port_protocol")},
    rules=(_sidecar_port,),
)
SIDECAR_INGRESS = Map(
    {
        "port": SIDECAR_PORT,
        "bind": Str(),
        "captureMode": Enum("DEFAULT", "IPTABLES", "NONE"),
        "defaultEndpoint": Str(),
        "tls": AnyValue(),
        "connectionPool": CONNECTION_POOL,
    },
    required={"port": Msg("schema.required.sidecar_ingress_port")},
    rules=(_ingress_in_lab,),
)
SIDECAR_SPEC = Map(
    {
        "workloadSelector": Map({"labels": LABELS}),
        "ingress": ListOf(SIDECAR_INGRESS),
        "egress": AnyValue(),
        "outboundTrafficPolicy": AnyValue(),
        "inboundConnectionPool": CONNECTION_POOL,
    },
    rules=(_sidecar_in_lab, _unique_ingress_ports),
)

#: kind -> the schema of the whole object.
SCHEMAS: dict[str, Map] = {
    "Pod": top(POD_SPEC, spec_fix=Msg("schema.required.pod_spec")),
    "Deployment": top(DEPLOYMENT_SPEC, spec_fix=Msg("schema.required.deployment_spec")),
    "Service": top(SERVICE_SPEC, name_type=SERVICE_NAME, spec_fix=Msg("schema.required.service_spec")),
    "VirtualService": top(VIRTUAL_SERVICE_SPEC, spec_fix=Msg("schema.required.virtual_service_spec")),
    "DestinationRule": top(DESTINATION_RULE_SPEC, spec_fix=Msg("schema.required.destination_rule_spec")),
    "Sidecar": top(SIDECAR_SPEC, spec_fix=Msg("schema.required.sidecar_spec")),
}
_LOCATIONS = {kind: field_locations(schema) for kind, schema in SCHEMAS.items()}


def _supported() -> list[Msg]:
    """``Pod (v1), …, VirtualService and DestinationRule (networking.istio.io/v1, v1beta1 or v1alpha3)``: the
    parts, a list (a Msg's value, joined in the message's language)."""
    by_versions: dict[tuple[str, ...], list[str]] = {}
    for kind, versions in SUPPORTED_KINDS.items():
        by_versions.setdefault(versions, []).append(kind)
    parts = []
    for versions, kinds in by_versions.items():
        group, _, _ = versions[0].rpartition("/")
        shown = [versions[0]] + [
            v.rpartition("/")[2] if group and v.startswith(group) else v for v in versions[1:]
        ]
        listed = shown[0] if len(shown) == 1 else either([shown[:-1], shown[-1]])
        named = both([kinds[:-1], kinds[-1]]) if len(kinds) > 2 else both(kinds)  # "A, B and C"
        parts.append(Msg("schema.kind.supported_part", kinds=named, versions=listed))
    return parts


def check_kind(m: Manifest) -> list[Problem]:
    """Problems with apiVersion/kind: unsupported kinds and versions, with the list of supported ones."""
    c = Checker(m)
    if not isinstance(m.body.get("kind"), str) or not m.kind:
        c.error("kind", Msg("schema.kind.missing"), Msg("schema.kind.missing_fix", supported=_supported()))
    elif m.api_version.startswith("kind.x-k8s.io/"):
        c.error("apiVersion", Msg("schema.kind.kind_config", kind=m.kind), Msg("schema.kind.kind_config_fix"))
    elif m.kind not in SUPPORTED_KINDS:
        close = difflib.get_close_matches(m.kind, list(SUPPORTED_KINDS), n=1, cutoff=0.7)
        fix = (
            Msg("schema.kind.unsupported_did_you_mean_fix", name=close[0], supported=_supported())
            if close
            else Msg("schema.kind.unsupported_fix", supported=_supported())
        )
        c.error("kind", Msg("schema.kind.unsupported", kind=m.kind), fix)
    elif not m.api_version:
        c.error("apiVersion", Msg("schema.kind.missing_api_version"),
                Msg("schema.kind.missing_api_version_fix", api_version=SUPPORTED_KINDS[m.kind][0]))
    elif m.api_version not in SUPPORTED_KINDS[m.kind]:
        c.error(
            "apiVersion",
            Msg("schema.kind.api_version_unsupported", api_version=m.api_version, kind=m.kind),
            Msg("schema.kind.api_version_unsupported_fix", api_version=SUPPORTED_KINDS[m.kind][0],
                supported=_supported()),
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
