"""Lab 03's check cells: did each step show where the limit lives? Robust properties only (which counter
moved, which run saw more), never exact percentages; each returns a ``lablib.notebook.checks.Check``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lablib.i18n import t
from lablib.labs.where_the_limit_lives.experiment import ClientsRun, LimitPoint
from lablib.notebook.checks import Check
from lablib.theory.limits import ClusterLimits, limit_band

__all__ = ["explorer_ran", "limit_per_client", "limit_per_cluster", "server_guard_trips",
           "within_worker_band"]


def _top(points: Sequence[LimitPoint]) -> LimitPoint:
    top = max(p.concurrency for p in points)
    return max((p for p in points if p.concurrency == top), key=lambda p: p.share_503)


def limit_per_cluster(points: Mapping[str, Sequence[LimitPoint]], *, lang: str = "en") -> Check:
    """Step 1: at the highest load, the 50/50 route (two clusters) answers fewer 503s than the book's route
    (one cluster), both subset clusters overflowed, and under 90/10 the big subset v1 overflowed first."""
    one, halves, skew = (_top(points[r]) for r in ("none", "50-50", "90-10"))
    subsets = [c for c in halves.clusters if "|v1|" in c or "|v2|" in c]
    both = all(halves.overflowed(c) > 0 for c in subsets) and len(subsets) == 2
    v1 = next((c for c in skew.clusters if "|v1|" in c), "")
    v2 = next((c for c in skew.clusters if "|v2|" in c), "")
    first = skew.overflowed(v1) > skew.overflowed(v2)
    ok = halves.share_503 < one.share_503 and both and first
    detail = t("limits.check.per_cluster.seen", lang, c=one.concurrency, one=100 * one.share_503,
               halves=100 * halves.share_503, v1=skew.overflowed(v1), v2=skew.overflowed(v2))
    return Check(ok, t("limits.check.per_cluster.title", lang), detail, lang,
                 "" if ok else t("limits.check.remedy.per_cluster", lang, c=one.concurrency))


def limit_per_client(runs: Mapping[int, ClientsRun], *, in_flight: float, lang: str = "en") -> Check:
    """Step 2: with two client pods, a server pod held more requests at once than one client's in-flight
    limit allows: each client's sidecar admitted its own."""
    one, two = max(runs[1].peak.values()), max(runs[2].peak.values())
    ok = two > in_flight and two > one
    detail = t("limits.check.per_client.seen", lang, one=one, two=two, limit=in_flight)
    return Check(ok, t("limits.check.per_client.title", lang, limit=in_flight), detail, lang,
                 "" if ok else t("limits.check.remedy.per_client", lang))


def server_guard_trips(runs: Mapping[int, ClientsRun], *, lang: str = "en") -> Check:
    """Step 2: the server sidecar's inbound breaker stayed quiet for one client and tripped (its own
    counters) when all the clients together exceeded it."""
    few, most = runs[min(runs)], runs[max(runs)]
    ok = few.server_overflows == 0 and most.server_overflows > 0
    detail = t("limits.check.server.seen", lang, few=min(runs), few_503=few.server_overflows, most=max(runs),
               most_503=most.server_overflows)
    return Check(ok, t("limits.check.server.title", lang), detail, lang,
                 "" if ok else t("limits.check.remedy.server", lang))


def within_worker_band(points: Mapping[int, Sequence[LimitPoint]],
                       limits: Mapping[int, Sequence[ClusterLimits]], *, margin: float = 1.0,
                       lang: str = "en") -> Check:
    """Step 3: for every worker count, the most requests the client admitted at once is inside the band
    theory draws for that many workers (± ``margin``: one sample may catch a request in transit), its top
    passed for a moment by up to one request per other worker (``ClusterLimits.admitted_race``: the breakers'
    counts are checked before they are incremented)."""
    parts, ok = [], True
    for w, pts in points.items():
        low, high = limit_band(limits[w])
        race = sum(lim.admitted_race for lim in limits[w] if lim.weight > 0)
        seen = max(p.admitted_peak for p in pts)
        ok = ok and low - margin <= seen <= high + race + margin
        parts.append(t("limits.check.workers.part", lang, workers=w, seen=seen, low=low, high=high,
                       race=race))
    return Check(ok, t("limits.check.workers.title", lang), "; ".join(parts), lang,
                 "" if ok else t("limits.check.remedy.workers", lang))


def explorer_ran(runs: Sequence[ClientsRun], *, lang: str = "en") -> Check:
    """Step 4: the explorer's last run got an answer to every call, each a 200 or a breaker's 503."""
    if not runs:
        none = t("limits.check.explorer.none", lang)
        return Check(False, t("limits.check.explorer.title", lang), none, lang,
                     t("limits.check.remedy.explorer_none", lang))
    last = runs[-1]
    codes: dict[int, int] = {}
    for p in last.points.values():
        for code, count in p.result.codes.items():
            codes[code] = codes.get(code, 0) + int(count)
    calls = sum(p.calls for p in last.points.values())
    ok = calls > 0 and set(codes) <= {200, 503} and sum(codes.values()) == calls
    detail = t("limits.check.explorer.seen", lang, clients=len(last.points), calls=calls, codes=codes)
    return Check(ok, t("limits.check.explorer.title", lang), detail, lang,
                 "" if ok else t("limits.check.remedy.explorer_codes", lang))
