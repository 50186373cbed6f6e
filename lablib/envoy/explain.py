"""Explain a load run: every non-200 response attributed to what produced it, joined with Envoy's counters.

A 503 with flag ``UO`` is a client-side circuit-breaker overflow and must match the client cluster's
``upstream_rq_pending_overflow`` + ``upstream_rq_active_overflow`` (+ ``upstream_rq_retry_overflow``); ``UH``
is "no healthy upstream" (``upstream_cx_none_healthy``: every host ejected); a status that came
``via_upstream`` was produced behind the client sidecar, either by the server sidecar's own breaker
(``x-envoy-overloaded``) or by the app (a fault knob).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lablib.envoy.access_log import ResponseRecord
from lablib.envoy.upstream import ClusterStats

__all__ = ["OVERFLOW_COUNTERS", "RunExplanation", "cause_of", "counter_deltas", "explain_run"]

#: Counters that move when a breaker rejects something (Envoy 1.40 names, see cluster_stats.rst).
OVERFLOW_COUNTERS = ("upstream_rq_pending_overflow", "upstream_rq_active_overflow",
                     "upstream_rq_retry_overflow",
                     "upstream_cx_overflow", "upstream_cx_none_healthy")


def cause_of(r: ResponseRecord) -> str:
    """A short name for what produced one response."""
    flags = r.flag_set
    if "UO" in flags:
        return "client breaker overflow (UO)"
    if "UH" in flags:
        return "no healthy upstream (UH)"
    if flags:
        return f"envoy response flags {','.join(sorted(flags))}"
    if r.code == 200:
        return "ok"
    if r.details == "via_upstream":
        return "server sidecar overflow" if r.overloaded else f"app answered {r.code}"
    return f"unexplained: {r.code} {r.details or '(no details)'}"


def counter_deltas(before: Mapping[str, ClusterStats], after: Mapping[str, ClusterStats],
                   names: Iterable[str] = OVERFLOW_COUNTERS) -> dict[str, dict[str, int]]:
    """``{cluster: {counter: after - before}}`` for the clusters in ``after``, non-zero entries only."""
    out: dict[str, dict[str, int]] = {}
    for cluster, stats in after.items():
        prev = before.get(cluster)
        deltas = {n: stats.get(n) - (prev.get(n) if prev else 0) for n in names}
        deltas = {n: d for n, d in deltas.items() if d}
        if deltas:
            out[cluster] = deltas
    return out


@dataclass
class RunExplanation:
    """Responses of one run by cause, and the counters that should account for them."""

    total: int
    by_code: Counter[int]
    by_cause: Counter[str]
    by_code_and_flags: Counter[tuple[int, str]]
    #: client sidecar clusters: counter deltas during the run.
    client_counters: dict[str, dict[str, int]] = field(default_factory=dict)
    #: server (inbound) sidecars by pod: counter deltas during the run.
    server_counters: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)

    @property
    def uo(self) -> int:
        return sum(n for (_, flags), n in self.by_code_and_flags.items() if "UO" in flags.split(","))

    @property
    def client_rq_overflows(self) -> int:
        """Requests the client breakers rejected: pending + active + retry overflow, all clusters."""
        names = ("upstream_rq_pending_overflow", "upstream_rq_active_overflow", "upstream_rq_retry_overflow")
        return sum(c.get(n, 0) for c in self.client_counters.values() for n in names)

    @property
    def server_rq_overflows(self) -> int:
        names = ("upstream_rq_pending_overflow", "upstream_rq_active_overflow")
        return sum(c.get(n, 0) for pod in self.server_counters.values() for c in pod.values() for n in names)

    @property
    def uh(self) -> int:
        return sum(n for (_, flags), n in self.by_code_and_flags.items() if "UH" in flags.split(","))

    @property
    def client_none_healthy(self) -> int:
        """Requests with no healthy host to go to (every host ejected): ``upstream_cx_none_healthy``."""
        return sum(c.get("upstream_cx_none_healthy", 0) for c in self.client_counters.values())

    @property
    def unexplained(self) -> int:
        """Non-200 responses with no cause: should be 0."""
        return sum(n for cause, n in self.by_cause.items() if cause.startswith("unexplained"))

    @property
    def accounted(self) -> bool:
        """Every UO matches a client overflow counter and every server-sidecar 503 a server overflow
        counter."""
        return (self.uo == self.client_rq_overflows
                and self.uh == self.client_none_healthy
                and self.by_cause.get("server sidecar overflow", 0) == self.server_rq_overflows
                and self.unexplained == 0)

    def __str__(self) -> str:
        codes = ", ".join(f"{c}: {n}" for c, n in sorted(self.by_code.items()))
        lines = [f"{self.total} responses: {codes}"]
        for cause, n in self.by_cause.most_common():
            lines.append(f"  {n:6d}  {cause}")
        for cluster, counters in sorted(self.client_counters.items()):
            lines.append(f"  client {cluster}: " + ", ".join(f"{k} +{v}" for k, v in counters.items()))
        for pod, clusters in sorted(self.server_counters.items()):
            for cluster, counters in sorted(clusters.items()):
                moved = ", ".join(f"{k} +{v}" for k, v in counters.items())
                lines.append(f"  server {pod} {cluster}: {moved}")
        lines.append("every non-200 accounted for" if self.accounted else
                     f"NOT accounted: UO {self.uo} vs client overflow counters {self.client_rq_overflows}, "
                     f"UH {self.uh} vs none_healthy {self.client_none_healthy}, "
                     f"server 503s {self.by_cause.get('server sidecar overflow', 0)} vs server counters "
                     f"{self.server_rq_overflows}, unexplained {self.unexplained}")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(str(self))


def explain_run(records: list[ResponseRecord], *, client_counters: dict[str, dict[str, int]] | None = None,
                server_counters: dict[str, dict[str, dict[str, int]]] | None = None) -> RunExplanation:
    """Group ``records`` by code, cause and flags, next to the counter deltas of the same run."""
    return RunExplanation(
        total=len(records),
        by_code=Counter(r.code for r in records),
        by_cause=Counter(cause_of(r) for r in records),
        by_code_and_flags=Counter((r.code, r.flags) for r in records),
        client_counters=client_counters or {},
        server_counters=server_counters or {},
    )
