"""What happened to each host while load ran: samples, the ejection and return events derived from them.

Pure data, no I/O: the observer (``observer.py``) fills a ``Timeline`` from Envoy's ``/clusters`` and
``/stats`` and from the load's response codes; plots and checks only read it, so both work on saved or
synthetic data too.

Times are seconds since the timeline's start (``Timeline.t0`` is the ``time.monotonic()`` of that start).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CodeSample",
    "Event",
    "HostSample",
    "Mark",
    "Period",
    "StatSample",
    "Timeline",
    "events_from_samples",
    "periods_from_samples",
]

EventKind = Literal["ejected", "returned"]


@dataclass(frozen=True)
class HostSample:
    """One host as the client sidecar saw it at time ``t`` (Envoy ``/clusters``)."""

    t: float
    cluster: str
    address: str
    in_pool: bool
    health_flags: tuple[str, ...] = ()
    #: Per-host counters from ``/clusters`` (``rq_total``, ``rq_error``, ``rq_success``…), cumulative.
    stats: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StatSample:
    """The cluster's outlier and health stats at time ``t`` (keys without the ``cluster.<name>.`` prefix)."""

    t: float
    cluster: str
    values: Mapping[str, int] = field(default_factory=dict)

    def get(self, stat: str, default: int = 0) -> int:
        return self.values.get(stat, default)


@dataclass(frozen=True)
class CodeSample:
    """Response codes of the calls the load made between ``t_start`` and ``t_end`` (one slice of the load).

    ``flags`` counts Envoy response flags (``UH``, ``UO``, ``URX``…) when the backend can tell
    them, else empty.
    """

    t_start: float
    t_end: float
    codes: Mapping[int, int] = field(default_factory=dict)
    flags: Mapping[str, int] = field(default_factory=dict)

    @property
    def t(self) -> float:
        return (self.t_start + self.t_end) / 2

    @property
    def calls(self) -> int:
        return sum(self.codes.values())


@dataclass(frozen=True)
class Event:
    """A host left (``ejected``) or re-entered (``returned``) the load-balancing pool.

    It happened between ``t_before`` (last sample in the old state) and ``t`` (first sample in the new state).
    """

    t: float
    cluster: str
    address: str
    kind: EventKind
    t_before: float

    @property
    def uncertainty(self) -> float:
        return self.t - self.t_before


@dataclass(frozen=True)
class Period:
    """A stretch of time a host spent out of the pool; ``end`` is None if still out when sampling stopped."""

    cluster: str
    address: str
    start: float
    end: float | None

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass(frozen=True)
class Mark:
    """Something the lab did at time ``t`` (``"fault on"``, ``"rule applied"``), drawn as a labelled line."""

    t: float
    label: str


def _by_host(samples: Iterable[HostSample]) -> dict[tuple[str, str], list[HostSample]]:
    hosts: dict[tuple[str, str], list[HostSample]] = {}
    for s in sorted(samples, key=lambda s: s.t):
        hosts.setdefault((s.cluster, s.address), []).append(s)
    return hosts


def events_from_samples(samples: Iterable[HostSample]) -> list[Event]:
    """Every change of ``in_pool`` per (cluster, host), in time order.

    A host first seen already ejected yields an ``ejected`` event at its first sample (``t_before`` = ``t``).
    """
    events: list[Event] = []
    for (cluster, address), series in _by_host(samples).items():
        prev: HostSample | None = None
        for s in series:
            if prev is None:
                if not s.in_pool:
                    events.append(Event(s.t, cluster, address, "ejected", s.t))
            elif s.in_pool != prev.in_pool:
                events.append(Event(s.t, cluster, address, "returned" if s.in_pool else "ejected", prev.t))
            prev = s
    return sorted(events, key=lambda e: (e.t, e.cluster, e.address))


def periods_from_samples(samples: Iterable[HostSample]) -> list[Period]:
    """The out-of-pool periods of every host, from its ejection to its return (or None if still out)."""
    periods: list[Period] = []
    open_: dict[tuple[str, str], float] = {}
    for e in events_from_samples(samples):
        key = (e.cluster, e.address)
        if e.kind == "ejected":
            open_[key] = e.t
        elif key in open_:
            periods.append(Period(e.cluster, e.address, open_.pop(key), e.t))
    periods.extend(Period(c, a, start, None) for (c, a), start in open_.items())
    return sorted(periods, key=lambda p: (p.start, p.cluster, p.address))


