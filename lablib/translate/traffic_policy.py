"""One DestinationRule ``trafficPolicy`` block -> the Envoy cluster fields it sets. Imitates Istio's
``pilot/pkg/networking/core/cluster_traffic_policy.go`` (``CTP``) and ``util.MergeSubsetTrafficPolicy``.

Each ``apply_*`` changes the cluster passed in from one policy block and returns early when the block is
``None``. Comments give ``Istio field -> Envoy field`` and the reference section
(docs/reference/istio-to-envoy.md, "ref §N"). Policies are the DR's own camelCase dicts; clusters are
Envoy v3 proto3-JSON dicts with snake_case names.

Policies come validated (``lablib.manifests``: types, ranges, durations, enums the lab supports), so the
``apply_*`` functions trust them; the validator is the one gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lablib._duration import NANOS_PER_SECOND, parse_nanos, to_proto_json
from lablib._types import JSONDict
from lablib.translate import defaults
from lablib.translate.model import UnvalidatedInput
from lablib.translate.names import INBOUND

__all__ = [
    "apply_connection_pool",
    "apply_h2_upgrade",
    "apply_load_balancer",
    "apply_outlier_detection",
    "apply_traffic_policy",
    "get_port_level_traffic_policy",
    "http_protocol_options",
    "istio_uint_is_set",
    "merge_subset_traffic_policy",
    "select_traffic_policy_components",
    "set_h2_options",
    "set_use_downstream_protocol",
    "should_h2_upgrade",
]

Policy = Mapping[str, Any]


def istio_uint_is_set(value: object) -> bool:
    """Whether Istio treats an int field of ``connectionPool`` / ``maxEjectionPercent`` as set.

    Istio's ``// FIXME: there isn't a way to distinguish between unset values and zero values`` (``CTP``
    138, 164): these fields are plain proto ints, so 0 and "absent" are the same and both mean "keep the
    default". ``http1MaxPendingRequests: 0`` therefore gives 4294967295, not 0 (ref summary item 3). This is
    the one place the lab reproduces that; wrapper fields (``consecutive5xxErrors``) do tell 0 from unset
    and do not use it.
    """
    return value is not None and int(value) > 0  # type: ignore[call-overload]


# --- selection and precedence -------------------------------------------------------------------------------


def select_traffic_policy_components(
    policy: Policy | None,
) -> tuple[Policy | None, Policy | None, Policy | None]:
    """``(connectionPool, outlierDetection, loadBalancer)`` of a policy; all ``None`` for no policy."""
    if policy is None:
        return None, None, None
    return policy.get("connectionPool"), policy.get("outlierDetection"), policy.get("loadBalancer")


def get_port_level_traffic_policy(policy: Policy | None, port: int | None) -> tuple[Policy | None, bool]:
    """The ``portLevelSettings`` entry for ``port`` if there is one, else the policy itself (``util.go:865``).

    A port-level entry does NOT inherit from the top level: fields it omits get Istio's defaults, not the
    top-level values. The flag says whether a port-level entry was used.
    """
    if policy is None or port is None:
        return policy, False
    for entry in policy.get("portLevelSettings") or ():
        if int((entry.get("port") or {}).get("number", -1)) == int(port):
            picked = {
                k: entry[k]
                for k in ("connectionPool", "loadBalancer", "outlierDetection", "tls")
                if k in entry
            }
            return picked, True
    return policy, False


def merge_subset_traffic_policy(
    original: Policy | None, subset_policy: Policy | None, port: int | None
) -> Policy | None:
    """A subset's effective policy: the subset's blocks over the DR's, block by block (``util.go:893``).

    A block the subset sets replaces the DR's whole block (no field-level merge): a subset ``connectionPool``
    with only ``http2MaxRequests`` drops the DR's ``maxConnections``. Blocks the subset leaves out are
    inherited. If the subset has a port-level entry for ``port``, every block comes from it (absent ones
    become unset).
    """
    original, _ = get_port_level_traffic_policy(original, port)
    if subset_policy is None:
        return original
    subset_policy, has_port_level = get_port_level_traffic_policy(subset_policy, port)
    if original is None:
        return subset_policy
    blocks = ("connectionPool", "outlierDetection", "loadBalancer", "tls", "retryBudget")
    merged = {k: original[k] for k in blocks if k in original}
    for block in ("connectionPool", "outlierDetection", "loadBalancer", "tls"):
        if subset_policy.get(block) is not None or has_port_level:
            if subset_policy.get(block) is None:
                merged.pop(block, None)
            else:
                merged[block] = subset_policy[block]
    if subset_policy.get("retryBudget") is not None:  # like Tunnel/ProxyProtocol: replaced only when set
        merged["retryBudget"] = subset_policy["retryBudget"]
    return merged


def apply_traffic_policy(
    cluster: JSONDict,
    policy: Policy | None,
    *,
    port_protocol: str,
    direction: str,
    track_remaining: bool = defaults.ISTIO_DEFAULT_TRACK_REMAINING,
) -> None:
    """``applyTrafficPolicy``: connection pool on every cluster; h2 upgrade, outlier detection and load
    balancing on outbound clusters only (ref §1 "Server-side (inbound) enforcement")."""
    pool, outlier, lb = select_traffic_policy_components(policy)
    if direction != INBOUND:
        # Istio >= 1.28 (istio/istio#57569) upgrades BEFORE applying the pool, "s.t. h2 connection pool
        # settings can be applied": an upgraded cluster gets http.maxConcurrentStreams (1.27 dropped it).
        apply_h2_upgrade(cluster, port_protocol, pool)
    # Istio replaces a missing pool by an empty one, so every cluster gets the 2^32-1 defaults (ref §1 row 1).
    apply_connection_pool(
        cluster,
        pool if pool is not None else {},
        retry_budget=(policy or {}).get("retryBudget"),
        track_remaining=track_remaining,
    )
    if direction == INBOUND:
        return
    apply_outlier_detection(cluster, outlier)
    apply_load_balancer(cluster, lb)


# --- connectionPool (ref §1) --------------------------------------------------------------------------------


def http_protocol_options(cluster: JSONDict) -> JSONDict:
    """The cluster's ``HttpProtocolOptions`` (created on first use; ``CB`` 963-981)."""
    typed = cluster.setdefault("typed_extension_protocol_options", {})
    return typed.setdefault(
        defaults.HTTP_PROTOCOL_OPTIONS_KEY, {"@type": defaults.HTTP_PROTOCOL_OPTIONS_TYPE}
    )


