"""What one ``fortio load`` through a client sidecar would give, from the breaker theory alone (no I/O; the
only state it touches is the apps' fault knobs, which count calls as the real app does).

The fake backend (``lablib.backends.fake``) computes every run here instead of running Envoy: which calls
the route's circuit breakers reject (``lablib.theory``: the theoretical limit L of the route's clusters and
the closed form for the 503 share), which host serves each admitted call (round robin), which of those the
app's fault knob fails (service-go's own deterministic ``Fault``), and how long each took. The same
options and the same config always give the same calls, in the same order.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lablib.fortio.options import LoadOptions
from lablib.service_go import Fault
from lablib.theory import (
    ClusterLimits,
    duration_run_bound,
    fast_rejection_bound,
    simulate,
    theoretical_limit,
)

__all__ = ["Call", "Route", "RunPlan", "plan_run", "split"]

#: What Envoy's access log says for each outcome: (flags, response code details).
OVERFLOW = ("UO", "upstream_reset_before_response_started{overflow}")
NO_HEALTHY = ("UH", "no_healthy_upstream")
NO_ROUTE = ("NR", "route_not_found")
UPSTREAM = ("-", "via_upstream")


@dataclass(frozen=True)
class Route:
    """One cluster of the route: its limits (with its share of the traffic) and its hosts (pod, address)."""

    limits: ClusterLimits
    hosts: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Call:
    """One call of the run, in the order fortio made them."""

    code: int
    flags: str
    details: str
    cluster: str = ""
    pod: str = ""
    host: str = ""
    latency_s: float = 0.0

    @property
    def admitted(self) -> bool:
        """The breakers let it through to a host (whatever the app answered)."""
        return bool(self.host)


@dataclass(frozen=True)
class RunPlan:
    """A run's calls in order, its duration and its connections."""

    calls: list[Call]
    duration_s: float
    threads: int
    sockets: int
    #: upstream connections each cluster opened, and how often a request found none free (cx overflow).
    connections: Mapping[str, int]
    cx_overflows: Mapping[str, int]
    #: the counter each cluster's rejections move: HTTP/1.1 limited by connections queues, and overflows
    #: the pending queue; otherwise ``max_requests`` rejects a request when it attaches (limits.py).
    overflow_counters: Mapping[str, str]
    #: the most calls each pod's app held at once: its share of what the breakers let reach the apps.
    peak_in_flight: Mapping[str, int]


