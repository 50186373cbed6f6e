"""VirtualServices -> Envoy RouteConfigurations (Istio's ``route/route.go`` and ``route/retry/retry.go``; ref
§3).

The client sidecar gets one RouteConfiguration per service port, named by the port (``"80"``), with one
virtual host per service (``service-go.default.svc.cluster.local:80``). A VirtualService's ``http`` routes
become that virtual host's routes; a service without one gets Istio's default route to ``outbound|80||fqdn``.
Either way a route without its own ``timeout``/``retries`` gets ``timeout: 0s`` (none) and Istio's default
retry policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lablib._types import JSONDict
from lablib.translate import defaults
from lablib.translate._duration import to_duration
from lablib.translate.model import Object, Service
from lablib.translate.names import (
    OUTBOUND,
    build_subset_key,
    fqdn,
    parse_subset_key,
    virtual_host_domains,
    virtual_host_name,
)

__all__ = [
    "FAULT_FILTER",
    "build_default_route",
    "build_route_configuration",
    "build_virtual_host",
    "destination_cluster",
    "translate_fault",
    "translate_retry_policy",
    "translate_route",
    "translate_route_match",
]

#: The HTTP filter a route's ``typed_per_filter_config`` configures for ``fault``; the listener's
#: http_connection_manager must list it before the router for fault injection to happen.
FAULT_FILTER = "envoy.filters.http.fault"
_FAULT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"


def translate_retry_policy(retries: Mapping[str, Any] | None) -> JSONDict | None:
    """``retry.ConvertPolicy``: ``None`` -> Istio's default policy; ``attempts <= 0`` -> no retries
    (``None``);
    otherwise the default with ``attempts``, ``retryOn`` (numbers become ``retriable_status_codes``) and
    ``perTryTimeout`` overridden."""
    out = defaults.retry_policy()
    if retries is None:
        return out
    attempts = int(retries.get("attempts") or 0)
    if attempts <= 0:
        return None  # the VirtualService explicitly turns retries off
    out["num_retries"] = attempts  # retries.attempts -> retry_policy.num_retries
    retry_on = retries.get("retryOn")
    if retry_on:
        parts = [p.strip() for p in str(retry_on).split(",") if p.strip()]
        codes = [int(p) for p in parts if p.isdigit() and 100 <= int(p) <= 599]
        words = [p for p in parts if not (p.isdigit() and 100 <= int(p) <= 599)]
        if codes and "retriable-status-codes" not in words:
            words.append("retriable-status-codes")
        out["retry_on"] = ",".join(words)  # retries.retryOn -> retry_policy.retry_on
        if codes:
            out["retriable_status_codes"] = codes  # numeric retryOn parts -> retriable_status_codes
    if retries.get("perTryTimeout") is not None:
        out["per_try_timeout"] = to_duration(
            retries["perTryTimeout"]
        )  # retries.perTryTimeout -> per_try_timeout
    if retries.get("retryIgnorePreviousHosts") is False:
        del out["retry_host_predicate"]
    return out


def _string_match(spec: Mapping[str, Any]) -> JSONDict:
    if "exact" in spec:
        return {"exact": str(spec["exact"])}
    if "prefix" in spec:
        return {"prefix": str(spec["prefix"])}
    if "regex" in spec:
        return {"safe_regex": {"regex": str(spec["regex"])}}
    raise ValueError("needs one of exact, prefix, regex")


def translate_route_match(match: Mapping[str, Any] | None) -> JSONDict:
    """``TranslateRouteMatch`` for the simple cases: ``uri`` (exact/prefix/regex), ``headers``, ``method``,
    ``authority``, ``scheme``, ``queryParams``, ``ignoreUriCase``. No match -> ``prefix: /``."""
    out: JSONDict = {"prefix": "/"}
    if not match:
        return out
    uri = match.get("uri")
    if uri:
        out.pop("prefix")
        if "exact" in uri:
            out["path"] = str(uri["exact"])  # match.uri.exact -> match.path
        elif "prefix" in uri:
            out["prefix"] = str(uri["prefix"])  # match.uri.prefix -> match.prefix
        elif "regex" in uri:
            out["safe_regex"] = {"regex": str(uri["regex"])}  # match.uri.regex -> match.safe_regex
        else:
            raise ValueError("uri needs one of exact, prefix, regex")
    if match.get("ignoreUriCase"):
        out["case_sensitive"] = False
    headers = []
    for name, spec in (match.get("headers") or {}).items():
        headers.append({"name": str(name).lower(), "string_match": _string_match(spec)})
    for field, header in (("method", ":method"), ("authority", ":authority"), ("scheme", ":scheme")):
        if match.get(field):
            headers.append({"name": header, "string_match": _string_match(match[field])})
    if headers:
        out["headers"] = headers  # match.headers -> match.headers[].string_match
    params = [
        {"name": str(n), "string_match": _string_match(s)}
        for n, s in (match.get("queryParams") or {}).items()
    ]
    if params:
        out["query_parameters"] = params
    return out


def _fractional(percentage: Mapping[str, Any] | None, percent: Any) -> JSONDict:
    # Istio: percentage.value (double) -> numerator per MILLION; legacy int `percent` -> per HUNDRED;
    # neither -> 100%.
    if percentage is not None:
        return {"numerator": round(float(percentage.get("value", 0)) * 10000), "denominator": "MILLION"}
    if percent is not None:
        return {"numerator": int(percent), "denominator": "HUNDRED"}
    return {"numerator": 100, "denominator": "HUNDRED"}


def translate_fault(fault: Mapping[str, Any] | None) -> JSONDict | None:
    """``TranslateFault``: ``fault.abort``/``fault.delay`` -> an ``HTTPFault`` for the route's
    ``typed_per_filter_config[envoy.filters.http.fault]``."""
    if not fault:
        return None
    out: JSONDict = {"@type": _FAULT_TYPE}
    delay = fault.get("delay")
    if delay:
        out["delay"] = {
            "fixed_delay": to_duration(delay.get("fixedDelay")),
            "percentage": _fractional(delay.get("percentage"), delay.get("percent")),
        }
    abort = fault.get("abort")
    if abort:
        if abort.get("httpStatus") is None:
            raise ValueError("abort needs httpStatus (gRPC aborts are not supported by the lab)")
        out["abort"] = {
            "http_status": int(abort["httpStatus"]),
            "percentage": _fractional(abort.get("percentage"), abort.get("percent")),
        }
    return out


def destination_cluster(
    destination: Mapping[str, Any],
    namespace: str,
    services: Mapping[str, Service],
    listener_port: int,
    domain: str = "cluster.local",
) -> str:
    """``GetDestinationCluster``: ``outbound|<port>|<subset>|<fqdn>``; the port is
    ``destination.port.number``,
    else the service's only port, else the port of the route configuration being built."""
    host = fqdn(str(destination.get("host", "")), namespace, domain)
    number = (destination.get("port") or {}).get("number")
    if number is None:
        service = services.get(host)
        number = service.ports[0].port if service is not None and len(service.ports) == 1 else listener_port
    return build_subset_key(OUTBOUND, int(number), destination.get("subset"), host)