def _set_upstream_protocol_option(cluster: JSONDict, key: str, value: JSONDict) -> None:
    # explicit_http_config / use_downstream_protocol_config / auto_config are one proto oneof.
    options = http_protocol_options(cluster)
    for other in ("explicit_http_config", "use_downstream_protocol_config", "auto_config"):
        options.pop(other, None)
    options[key] = value


def set_h2_options(cluster: JSONDict) -> None:
    """``setH2Options``: talk HTTP/2 to the upstream."""
    _set_upstream_protocol_option(cluster, "explicit_http_config", {"http2_protocol_options": {}})


def set_use_downstream_protocol(cluster: JSONDict) -> None:
    """``setUseDownstreamProtocol``: HTTP/1.1 upstream for HTTP/1.1 clients, HTTP/2 for HTTP/2 clients."""
    _set_upstream_protocol_option(
        cluster, "use_downstream_protocol_config", {"http_protocol_options": {}, "http2_protocol_options": {}}
    )


def apply_connection_pool(
    cluster: JSONDict,
    pool: Policy | None,
    *,
    retry_budget: Policy | None = None,
    track_remaining: bool = defaults.ISTIO_DEFAULT_TRACK_REMAINING,
) -> None:
    """``applyConnectionPool`` (``CTP`` 139-233): circuit-breaker thresholds, timeouts, HTTP options; and
    ``trafficPolicy.retryBudget`` (Istio >= 1.27), which Istio applies in the same place."""
    if pool is None:
        return
    # One DEFAULT-priority entry, no `priority` field; HIGH keeps Envoy's 1024/1024/1024/3 (ref §1).
    threshold = defaults.circuit_breaker_thresholds(track_remaining=track_remaining)
    _apply_retry_budget(threshold, retry_budget)
    http = pool.get("http")
    tcp = pool.get("tcp")
    idle_timeout = max_requests_per_connection = max_concurrent_streams = max_connection_duration = None

    if http is not None:
        if istio_uint_is_set(http.get("http2MaxRequests")):
            # connectionPool.http.http2MaxRequests -> thresholds[0].max_requests (HTTP/1.1 too)
            threshold["max_requests"] = int(http["http2MaxRequests"])
        if istio_uint_is_set(http.get("http1MaxPendingRequests")):
            # connectionPool.http.http1MaxPendingRequests -> thresholds[0].max_pending_requests (HTTP/2 too)
            threshold["max_pending_requests"] = int(http["http1MaxPendingRequests"])
        if istio_uint_is_set(http.get("maxRetries")):
            # connectionPool.http.maxRetries -> thresholds[0].max_retries (Istio default 2^32-1, Envoy's 3)
            threshold["max_retries"] = int(http["maxRetries"])
        # connectionPool.http.idleTimeout -> common_http_protocol_options.idle_timeout (wins over tcp's)
        idle_timeout = http.get("idleTimeout")
        # connectionPool.http.maxRequestsPerConnection -> common options' max_requests_per_connection
        max_requests_per_connection = http.get("maxRequestsPerConnection")
        # connectionPool.http.maxConcurrentStreams -> http2_protocol_options.max_concurrent_streams (h2 only)
        max_concurrent_streams = http.get("maxConcurrentStreams")

    # MeshConfig.connectTimeout -> cluster.connect_timeout, always (applyDefaultConnectionPool, CTP 309).
    cluster["connect_timeout"] = defaults.ISTIO_CONNECT_TIMEOUT
    if tcp is not None:
        if tcp.get("connectTimeout") is not None:
            # connectionPool.tcp.connectTimeout -> cluster.connect_timeout
            cluster["connect_timeout"] = to_proto_json(tcp["connectTimeout"])
        if istio_uint_is_set(tcp.get("maxConnections")):
            # connectionPool.tcp.maxConnections -> circuit_breakers.thresholds[0].max_connections
            threshold["max_connections"] = int(tcp["maxConnections"])
        # connectionPool.tcp.maxConnectionDuration -> common_http_protocol_options.max_connection_duration
        max_connection_duration = tcp.get("maxConnectionDuration")
        if idle_timeout is None:
            # connectionPool.tcp.idleTimeout -> common_http_protocol_options.idle_timeout, if http's is unset
            idle_timeout = tcp.get("idleTimeout")
        _apply_tcp_keepalive(cluster, tcp.get("tcpKeepalive"))

    cluster["circuit_breakers"] = {"thresholds": [threshold]}

    if (
        max_connection_duration is not None
        or idle_timeout is not None
        or istio_uint_is_set(max_requests_per_connection)
        or istio_uint_is_set(max_concurrent_streams)
    ):
        options = http_protocol_options(cluster)
        common = options.setdefault("common_http_protocol_options", {})
        if idle_timeout is not None:
            common["idle_timeout"] = to_proto_json(idle_timeout)
        if istio_uint_is_set(max_requests_per_connection):
            common["max_requests_per_connection"] = int(max_requests_per_connection)  # type: ignore[arg-type]
        if max_connection_duration is not None:
            common["max_connection_duration"] = to_proto_json(max_connection_duration)
        # Only an explicitly HTTP/2 cluster (an http2/grpc port, or upgraded by h2UpgradePolicy: the upgrade
        # runs first since Istio 1.28) gets max_concurrent_streams; HTTP/1.1 clusters ignore it.
        h2 = (options.get("explicit_http_config") or {}).get("http2_protocol_options")
        if h2 is not None and istio_uint_is_set(max_concurrent_streams):
            h2["max_concurrent_streams"] = int(max_concurrent_streams)  # type: ignore[arg-type]
    if http is not None and http.get("useClientProtocol"):
        # connectionPool.http.useClientProtocol -> use_downstream_protocol_config
        set_use_downstream_protocol(cluster)


