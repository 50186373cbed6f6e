"""Explanations backed by the runs just made: each function reads the ``RunPoint``s and says what they show.

The notebook's markdown gives the mechanism; these cells put the student's own numbers under it, so the
explanation stays true on whatever machine (or Envoy version) ran it. Each returns ``HTML`` (text in CI logs).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from lablib.i18n import t
from lablib.notebook.plots import _percentile
from lablib.notebook.runs import RunPoint, by_label, summary
from lablib.notebook.tables import HTML

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


def _ms(p: RunPoint, q: float, lang: str) -> str:
    v = _percentile(p.result, q)
    return f"{1000 * v:.0f} ms" if v is not None else t("lab01.na", lang)


def why_queueing(seed: Sequence[RunPoint], pending: Sequence[RunPoint], *, lang: str = "en") -> HTML:
    """Seed rule (no pending limit) vs the same rule with ``http1MaxPendingRequests``: waits vs 503s."""
    top = max(p.concurrency for p in seed)
    seed_top = [p for p in seed if p.concurrency == top]
    pend_top = [p for p in pending if p.concurrency == top]
    low = min(p.concurrency for p in seed)
    seed_low = [p for p in seed if p.concurrency == low]

    def share(pts: Sequence[RunPoint]) -> str:
        return f"{100 * sum(p.share_503 for p in pts) / len(pts):.0f}%" if pts else t("lab01.na", lang)

    bullets = [
        t("lab01.explain.queueing.shares", lang, c=top, seed=share(seed_top), pending=share(pend_top)),
        t("lab01.explain.queueing.seed_counters", lang, pending=_total(seed, "upstream_rq_pending_overflow"),
          active=_total(seed, "upstream_rq_active_overflow"), cx=_total(seed, "upstream_cx_overflow")),
        t("lab01.explain.queueing.latency", lang, low_ms=_ms(seed_low[0], 50, lang), low=low,
          top_ms=_ms(seed_top[0], 50, lang), top=top)
        if seed_low and seed_top
        else "",
        t(
            "lab01.explain.queueing.pending_counter",
            lang,
            pending=_total(pending, "upstream_rq_pending_overflow"),
        ),
        t("lab01.explain.queueing.why", lang),
    ]
    return _render(t("lab01.explain.queueing.title", lang), [b for b in bullets if b])


def why_per_cluster(
    limits: Any, *, hosts: Sequence[Any] = (), admitted: Iterable[RunPoint] = (), lang: str = "en"
) -> HTML:
    """The limit belongs to one Envoy cluster in one client sidecar, whatever the number of pods behind it.

    ``limits`` is the route's ``lablib.theory.ClusterLimits``; ``hosts`` the sidecar's view of its endpoints
    (``lab.hosts(cluster)``, with per-host request counters of the last run); ``admitted`` runs under it.
    """
    max_requests, pending = limits.max_requests, limits.max_pending_requests
    finite = pending != float("inf")
    pods = len(hosts) or limits.endpoints
    seen = [p.admitted for p in admitted if p.admitted is not None]
    served = [(h.address, int(h.stats.get("rq_total", 0))) for h in hosts]
    breaker = (
        t("lab01.explain.per_cluster.limit_finite", lang, max_requests=max_requests, pending=pending,
          limit=max_requests + pending)
        if finite
        else t("lab01.explain.per_cluster.limit_unlimited", lang, max_requests=max_requests)
    )
    bullets = [
        t("lab01.explain.per_cluster.route", lang, cluster=limits.cluster, pods=pods),
        (
            t("lab01.explain.per_cluster.served", lang,
              served=", ".join(f"{addr}: {n}" for addr, n in served))
            if served and all(n for _, n in served)
            else ""
        ),
        t("lab01.explain.per_cluster.breaker", lang, limit=breaker, pods=pods),
        t("lab01.explain.per_cluster.measured", lang, most=max(seen)) if seen else "",
        t("lab01.explain.per_cluster.book_per_pod", lang),
        t("lab01.explain.per_cluster.book_20", lang),
    ]
    return _render(t("lab01.explain.per_cluster.title", lang), [b for b in bullets if b])


def why_more_than_limit(
    points: Sequence[RunPoint],
    *,
    limit: float,
    max_connections: int,
    workers: int,
    hosts: int,
    seed: Sequence[RunPoint] = (),
    lang: str = "en",
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
            verdict = t("lab01.explain.more.fewer_503", lang)
        elif s.mean > bound + 0.01:
            verdict = t("lab01.explain.more.more_503", lang)
        else:
            verdict = t("lab01.explain.more.on_bound", lang)
        bullets.append(t("lab01.explain.more.share", lang, c=s.concurrency, share=100 * s.mean,
                         bound=100 * bound, verdict=verdict))
    seen = [p.admitted for p in points if p.admitted is not None and p.concurrency > limit]
    if seen:
        bullets.append(t("lab01.explain.more.little", lang, low=min(seen), high=max(seen), limit=limit))
    active = _total(seed, "upstream_rq_active_overflow")
    if seed:
        bullets.append(
            t("lab01.explain.more.seed_active", lang, active=active, max_connections=max_connections)
            + (t("lab01.explain.more.seed_rejected", lang) if active
               else t("lab01.explain.more.seed_none", lang))
        )
    bullets += [
        t("lab01.explain.more.workers", lang, workers=workers, max_connections=max_connections, hosts=hosts,
          total=max_connections + workers * hosts),
        t("lab01.explain.more.reconnect", lang),
        t("lab01.explain.more.per_connection", lang),
    ]
    return _render(t("lab01.explain.more.title", lang), bullets)


def why_sockets(points: Sequence[RunPoint], *, lang: str = "en") -> HTML:
    """fortio closes its socket after any non-2xx, so every 503 (but a thread's last) costs a reconnect."""
    bullets = []
    for p in sorted(points, key=lambda p: (p.share_503, p.concurrency))[-4:]:
        n503 = p.result.codes.get(503, 0)
        bullets.append(t("lab01.explain.sockets.run", lang, label=p.label, c=p.concurrency, n503=n503,
                         sockets=p.result.sockets, total=p.concurrency + n503))
    bullets.append(t("lab01.explain.sockets.why", lang))
    bullets.append(t("lab01.explain.sockets.where", lang))
    return _render(t("lab01.explain.sockets.title", lang), bullets)


def why_varies(points: Sequence[RunPoint], *, lang: str = "en") -> HTML:
    """Run-to-run spread of the 503 share at each concurrency, over the repeats."""
    bullets = []
    for label, pts in by_label(points).items():
        spreads = [s for s in summary(pts) if s.runs > 1]
        if spreads:
            bullets.append(
                f"{label}: "
                + ", ".join(f"c={s.concurrency}: {100 * s.low:.0f}–{100 * s.high:.0f}%" for s in spreads)
            )
    bullets.append(t("lab01.explain.varies.race", lang))
    bullets.append(t("lab01.explain.varies.trend", lang))
    return _render(t("lab01.explain.varies.title", lang), bullets)
