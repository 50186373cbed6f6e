"""Check cells for lab 02: each reads a ``Timeline`` and says, in one line a student can act on, what the run
showed (host ejected after N errors, back after the ejection time, 503 UH when all are out…).

The ``Check`` type is lab 01's (``lablib.notebook.checks``) so every lab's check cells look alike;
``raise_if_failed()`` turns one into an exception for CI.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from lablib import _yamlio
from lablib.i18n import t
from lablib.labs.outlier_detection.rule import OutlierSettings, effective_envoy, seconds
from lablib.labs.outlier_detection.timeline import Event, Timeline
from lablib.notebook.checks import Check, all_of
from lablib.translate import defaults

__all__ = [
    "Check",
    "all_ejected_uh",
    "all_in_pool",
    "all_of",
    "cleaned_up",
    "ejected_after",
    "ejection_grows",
    "max_ejection_kept",
    "max_ejection_refused",
    "never_ejected",
    "overflow_not_counted",
    "retries_hide",
    "returned_after",
    "rule_reached",
]

_EJECTED = "outlier_detection.ejections_enforced_total"


def _first(tl: Timeline, kind: str, address: str | None, cluster: str | None) -> Event | None:
    events = tl.events(kind, address=address, cluster=cluster)  # type: ignore[arg-type]
    return events[0] if events else None


def ejected_after(tl: Timeline, threshold: int, *, address: str | None = None, cluster: str | None = None,
                  slack: int = 3, lang: str = "en") -> Check:
    """A host was ejected, having answered between ``threshold`` and ``threshold + slack`` errors.

    Envoy counts inline on the worker but ejects on the main thread, so a few requests already on their way
    still reach the host (istio-to-envoy.md §2 "Counting errors"): hence the slack.
    """
    event = _first(tl, "ejected", address, cluster)
    if event is None:
        return Check(False, t("outlier.check.ejected_after.title_any", lang, threshold=threshold),
                     t("outlier.check.ejected_after.none", lang, duration=tl.duration,
                       grew=tl.stat_delta(_EJECTED, cluster)), lang,
                     t("outlier.check.remedy.not_ejected", lang))
    errors = tl.errors_before_ejection(event)
    title = t("outlier.check.ejected_after.title", lang, address=event.address, threshold=threshold)
    if errors is None:
        return Check(True, title, t("outlier.check.ejected_after.no_count", lang, t=event.t), lang)
    ok = threshold <= errors <= threshold + slack
    detail = t("outlier.check.ejected_after.seen", lang, t=event.t, errors=errors, threshold=threshold,
               most=threshold + slack)
    if not ok and errors > threshold + slack:
        detail += t("outlier.check.ejected_after.too_many", lang)
    elif not ok:
        detail += t("outlier.check.ejected_after.too_few", lang)
    return Check(ok, title, detail, lang, "" if ok else t("outlier.check.remedy.count", lang))


def returned_after(tl: Timeline, base_ejection_time_s: float, interval_s: float, *,
                   address: str | None = None, cluster: str | None = None, jitter_s: float = 1.0,
                   lang: str = "en") -> Check:
    """The first ejected host came back after ``baseEjectionTime``, at most one ``interval`` (+ jitter) late.

    Envoy only checks un-ejection when the interval timer fires, and adds a small jitter; the observer's
    sampling period adds its own uncertainty, included in ``jitter_s``.
    """
    periods = [p for p in tl.periods(address=address, cluster=cluster)]
    title = t("outlier.check.returned_after.title", lang, base=base_ejection_time_s, interval=interval_s)
    if not periods:
        return Check(False, title, t("outlier.check.returned_after.none", lang), lang,
                     t("outlier.check.remedy.no_return", lang))
    p = periods[0]
    end = p.end if p.end is not None else tl.reejected_at(p)  # a return the sampler missed, from the counter
    if end is None:
        return Check(False, title, t("outlier.check.returned_after.still_out", lang, address=p.address,
                                     start=p.start, end=tl.duration), lang,
                     t("outlier.check.remedy.still_out", lang))
    lo, hi = base_ejection_time_s - jitter_s / 2, base_ejection_time_s + interval_s + jitter_s
    ok = lo <= end - p.start <= hi
    detail = t("outlier.check.returned_after.seen", lang, address=p.address, start=p.start, end=end,
               duration=end - p.start, base=base_ejection_time_s, latest=base_ejection_time_s + interval_s)
    if p.end is None:
        detail += t("outlier.check.returned_after.unseen", lang, t=end)
    return Check(ok, title, detail, lang, "" if ok else t("outlier.check.remedy.return_time", lang))


def all_ejected_uh(tl: Timeline, n_hosts: int, *, cluster: str | None = None, lang: str = "en") -> Check:
    """Every host of the cluster was out at once and the client got 503 ``no healthy upstream`` (UH)."""
    most_out = tl.max_in_pool_out(cluster)
    none_healthy = tl.stat_delta("upstream_cx_none_healthy", cluster)
    flags = tl.flag_totals()
    uh = flags.get("UH")
    ok = most_out >= n_hosts and none_healthy > 0 and (uh is None or uh > 0)
    detail = (t("outlier.check.all_ejected_uh.seen", lang, most=most_out, hosts=n_hosts, none=none_healthy,
                codes=tl.code_totals()) + (t("outlier.check.flags", lang, flags=flags) if flags else ""))
    return Check(ok, t("outlier.check.all_ejected_uh.title", lang), detail, lang,
                 "" if ok else t("outlier.check.remedy.all_ejected", lang))


def max_ejection_kept(tl: Timeline, n_hosts: int, max_ejection_percent: int, *,
                      cluster: str | None = None, lang: str = "en") -> Check:
    """``maxEjectionPercent`` kept hosts in: never more than its share out, and Envoy refused an ejection.

    Envoy ejects only while ``100 * (ejected + 1) / hosts <= maxEjectionPercent`` and counts each refusal in
    ``outlier_detection.ejections_overflow``.
    """
    allowed = math.floor(n_hosts * max_ejection_percent / 100)
    most_out = tl.max_in_pool_out(cluster)
    refused = tl.stat_delta("outlier_detection.ejections_overflow", cluster)
    ok = 0 < most_out <= allowed and refused > 0
    title = t("outlier.check.max_ejection_kept.title", lang, percent=max_ejection_percent,
              kept=n_hosts - allowed, hosts=n_hosts)
    return Check(ok, title,
                 t("outlier.check.max_ejection_kept.seen", lang, most=most_out, allowed=allowed,
                   refused=refused), lang, "" if ok else t("outlier.check.remedy.max_ejection", lang))


def max_ejection_refused(tl: Timeline, n_hosts: int, max_ejection_percent: int | None = None, *,
                         cluster: str | None = None, lang: str = "en") -> Check:
    """``maxEjectionPercent`` too small for the cluster: Envoy detected the failing host but ejected nobody.

    ``100 * 1 / hosts > maxEjectionPercent`` refuses even the first ejection; each refusal counts in
    ``outlier_detection.ejections_overflow``. None (or 0, as Istio reads it): the field left out, so Envoy's
    default 10, which does this to any cluster under 10 hosts.
    """
    max_ejection_percent = max_ejection_percent or defaults.ENVOY_DEFAULT_MAX_EJECTION_PERCENT
    most_out = tl.max_in_pool_out(cluster)
    refused = tl.stat_delta("outlier_detection.ejections_overflow", cluster)
    ok = most_out == 0 and refused > 0 and not tl.events("ejected", cluster=cluster)
    title = t("outlier.check.max_ejection_refused.title", lang, percent=max_ejection_percent, hosts=n_hosts,
              share=100 / n_hosts)
    return Check(ok, title,
                 t("outlier.check.max_ejection_refused.seen", lang, most=most_out, refused=refused,
                   codes=tl.code_totals()), lang,
                 "" if ok else t("outlier.check.remedy.refused", lang))


def ejection_grows(tl: Timeline, base_ejection_time_s: float, *, address: str | None = None,
                   cluster: str | None = None, lang: str = "en") -> Check:
    """A host ejected twice in a row stayed out longer the second time (base × number of ejections)."""
    periods = [p for p in tl.periods(address=address, cluster=cluster) if p.end is not None]
    by_host: dict[str, list[float]] = {}
    for p in periods:
        by_host.setdefault(p.address, []).append(p.duration or 0.0)
    repeated = {a: d for a, d in by_host.items() if len(d) >= 2}
    title = t("outlier.check.ejection_grows.title", lang)
    if not repeated:
        return Check(False, title, t("outlier.check.ejection_grows.none", lang, duration=tl.duration), lang,
                     t("outlier.check.remedy.grows", lang))
    a, d = next(iter(repeated.items()))
    ok = d[1] >= d[0] + base_ejection_time_s / 2
    durations = t("outlier.check.ejection_grows.then", lang).join(f"{x:.1f}s" for x in d)
    return Check(ok, title, t("outlier.check.ejection_grows.seen", lang, address=a, durations=durations,
                              base=base_ejection_time_s), lang,
                 "" if ok else t("outlier.check.remedy.grows", lang))


def never_ejected(tl: Timeline, why: str, *, cluster: str | None = None, lang: str = "en") -> Check:
    """No host left the pool (e.g. 500s with consecutiveGatewayErrors, or breaker overflows)."""
    events = tl.events("ejected", cluster=cluster)
    grew = tl.stat_delta(_EJECTED, cluster)
    ok = not events and grew == 0
    return Check(ok, t("outlier.check.never_ejected.title", lang, why=why),
                 t("outlier.check.never_ejected.seen", lang, grew=grew, codes=tl.code_totals())
                 + ("" if ok else t("outlier.check.never_ejected.ejected", lang,
                                    hosts=", ".join(e.address for e in events))), lang,
                 "" if ok else t("outlier.check.remedy.ejected", lang))


def overflow_not_counted(tl: Timeline, *, cluster: str | None = None, lang: str = "en") -> Check:
    """Breaker overflows (503 UO) happened, yet no host was ejected: overflows do not count as errors."""
    names = ("upstream_rq_pending_overflow", "upstream_rq_active_overflow", "upstream_cx_overflow")
    overflows = sum(tl.stat_delta(s, cluster) for s in names)
    grew = tl.stat_delta(_EJECTED, cluster)
    ok = overflows > 0 and grew == 0 and not tl.events("ejected", cluster=cluster)
    return Check(ok, t("outlier.check.overflow_not_counted.title", lang),
                 t("outlier.check.overflow_not_counted.seen", lang, overflows=overflows, grew=grew,
                   codes=tl.code_totals()), lang,
                 "" if ok else t("outlier.check.remedy.no_overflow", lang) if not overflows
                 else t("outlier.check.remedy.ejected", lang))


def retries_hide(tl: Timeline, fault_code: int, *, retried: Collection[int] = (),
                 until: float | None = None, lang: str = "en") -> Check:
    """Before the ejection, the client saw the failing host's ``fault_code`` unless the route retries it.

    Istio's default route retry policy lists ``retriable-status-codes`` with no code (503 is left out by
    ``EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY``, istio-to-envoy.md §3), so app 500s and 503s both reach the
    client; a VirtualService ``retries.retryOn`` naming the code (``retried``) sends it to another
    host instead.
    """
    first = tl.events("ejected")
    end = until if until is not None else (first[0].t if first else None)
    codes = tl.code_totals(until=end)
    seen = codes.get(fault_code, 0)
    retries = tl.stat_delta("upstream_rq_retry")
    if fault_code in retried:
        ok = seen == 0 and retries > 0
        title = t("outlier.check.retries_hide.hidden", lang, code=fault_code)
        remedy = t("outlier.check.remedy.not_hidden", lang)
    else:
        ok = seen > 0
        title = t("outlier.check.retries_hide.shown", lang, code=fault_code)
        remedy = t("outlier.check.remedy.hidden", lang)
    return Check(ok, title, t("outlier.check.retries_hide.seen", lang, codes=codes, retries=retries), lang,
                 "" if ok else remedy)


def all_in_pool(tl: Timeline, n_hosts: int, *, lang: str = "en") -> Check:
    """Baseline: every host was in the pool at every sample and every call answered 200."""
    out = [s for s in tl.hosts if not s.in_pool]
    codes = tl.code_totals()
    hosts = tl.addresses()
    ok = len(hosts) == n_hosts and not out and set(codes) == {200}
    return Check(ok, t("outlier.check.all_in_pool.title", lang, hosts=n_hosts),
                 t("outlier.check.all_in_pool.seen", lang, hosts=len(hosts), out=len(out), codes=codes), lang,
                 "" if ok else t("outlier.check.remedy.baseline", lang))


def cleaned_up(processes: Iterable[Any], *paths: Path, lang: str = "en") -> Check:
    """After ``lab.cleanup()``: none of the lab's processes (recorded before) runs, no temp path is left."""
    procs = list(processes)
    alive = [p for p in procs if p.alive()]
    left = [str(p) for p in paths if Path(p).exists()]
    ok = not alive and not left
    detail = t("outlier.check.cleaned_up.seen", lang, tracked=len(procs), alive=len(alive))
    if alive:
        detail += ": " + ", ".join(f"pid {p.pid} ({p.role})" for p in alive)
    if left:
        detail += t("outlier.check.cleaned_up.left", lang, paths=", ".join(left))
    return Check(ok, t("outlier.check.cleaned_up.title", lang), detail, lang,
                 "" if ok else t("outlier.check.remedy.cleanup", lang))