def _apply_retry_budget(threshold: JSONDict, budget: Policy | None) -> None:
    """trafficPolicy.retryBudget -> thresholds[0].retry_budget, which overrides max_retries (``CTP``
    ``applyRetryBudget``).

    Defaults as Istio 1.30 writes them: ``budget_percent`` 20.0 (Envoy's ``Percent`` is 0-100; 1.27-1.29 wrote
    0.2, i.e. 0.2%, fixed by istio/istio#59505) and ``min_retry_concurrency`` 3; a 0 concurrency means unset.
    ``retryBudget.percent`` is a ``google.protobuf.DoubleValue`` (istio/api#3512), so an explicit 0 is kept.
    """
    if budget is None:
        return
    percent = budget.get("percent")
    concurrency = budget.get("minRetryConcurrency")
    threshold["retry_budget"] = {
        # retryBudget.percent -> retry_budget.budget_percent.value
        "budget_percent": {
            "value": float(percent) if percent is not None else defaults.ISTIO_DEFAULT_RETRY_BUDGET_PERCENT
        },
        # retryBudget.minRetryConcurrency -> retry_budget.min_retry_concurrency
        "min_retry_concurrency": (
            int(concurrency)
            if istio_uint_is_set(concurrency)
            else defaults.ISTIO_DEFAULT_RETRY_BUDGET_MIN_RETRY_CONCURRENCY
        ),
    }


