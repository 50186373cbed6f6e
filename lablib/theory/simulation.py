"""A discrete-event simulation of fortio's closed-loop threads against Envoy's per-cluster breakers.

Pure and deterministic for a given seed (stdlib ``random`` and ``heapq``, no I/O). What it models:

- fortio ``load -qps 0 -n N -c C``: C threads start together; thread 0 makes ``N//C + N%C`` calls, the
  others ``N//C`` (fortio periodic.go); a thread calls again as soon as its previous call returns (closed
  loop), a 200 after a client turnaround ``client_gap_s``, a 503 after ``reject_time_s`` (reconnect included).
- Envoy's router picks a cluster per call by weighted random choice (weighted_clusters).
- Each cluster's breaker (istio-to-envoy.md §4), in one of three capacities:
  "exact": ``in_flight`` connection slots and a FIFO pending queue; a call takes a free slot, else waits if
  the queue has room, else is rejected at once (503 UO). This is what the theoretical limit L describes.
  "slack": the same with Envoy's documented slack connections (``ClusterLimits.in_flight_high``).
  "envoy": Envoy's own HTTP/1.1 pools, one per worker and endpoint, under the cluster's shared counters,
  with the rule that an empty pool may always open one connection, the lb_policy's endpoint choice, and
  connections closed after ``max_requests_per_connection`` requests.
- Without keep-alive (``max_requests_per_connection`` 1) every served call first waits ``connect_time_s``
  for a new upstream connection while it holds a pending slot, as in Envoy: a call arriving meanwhile finds
  the pending queue fuller than the exact breaker would. Whether a returning thread's next call beats that
  connection is a race between two small delays; ``timing_cv`` draws both at random (exponential at 1).
- mTLS between sidecars adds ``handshake_time_s`` to every new upstream connection (the client and server
  sidecars' TLS handshake), spent like the connect time: in the pending queue.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lablib.theory.limits import ClusterLimits

__all__ = ["SimulationResult", "calls_per_thread", "percentile", "simulate", "simulate_curve",
           "simulate_envelope"]

Capacity = Literal["exact", "slack", "envoy"]
#: The Envoy 1.40 counters a simulated 503 would increment (istio-to-envoy.md §4, "Which limit applies").
PENDING_OVERFLOW = "upstream_rq_pending_overflow"
ACTIVE_OVERFLOW = "upstream_rq_active_overflow"


def calls_per_thread(n: int, c: int) -> list[int]:
    """fortio's split of ``-n N`` over ``-c C`` threads at ``-qps 0``: N//C each, the remainder to thread 0.

    fortio's loop calls before it checks the count, so a thread given 0 calls still makes one (N < C):
    keep N ≥ C for exactly N calls.
    """
    if c < 1 or n < 1:
        raise ValueError(f"need -c >= 1 and -n >= 1, got c={c} n={n}")
    per, left_over = divmod(n, c)
    return [max(per + (left_over if i == 0 else 0), 1) for i in range(c)]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between order statistics (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class SimulationResult:
    """The 503 share of one fortio configuration over repeated simulated runs."""

    c: int
    #: The ``-n`` asked for; ``calls`` is what the threads make (equal when n >= c; the mean for -t runs).
    n: int
    calls: int
    capacity: Capacity
    #: 503 share of all calls, one per repeat.
    shares: tuple[float, ...]
    #: Time-weighted number of admitted calls (served + connecting + queued), one per repeat.
    admitted_concurrency: tuple[float, ...]
    #: Simulated run duration, one per repeat (seconds).
    durations_s: tuple[float, ...]
    #: Percentiles of ``shares`` that bound the band.
    band_percentiles: tuple[float, float] = (5.0, 95.0)
    #: 503s per cluster name, summed over repeats (which breaker tripped).
    rejections_by_cluster: dict[str, int] = field(default_factory=dict)
    #: 503s per Envoy counter they would increment (``upstream_rq_pending_overflow`` /
    #: ``upstream_rq_active_overflow``), summed over repeats: compare with ``lab.stats(cluster).overflows``.
    overflows: dict[str, int] = field(default_factory=dict)
    #: For an envelope (``simulate_envelope``): one result per parameter variant; the band spans them all.
    variants: tuple[SimulationResult, ...] = ()

    @property
    def mean(self) -> float:
        """Mean 503 share over the repeats."""
        return sum(self.shares) / len(self.shares)

    @property
    def low(self) -> float:
        """Lower edge of the band (``band_percentiles[0]`` of the shares; lowest of the variants' edges)."""
        if self.variants:
            return min(v.low for v in self.variants)
        return percentile(self.shares, self.band_percentiles[0])

    @property
    def high(self) -> float:
        """Upper edge of the band (``band_percentiles[1]`` of the shares; highest of the variants' edges)."""
        if self.variants:
            return max(v.high for v in self.variants)
        return percentile(self.shares, self.band_percentiles[1])

    @property
    def band(self) -> tuple[float, float]:
        """``(low, high)``: where a measured 503 share of this configuration is expected to fall."""
        return self.low, self.high

    @property
    def admitted_mean(self) -> float:
        """Mean time-weighted admitted concurrency: compare with L and with Little's law on a real run."""
        return sum(self.admitted_concurrency) / len(self.admitted_concurrency)

    def contains(self, share: float, *, margin: float = 0.0) -> bool:
        """Whether a measured 503 share falls inside the band widened by ``margin`` on both sides."""
        return self.low - margin <= share <= self.high + margin


def _draw(rng: random.Random, mean: float, cv: float) -> float:
    """A duration with the given mean and coefficient of variation (gamma; fixed when cv is 0)."""
    if cv <= 0 or mean <= 0:
        return mean
    shape = 1.0 / (cv * cv)
    return rng.gammavariate(shape, mean / shape)


class _Sim:
    """The event queue and the clock of one simulated run, shared by the clusters."""

    # Event kinds, ordered so that at equal times freed slots are handed on before any new call arrives.
    SERVED, CONNECTED, REJECTED, CALL = 0, 1, 2, 3

    def __init__(self, rng: random.Random, *, service_time_s: float, service_cv: float,
                 reject_time_s: float, reject_cv: float, connect_time_s: float, timing_cv: float) -> None:
        self.rng = rng
        self.service_time_s = service_time_s
        self.service_cv = service_cv
        self.reject_time_s = reject_time_s
        self.reject_cv = reject_cv
        self.connect_time_s = connect_time_s
        self.timing_cv = timing_cv
        self.now = 0.0
        self.events: list[tuple[float, int, int, int, object]] = []
        self.seq = 0
        self.rejected = 0
        self.rejections: dict[str, int] = {}
        self.overflows: dict[str, int] = {}

    def push(self, delay: float, kind: int, thread: int, data: object = None) -> None:
        self.seq += 1
        heapq.heappush(self.events, (self.now + delay, kind, self.seq, thread, data))

    def serve(self, owner: int, thread: int, data: object) -> None:
        """Cluster ``owner`` serves ``thread``'s call; ``data`` comes back to its ``served``."""
        self.push(_draw(self.rng, self.service_time_s, self.service_cv), self.SERVED, thread, (owner, data))

    def connect(self, owner: int, thread: int, data: object) -> None:
        """Cluster ``owner`` opens an upstream connection; ``data`` comes back to its ``connected``."""
        self.push(_draw(self.rng, self.connect_time_s, self.timing_cv), self.CONNECTED, thread, (owner, data))

    def reject(self, thread: int, cluster: str, stat: str) -> None:
        """A 503 UO: counted per cluster and per Envoy overflow counter (``stat``) it would increment."""
        self.rejected += 1
        self.rejections[cluster] = self.rejections.get(cluster, 0) + 1
        self.overflows[stat] = self.overflows.get(stat, 0) + 1
        self.push(_draw(self.rng, self.reject_time_s, self.reject_cv), self.REJECTED, thread)


class _Breaker:
    """An exact breaker for one cluster: ``slots`` connections, a FIFO pending queue, one pool.

    Used for capacity "exact" (the limits) and "slack" (``in_flight_high`` slots), and for HTTP/2 clusters,
    whose one multiplexed connection makes per-pool effects irrelevant.
    """

    def __init__(self, index: int, limits: ClusterLimits, capacity: Capacity, sim: _Sim) -> None:
        self.index = index
        self.name = limits.cluster
        self.sim = sim
        self.slots = limits.in_flight_high if capacity == "slack" else limits.in_flight
        self.pending_cap = limits.max_pending_requests
        # Only HTTP/1.1 limited by its connections waits; elsewhere max_requests rejects on attach.
        self.queues = limits.queue_limited_by_connections
        # HTTP/2 multiplexes on one connection made once: its connect time is not per request.
        self.connect_time_s = 0.0 if limits.http2 else sim.connect_time_s
        self.per_connection = limits.max_requests_per_connection
        self.reuse = limits.reuses_connections
        self.busy = 0
        self.connecting = 0
        self.idle: list[int] = []  # open idle connections, by requests already carried
        self.waiting: deque[int] = deque()

    @property
    def admitted(self) -> int:
        return self.busy + self.connecting + len(self.waiting)

    def _pending(self) -> int:
        # Envoy counts streams waiting for a connection and streams whose connection is still coming up alike.
        return len(self.waiting) + self.connecting

    def arrive(self, thread: int, worker: int) -> None:
        if not self.waiting:
            if self.idle:
                self.busy += 1
                self.sim.serve(self.index, thread, self.idle.pop())
                return
            if self.slots - self.busy - self.connecting - len(self.idle) > 0:
                if self.connect_time_s <= 0:
                    self.busy += 1
                    self.sim.serve(self.index, thread, 0)
                elif self._pending() < self.pending_cap:
                    self.connecting += 1
                    self.sim.connect(self.index, thread, None)
                else:
                    self.sim.reject(thread, self.name, PENDING_OVERFLOW)
                return
        if self.queues and self._pending() < self.pending_cap:
            self.waiting.append(thread)
        else:
            self.sim.reject(thread, self.name, PENDING_OVERFLOW if self.queues else ACTIVE_OVERFLOW)

    def connected(self, thread: int, data: object) -> None:
        self.connecting -= 1
        self.busy += 1
        self.sim.serve(self.index, thread, 0)

    def served(self, uses: object) -> None:
        """A served call finished: keep or close its connection, then start the first waiting call."""
        self.busy -= 1
        carried = int(uses) + 1  # type: ignore[call-overload]
        if self.reuse and carried < self.per_connection:
            self.idle.append(carried)
        if not self.waiting:
            return
        thread = self.waiting.popleft()
        if self.idle:
            self.busy += 1
            self.sim.serve(self.index, thread, self.idle.pop())
        elif self.connect_time_s <= 0:
            self.busy += 1
            self.sim.serve(self.index, thread, 0)
        else:
            self.connecting += 1  # moves from waiting to connecting: the pending count does not change
            self.sim.connect(self.index, thread, None)


class _Pool:
    """One worker's HTTP/1.1 connection pool to one endpoint (Envoy keeps one per worker × host)."""

    __slots__ = ("busy", "connecting", "host", "idle", "pending")

    def __init__(self, host: int) -> None:
        self.host = host
        self.connecting = 0
        self.busy = 0
        self.idle: list[int] = []
        self.pending: deque[int] = deque()

    def empty(self) -> bool:
        return not (self.connecting or self.busy or self.idle)


class _EnvoyCluster:
    """One HTTP/1.1 cluster as Envoy 1.40 runs it: per-worker, per-endpoint pools under shared breakers.

    Mirrors conn_pool_base.cc: a call takes a ready connection of its pool (``max_requests`` checked on
    attach), else waits in the pool's pending list if the cluster's pending count allows, and the pool opens a
    connection if the cluster is under ``max_connections`` or the pool has none at all (Envoy's "always
    create one" rule: the source of the slack). A connection that reached ``max_requests_per_connection``
    closes after its response. The endpoint comes from the lb_policy (LEAST_REQUEST: the less busy of two
    random picks).
    """

    def __init__(self, index: int, limits: ClusterLimits, sim: _Sim) -> None:
        self.index = index
        self.name = limits.cluster
        self.sim = sim
        self.max_connections = limits.max_connections
        self.max_pending = limits.max_pending_requests
        self.max_requests = limits.max_requests
        self.per_connection = limits.max_requests_per_connection
        self.hosts = max(limits.endpoints, 1)
        self.lb_policy = limits.lb_policy
        self.pools: dict[tuple[int, int], _Pool] = {}
        self.host_active = [0] * self.hosts  # rq_active per host: what LEAST_REQUEST compares
        self.round_robin = 0
        self.connections = 0
        self.pending = 0
        self.active = 0

    @property
    def admitted(self) -> int:
        return self.active + self.pending

    def _pick_host(self) -> int:
        if self.hosts == 1:
            return 0
        rng = self.sim.rng
        if self.lb_policy == "LEAST_REQUEST":  # P2C with replacement (unweightedHostPick, choice_count 2)
            a, b = rng.randrange(self.hosts), rng.randrange(self.hosts)
            return b if self.host_active[b] < self.host_active[a] else a
        if self.lb_policy == "ROUND_ROBIN":
            self.round_robin += 1
            return self.round_robin % self.hosts
        return rng.randrange(self.hosts)

    def arrive(self, thread: int, worker: int) -> None:
        key = (worker, self._pick_host())
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = _Pool(key[1])
        if pool.idle:
            self._attach(pool, thread, pool.idle.pop())
        elif self.pending >= self.max_pending:
            self.sim.reject(thread, self.name, PENDING_OVERFLOW)
        else:
            pool.pending.append(thread)
            self.pending += 1
            self._try_connect(pool)

    def _attach(self, pool: _Pool, thread: int, uses: int) -> None:
        if self.active >= self.max_requests:
            pool.idle.append(uses)
            self.sim.reject(thread, self.name, ACTIVE_OVERFLOW)
            return
        self.active += 1
        self.host_active[pool.host] += 1
        pool.busy += 1
        self.sim.serve(self.index, thread, (pool, uses))

    def _try_connect(self, pool: _Pool) -> None:
        if pool.connecting >= len(pool.pending):
            return  # enough connections already coming up for the waiting streams
        if self.connections < self.max_connections or pool.empty():
            pool.connecting += 1
            self.connections += 1
            self.sim.connect(self.index, -1, pool)
        # else: upstream_cx_overflow; the stream waits for one of this pool's connections

    def connected(self, thread: int, data: object) -> None:
        pool: _Pool = data  # type: ignore[assignment]
        pool.connecting -= 1
        self._ready(pool, 0)

    def _ready(self, pool: _Pool, uses: int) -> None:
        """A connection of ``pool`` can carry a stream: give it to the first pending one, or keep it idle."""
        if pool.pending:
            self.pending -= 1
            self._attach(pool, pool.pending.popleft(), uses)
        else:
            pool.idle.append(uses)

    def served(self, data: object) -> None:
        pool, uses = data  # type: ignore[misc]
        self.active -= 1
        self.host_active[pool.host] -= 1
        pool.busy -= 1
        uses += 1
        if uses >= self.per_connection:
            self.connections -= 1  # closed after its last allowed request (draining counts until closed)
            if pool.pending:
                self._try_connect(pool)
        else:
            self._ready(pool, uses)


def _run_once(
    c: int,
    n: int,
    limits: Sequence[ClusterLimits],
    rng: random.Random,
    *,
    service_time_s: float,
    reject_time_s: float,
    connect_time_s: float,
    service_cv: float,
    reject_cv: float,
    client_gap_s: float,
    timing_cv: float,
    capacity: Capacity,
    workers: int | None,
    duration_s: float | None,
    rejections: dict[str, int],
    overflows: dict[str, int],
) -> tuple[float, float, float, int]:
    sim = _Sim(rng, service_time_s=service_time_s, service_cv=service_cv, reject_time_s=reject_time_s,
               reject_cv=reject_cv, connect_time_s=connect_time_s, timing_cv=timing_cv)
    # HTTP/2 multiplexes on one connection per pool: its exact breaker is already what Envoy does.
    clusters: list[_Breaker | _EnvoyCluster] = [
        _EnvoyCluster(i, lim, sim) if capacity == "envoy" and not lim.http2
        else _Breaker(i, lim, capacity, sim)
        for i, lim in enumerate(limits)]
    weights = [lim.weight for lim in limits]
    n_workers = workers or max(lim.workers for lim in limits)
    # fortio's thread keeps its socket (so its Envoy worker) until a non-2xx closes it.
    worker_of = [rng.randrange(n_workers) for _ in range(c)]
    # -n: fortio's fixed split; -t: every thread loops until a call would start after the duration.
    left: list[float] = list(calls_per_thread(n, c)) if duration_s is None else [math.inf] * c
    calls = 0
    for thread in range(c):
        sim.push(0.0, _Sim.CALL, thread)
    area = 0.0  # ∫ admitted(t) dt
    admitted = 0
    while sim.events:
        t, kind, _, thread, data = heapq.heappop(sim.events)
        area += admitted * (t - sim.now)
        sim.now = t
        if kind == _Sim.CALL:
            if duration_s is not None and t >= duration_s:
                continue
            calls += 1
            k = rng.choices(range(len(clusters)), weights)[0] if len(clusters) > 1 else 0
            clusters[k].arrive(thread, worker_of[thread])
        elif kind == _Sim.CONNECTED:
            owner, payload = data  # type: ignore[misc]
            clusters[owner].connected(thread, payload)
        else:
            if kind == _Sim.SERVED:
                owner, payload = data  # type: ignore[misc]
                clusters[owner].served(payload)
            else:
                worker_of[thread] = rng.randrange(n_workers)  # fortio reconnects after a 503
            left[thread] -= 1
            if left[thread] > 0:
                gap = _draw(rng, client_gap_s, timing_cv) if kind == _Sim.SERVED else 0.0
                sim.push(gap, _Sim.CALL, thread)
        admitted = sum(cl.admitted for cl in clusters)
    for name, count in sim.rejections.items():
        rejections[name] = rejections.get(name, 0) + count
    for stat, count in sim.overflows.items():
        overflows[stat] = overflows.get(stat, 0) + count
    return sim.rejected / calls, (area / sim.now if sim.now > 0 else 0.0), sim.now, calls


def simulate(
    c: int,
    n: int,
    limits: Sequence[ClusterLimits],
    *,
    service_time_s: float,
    reject_time_s: float,
    repeats: int = 20,
    seed: int = 0,
    connect_time_s: float = 0.0,
    service_cv: float = 0.0,
    reject_cv: float = 0.0,
    client_gap_s: float = 0.0,
    timing_cv: float = 0.0,
    capacity: Capacity = "exact",
    workers: int | None = None,
    duration_s: float | None = None,
    band_percentiles: tuple[float, float] = (5.0, 95.0),
    handshake_time_s: float = 0.0,
) -> SimulationResult:
    """Simulate ``fortio load -c C -qps 0 -n N`` against the route's clusters, ``repeats`` times.

    Args:
        c, n: fortio's ``-c`` and ``-n`` (``n`` is ignored when ``duration_s`` is given).
        limits: the route's clusters (``limits_for``); weights pick a cluster per call.
        service_time_s: mean time a served call holds its slot (take it from the run: ``times_from_result``).
        reject_time_s: time a rejected call costs its thread before it calls again (503 latency, reconnect
            included).
        repeats: independent runs; the band is over them.
        seed: the whole result is a function of the arguments and this seed.
        connect_time_s: time a new upstream connection takes to come up, spent in the pending queue; only
            matters without keep-alive (``max_requests_per_connection`` 1) or for a cluster's first calls.
        service_cv: coefficient of variation of the service time (gamma distributed; 0 = fixed). Real
            services vary, and that variation is what spreads real 503 shares.
        reject_cv: coefficient of variation of the rejection time.
        client_gap_s: mean time from Envoy sending a 200 to the same thread's next call reaching Envoy.
        timing_cv: coefficient of variation of ``connect_time_s`` and ``client_gap_s`` (1 = exponential).
        capacity: "exact": the breaker's limits, one pool per cluster (what L describes);
            "slack": the same with ``in_flight_high`` connections (Envoy's documented slack bound);
            "envoy": Envoy's own pools, one per worker × endpoint, with its "always create one connection"
            rule, lb_policy choice and ``max_requests_per_connection`` closes (HTTP/1.1 clusters).
        workers: Envoy workers for "envoy" (default: the limits' ``workers``); each fortio connection lands on
            a random worker and moves after a 503 (fortio reconnects).
        duration_s: simulate ``-t`` instead of ``-n``: threads keep calling until a call would start after
            this many seconds, so rejected threads keep looping (compare ``duration_run_bound``).
        band_percentiles: percentiles of the per-repeat shares reported as the band.
        handshake_time_s: the mTLS handshake each new upstream connection adds to ``connect_time_s`` (Istio's
            auto mTLS; 0 with plaintext). With ``max_requests_per_connection`` 1 every admission pays it
            while holding a pending slot, which is why mTLS raises the 503 share of the Istio task's rule.
    """
    if not limits:
        raise ValueError("no clusters: limits_for() found nothing to simulate")
    if not all(lim.weight >= 0 for lim in limits) or sum(lim.weight for lim in limits) <= 0:
        raise ValueError("cluster weights must be >= 0 with a total above 0")
    for name, value in (("service_time_s", service_time_s), ("reject_time_s", reject_time_s),
                        ("connect_time_s", connect_time_s), ("client_gap_s", client_gap_s),
                        ("handshake_time_s", handshake_time_s),
                        ("service_cv", service_cv), ("reject_cv", reject_cv), ("timing_cv", timing_cv)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be a finite number > 0, got {duration_s}")
    if duration_s is not None and service_time_s <= 0 and reject_time_s <= 0:
        raise ValueError("a -t run needs service_time_s or reject_time_s > 0, or it never ends")
    shares, concurrency, durations, made = [], [], [], []
    rejections: dict[str, int] = {}
    overflows: dict[str, int] = {}
    for repeat in range(repeats):
        rng = random.Random(seed * 1_000_003 + repeat)
        share, admitted, duration, calls = _run_once(
            c, n, limits, rng, service_time_s=service_time_s, reject_time_s=reject_time_s,
            connect_time_s=connect_time_s + handshake_time_s, service_cv=service_cv, reject_cv=reject_cv,
            client_gap_s=client_gap_s, timing_cv=timing_cv, capacity=capacity, workers=workers,
            duration_s=duration_s, rejections=rejections, overflows=overflows)
        made.append(calls)
        shares.append(share)
        concurrency.append(admitted)
        durations.append(duration)
    return SimulationResult(
        c=c, n=n, calls=round(sum(made) / len(made)), capacity=capacity, shares=tuple(shares),
        admitted_concurrency=tuple(concurrency), durations_s=tuple(durations),
        band_percentiles=band_percentiles, rejections_by_cluster=rejections, overflows=overflows)


def simulate_envelope(
    c: int,
    n: int,
    limits: Sequence[ClusterLimits],
    variants: Sequence[Mapping[str, Any]],
    **options: Any,
) -> SimulationResult:
    """``simulate`` once per variant of the options; the band spans every variant's band.

    For a parameter the run cannot pin down, only bound: e.g. Envoy's upstream connect time lies between 0
    and fortio's own loopback connect time, so ``variants=[{"connect_time_s": 0.0}, {}]`` shows what real
    Envoy may do at both ends. ``options`` are shared; each variant overrides some of them.
    """
    if not variants:
        raise ValueError("simulate_envelope needs at least one variant (use {} for the options as given)")
    results = tuple(simulate(c, n, limits, **{**options, **variant}) for variant in variants)
    rejections: dict[str, int] = {}
    overflows: dict[str, int] = {}
    for result in results:
        for name, count in result.rejections_by_cluster.items():
            rejections[name] = rejections.get(name, 0) + count
        for stat, count in result.overflows.items():
            overflows[stat] = overflows.get(stat, 0) + count
    first = results[0]
    return SimulationResult(
        c=c, n=n, calls=first.calls, capacity=first.capacity,
        shares=tuple(x for r in results for x in r.shares),
        admitted_concurrency=tuple(x for r in results for x in r.admitted_concurrency),
        durations_s=tuple(x for r in results for x in r.durations_s),
        band_percentiles=first.band_percentiles, rejections_by_cluster=rejections, overflows=overflows,
        variants=results)


def simulate_curve(
    cs: Sequence[int],
    n: int | Callable[[int], int],
    limits: Sequence[ClusterLimits],
    **options: object,
) -> list[SimulationResult]:
    """``simulate`` for each concurrency in ``cs``; ``n`` is one ``-n`` for all or a function of c.

    Options are ``simulate``'s keyword arguments (service_time_s and reject_time_s are required).
    """
    n_of = n if callable(n) else (lambda _c: n)
    return [simulate(c, n_of(c), limits, **options) for c in cs]  # type: ignore[arg-type]
