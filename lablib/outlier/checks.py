"""Check cells for lab 02: each reads a ``Timeline`` and says, in one line a student can act on, what the run
showed (host ejected after N errors, back after the ejection time, 503 UH when all are out…).

The ``Check`` type is lab 01's (``lablib.viz.checks``) so every lab's check cells look alike;
``raise_if_failed()`` turns one into an exception for CI.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import yaml

from lablib.outlier.rule import OutlierSettings, effective_envoy, seconds
from lablib.outlier.timeline import Event, Timeline
from lablib.viz.checks import Check, all_of

__all__ = [
    "Check",
    "all_ejected_uh",
    "all_in_pool",
    "all_of",
    "cleaned_up",
    "ejected_after",
    "ejection_grows",
    "max_ejection_kept",
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
                  slack: int = 3) -> Check:
    """A host was ejected, having answered between ``threshold`` and ``threshold + slack`` errors.

    Envoy counts inline on the worker but ejects on the main thread, so a few requests already on their way
    still reach the host (istio-to-envoy.md §2 "Counting errors"): hence the slack.
    """
    event = _first(tl, "ejected", address, cluster)
    if event is None:
        return Check(False, f"a host is ejected after {threshold} consecutive 5xx",
                     f"no host left the pool in {tl.duration:.1f}s "
                     f"(ejections_enforced_total grew by {tl.stat_delta(_EJECTED, cluster)}). "
                     "Is the fault on (fraction 1.0) and the outlier rule applied? Run longer?")
    errors = tl.errors_before_ejection(event)
    title = f"{event.address} is ejected after {threshold} consecutive 5xx"
    if errors is None:
        return Check(True, title, f"ejected at t={event.t:.1f}s (the backend gives no per-host error count)")
    ok = threshold <= errors <= threshold + slack
    detail = (f"ejected at t={event.t:.1f}s after {errors} error(s) from that host "
              f"(configured {threshold}; Envoy's slack allows up to {threshold + slack})")
    if not ok and errors > threshold + slack:
        detail += (". More errors than configured: is consecutive5xxErrors what Envoy got (consecutiveErrors"
                   " is ignored)? Or the host failed before the rule came; only a success resets the count.")
    elif not ok:
        detail += ". Fewer errors than configured: was the rule's threshold lower than you think?"
    return Check(ok, title, detail)


def returned_after(tl: Timeline, base_ejection_time_s: float, interval_s: float, *,
                   address: str | None = None, cluster: str | None = None, jitter_s: float = 1.0) -> Check:
    """The first ejected host came back after ``baseEjectionTime``, at most one ``interval`` (+ jitter) late.

    Envoy only checks un-ejection when the interval timer fires, and adds a small jitter; the observer's
    sampling period adds its own uncertainty, included in ``jitter_s``.
    """
    periods = [p for p in tl.periods(address=address, cluster=cluster)]
    title = (f"the ejected host returns after baseEjectionTime {base_ejection_time_s:g}s"
             f" (+ up to {interval_s:g}s)")
    if not periods:
        return Check(False, title, "no host was ejected, so none could return")
    p = periods[0]
    if p.end is None:
        return Check(False, title, f"{p.address} was ejected at t={p.start:.1f}s and still out when "
                     f"sampling stopped at t={tl.duration:.1f}s; watch longer than the ejection time")
    lo, hi = base_ejection_time_s - jitter_s / 2, base_ejection_time_s + interval_s + jitter_s
    ok = lo <= p.duration <= hi  # type: ignore[operator]
    return Check(ok, title, f"{p.address} was out from t={p.start:.1f}s to t={p.end:.1f}s: {p.duration:.1f}s "
                 f"(expected {base_ejection_time_s:g}s to {base_ejection_time_s + interval_s:g}s)")


def all_ejected_uh(tl: Timeline, n_hosts: int, *, cluster: str | None = None) -> Check:
    """Every host of the cluster was out at once and the client got 503 ``no healthy upstream`` (UH)."""
    most_out = tl.max_in_pool_out(cluster)
    none_healthy = tl.stat_delta("upstream_cx_none_healthy", cluster)
    flags = tl.flag_totals()
    uh = flags.get("UH")
    ok = most_out >= n_hosts and none_healthy > 0 and (uh is None or uh > 0)
    detail = (f"at most {most_out} of {n_hosts} host(s) out at once; "
              f"upstream_cx_none_healthy +{none_healthy}; "
              f"codes {tl.code_totals()}" + (f"; flags {flags}" if flags else ""))
    if not ok:
        detail += ". Expected every host out and 503 UH: is maxEjectionPercent 100, are all hosts failing?"
    return Check(ok, "all hosts ejected: 503 'no healthy upstream' (UH), no panic routing", detail)


def max_ejection_kept(tl: Timeline, n_hosts: int, max_ejection_percent: int, *,
                      cluster: str | None = None) -> Check:
    """``maxEjectionPercent`` kept hosts in: never more than its share out, and Envoy refused an ejection.

    Envoy ejects only while ``100 * (ejected + 1) / hosts <= maxEjectionPercent`` and counts each refusal in
    ``outlier_detection.ejections_overflow``.
    """
    allowed = math.floor(n_hosts * max_ejection_percent / 100)
    most_out = tl.max_in_pool_out(cluster)
    refused = tl.stat_delta("outlier_detection.ejections_overflow", cluster)
    ok = 0 < most_out <= allowed and refused > 0
    title = f"maxEjectionPercent {max_ejection_percent} keeps {n_hosts - allowed} of {n_hosts} host(s) in"
    return Check(ok, title,
                 f"at most {most_out} host(s) out at once (allowed {allowed}); ejections_overflow +{refused} "
                 "(ejections Envoy refused)" + ("" if ok else ". Are all hosts failing, long enough?"))


def ejection_grows(tl: Timeline, base_ejection_time_s: float, *, address: str | None = None,
                   cluster: str | None = None) -> Check:
    """A host ejected twice in a row stayed out longer the second time (base × number of ejections)."""
    periods = [p for p in tl.periods(address=address, cluster=cluster) if p.end is not None]
    by_host: dict[str, list[float]] = {}
    for p in periods:
        by_host.setdefault(p.address, []).append(p.duration or 0.0)
    repeated = {a: d for a, d in by_host.items() if len(d) >= 2}
    title = "a host ejected again stays out longer (ejection time grows)"
    if not repeated:
        return Check(False, title, f"no host was ejected twice and returned twice in {tl.duration:.1f}s; "
                     "keep the fault on and watch for at least 3× baseEjectionTime")
    a, d = next(iter(repeated.items()))
    ok = d[1] >= d[0] + base_ejection_time_s / 2
    return Check(ok, title, f"{a}: out for " + ", then ".join(f"{x:.1f}s" for x in d)
                 + f" (base {base_ejection_time_s:g}s)")


def never_ejected(tl: Timeline, why: str, *, cluster: str | None = None) -> Check:
    """No host left the pool (e.g. 500s with consecutiveGatewayErrors, or breaker overflows)."""
    events = tl.events("ejected", cluster=cluster)
    grew = tl.stat_delta(_EJECTED, cluster)
    ok = not events and grew == 0
    return Check(ok, f"no host is ejected: {why}",
                 f"ejections_enforced_total +{grew}; codes {tl.code_totals()}"
                 + ("" if ok else f"; ejected: {', '.join(e.address for e in events)}"))


def overflow_not_counted(tl: Timeline, *, cluster: str | None = None) -> Check:
    """Breaker overflows (503 UO) happened, yet no host was ejected: overflows do not count as errors."""
    names = ("upstream_rq_pending_overflow", "upstream_rq_active_overflow", "upstream_cx_overflow")
    overflows = sum(tl.stat_delta(s, cluster) for s in names)
    grew = tl.stat_delta(_EJECTED, cluster)
    ok = overflows > 0 and grew == 0 and not tl.events("ejected", cluster=cluster)
    return Check(ok, "breaker overflows (503 UO) do not count towards ejection",
                 f"{overflows} overflow(s), ejections_enforced_total +{grew}; codes {tl.code_totals()}"
                 + ("" if overflows else ". No overflow happened: raise the load's -c above the limits."))


def retries_hide(tl: Timeline, fault_code: int, *, retried: Collection[int] = (),
                 until: float | None = None) -> Check:
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
        title = f"the route's retries hide the failing host's {fault_code}s from the client"
    else:
        ok = seen > 0
        title = f"the failing host's {fault_code}s reach the client (the route does not retry them)"
    return Check(ok, title, f"client saw {codes} before the ejection; upstream_rq_retry +{retries}")


def all_in_pool(tl: Timeline, n_hosts: int) -> Check:
    """Baseline: every host was in the pool at every sample and every call answered 200."""
    out = [s for s in tl.hosts if not s.in_pool]
    codes = tl.code_totals()
    hosts = tl.addresses()
    ok = len(hosts) == n_hosts and not out and set(codes) == {200}
    return Check(ok, f"baseline: {n_hosts} healthy hosts, every call 200",
                 f"{len(hosts)} host(s) seen, {len(out)} sample(s) out of the pool, codes {codes}"
                 + ("" if ok else ". Apply service-go and the route first; heal any fault."))


def cleaned_up(processes: Iterable[Any], *paths: Path) -> Check:
    """After ``lab.cleanup()``: none of the lab's processes (recorded before) runs, no temp path is left."""
    procs = list(processes)
    alive = [p for p in procs if p.alive()]
    left = [str(p) for p in paths if Path(p).exists()]
    ok = not alive and not left
    detail = f"{len(procs)} process(es) were tracked, {len(alive)} still running"
    if alive:
        detail += ": " + ", ".join(f"pid {p.pid} ({p.role})" for p in alive)
    if left:
        detail += f"; left on disk: {', '.join(left)}"
    return Check(ok, "the lab's processes and files are gone",
                 detail + ("" if ok else ". Run the cleanup cell again, or `python -m lablib cleanup`."))


def _norm(key: str) -> str:
    return key.replace("_", "").lower()


def rule_reached(envoy_yaml: str, settings: OutlierSettings) -> Check:
    """The client sidecar's cluster carries the outlier detection the rule should produce (``envoy_view``)."""
    title = "the outlier-detection rule reached the client sidecar's cluster"
    try:
        doc = yaml.safe_load(envoy_yaml) or {}
    except yaml.YAMLError as exc:
        return Check(False, title, f"cannot read the config: {exc}")
    items = doc.items() if isinstance(doc, dict) else []
    od = next((v for k, v in items if _norm(k) == "outlierdetection"), None)
    if not isinstance(od, dict):
        return Check(False, title, "no outlier_detection on the cluster: apply the DestinationRule first")
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
        (shown if same else wrong).append(f"{field}={have} (want {value})")
    return Check(not wrong, title, "; ".join(wrong or shown))