def _apply_tcp_keepalive(cluster: JSONDict, keepalive: Policy | None) -> None:
    """connectionPool.tcp.tcpKeepalive -> upstream_connection_options.tcp_keepalive (``cluster.go:969``)."""
    if keepalive is None:
        return
    out: JSONDict = {}
    if keepalive.get("probes") is not None:
        out["keepalive_probes"] = int(keepalive["probes"])  # tcpKeepalive.probes -> keepalive_probes
    if keepalive.get("time") is not None:
        out["keepalive_time"] = parse_nanos(keepalive["time"]) // NANOS_PER_SECOND  # whole seconds
    if keepalive.get("interval") is not None:
        out["keepalive_interval"] = parse_nanos(keepalive["interval"]) // NANOS_PER_SECOND  # whole seconds
    cluster["upstream_connection_options"] = {"tcp_keepalive": out}


def should_h2_upgrade(port_protocol: str, pool: Policy | None) -> bool:
    """``shouldH2Upgrade``: the DR's ``h2UpgradePolicy`` wins (even on non-HTTP ports), then the mesh default
    ``DO_NOT_UPGRADE`` for HTTP ports; ``useClientProtocol`` disables the upgrade (ref §1)."""
    http = (pool or {}).get("http") or {}
    if http.get("useClientProtocol"):
        return False
    override = http.get("h2UpgradePolicy", "DEFAULT")
    if override == "UPGRADE":
        return True
    if override == "DO_NOT_UPGRADE":
        return False
    if port_protocol not in ("HTTP", "HTTP2", "GRPC"):
        return False
    return defaults.ISTIO_MESH_H2_UPGRADE_POLICY == "UPGRADE"


def apply_h2_upgrade(cluster: JSONDict, port_protocol: str, pool: Policy | None) -> None:
    """connectionPool.http.h2UpgradePolicy UPGRADE -> explicit_http_config.http2_protocol_options."""
    if should_h2_upgrade(port_protocol, pool):
        set_h2_options(cluster)


# --- outlierDetection (ref §2) ------------------------------------------------------------------------------


def apply_outlier_detection(cluster: JSONDict, outlier: Policy | None) -> None:
    """``applyOutlierDetection`` (``CTP`` 493-560; expected outputs pinned in Istio's ``cluster_test.go``)."""
    if outlier is None:
        return
    # Success-rate ejection is always off; `outlierDetection: {}` gives only this and the panic threshold.
    out: JSONDict = {"enforcing_success_rate": 0}
    # outlierDetection.consecutiveErrors -> NOTHING. Deprecated and ignored since Istio 1.7 (commit
    # a291ab60276); validation only warns. Envoy's default then ejects after 5 consecutive 5xx, not the 3
    # the YAML says (ref §2).
    if outlier.get("consecutive5xxErrors") is not None:
        n = int(outlier["consecutive5xxErrors"])
        out["consecutive_5xx"] = n  # outlierDetection.consecutive5xxErrors -> consecutive_5xx
        out["enforcing_consecutive_5xx"] = 100 if n > 0 else 0  # 0 switches the 5xx detector off
    if outlier.get("consecutiveGatewayErrors") is not None:
        n = int(outlier["consecutiveGatewayErrors"])
        # outlierDetection.consecutiveGatewayErrors -> consecutive_gateway_failure (502, 503, 504 only)
        out["consecutive_gateway_failure"] = n
        out["enforcing_consecutive_gateway_failure"] = 100 if n > 0 else 0
    if outlier.get("interval") is not None:
        out["interval"] = to_proto_json(outlier["interval"])  # outlierDetection.interval -> interval
    if outlier.get("baseEjectionTime") is not None:
        out["base_ejection_time"] = to_proto_json(outlier["baseEjectionTime"])  # -> base_ejection_time
    if istio_uint_is_set(outlier.get("maxEjectionPercent")):
        out["max_ejection_percent"] = int(outlier["maxEjectionPercent"])  # -> max_ejection_percent (if > 0)
    if outlier.get("splitExternalLocalOriginErrors"):
        out["split_external_local_origin_errors"] = True  # -> split_external_local_origin_errors
        local = outlier.get("consecutiveLocalOriginFailures")
        if local is not None and int(local) > 0:
            out["consecutive_local_origin_failure"] = int(local)  # -> consecutive_local_origin_failure
            out["enforcing_consecutive_local_origin_failure"] = 100
        out["enforcing_local_origin_success_rate"] = 0
    cluster["outlier_detection"] = out
    # outlierDetection.minHealthPercent -> common_lb_config.healthy_panic_threshold.value, 0 when unset: panic
    # routing (Envoy's 50%) would send traffic to ejected hosts; with 0 Envoy answers 503 UH instead (ref §2).
    min_health = outlier.get("minHealthPercent")
    value = min_health if min_health is not None else defaults.ISTIO_DEFAULT_HEALTHY_PANIC_THRESHOLD
    cluster.setdefault("common_lb_config", {})["healthy_panic_threshold"] = {"value": value}