def _operation(route_action: JSONDict, match: JSONDict, vs_name: str, port: int) -> str:
    # getRouteOperation: "host:port" + path of the match, or the VirtualService name for weighted routes.
    path = "/*"
    if "prefix" in match:
        path = match["prefix"] + "*"
    elif "path" in match:
        path = match["path"]
    elif "safe_regex" in match:
        path = match["safe_regex"]["regex"]
    if "cluster" in route_action:
        key = parse_subset_key(route_action["cluster"])
        return f"{key.fqdn}:{key.port}{path}"
    return f"{vs_name}:{port}{path}"


def translate_route(
    http: Mapping[str, Any],
    *,
    vs: Object,
    index: int,
    port: int,
    cluster_for: Callable[[Mapping[str, Any]], str],
) -> list[JSONDict]:
    """One VirtualService ``http[index]`` entry -> Envoy routes for the ``port`` route configuration.

    One Envoy route per ``match`` entry (the same action each), none if every match names another port.
    ``cluster_for`` maps a ``destination`` to a cluster name (:func:`destination_cluster`).
    Raises ``ManifestError`` (with file and line when known) on a route Envoy could not use.
    """
    where = f"spec.http[{index}]"
    destinations = list(http.get("route") or ())
    if not destinations:
        raise vs.error(
            f"{where}.route",
            "an http route needs at least one destination",
            "add 'route: [{destination: {host: service-go}}]'",
        )
    weighted = []
    for i, dest in enumerate(destinations):
        if not (dest.get("destination") or {}).get("host"):
            raise vs.error(f"{where}.route[{i}].destination.host", "missing destination host")
        weight = dest.get("weight")
        weighted.append((cluster_for(dest["destination"]), int(weight) if weight is not None else 0))
    action: JSONDict = {}
    if len(weighted) == 1:
        action["cluster"] = weighted[0][0]  # one destination -> route.cluster (its weight is irrelevant)
    else:
        kept = [(name, w) for name, w in weighted if w > 0]  # weight 0 destinations are dropped
        if not kept:
            raise vs.error(
                f"{where}.route",
                "the weights of several destinations must add up to more than 0",
                "give each destination a weight, e.g. 50 and 50",
            )
        if len(kept) == 1:
            action["cluster"] = kept[0][0]
        else:
            # route[].weight -> weighted_clusters.clusters[].weight; no total_weight: Envoy sums them.
            action["weighted_clusters"] = {"clusters": [{"name": n, "weight": w} for n, w in kept]}
    try:
        # timeout -> route.timeout; none -> 0s, i.e. never (pending requests may wait forever).
        action["timeout"] = (
            to_duration(http["timeout"])
            if http.get("timeout") is not None
            else defaults.ISTIO_DEFAULT_ROUTE_TIMEOUT
        )
    except ValueError as exc:
        raise vs.error(f"{where}.timeout", str(exc)) from None
    try:
        retry = translate_retry_policy(http.get("retries"))
    except ValueError as exc:
        raise vs.error(f"{where}.retries", str(exc)) from None
    if retry is not None:
        action["retry_policy"] = retry
    rewrite = http.get("rewrite") or {}
    if rewrite.get("uri"):
        action["prefix_rewrite"] = str(rewrite["uri"])
    if rewrite.get("authority"):
        action["host_rewrite_literal"] = str(rewrite["authority"])
    try:
        fault = translate_fault(http.get("fault"))
    except (ValueError, TypeError) as exc:
        raise vs.error(f"{where}.fault", str(exc)) from None

    matches: Sequence[Mapping[str, Any] | None] = http.get("match") or [None]
    routes = []
    for j, match in enumerate(matches):
        if match and match.get("port") is not None and int(match["port"]) != port:
            continue  # this match is for another port's route configuration
        try:
            envoy_match = translate_route_match(match)
        except ValueError as exc:
            raise vs.error(f"{where}.match[{j}]", str(exc)) from None
        route: JSONDict = {}
        if http.get("name"):
            route["name"] = str(http["name"])
        route["match"] = envoy_match
        route["route"] = dict(action)
        route["decorator"] = {"operation": _operation(action, envoy_match, vs.name, port)}
        if fault is not None:
            route["typed_per_filter_config"] = {FAULT_FILTER: fault}
        routes.append(route)
    return routes


