"""Envoy's stock limits and Istio's overrides, as separate named constants.

Every constant names the document it comes from and, for Istio's overrides, why Istio overrides Envoy.
Sources are in docs/reference/istio-to-envoy.md (the section is given as "ref §N"); ``CTP`` is Istio's
``pilot/pkg/networking/core/cluster_traffic_policy.go`` and ``CB`` its ``cluster_builder.go``.

Functions that return a block (:func:`circuit_breaker_thresholds`, :func:`retry_policy`) return a fresh copy
each call, like Istio's ``getDefaultCircuitBreakerThresholds``: callers mutate what they get.
"""

from __future__ import annotations

import copy
from typing import Final

from lablib._types import JSONDict

__all__ = [
    "CLUSTER_TYPE",
    "ENVOY_DEFAULT_BASE_EJECTION_TIME",
    "ENVOY_DEFAULT_CONNECT_TIMEOUT",
    "ENVOY_DEFAULT_CONSECUTIVE_5XX",
    "ENVOY_DEFAULT_CONSECUTIVE_GATEWAY_FAILURE",
    "ENVOY_DEFAULT_ENFORCING_CONSECUTIVE_5XX",
    "ENVOY_DEFAULT_ENFORCING_CONSECUTIVE_GATEWAY_FAILURE",
    "ENVOY_DEFAULT_HEALTHY_PANIC_THRESHOLD",
    "ENVOY_DEFAULT_IDLE_TIMEOUT",
    "ENVOY_DEFAULT_INTERVAL",
    "ENVOY_DEFAULT_LB_POLICY",
    "ENVOY_DEFAULT_MAGLEV_TABLE_SIZE",
    "ENVOY_DEFAULT_MAX_CONCURRENT_STREAMS",
    "ENVOY_DEFAULT_MAX_CONNECTIONS",
    "ENVOY_DEFAULT_MAX_EJECTION_PERCENT",
    "ENVOY_DEFAULT_MAX_EJECTION_TIME",
    "ENVOY_DEFAULT_MAX_PENDING_REQUESTS",
    "ENVOY_DEFAULT_MAX_REQUESTS",
    "ENVOY_DEFAULT_MAX_RETRIES",
    "ENVOY_DEFAULT_MINIMUM_RING_SIZE",
    "ENVOY_MAX_MAGLEV_TABLE_SIZE",
    "ENVOY_MAX_RING_SIZE",
    "ENVOY_RE2_MAX_PROGRAM_SIZE",
    "GO_HTTP_STATUS_CODES",
    "HTTP_PROTOCOL_OPTIONS_KEY",
    "HTTP_PROTOCOL_OPTIONS_TYPE",
    "ISTIO_CONNECT_TIMEOUT",
    "ISTIO_DEFAULT_HEALTHY_PANIC_THRESHOLD",
    "ISTIO_DEFAULT_HOST_SELECTION_RETRY_MAX_ATTEMPTS",
    "ISTIO_DEFAULT_LB_POLICY",
    "ISTIO_DEFAULT_MAX_CONNECTIONS",
    "ISTIO_DEFAULT_MAX_PENDING_REQUESTS",
    "ISTIO_DEFAULT_MAX_REQUESTS",
    "ISTIO_DEFAULT_MAX_RETRIES",
    "ISTIO_DEFAULT_NUM_RETRIES",
    "ISTIO_DEFAULT_RETRY_BUDGET_MIN_RETRY_CONCURRENCY",
    "ISTIO_DEFAULT_RETRY_BUDGET_PERCENT",
    "ISTIO_DEFAULT_RETRY_ON",
    "ISTIO_DEFAULT_ROUTE_TIMEOUT",
    "ISTIO_DEFAULT_TRACK_REMAINING",
    "ISTIO_INBOUND_NUM_RETRIES",
    "ISTIO_INBOUND_RETRY_ON",
    "ISTIO_MESH_H2_UPGRADE_POLICY",
    "ISTIO_RETRY_ON_POLICIES",
    "ISTIO_VERSION",
    "MAX_UINT32",
    "PREVIOUS_HOSTS_PREDICATE",
    "PREVIOUS_PRIORITIES",
    "circuit_breaker_thresholds",
    "retry_policy",
]