def split(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` shared in proportion to ``weights`` (largest remainder: the parts sum to ``total``)."""
    whole = sum(weights)
    if total <= 0 or whole <= 0:
        return [0] * len(weights)
    exact = [total * w / whole for w in weights]
    parts = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (parts[i] - exact[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _interleave(counts: Sequence[int]) -> list[int]:
    """Indexes of ``counts`` spread evenly over one sequence (each category at its own even pace)."""
    keyed = [((j + 0.5) / n, i) for i, n in enumerate(counts) for j in range(n)]
    return [i for _, i in sorted(keyed)]


def _calls_and_share(options: LoadOptions, limit: float, in_flight: float, service_s: float,
                     reject_s: float) -> tuple[int, float, float]:
    """(calls, 503 share, effective concurrency) of the run by the closed forms (``lablib.theory``)."""
    c = options.num_threads
    if options.qps > 0:  # paced: only qps × service time are in flight at once (Little's law)
        c_eff = min(float(c), options.qps * service_s) or 1.0
        n = options.exactly or max(1, round(options.qps * options.duration_s))
        return n, fast_rejection_bound(c_eff, limit), c_eff
    if options.exactly:
        return options.exactly, fast_rejection_bound(c, limit), float(c)
    share = duration_run_bound(c, limit, service_time_s=service_s, reject_time_s=reject_s,
                               in_flight=in_flight)
    t = options.duration_s
    served = min(c, in_flight, limit) / service_s * t
    n = round(served / (1.0 - share)) if share < 1.0 else round(max(c - limit, 1) / reject_s * t)
    return max(n, 1), share, float(c)


def _simulated(options: LoadOptions, used: Sequence[Route], n: int, service_s: float, reject_s: float,
               seed: int) -> tuple[int, dict[str, int], str | None]:
    """(calls, rejections by cluster, the one overflow counter they moved or None) of one simulated run
    against Envoy's own pools (``lablib.theory.simulate``, capacity "envoy", one repeat of ``seed``)."""
    sim = simulate(options.num_threads, max(n, options.num_threads), [r.limits for r in used],
                   service_time_s=service_s, reject_time_s=reject_s, repeats=1, seed=seed, capacity="envoy",
                   duration_s=None if options.exactly else options.duration_s)
    counter = next(iter(sim.overflows)) if len(sim.overflows) == 1 else None
    return (n if options.exactly else sim.calls), sim.rejections_by_cluster, counter


def plan_run(options: LoadOptions, routes: Sequence[Route], faults: Mapping[str, Fault], *,
             service_s: float, reject_s: float, capacity: str = "exact", seed: int = 0) -> RunPlan:
    """The calls of one run of ``options`` over ``routes`` (none: no route serves the URL's host: every call
    is a 404 NR). ``faults`` are the apps' knobs by pod; each admitted call advances its pod's knob, as the
    real app does, so a later run continues the sequence.

    ``capacity="exact"``: the route's clusters admit L and the 503 share is the closed form. ``"envoy"``: the
    rejections of one run of the simulation of Envoy's own pools (worker slack included: the seed's rule,
    whose exact L is unlimited, gets a few 503s as on real Envoy); paced runs (``-qps`` > 0) stay exact."""
    c = options.num_threads
    used = [r for r in routes if r.limits.weight > 0]
    limit = theoretical_limit([r.limits for r in used])
    in_flight = sum(r.limits.in_flight for r in used) or 1.0
    n, share, c_eff = _calls_and_share(options, limit, in_flight, service_s, reject_s)
    if not used:
        calls = [Call(404, *NO_ROUTE, latency_s=reject_s) for _ in range(n)]
        return RunPlan(calls, n * reject_s / c, c, c if options.keepalive else n, {}, {}, {}, {})
    counter: str | None = None
    if capacity == "envoy" and options.qps <= 0:
        n, by_cluster, counter = _simulated(options, used, n, service_s, reject_s, seed)
        per_cluster = split(n, [r.limits.weight for r in used])
        rejections = [by_cluster.get(r.limits.cluster, 0) for r in used]
    else:
        per_cluster = split(n, [r.limits.weight for r in used])
        excess = [max(0.0, c_eff * r.limits.weight - r.limits.admitted) for r in used]
        rejections = split(round(n * share), excess)
    overflows = [min(k, x) for k, x in zip(per_cluster, rejections, strict=True)]
    # A queue holds calls that are admitted but not yet served: they take longer, not fewer slots.
    admitted_at_once = min(c_eff, limit)
    serving = max(1.0, min(c_eff, in_flight))
    ok_latency = service_s * max(1.0, admitted_at_once / serving)
    kinds = [count for k in range(len(used)) for count in (per_cluster[k] - overflows[k], overflows[k])]
    calls: list[Call] = []
    turn = [0] * len(used)
    for index in _interleave(kinds):
        k, over = divmod(index, 2)
        route, name = used[k], used[k].limits.cluster
        if over:
            calls.append(Call(503, *OVERFLOW, cluster=name, latency_s=reject_s))
        elif not route.hosts:
            calls.append(Call(503, *NO_HEALTHY, cluster=name, latency_s=reject_s))
        else:
            pod, address = route.hosts[turn[k] % len(route.hosts)]
            turn[k] += 1
            fault = faults.get(pod)
            code = (fault.next_code() if fault is not None else None) or 200
            slower = fault.delay_ms / 1000.0 if fault is not None else 0.0  # a slow instance's latency fault
            calls.append(Call(code, *UPSTREAM, cluster=name, pod=pod, host=address,
                              latency_s=ok_latency + slower))
    served = sum(1 for call in calls if call.admitted)
    if options.qps > 0:
        duration = n / options.qps
    elif options.exactly:
        duration = max(served * ok_latency / max(admitted_at_once, 1.0),
                       (n - served) * reject_s / max(c - admitted_at_once, 1.0))
    else:
        duration = options.duration_s
    connections, cx_overflows, counters = {}, {}, {}
    for k, route in enumerate(used):
        lim, demand = route.limits, math.ceil(c_eff * route.limits.weight)
        admitted = per_cluster[k] - overflows[k] if route.hosts else 0
        opened = min(demand, lim.in_flight_high) if lim.reuses_connections else admitted
        connections[lim.cluster] = int(min(opened, admitted))
        waited = admitted - lim.max_connections if not lim.http2 and demand > lim.max_connections else 0
        cx_overflows[lim.cluster] = int(max(0, waited))
        counters[lim.cluster] = counter or ("upstream_rq_pending_overflow" if lim.queue_limited_by_connections
                                            else "upstream_rq_active_overflow")
    by_pod = Counter(call.pod for call in calls if call.admitted)
    peaks = {pod: math.ceil(serving * held / served) for pod, held in by_pod.items()}
    return RunPlan(calls, duration, c, c if options.keepalive else n, connections, cx_overflows, counters,
                   peaks)