def build_default_route(cluster: str) -> JSONDict:
    """``BuildDefaultHTTPOutboundRoute``: everything to ``cluster``, no timeout, Istio's default retries."""
    key = parse_subset_key(cluster)
    return {
        "name": "default",
        "match": {"prefix": "/"},
        "route": {
            "cluster": cluster,
            "timeout": defaults.ISTIO_DEFAULT_ROUTE_TIMEOUT,
            "retry_policy": defaults.retry_policy(),
        },
        "decorator": {"operation": f"{key.fqdn}:{key.port}/*"},
    }


def build_virtual_host(
    service: Service,
    port: int,
    routes: list[JSONDict],
    *,
    proxy_namespace: str = "default",
    domain: str = "cluster.local",
) -> JSONDict:
    """The virtual host ``<fqdn>:<port>``: the names a client may put in ``Host``, each also with a port."""
    return {
        "name": virtual_host_name(service.fqdn, port),
        "domains": virtual_host_domains(
            service.name, service.namespace, port, proxy_namespace=proxy_namespace, domain=domain
        ),
        "routes": routes,
        "include_request_attempt_count": True,
    }


def build_route_configuration(port: int, virtual_hosts: list[JSONDict]) -> JSONDict:
    """A RouteConfiguration named by the port (``"80"``), as Istio names the sidecar's outbound routes.

    ``validate_clusters: false`` as in Istio: a route may name a subset cluster no DR defines; Envoy then
    answers 503 (no cluster) at request time instead of rejecting the whole configuration.
    """
    return {"name": str(int(port)), "virtual_hosts": virtual_hosts, "validate_clusters": False}