# --- loadBalancer -------------------------------------------------------------------------------------------

_SIMPLE_LB = {
    "LEAST_CONN": "LEAST_REQUEST",
    "LEAST_REQUEST": "LEAST_REQUEST",
    "RANDOM": "RANDOM",
    "ROUND_ROBIN": "ROUND_ROBIN",
}


def apply_load_balancer(cluster: JSONDict, lb: Policy | None) -> None:
    """``applyLoadBalancer``: ``loadBalancer.simple`` -> ``lb_policy`` (LEAST_CONN is LEAST_REQUEST in Envoy),
    ``warmupDurationSecs`` -> slow start, ``consistentHash`` -> RING_HASH / MAGLEV (cluster side only)."""
    if lb is None:
        return
    if lb.get("simple") == "PASSTHROUGH":  # ORIGINAL_DST: the validator refuses it (not in the lab)
        raise UnvalidatedInput("loadBalancer.simple: PASSTHROUGH is not translated")
    policy = _SIMPLE_LB.get(lb.get("simple", ""), defaults.ISTIO_DEFAULT_LB_POLICY)
    cluster["lb_policy"] = policy  # loadBalancer.simple -> lb_policy
    cluster.pop("least_request_lb_config", None)
    cluster.pop("round_robin_lb_config", None)
    warmup = lb.get("warmupDurationSecs")
    if warmup is not None and policy in ("LEAST_REQUEST", "ROUND_ROBIN"):
        # loadBalancer.warmupDurationSecs ->
        # {least_request,round_robin}_lb_config.slow_start_config.slow_start_window
        key = "least_request_lb_config" if policy == "LEAST_REQUEST" else "round_robin_lb_config"
        cluster[key] = {"slow_start_config": {"slow_start_window": to_proto_json(warmup)}}
    consistent = lb.get("consistentHash")
    if consistent is None:
        return
    # Envoy's lb config is a oneof: Istio's ApplyRingHashLoadBalancer replaces the slow-start config that
    # applyRoundRobinLoadBalancer set, so warmupDurationSecs does nothing under consistentHash.
    cluster.pop("least_request_lb_config", None)
    cluster.pop("round_robin_lb_config", None)
    if consistent.get("maglev") is not None:
        cluster["lb_policy"] = "MAGLEV"
        table = (consistent["maglev"] or {}).get("tableSize")
        if table:
            cluster["maglev_lb_config"] = {"table_size": str(int(table))}  # uint64 -> JSON string
        return
    cluster["lb_policy"] = "RING_HASH"
    ring_hash = consistent.get("ringHash")
    if ring_hash is not None:
        # ringHash.minimumRingSize -> ring_hash_lb_config.minimum_ring_size, only if non-zero (Envoy: 1024)
        if ring_hash.get("minimumRingSize"):
            cluster["ring_hash_lb_config"] = {"minimum_ring_size": str(int(ring_hash["minimumRingSize"]))}
        return
    # The deprecated consistentHash.minimumRingSize; Istio writes Envoy's default (1024) when it is 0.
    ring = consistent.get("minimumRingSize") or defaults.ENVOY_DEFAULT_MINIMUM_RING_SIZE
    cluster["ring_hash_lb_config"] = {"minimum_ring_size": str(int(ring))}