@dataclass
class Timeline:
    """Everything one observation recorded: host samples, cluster stat samples, response codes, marks."""

    t0: float = 0.0
    hosts: list[HostSample] = field(default_factory=list)
    stats: list[StatSample] = field(default_factory=list)
    codes: list[CodeSample] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    #: Set by the observer when sampling stopped (seconds since t0).
    duration: float = 0.0
    #: Samples the observer could not take (the lab's error text), e.g. while Envoy was reconfigured.
    sample_errors: list[str] = field(default_factory=list)

    # -- derived views ---------------------------------------------------------------------------------------
    def events(self, kind: EventKind | None = None, *, address: str | None = None,
               cluster: str | None = None) -> list[Event]:
        """Ejection/return events, optionally only one kind, host or cluster."""
        return [e for e in events_from_samples(self.hosts)
                if (kind is None or e.kind == kind) and (address is None or e.address == address)
                and (cluster is None or e.cluster == cluster)]

    def periods(self, *, address: str | None = None, cluster: str | None = None) -> list[Period]:
        """Out-of-pool periods, optionally for one host or cluster."""
        return [p for p in periods_from_samples(self.hosts)
                if (address is None or p.address == address) and (cluster is None or p.cluster == cluster)]

    def reejected_at(self, period: Period, stat: str = "outlier_detection.ejections_enforced_total"
                     ) -> float | None:
        """When the cluster ejected a host again while ``period``'s host looked out all along, if that host is
        the only one of its cluster ever out: the first stat sample whose ``stat`` is above its value at the
        period's start. The host had come back and was ejected again between two samples (the sampler missed
        the short time it was in), so it returned at or before that time. None otherwise."""
        if period.end is not None:
            return None
        if {p.address for p in self.periods(cluster=period.cluster)} != {period.address}:
            return None
        series = [(t, v) for t, v in self.stat_series(stat, period.cluster) if t >= period.start]
        if not series:
            return None
        return next((t for t, v in series if v > series[0][1]), None)

    def addresses(self, cluster: str | None = None) -> list[str]:
        """The hosts seen, in first-seen order."""
        seen: dict[str, None] = {}
        for s in self.hosts:
            if cluster is None or s.cluster == cluster:
                seen.setdefault(s.address, None)
        return list(seen)

    def clusters(self) -> list[str]:
        seen: dict[str, None] = {}
        for s in [*self.hosts, *self.stats]:
            seen.setdefault(s.cluster, None)
        return list(seen)

    def host_series(self, address: str, cluster: str | None = None) -> list[HostSample]:
        """One host's samples in time order."""
        mine = (s for s in self.hosts if s.address == address and (cluster is None or s.cluster == cluster))
        return sorted(mine, key=lambda s: s.t)

    def stat_series(self, stat: str, cluster: str | None = None) -> list[tuple[float, int]]:
        """``(t, value)`` of one cluster stat (e.g. ``outlier_detection.ejections_active``)."""
        return [(s.t, s.get(stat)) for s in sorted(self.stats, key=lambda s: s.t)
                if cluster is None or s.cluster == cluster]

    def stat_delta(self, stat: str, cluster: str | None = None) -> int:
        """How much a counter grew over the observation (last sample minus first)."""
        series = self.stat_series(stat, cluster)
        return series[-1][1] - series[0][1] if series else 0

    def max_in_pool_out(self, cluster: str | None = None) -> int:
        """The most hosts of one cluster that were out of the pool at the same sample time."""
        out: Counter[tuple[float, str]] = Counter(
            (s.t, s.cluster) for s in self.hosts
            if not s.in_pool and (cluster is None or s.cluster == cluster))
        return max(out.values(), default=0)

    def code_totals(self, *, since: float | None = None, until: float | None = None) -> dict[int, int]:
        """Response codes summed over the slices that start at or after ``since`` and end before ``until``."""
        total: Counter[int] = Counter()
        for c in self.codes:
            if (since is None or c.t_start >= since) and (until is None or c.t_end <= until):
                total.update(c.codes)
        return dict(sorted(total.items()))

    def flag_totals(self, *, since: float | None = None, until: float | None = None) -> dict[str, int]:
        """Response flags summed like ``code_totals`` (empty when the backend cannot tell flags)."""
        total: Counter[str] = Counter()
        for c in self.codes:
            if (since is None or c.t_start >= since) and (until is None or c.t_end <= until):
                total.update(c.flags)
        return dict(sorted(total.items()))

    def errors_before_ejection(self, event: Event) -> int | None:
        """How many 5xx the host had answered when it was ejected (its ``/clusters`` ``rq_error`` growth).

        Counted from the host's first sample to the first sample after the ejection; includes the few requests
        already in flight when Envoy decided (the documented slack). None when the backend gives no
        host stats.
        """
        series = [s for s in self.host_series(event.address, event.cluster) if s.t <= event.t]
        if not series or "rq_error" not in series[-1].stats:
            return None
        start = next((s for s in series if "rq_error" in s.stats), series[-1])
        # Only errors since the host's previous return count towards this ejection.
        previous = [e for e in self.events("returned", address=event.address, cluster=event.cluster)
                    if e.t < event.t]
        if previous:
            start = next((s for s in series if s.t >= previous[-1].t), start)
        return series[-1].stats["rq_error"] - start.stats["rq_error"]
