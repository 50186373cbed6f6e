"""Breaker limits of the Envoy clusters a route uses, read from the translated Envoy config.

Pure: reads only the Envoy v3 fields listed in docs/ARCHITECTURE.md (``lablib.translate.MeshConfig``), so
a hand-written cluster dict works as well as the translator's output. The semantics follow Envoy 1.40's
connection pool (see docs/reference/istio-to-envoy.md §4):

- HTTP/1.1 carries one request per connection, so ``max_connections`` bounds what is in flight and a
  request that finds no free connection waits in the pending queue (``max_pending_requests``).
  ``max_requests`` is checked when a stream attaches to a connection and rejects (503 UO), never queues.
- HTTP/2 multiplexes every stream on a connection, so only ``max_requests`` bounds what is in flight and the
  excess is rejected at once: the pending queue only holds streams waiting for a connection to come up.
- Limits are per Envoy cluster (each subset is its own cluster), shared by the workers, but each worker has
  its own connection pool per endpoint, so real Envoy can open up to
  ``max_connections + endpoints × workers`` connections (``ClusterLimits.slack_connections``).

The exact breaker's numbers (``in_flight``, ``queue``, ``admitted``, L) say what the limits mean; the
``*_low`` / ``*_high`` numbers and ``limit_band`` say how far real Envoy may stray from them, and why.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lablib.translate import defaults

__all__ = [
    "UNLIMITED",
    "ClusterLimits",
    "cluster_limits",
    "limit_band",
    "limits_for",
    "overflow_onset",
    "race_slack",
    "theoretical_limit",
]

#: Istio writes 2^32-1 for every threshold the DestinationRule leaves unset: Envoy reads it as "no limit".
UNLIMITED = defaults.MAX_UINT32
#: Envoy's own defaults when a threshold is absent: Istio never leaves them absent, hand-written configs may.
_ENVOY_DEFAULT_THRESHOLDS = {
    "max_connections": defaults.ENVOY_DEFAULT_MAX_CONNECTIONS,
    "max_pending_requests": defaults.ENVOY_DEFAULT_MAX_PENDING_REQUESTS,
    "max_requests": defaults.ENVOY_DEFAULT_MAX_REQUESTS,
}


def _limit(value: float) -> float:
    """A threshold as a number, 2^32-1 (and above) meaning unlimited -> inf."""
    return math.inf if value >= UNLIMITED else float(value)


@dataclass(frozen=True)
class ClusterLimits:
    """The breaker limits of one Envoy cluster, as Envoy enforces them, and its share of the route.

    Counts are floats so that "unlimited" (Envoy 2^32-1) is ``math.inf`` and sums stay meaningful.
    """

    cluster: str
    #: Share of the route's requests sent to this cluster (weighted_clusters weight / total), 0..1.
    weight: float
    max_connections: float
    max_pending_requests: float
    max_requests: float
    #: inf when unset (keep-alive without limit); 1 disables keep-alive: one upstream connection per request.
    max_requests_per_connection: float
    http2: bool
    #: Number of lb_endpoints: each has its own connection pool per worker.
    endpoints: int
    #: Envoy worker threads (--concurrency): each has its own connection pools.
    workers: int
    #: Envoy's lb_policy (Istio sets defaults.ISTIO_DEFAULT_LB_POLICY; Envoy's own is the default here).
    lb_policy: str = defaults.ENVOY_DEFAULT_LB_POLICY

    @property
    def in_flight(self) -> float:
        """Requests the exact breaker lets reach the upstream at once.

        HTTP/1.1: ``min(max_connections, max_requests)`` (one request per connection).
        HTTP/2: ``max_requests`` (streams share connections).
        """
        if self.http2:
            return self.max_requests
        return min(self.max_connections, self.max_requests)

    @property
    def queue_limited_by_connections(self) -> bool:
        """True when waiting for a connection is what limits in-flight requests, so the pending queue is used.

        Only HTTP/1.1 with ``max_connections <= max_requests`` queues excess requests; otherwise the excess is
        rejected by ``max_requests`` when it attaches (upstream_rq_active_overflow) and never waits.
        """
        return not self.http2 and self.max_connections <= self.max_requests

    @property
    def queue(self) -> float:
        """Requests that can wait for a slot: ``max_pending_requests`` where Envoy queues, else 0.

        The raw threshold stays in ``max_pending_requests``; this is what the pending queue really holds in
        steady state (HTTP/2 and HTTP/1.1 limited by ``max_requests`` reject the excess instead of queueing).
        """
        return self.max_pending_requests if self.queue_limited_by_connections else 0.0

    @property
    def admitted(self) -> float:
        """What the exact breaker admits at once: in flight + waiting (inf when unlimited)."""
        return self.in_flight + self.queue

    @property
    def slack_connections(self) -> float:
        """How many connections real Envoy may open: ``max_connections + endpoints × workers``.

        Each worker has its own pool per endpoint, and a pool with no connection may always open one even
        when the breaker is open (circuit_breaking.rst; conn_pool_base.cc ``tryCreateNewConnection``). With
        several workers the documented bound holds (it also covers check-then-increment races between
        them). With one worker there are no races and only an empty pool may exceed the limit, so the
        reachable bound is ``max(max_connections - 1, 0) + endpoints``: the limit itself for one endpoint.
        """
        if self.workers == 1:
            return max(self.max_connections - 1, 0) + self.endpoints
        return self.max_connections + self.endpoints * self.workers

    @property
    def slack_exceeds_max_requests(self) -> bool:
        """True when slack connections can carry more streams than ``max_requests`` allows (HTTP/1.1).

        Such a stream is rejected when it attaches (upstream_rq_active_overflow) instead of waiting in the
        queue: the seed's rule (10 connections, 10 requests, no pending limit) gets 503s with 2 workers.
        """
        return not self.http2 and self.slack_connections > self.max_requests

    @property
    def in_flight_high(self) -> float:
        """In-flight upper bound with the per-worker slack (HTTP/1.1; HTTP/2 stays at max_requests)."""
        if self.http2:
            return self.max_requests
        return min(self.slack_connections, self.max_requests)

    @property
    def in_flight_race(self) -> int:
        """How far in-flight requests may pass ``in_flight_high`` for a moment: ``race_slack(workers)`` when
        ``max_requests`` is that bound (HTTP/2, or fewer requests than connections): a count all workers
        share, checked before it is incremented. A connection bound has none: its documented per-worker slack
        already covers those races (``slack_connections``)."""
        if self.http2 or self.max_requests < self.slack_connections:
            return race_slack(self.workers)
        return 0

    @property
    def admitted_race(self) -> int:
        """How far admitted requests (in flight + waiting) may pass ``admitted_high`` for a moment:
        ``in_flight_race``, plus ``race_slack(workers)`` for the pending queue, a count all workers share in
        the same way (checked in ``newStreamImpl``, incremented when the pending stream is made)."""
        return self.in_flight_race + race_slack(self.workers)

    @property
    def admitted_high(self) -> float:
        """What real Envoy may admit at most: slack in-flight + queue."""
        return self.in_flight_high + self.queue

    @property
    def admitted_low(self) -> float:
        """What real Envoy may admit at least, at the worst moment.

        - Without keep-alive (``max_requests_per_connection == 1``, HTTP/1.1) every request waits in the
          pending queue while its new upstream connection comes up, holding a connection and a pending slot:
          admitted = active + connecting + waiting ≤ in_flight + queue - connecting, so at worst
          ``max(in_flight, queue)``.
        - When slack connections exceed ``max_requests`` (``slack_exceeds_max_requests``), a request that
          gets one is rejected though the queue has room: at worst only ``in_flight`` are admitted.
        - Otherwise the exact value holds.
        """
        low = self.admitted
        if not self.reuses_connections:
            low = min(low, max(self.in_flight, self.queue))
        if self.slack_exceeds_max_requests:
            low = min(low, self.in_flight)
        return low

    @property
    def reuses_connections(self) -> bool:
        """False when every request needs a new upstream connection (max_requests_per_connection 1)."""
        return self.http2 or self.max_requests_per_connection > 1


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _f(message: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """A proto3-JSON field by its proto name or its lowerCamelCase JSON name (parsers accept both:
    Envoy's config_dump writes snake_case, istioctl-style YAML camelCase)."""
    if name in message:
        return message[name]
    return message.get(_camel(name), default)


def _threshold(thresholds: Mapping[str, Any], field: str) -> float:
    value = _f(thresholds, field)
    if value is None:
        return float(_ENVOY_DEFAULT_THRESHOLDS[field])
    if isinstance(value, Mapping):  # a UInt32Value written as {"value": n}
        value = value.get("value", _ENVOY_DEFAULT_THRESHOLDS[field])
    return _limit(int(value))


def cluster_limits(cluster: Mapping[str, Any], *, weight: float = 1.0, workers: int = 2) -> ClusterLimits:
    """Read one Envoy v3 Cluster dict (proto3 JSON, snake_case or lowerCamelCase) into ``ClusterLimits``."""
    name = str(_f(cluster, "name", "<unnamed>"))
    thresholds: Mapping[str, Any] = {}
    for entry in (_f(cluster, "circuit_breakers") or {}).get("thresholds") or []:
        # Istio writes one entry without priority (DEFAULT); HIGH keeps Envoy's defaults, carries no traffic.
        if _f(entry, "priority", "DEFAULT") == "DEFAULT":
            thresholds = entry
            break
    typed = _f(cluster, "typed_extension_protocol_options") or {}
    options = _f(typed, defaults.HTTP_PROTOCOL_OPTIONS_KEY) or {}
    common = _f(options, "common_http_protocol_options") or {}
    per_connection = _f(common, "max_requests_per_connection")
    if isinstance(per_connection, Mapping):
        per_connection = per_connection.get("value")
    explicit = _f(options, "explicit_http_config") or {}
    # http2_protocol_options at cluster level is the deprecated v3 spelling of the same choice.
    http2 = any(_f(m, "http2_protocol_options") is not None for m in (explicit, cluster))
    endpoints = sum(len(_f(group, "lb_endpoints") or [])
                    for group in _f(_f(cluster, "load_assignment") or {}, "endpoints") or [])
    return ClusterLimits(
        cluster=name,
        weight=weight,
        max_connections=_threshold(thresholds, "max_connections"),
        max_pending_requests=_threshold(thresholds, "max_pending_requests"),
        max_requests=_threshold(thresholds, "max_requests"),
        # Unset or 0 means no limit on requests per connection.
        max_requests_per_connection=_limit(int(per_connection)) if per_connection else math.inf,
        http2=http2,
        endpoints=endpoints,
        workers=workers,
        lb_policy=str(_f(cluster, "lb_policy", defaults.ENVOY_DEFAULT_LB_POLICY)),
    )


def _get(config: Any, name: str) -> Any:
    if isinstance(config, Mapping):
        return config.get(name)
    return getattr(config, name, None)


def _host_matches(domains: Iterable[str], host: str, port: int | None) -> bool:
    # Istio lists service-go, service-go:80, service-go.default.svc.cluster.local, ... as domains.
    short = host.split(".")[0]
    for domain in domains:
        name, _, dport = domain.partition(":")
        if name in (host, short) and (port is None or not dport or dport == str(port)):
            return True
    return False


def _route_action_clusters(vhost: Mapping[str, Any]) -> list[tuple[str, float]]:
    for route in _f(vhost, "routes") or []:
        action = _f(route, "route") or {}
        if "cluster" in action:
            return [(action["cluster"], 1.0)]
        weighted = _f(_f(action, "weighted_clusters") or {}, "clusters") or []
        if weighted:
            return [(c["name"], float(_f(c, "weight", 1))) for c in weighted]
    return []


def _routes_from_config(config: Any, host: str, port: int | None) -> list[tuple[str, float]]:
    """The clusters of the first route of the virtual host serving ``host`` (fallback for plain dicts).

    The catch-all ``*`` virtual host (Istio's PassthroughCluster) is never taken for a named host.
    """
    for route_config in _get(config, "outbound_routes") or []:
        if port is not None and str(_f(route_config, "name", port)) != str(port):
            continue
        for vhost in _f(route_config, "virtual_hosts") or []:
            if _host_matches(_f(vhost, "domains") or [], host, port):
                pairs = _route_action_clusters(vhost)
                if pairs:
                    return pairs
    return []


def limits_for(config: Any, host: str, *, port: int | None = None, workers: int = 2) -> list[ClusterLimits]:
    """Per-cluster limits of the clusters the route to ``host`` uses, each with its share of the traffic.

    ``config`` is a ``lablib.translate.MeshConfig`` (its ``route_clusters(host, port)`` decides the route) or
    anything with ``outbound_clusters`` / ``outbound_routes`` (attributes or dict keys) in the same shape.
    ``workers`` is Envoy's ``--concurrency`` (it only moves the slack bound). Raises ``LookupError`` naming
    what is missing when no route or cluster is found.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1 (Envoy --concurrency), got {workers}")
    route_clusters = getattr(config, "route_clusters", None)
    if callable(route_clusters):
        pairs = list(route_clusters(host, port))
    else:
        pairs = _routes_from_config(config, host, port)
    if not pairs:
        raise LookupError(f"no outbound route for host {host!r}" + (f" port {port}" if port else "")
                          + ": apply the Service (and VirtualService) first")
    by_name = {_f(c, "name"): c for c in _get(config, "outbound_clusters") or []}
    total = sum(float(w) for _, w in pairs)
    if total <= 0:
        raise ValueError(f"route for {host!r} has weights summing to {total}; Envoy needs a total above 0")
    limits = []
    for name, weight in pairs:
        if name not in by_name:
            raise LookupError(f"route for {host!r} uses cluster {name!r}, but no outbound cluster has that "
                              "name: is its DestinationRule subset defined?")
        limits.append(cluster_limits(by_name[name], weight=float(weight) / total, workers=workers))
    return limits


def theoretical_limit(limits: Sequence[ClusterLimits]) -> float:
    """L: the concurrency an exact breaker admits across the route's clusters, ``Σ admitted``.

    Two definitions make sense for weighted routing; this library uses the first one everywhere:

    - **aggregate capacity** ``Σ_k admitted_k`` (this function): Envoy picks a weighted cluster per request,
      so a rejected closed-loop caller's next call lands anywhere and, under sustained load, every cluster
      fills: the exact breaker admits ``Σ admitted`` at most. Clusters with zero weight get no traffic and add
      nothing.
    - **overflow onset** ``min_k admitted_k / weight_k`` (``overflow_onset``): the concurrency at which the
      first cluster overflows if callers split exactly in proportion to the weights; 503s start around there.

    The two coincide for equal weights and equal limits (two subsets of N each: 2N).
    """
    return sum(lim.admitted for lim in limits if lim.weight > 0)


def overflow_onset(limits: Sequence[ClusterLimits]) -> float:
    """Concurrency at which the first cluster overflows under an exactly proportional split (see L)."""
    return min((lim.admitted / lim.weight for lim in limits if lim.weight > 0), default=math.inf)


def limit_band(limits: Sequence[ClusterLimits]) -> tuple[float, float]:
    """(low, high): what real Envoy may admit across the route, around the exact breaker's L.

    high uses the per-worker connection slack (``admitted_high``); low the moments when, without keep-alive,
    requests hold a pending slot while their upstream connection comes up, or when slack connections carry
    streams that ``max_requests`` rejects instead of queueing them (``admitted_low``).
    """
    used = [lim for lim in limits if lim.weight > 0]
    return sum(lim.admitted_low for lim in used), sum(lim.admitted_high for lim in used)


def race_slack(workers: int) -> int:
    """How far a breaker's count may go above its limit for a moment: ``workers - 1``.

    Envoy checks a limit (``canCreate``: count < max) and then counts the request (``inc``), two steps on a
    count every worker of the sidecar shares, so each other worker may pass the check in between
    (``resource_manager_impl.h``: resources may "temporarily go above the supplied maximums"). One worker has
    no such race.
    """
    return max(int(workers) - 1, 0)
