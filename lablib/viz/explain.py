"""Explanations backed by the runs just made: each function reads the ``RunPoint``s and says what they show.

The notebook's markdown gives the mechanism; these cells put the student's own numbers under it, so the
explanation stays true on whatever machine (or Envoy version) ran it. Each returns ``HTML`` (text in CI logs).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from lablib.viz.plots import _percentile
from lablib.viz.runs import RunPoint, by_label, summary
from lablib.viz.tables import HTML

__all__ = ["why_more_than_limit", "why_per_cluster", "why_queueing", "why_sockets", "why_varies"]


def _render(title: str, bullets: Sequence[str]) -> HTML:
    items = "".join(f"<li>{html.escape(b)}</li>" for b in bullets)
    return HTML(
        f"<div class='lablib-explain' style='border-left:4px solid #0969da;padding:2px 10px;"
        f"margin:6px 0'><b>{html.escape(title)}</b><ul style='margin:4px 0'>{items}</ul></div>",
        title + "\n" + "\n".join(f"- {b}" for b in bullets),
    )


def _total(points: Iterable[RunPoint], counter: str) -> int:
    return sum(int(p.overflows.get(counter, 0)) for p in points)


def _ms(p: RunPoint, q: float) -> str:
    v = _percentile(p.result, q)
    return f"{1000 * v:.0f} ms" if v is not None else "n/a"


def why_queueing(seed: Sequence[RunPoint], pending: Sequence[RunPoint]) -> HTML:
    """Seed rule (no pending limit) vs the same rule with ``http1MaxPendingRequests``: waits vs 503s."""
    top = max(p.concurrency for p in seed)
    seed_top = [p for p in seed if p.concurrency == top]
    pend_top = [p for p in pending if p.concurrency == top]
    low = min(p.concurrency for p in seed)
    seed_low = [p for p in seed if p.concurrency == low]

    def share(pts: Sequence[RunPoint]) -> str:
        return f"{100 * sum(p.share_503 for p in pts) / len(pts):.0f}%" if pts else "n/a"

    bullets = [
        f"At c={top}, the seed's rule answered {share(seed_top)} of calls with 503; with "
        f"http1MaxPendingRequests: 10 the same load got {share(pend_top)}.",
        f"Seed's rule, all runs: upstream_rq_pending_overflow = "
        f"{_total(seed, 'upstream_rq_pending_overflow')} "
        f"(the queue is unlimited, 2^32−1, so it never overflows), upstream_rq_active_overflow = "
        f"{_total(seed, 'upstream_rq_active_overflow')}, upstream_cx_overflow = "
        f"{_total(seed, 'upstream_cx_overflow')} (a request that finds 10 connections busy waits for one).",
        f"The waiting shows as latency: seed's rule p50 {_ms(seed_low[0], 50)} at c={low} → "
        f"{_ms(seed_top[0], 50)} at c={top}."
        if seed_low and seed_top
        else "",
        "With the pending limit, upstream_rq_pending_overflow = "
        f"{_total(pending, 'upstream_rq_pending_overflow')}"
        ": the 11th waiting request is rejected at once (503 UO) instead of queueing.",
        "Why: on HTTP/1.1 a connection carries one request at a time, so maxConnections: 10 caps requests at "
        "10 in flight before http2MaxRequests does; what exceeds it waits in the pending queue, which only "
        "http1MaxPendingRequests limits. The book's repository has http1MaxPendingRequests: 10; the printed "
        "rule lost it.",
    ]
    return _render("Why the seed's rule mostly queues on HTTP/1.1", [b for b in bullets if b])


def why_per_cluster(limits: Any, *, hosts: Sequence[Any] = (), admitted: Iterable[RunPoint] = ()) -> HTML:
    """The limit belongs to one Envoy cluster in one client sidecar, whatever the number of pods behind it.

    ``limits`` is the route's ``lablib.theory.ClusterLimits``; ``hosts`` the sidecar's view of its endpoints
    (``lab.hosts(cluster)``, with per-host request counters of the last run); ``admitted`` runs under it.
    """
    max_requests, pending = limits.max_requests, limits.max_pending_requests
    finite = pending != float("inf")
    pods = len(hosts) or limits.endpoints
    seen = [p.admitted for p in admitted if p.admitted is not None]
    served = [(h.address, int(h.stats.get("rq_total", 0))) for h in hosts]
    bullets = [
        f"The route sends every request to {limits.cluster}: one Envoy cluster in the fortio pod's sidecar, "
        f"spread over {pods} pod(s).",
        (
            "Last run, requests per pod: "
            + ", ".join(f"{addr}: {n}" for addr, n in served)
            + ": both pods served, under one shared limit."
            if served and all(n for _, n in served)
            else ""
        ),
        f"Its breaker counts for the whole cluster: max_requests {max_requests:g}"
        + (
            f" + max_pending_requests {pending:g} = L = {max_requests + pending:g} requests in the breaker "
            "at once"
            if finite
            else " (pending unlimited)"
        )
        + f", for {pods} pod(s) together — not per pod.",
        (
            f"Measured (Little's law on the 200s): at most {max(seen):.1f} requests were inside at once."
            if seen
            else ""
        ),
        'The book\'s "10 per pod, 20 total" assumes per-pod limits. Envoy keeps them per client proxy and '
        "per cluster: a second fortio pod gets its own 20, scaling service-go does not raise it, and a route "
        "to subsets v1 and v2 would give each subset cluster (outbound|80|v1|…, outbound|80|v2|…) its own "
        "limits.",
        "The book's 20 matches 10 active + 10 pending on one cluster (its repository's rule), not 2 × 10.",
    ]
    return _render(
        "Limits are per client proxy and per Envoy cluster, not per pod", [b for b in bullets if b]
    )


def why_more_than_limit(
    points: Sequence[RunPoint],
    *,
    limit: float,
    max_connections: int,
    workers: int,
    hosts: int,
    seed: Sequence[RunPoint] = (),
) -> HTML:
    """The limit is not exact: 503 shares against 1 − L/c, the slack the seed's rule showed, and why.

    ``points`` are runs under a rule with limit ``limit``; ``seed`` are runs of the seed's rule (no pending
    limit), whose ``upstream_rq_active_overflow`` proves Envoy opened more than ``max_connections``.
    """
    bullets = []
    for s in summary(points):
        if s.concurrency <= limit:
            continue
        bound = 1 - limit / s.concurrency
        if s.mean < bound - 0.01:
            verdict = "fewer 503s than an exact breaker: some requests above L got through"
        elif s.mean > bound + 0.01:
            verdict = "more 503s than the bound: on average fewer than L were inside"
        else:
            verdict = "on the bound"
        bullets.append(
            f"c={s.concurrency}: 503 share {100 * s.mean:.0f}% against 1 − L/c = {100 * bound:.0f}%"
            f" ({verdict})."
        )
    seen = [p.admitted for p in points if p.admitted is not None and p.concurrency > limit]
    if seen:
        bullets.append(
            f"Little's law on the 200s, runs above L: {min(seen):.1f}–{max(seen):.1f} requests inside "
            f"the breaker on average (L = {limit:g})."
        )
    active = _total(seed, "upstream_rq_active_overflow")
    if seed:
        bullets.append(
            f"Seed's rule: upstream_rq_active_overflow = {active}. On HTTP/1.1 one connection carries one "
            f"request, so max_requests (10) can only be hit when more than maxConnections "
            f"({max_connections}) "
            "connections are open: Envoy went past its connection limit"
            + (
                " (and those extra requests were rejected, the seed rule's only 503s)."
                if active
                else " — not in these runs."
            )
        )
    bullets += [
        f"More: each of the {workers} Envoy workers has its own connection pool per host and may always open "
        "one connection, so up to maxConnections + workers × hosts = "
        f"{max_connections} + {workers}×{hosts} = "
        f"{max_connections + workers * hosts} connections exist; and the shared counters are checked then "
        "incremented without a lock, so two workers can both take the last slot.",
        "More, too: a rejected fortio thread reconnects before it calls again; when a slot frees, a thread "
        "that was rejected before may take it, so fewer calls are 503 than 1 − L/c when rejections are slow "
        "(the book's 32% at c=30 and 40% at c=40 sit below 33% and 50%).",
        "Fewer: maxRequestsPerConnection closes each upstream connection after 10 requests; until the new "
        "connection is up, the request waits holding a pending slot, so the queue looks fuller than it is.",
    ]
    return _render("Why the limit is not exact: a few requests more (or fewer) than L get through", bullets)


def why_sockets(points: Sequence[RunPoint]) -> HTML:
    """fortio closes its socket after any non-2xx, so every 503 (but a thread's last) costs a reconnect."""
    bullets = []
    for p in sorted(points, key=lambda p: (p.share_503, p.concurrency))[-4:]:
        n503 = p.result.codes.get(503, 0)
        bullets.append(
            f"{p.label} c={p.concurrency}: {n503}×503, Sockets used {p.result.sockets} "
            f"(perfect keep-alive would be {p.concurrency}); c + 503s = {p.concurrency + n503}."
        )
    bullets.append(
        "fortio keeps a connection only after a 2xx: after a 503 it closes the socket and the thread's "
        "next call dials again. So Sockets used ≈ c + #503 − (threads whose last call was a 503)."
    )
    bullets.append("These are sockets from fortio to its own sidecar, not connections to service-go.")
    return _render('Why 503s raise "Sockets used"', bullets)


def why_varies(points: Sequence[RunPoint]) -> HTML:
    """Run-to-run spread of the 503 share at each concurrency, over the repeats."""
    bullets = []
    for label, pts in by_label(points).items():
        spreads = [s for s in summary(pts) if s.runs > 1]
        if spreads:
            bullets.append(
                f"{label}: "
                + ", ".join(f"c={s.concurrency}: {100 * s.low:.0f}–{100 * s.high:.0f}%" for s in spreads)
            )
    bullets.append(
        "Every run is a race: which worker takes a request, when a connection closes after "
        "maxRequestsPerConnection, how the OS schedules fortio's threads and Envoy's workers. A few "
        "requests more or less inside the breaker move the 503 share by several points."
    )
    bullets.append(
        "So trust the trend and the counters, not the exact percentage; Istio's own CI only checks "
        "that both 200s and 503s appear (istio.io#7074)."
    )
    return _render("Why the exact percentages vary run to run", bullets)
