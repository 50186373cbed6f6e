"""VirtualServices -> Envoy RouteConfigurations (Istio's ``route/route.go`` and ``route/retry/retry.go``; ref
§3).

The client sidecar gets one RouteConfiguration per service port, named by the port (``"80"``), with one
virtual host per service (``service-go.default.svc.cluster.local:80``). A VirtualService's ``http`` routes
become that virtual host's routes; a service without one gets Istio's default route to ``outbound|80||fqdn``.
Either way a route without its own ``timeout``/``retries`` gets ``timeout: 0s`` (none) and Istio's default
retry policy.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lablib._duration import to_proto_json
from lablib._types import JSONDict
from lablib.translate import defaults
from lablib.translate.model import Object, Service, UnvalidatedInput
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
    "set_timeout",
    "translate_fault",
    "translate_hash_policy",
    "translate_retry_policy",
    "translate_route",
    "translate_route_match",
]

#: The HTTP filter a route's ``typed_per_filter_config`` configures for ``fault``; the listener's
#: http_connection_manager must list it before the router for fault injection to happen.
FAULT_FILTER = "envoy.filters.http.fault"
_FAULT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
#: What Go's ``strconv.Atoi`` reads as a number (an optional sign, ASCII digits).
_GO_INT = re.compile(r"[+-]?[0-9]+")


def _retry_on(text: str) -> tuple[str, list[int]]:
    """``parseRetryOn``: the parts Go's ``strconv.Atoi`` reads as a status ``http.StatusText`` knows become
    ``retriable_status_codes``; every other non-empty part (trimmed) stays a condition, in order."""
    words: list[str] = []
    codes: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        number = int(part) if _GO_INT.fullmatch(part) else None
        if number is not None and number in defaults.GO_HTTP_STATUS_CODES:
            codes.append(number)
        else:
            words.append(part)
    return ",".join(words), codes


def translate_retry_policy(retries: Mapping[str, Any] | None, *, consistent_hash: bool = False
                           ) -> JSONDict | None:
    """``retry.ConvertPolicy(retries, hashPolicy)`` (Istio 1.30 ``route/retry/retry.go``).

    ``None`` -> Istio's default policy; ``attempts <= 0`` -> no retry policy at all (``None``); otherwise the
    default with ``attempts``, ``retryOn`` (numbers become ``retriable_status_codes``, plus the
    ``retriable-status-codes`` condition when it is missing), ``perTryTimeout``, ``backoff``,
    ``retryRemoteLocalities`` and ``retryIgnorePreviousHosts`` applied. ``consistent_hash``: the route's one
    destination is load balanced by a consistent hash, so retries keep to the hashed host (no
    ``previous_hosts`` predicate) unless ``retryIgnorePreviousHosts: true`` asks for it.
    """
    out = defaults.retry_policy()
    if consistent_hash:
        del out["retry_host_predicate"]  # DefaultConsistentHashPolicy
    if retries is None:
        return out
    attempts = int(retries.get("attempts") or 0)
    if attempts <= 0:
        return None  # the VirtualService explicitly turns retries off
    out["num_retries"] = attempts  # retries.attempts -> retry_policy.num_retries
    retry_on = retries.get("retryOn")
    if retry_on:
        words, codes = _retry_on(str(retry_on))
        if codes and "retriable-status-codes" not in words:
            words = f"{words},retriable-status-codes"  # Istio appends it, even after an empty word list
        out["retry_on"] = words  # retries.retryOn -> retry_policy.retry_on
        if codes:
            out["retriable_status_codes"] = codes  # numeric retryOn parts -> retriable_status_codes
    if retries.get("perTryTimeout") is not None:
        # retries.perTryTimeout -> per_try_timeout
        out["per_try_timeout"] = to_proto_json(retries["perTryTimeout"])
    ignore = retries.get("retryIgnorePreviousHosts")
    if ignore is not None:  # set either way: it decides, whatever the load balancer
        out.pop("retry_host_predicate", None)
        if ignore:
            out["retry_host_predicate"] = [copy.deepcopy(defaults.PREVIOUS_HOSTS_PREDICATE)]
    if retries.get("retryRemoteLocalities"):
        # retries.retryRemoteLocalities: true -> retry_priority previous_priorities
        out["retry_priority"] = copy.deepcopy(defaults.PREVIOUS_PRIORITIES)
    if retries.get("backoff") is not None:
        # retries.backoff -> retry_back_off.base_interval (Envoy's max_interval: 10 x base)
        out["retry_back_off"] = {"base_interval": to_proto_json(retries["backoff"])}
    return out


def translate_hash_policy(consistent_hash: Mapping[str, Any] | None) -> JSONDict | None:
    """``consistentHashToHashPolicy``: a DestinationRule's ``consistentHash`` key -> the route's
    ``hash_policy`` entry (None when it has no key: ring or Maglev settings alone hash nothing)."""
    if not consistent_hash:
        return None
    if consistent_hash.get("httpHeaderName"):
        return {"header": {"header_name": str(consistent_hash["httpHeaderName"])}}
    cookie = consistent_hash.get("httpCookie")
    if cookie:
        out: JSONDict = {"name": str(cookie.get("name", ""))}
        if isinstance(cookie.get("ttl"), str):
            out["ttl"] = to_proto_json(cookie["ttl"])
        if cookie.get("path"):
            out["path"] = str(cookie["path"])
        return {"cookie": out}
    if consistent_hash.get("useSourceIp") is not None:
        # proto3 JSON leaves out a false bool, as istioctl shows it
        source_ip = {"source_ip": True} if consistent_hash["useSourceIp"] else {}
        return {"connection_properties": source_ip}
    if consistent_hash.get("httpQueryParameterName"):
        return {"query_parameter": {"name": str(consistent_hash["httpQueryParameterName"])}}
    return None


def _string_match(spec: Mapping[str, Any] | None) -> JSONDict:
    # A StringMatch has exactly one of exact, prefix, regex: the validator refuses anything else.
    if not isinstance(spec, Mapping):
        raise UnvalidatedInput(f"a StringMatch that is not a mapping: {spec!r}")
    if "exact" in spec:
        return {"exact": str(spec["exact"])}
    if "prefix" in spec:
        return {"prefix": str(spec["prefix"])}
    if "regex" in spec:
        return {"safe_regex": {"regex": str(spec["regex"])}}
    raise UnvalidatedInput(f"a StringMatch without exact, prefix or regex: {dict(spec)!r}")


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
            raise UnvalidatedInput(f"a uri match without exact, prefix or regex: {dict(uri)!r}")
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
    ``typed_per_filter_config[envoy.filters.http.fault]``.

    As Istio, a delay without ``fixedDelay`` and an abort without ``httpStatus`` are dropped (the validator
    warns), and no fault at all gives ``None``. The validator refuses what the lab cannot translate
    (``grpcStatus``) and what Istio refuses (``exponentialDelay``, ``http2Error``).
    """
    if not fault:
        return None
    out: JSONDict = {"@type": _FAULT_TYPE}
    delay = fault.get("delay")
    if delay and delay.get("fixedDelay") is not None:
        out["delay"] = {
            "fixed_delay": to_proto_json(delay["fixedDelay"]),
            "percentage": _fractional(delay.get("percentage"), delay.get("percent")),
        }
    if delay and delay.get("exponentialDelay") is not None:  # Istio refuses it; so does the validator
        raise UnvalidatedInput("fault.delay.exponentialDelay")
    abort = fault.get("abort")
    if abort and (abort.get("grpcStatus") is not None or abort.get("http2Error") is not None):
        raise UnvalidatedInput("fault.abort: grpcStatus and http2Error are not translated")
    if abort and abort.get("httpStatus") is not None:
        out["abort"] = {
            "http_status": int(abort["httpStatus"]),
            "percentage": _fractional(abort.get("percentage"), abort.get("percent")),
        }
    return out if len(out) > 1 else None


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
    hash_for: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] | None = None,
) -> list[JSONDict]:
    """One VirtualService ``http[index]`` entry -> Envoy routes for the ``port`` route configuration.

    One Envoy route per ``match`` entry (the same action each), none if every match names another port.
    ``cluster_for`` maps a ``destination`` to a cluster name (:func:`destination_cluster`); ``hash_for`` to
    the ``consistentHash`` its DestinationRule load balances it by (``hashForHTTPDestination``), if any.
    The route comes validated: destinations with hosts, weights adding up to more than 0, durations Go
    reads; ``redirect``, ``directResponse`` and ``delegate`` are refused by the validator (not in the lab).
    """
    where = f"spec.http[{index}]"
    vs.require(isinstance(http, Mapping), where, "an http route is a mapping")
    destinations = list(http.get("route") or ())
    vs.require(destinations, f"{where}.route", "an http route has a destination")
    weighted = []
    for i, dest in enumerate(destinations):
        vs.require((dest.get("destination") or {}).get("host"), f"{where}.route[{i}].destination.host",
                   "a destination has a host")
        weight = dest.get("weight")
        weighted.append((cluster_for(dest["destination"]), int(weight) if weight is not None else 0))
    action: JSONDict = {}
    if len(weighted) == 1:
        action["cluster"] = weighted[0][0]  # one destination -> route.cluster (its weight is irrelevant)
    else:
        kept = [(name, w) for name, w in weighted if w > 0]  # weight 0 destinations are dropped
        vs.require(kept, f"{where}.route", "the weights add up to more than 0")
        if len(kept) == 1:
            action["cluster"] = kept[0][0]
        else:
            # route[].weight -> weighted_clusters.clusters[].weight; no total_weight: Envoy sums them.
            action["weighted_clusters"] = {"clusters": [{"name": n, "weight": w} for n, w in kept]}
    set_timeout(action, http.get("timeout"))
    hashes = [hash_for(d["destination"]) if hash_for is not None else None for d in destinations]
    kept_hashes = [h for d, h in zip(destinations, hashes, strict=True)
                   if len(destinations) == 1 or d.get("weight")]
    policies = [p for h in kept_hashes if (p := translate_hash_policy(h)) is not None]
    if policies:
        action["hash_policy"] = policies  # consistentHash keys of the destinations' rules -> hash_policy
    # Istio looks at the route's one destination (its raw list): a hashed one keeps retries on its host.
    retry = translate_retry_policy(http.get("retries"),
                                   consistent_hash=len(destinations) == 1 and hashes[0] is not None)
    if retry is not None:
        action["retry_policy"] = retry
    rewrite = http.get("rewrite") or {}
    if rewrite.get("uri"):
        action["prefix_rewrite"] = str(rewrite["uri"])
    if rewrite.get("authority"):
        action["host_rewrite_literal"] = str(rewrite["authority"])
    fault = translate_fault(http.get("fault"))

    matches: Sequence[Mapping[str, Any] | None] = http.get("match") or [None]
    routes = []
    for match in matches:
        if match and match.get("port") is not None and int(match["port"]) != port:
            continue  # this match is for another port's route configuration
        envoy_match = translate_route_match(match)
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


def set_timeout(action: JSONDict, timeout: str | None) -> None:
    """``setTimeout``: the VirtualService ``timeout`` (none: 0s, never, so a request may wait in the pending
    queue forever) -> ``route.timeout``, and the same value as ``max_grpc_timeout`` (Istio still sets the
    deprecated field: a gRPC ``grpc-timeout`` header is honoured up to the route's timeout)."""
    value = defaults.ISTIO_DEFAULT_ROUTE_TIMEOUT if timeout is None else to_proto_json(timeout)
    action["timeout"] = value  # http.timeout -> route.timeout
    action["max_grpc_timeout"] = value


def build_default_route(cluster: str) -> JSONDict:
    """``BuildDefaultHTTPOutboundRoute``: everything to ``cluster``, no timeout, Istio's default retries."""
    key = parse_subset_key(cluster)
    action: JSONDict = {"cluster": cluster}
    set_timeout(action, None)
    action["retry_policy"] = defaults.retry_policy()
    return {
        "name": "default",
        "match": {"prefix": "/"},
        "route": action,
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