#: The Istio release whose pilot the translator follows: every default and mapping below is Istio 1.30's.
#: What changed on the way from the book's Istio 1.0 is in ``lablib.translate.version.CHANGES`` and
#: docs/reference/istio-versions.md.
ISTIO_VERSION: Final = "1.30"

#: 2^32-1, the largest value of a proto ``UInt32Value``; Istio's "unlimited".
MAX_UINT32: Final = 4294967295

#: ``@type`` of a CDS resource, so a cluster can be written straight into a CDS file.
CLUSTER_TYPE: Final = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
#: Key of ``cluster.typed_extension_protocol_options`` that holds the upstream HTTP options (``CB`` 963-981).
HTTP_PROTOCOL_OPTIONS_KEY: Final = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
HTTP_PROTOCOL_OPTIONS_TYPE: Final = "type.googleapis.com/" + HTTP_PROTOCOL_OPTIONS_KEY

# --- Envoy's own defaults (what a cluster gets when nobody sets the field) --------------------------------

#: ``circuit_breaker.proto``: "If no Thresholds is defined for a given RoutingPriority, the default values are
#: used": 1024 connections, 1024 pending, 1024 requests, 3 retries. The HIGH priority keeps these under Istio
#: (ref §1), which is why ``/clusters`` shows ``high_priority::max_connections::1024``.
ENVOY_DEFAULT_MAX_CONNECTIONS: Final = 1024
ENVOY_DEFAULT_MAX_PENDING_REQUESTS: Final = 1024
ENVOY_DEFAULT_MAX_REQUESTS: Final = 1024
ENVOY_DEFAULT_MAX_RETRIES: Final = 3
#: data-plane-api ``cluster.proto:881-883``.
ENVOY_DEFAULT_CONNECT_TIMEOUT: Final = "5s"
#: ``core/v3/protocol.proto``: ``idle_timeout`` "defaults to 1 hour".
ENVOY_DEFAULT_IDLE_TIMEOUT: Final = "3600s"
#: data-plane-api ``protocol.proto:569-580`` (not 2^31-1 as Istio's proto comment says; ref §1).
ENVOY_DEFAULT_MAX_CONCURRENT_STREAMS: Final = 1024
#: ``outlier_detection.proto`` defaults (ref §2): 5 consecutive 5xx (enforced 100%), 5 consecutive gateway
#: failures (enforced 0%: detected, never ejected), 10s interval, 30s base ejection, 10% max ejected.
ENVOY_DEFAULT_CONSECUTIVE_5XX: Final = 5
ENVOY_DEFAULT_CONSECUTIVE_GATEWAY_FAILURE: Final = 5
ENVOY_DEFAULT_INTERVAL: Final = "10s"
ENVOY_DEFAULT_BASE_EJECTION_TIME: Final = "30s"
ENVOY_DEFAULT_MAX_EJECTION_PERCENT: Final = 10
#: ``outlier_detection.proto``: ``enforcing_consecutive_5xx`` "Defaults to 100",
#: ``enforcing_consecutive_gateway_failure`` "Defaults to 0"; ``max_ejection_time``: "the default value
#: (300000ms or 300s) or the base_ejection_time value is applied, whatever is larger" (Istio never sets it).
ENVOY_DEFAULT_ENFORCING_CONSECUTIVE_5XX: Final = 100
ENVOY_DEFAULT_ENFORCING_CONSECUTIVE_GATEWAY_FAILURE: Final = 0
ENVOY_DEFAULT_MAX_EJECTION_TIME: Final = "300s"
#: ``cluster.proto:631-637``: panic routing starts below 50% healthy hosts.
ENVOY_DEFAULT_HEALTHY_PANIC_THRESHOLD: Final = 50
#: ``cluster.proto``: ``lb_policy`` when nobody sets it (Istio always does: ISTIO_DEFAULT_LB_POLICY).
ENVOY_DEFAULT_LB_POLICY: Final = "ROUND_ROBIN"
#: ``cluster.proto`` RingHashLbConfig ``minimum_ring_size`` "Defaults to 1024" and "at most 8M";
#: MaglevLbConfig ``table_size`` "must be prime number limited to 5000011", default 65537. Istio passes the
#: uint64 through unchecked, so Envoy would refuse the push: the validator checks these bounds.
ENVOY_DEFAULT_MINIMUM_RING_SIZE: Final = 1024
ENVOY_MAX_RING_SIZE: Final = 8_388_608
ENVOY_DEFAULT_MAGLEV_TABLE_SIZE: Final = 65537
ENVOY_MAX_MAGLEV_TABLE_SIZE: Final = 5_000_011
#: Envoy refuses a regex whose compiled RE2 program is larger (runtime ``re2.max_program_size.error_level``,
#: default 100): ``a{1000}`` compiles to 1004 instructions and Envoy says so at config load.
ENVOY_RE2_MAX_PROGRAM_SIZE: Final = 100