def _norm(key: str) -> str:
    return key.replace("_", "").lower()


def rule_reached(envoy_yaml: str, settings: OutlierSettings, *, lang: str = "en") -> Check:
    """The client sidecar's cluster carries the outlier detection the rule should produce (``envoy_view``)."""
    title = t("outlier.check.rule_reached.title", lang)
    try:
        doc = _yamlio.load(envoy_yaml) or {}
    except _yamlio.YAMLError as exc:
        return Check(False, title, t("outlier.check.rule_reached.unreadable", lang, error=exc), lang,
                     t("outlier.check.remedy.rule", lang))
    items = doc.items() if isinstance(doc, dict) else []
    od = next((v for k, v in items if _norm(k) == "outlierdetection"), None)
    if not isinstance(od, dict):
        return Check(False, title, t("outlier.check.rule_reached.missing", lang), lang,
                     t("outlier.check.remedy.rule", lang))
    got = {_norm(k): v for k, v in od.items()}
    wrong, shown = [], []
    for field, value, _, _ in effective_envoy(settings):
        key = _norm(field)
        if key not in ("consecutive5xx", "interval", "baseejectiontime", "maxejectionpercent"):
            continue
        have = got.get(key)
        if key == "consecutive5xx" and have is None:
            have = 5  # unset in the config dump: Envoy's default
        if have is None:
            same = False
        elif key in ("interval", "baseejectiontime"):
            same = seconds(str(have)) == seconds(value)
        else:
            same = int(have) == int(value)
        (shown if same else wrong).append(t("outlier.check.rule_reached.want", lang, field=field, value=have,
                                            want=value))
    return Check(not wrong, title, "; ".join(wrong or shown), lang,
                 t("outlier.check.remedy.rule", lang) if wrong else "")