# --- Istio's overrides ------------------------------------------------------------------------------------

#: ``getDefaultCircuitBreakerThresholds`` (``CTP`` 477-490) sets all four DEFAULT-priority thresholds to
#: 2^32-1 on every outbound cluster, DR or not (ref §1). Retries in particular: Envoy's 3 "has shown to be
#: insufficient during periods of pod churn ... leading to client-facing 503s" (Istio's own comment).
ISTIO_DEFAULT_MAX_CONNECTIONS: Final = MAX_UINT32
ISTIO_DEFAULT_MAX_PENDING_REQUESTS: Final = MAX_UINT32
ISTIO_DEFAULT_MAX_REQUESTS: Final = MAX_UINT32
ISTIO_DEFAULT_MAX_RETRIES: Final = MAX_UINT32
#: ``track_remaining`` is ``!DISABLE_TRACK_REMAINING_CB_METRICS``: false from Istio 1.29 (commit 615dea44101),
#: true in 1.10-1.28. Without it Envoy emits no ``remaining_*`` gauges; the lab may turn it on to plot them.
ISTIO_DEFAULT_TRACK_REMAINING: Final = False
#: ``applyRetryBudget`` (``CTP``): a ``retryBudget`` without ``percent`` allows retries up to 20% of active
#: requests. Istio 1.30 writes 20.0; 1.27-1.29 wrote 0.2, which Envoy's 0-100 ``Percent`` reads as 0.2%
#: (istio/istio#59504, fixed by #59505). ``minRetryConcurrency`` 0/unset gives 3, as Envoy's own default.
ISTIO_DEFAULT_RETRY_BUDGET_PERCENT: Final = 20.0
ISTIO_DEFAULT_RETRY_BUDGET_MIN_RETRY_CONCURRENCY: Final = 3
#: MeshConfig ``connectTimeout`` default (``pkg/config/mesh/mesh.go:94``); Istio always sets it (``CTP`` 309).
ISTIO_CONNECT_TIMEOUT: Final = "10s"
#: ``defaultLBAlgorithm()`` in ``CTP``: LEAST_REQUEST, where Envoy's default is ROUND_ROBIN.
ISTIO_DEFAULT_LB_POLICY: Final = "LEAST_REQUEST"
#: With an outlierDetection block and no ``minHealthPercent``, Istio sets the panic threshold to 0 so Envoy
#: never routes to ejected hosts ("not typically applicable in k8s environments with few pods"; ``CTP`` 546).
ISTIO_DEFAULT_HEALTHY_PANIC_THRESHOLD: Final = 0
#: MeshConfig ``h2UpgradePolicy`` default enum value (``istio/api mesh/v1alpha1/config.proto:367-379``).
ISTIO_MESH_H2_UPGRADE_POLICY: Final = "DO_NOT_UPGRADE"
#: ``route.go`` ``Notimeout``: a route without a VirtualService ``timeout`` never times out (ref §3).
ISTIO_DEFAULT_ROUTE_TIMEOUT: Final = "0s"
#: ``route/retry/retry.go`` ``defaultPolicy``: 2 retries on connection-level failures only; application 5xx
#: are not retried, and circuit-breaker overflow never is (Envoy ``wouldRetryFromReset``).
ISTIO_DEFAULT_NUM_RETRIES: Final = 2
ISTIO_DEFAULT_RETRY_ON: Final = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
#: A uint64 in Envoy's proto, so proto3 JSON writes it as a string.
ISTIO_DEFAULT_HOST_SELECTION_RETRY_MAX_ATTEMPTS: Final = "5"
#: ``xdsfilters.RetryPreviousHosts``: retries prefer hosts not tried yet.
PREVIOUS_HOSTS_PREDICATE: Final[JSONDict] = {
    "name": "envoy.retry_host_predicates.previous_hosts",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
    },
}


#: ``retryRemoteLocalities: true`` -> ``retry_priority`` previous_priorities, ``update_frequency`` 2
#: (``route/retry/retry.go`` ``buildPreviousPrioritiesConfig``; Istio's TestRetryRemoteLocalities).
PREVIOUS_PRIORITIES: Final[JSONDict] = {
    "name": "envoy.retry_priorities.previous_priorities",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3."
        "PreviousPrioritiesConfig",
        "update_frequency": 2,
    },
}
#: The retry conditions Istio's validation accepts in ``retryOn`` (``pkg/config/validation/agent``
#: ``supportedRetryOnPolicies``: Envoy's ``x-envoy-retry-on`` and ``x-envoy-retry-grpc-on`` values). Any other
#: word is refused; a number is a status code when Go's ``http.StatusText`` knows it.
ISTIO_RETRY_ON_POLICIES: Final = frozenset({
    "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx",
    "refused-stream", "retriable-status-codes", "retriable-headers", "envoy-ratelimited",
    "http3-post-connect-failure",
    "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
})
#: The codes Go's ``net/http.StatusText`` names: what Istio's validation and ``parseRetryOn`` take as a status
#: code in ``retryOn`` (``599`` or ``1000`` are neither a code nor a condition, so validation refuses them).
GO_HTTP_STATUS_CODES: Final = frozenset({
    100, 101, 102, 103,
    200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
    300, 301, 302, 303, 304, 305, 307, 308,
    *range(400, 419), 421, 422, 423, 424, 425, 426, 428, 429, 431, 451,
    *range(500, 509), 510, 511,
})
#: ``BuildDefaultHTTPInboundRoute`` (``route.go``, ``ENABLE_INBOUND_RETRY_POLICY`` default true since 1.24):
#: a server sidecar retries, twice, a request its app never saw (the connection reset before it was sent).
ISTIO_INBOUND_RETRY_ON: Final = "reset-before-request"
ISTIO_INBOUND_NUM_RETRIES: Final = 2


def circuit_breaker_thresholds(*, track_remaining: bool = ISTIO_DEFAULT_TRACK_REMAINING) -> JSONDict:
    """A fresh copy of Istio's one DEFAULT-priority ``circuit_breakers.thresholds[]`` entry (no
    ``priority``)."""
    return {
        "max_connections": ISTIO_DEFAULT_MAX_CONNECTIONS,
        "max_pending_requests": ISTIO_DEFAULT_MAX_PENDING_REQUESTS,
        "max_requests": ISTIO_DEFAULT_MAX_REQUESTS,
        "max_retries": ISTIO_DEFAULT_MAX_RETRIES,
        "track_remaining": track_remaining,
    }


def retry_policy() -> JSONDict:
    """A fresh copy of Istio's default route retry policy (``retry.DefaultPolicy``; ref §3).

    No ``retriable_status_codes`` are listed: with Istio's ``EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY`` default
    the 503 code is left out, so ``retriable-status-codes`` matches nothing (ref §3).
    """
    return {
        "retry_on": ISTIO_DEFAULT_RETRY_ON,
        "num_retries": ISTIO_DEFAULT_NUM_RETRIES,
        "retry_host_predicate": [copy.deepcopy(PREVIOUS_HOSTS_PREDICATE)],
        "host_selection_retry_max_attempts": ISTIO_DEFAULT_HOST_SELECTION_RETRY_MAX_ATTEMPTS,
    }
