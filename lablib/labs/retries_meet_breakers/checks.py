"""Lab 05's check cells: did each step show what retries do and what limits them? Robust properties only
(which counter moved, which run retried more, a measurement inside theory's band with its sampling error),
never exact percentages; each returns a ``lablib.notebook.checks.Check`` with its remedy."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from lablib.i18n import t
from lablib.labs.retries_meet_breakers.experiment import RetryRun
from lablib.labs.retries_meet_breakers.plots import band_text
from lablib.notebook.checks import Check
from lablib.translate import defaults

__all__ = ["BUDGET_FLOOR", "allowed_back", "amplification_follows_theory", "budget_caps_retries",
           "default_does_not_retry", "explorer_ran", "overflow_not_retried", "retry_breaker_trips",
           "server_overflow_retried", "timeouts_cut_calls"]

#: Istio's ``minRetryConcurrency`` when a budget leaves it out: the retries a budget always allows, whatever
#: the load.
BUDGET_FLOOR = defaults.ISTIO_DEFAULT_RETRY_BUDGET_MIN_RETRY_CONCURRENCY
#: How many of the retries must end on the other pod for "the retry goes elsewhere" (previous_hosts rejects
#: the host tried; after 5 picks of the same one Envoy takes it anyway, a 1-in-32 chance with two hosts).
OTHER_POD_SHARE = 0.8


def _share_band(p: float, calls: int) -> float:
    """Three binomial standard errors of a share ``p`` over ``calls`` calls, plus 2 points."""
    return 3 * math.sqrt(max(p * (1 - p), 0.0) / max(calls, 1)) + 0.02


def default_does_not_retry(run: RetryRun, policy: Mapping[str, Any], *, lang: str = "en") -> Check:
    """Step 1: under the book's route (Istio's default policy, no 503 among its codes) the client made no
    retry, and its 503 share is the share of failed requests service-go answered."""
    codes = (policy.get("retry_policy") or {}).get("retriable_status_codes") or ()
    close = abs(run.share_503 - run.failure_fraction) <= _share_band(run.failure_fraction, run.calls)
    ok = run.retries == 0 and 503 not in codes and run.share(503) > 0 and close
    detail = t("retries.check.default.seen", lang, share=100 * run.share_503, p=100 * run.failure_fraction,
               retries=run.retries)
    return Check(ok, t("retries.check.default.title", lang), detail, lang,
                 "" if ok else t("retries.check.remedy.default", lang))


def amplification_follows_theory(runs: Sequence[RetryRun], *, lang: str = "en") -> Check:
    """Step 2: for every N the amplification lands inside theory's band for the run's measured failure
    fraction, grows with N, and the 503 share at the most retries is below the share without."""
    by_n = sorted(runs, key=lambda r: r.attempts)
    inside = [r.band()[0] <= r.amplification <= r.band()[1] for r in by_n]
    grows = all(a.amplification <= b.amplification + 0.05 for a, b in itertools.pairwise(by_n))
    falls = len(by_n) < 2 or by_n[-1].share_503 < by_n[0].share_503
    ok = bool(by_n) and all(inside) and grows and falls
    parts = "; ".join(t("retries.check.amplification.part", lang, n=r.attempts, seen=r.amplification,
                        band=band_text(r)) for r in by_n)
    return Check(ok, t("retries.check.amplification.title", lang), parts, lang,
                 "" if ok else t("retries.check.remedy.amplification", lang))


def retry_breaker_trips(sweep: Mapping[str, Sequence[RetryRun]], *, max_retries: int, lang: str = "en"
                        ) -> Check:
    """Step 3: ``upstream_rq_retry_overflow`` stayed 0 without the rule and at every ``-c`` up to
    ``maxRetries`` (a call has at most one retry outstanding), and moved at every ``-c`` above it."""
    free, capped = list(sweep.values())[:2]
    quiet_free = all(r.retry_overflow == 0 for r in free)
    below = [r for r in capped if r.concurrency <= max_retries]
    above = [r for r in capped if r.concurrency > max_retries]
    ok = quiet_free and all(r.retry_overflow == 0 for r in below) and bool(above) and all(
        r.retry_overflow > 0 and r.retries > 0 for r in above)
    seen = ", ".join(t("retries.check.breaker.part", lang, c=r.concurrency, overflow=r.retry_overflow)
                     for r in capped)
    detail = t("retries.check.breaker.seen", lang, max_retries=max_retries, runs=seen,
               free=sum(r.retry_overflow for r in free))
    return Check(ok, t("retries.check.breaker.title", lang, max_retries=max_retries), detail, lang,
                 "" if ok else t("retries.check.remedy.breaker", lang, max_retries=max_retries))


def budget_caps_retries(sweep: Mapping[str, Sequence[RetryRun]], *, percent: float, lang: str = "en"
                        ) -> Check:
    """Step 4: at the highest ``-c``, the budget refused retries and kept them to about its share of the
    attempts: at most ``percent`` plus what its floor (``BUDGET_FLOOR`` retries) adds at that load, plus 5
    points; without a
    rule the retries' share was higher."""
    free, budget = next(iter(sweep.values())), list(sweep.values())[-1]
    top = max(budget, key=lambda r: r.concurrency)
    top_free = max(free, key=lambda r: r.concurrency)
    ceiling = percent / 100 + BUDGET_FLOOR / top.concurrency + 0.05
    ok = top.retry_overflow > 0 and top.retry_share <= ceiling and top.retry_share < top_free.retry_share
    detail = t("retries.check.budget.seen", lang, c=top.concurrency, share=100 * top.retry_share,
               ceiling=100 * ceiling, free=100 * top_free.retry_share, overflow=top.retry_overflow)
    return Check(ok, t("retries.check.budget.title", lang, percent=percent), detail, lang,
                 "" if ok else t("retries.check.remedy.budget", lang))


def timeouts_cut_calls(cases: Mapping[str, RetryRun], *, lang: str = "en") -> Check:
    """Step 5: ``per-try``: every try was cut (``upstream_rq_per_try_timeout``) and service-go saw all of
    them; ``too-long``: the route's timeout ended calls (``upstream_rq_timeout``) before the tries ran out;
    ``queue``: calls timed out (504) and some of them never reached service-go (they waited in the pending
    queue the whole time)."""
    per_try, too_long, queue = cases["per-try"], cases["too-long"], cases["queue"]
    tries = per_try.attempts + 1
    per_try_ok = (per_try.client.get("upstream_rq_per_try_timeout", 0) >= per_try.calls
                  and per_try.share(504) == 1.0 and per_try.reached >= 0.9 * tries * per_try.calls)
    too_long_ok = too_long.client.get("upstream_rq_timeout", 0) > 0 and too_long.share(504) > 0
    never = queue.calls - int(queue.client.get("upstream_rq_total", 0))
    queue_ok = (queue.share(504) > 0 and queue.client.get("upstream_rq_timeout", 0) > 0
                and queue.client.get("upstream_rq_pending_total", 0) > 0 and never > 0)
    ok = per_try_ok and too_long_ok and queue_ok
    detail = t("retries.check.timeouts.seen", lang,
               per_try=per_try.client.get("upstream_rq_per_try_timeout", 0), reached=per_try.reached,
               calls=per_try.calls, timeouts=too_long.client.get("upstream_rq_timeout", 0),
               queue_504=queue.codes.get(504, 0), never=never)
    return Check(ok, t("retries.check.timeouts.title", lang), detail, lang,
                 "" if ok else t("retries.check.remedy.timeouts", lang))


def overflow_not_retried(run: RetryRun, *, lang: str = "en") -> Check:
    """Step 6: the client sidecar's own overflow (503 ``UO``, ``upstream_rq_active_overflow``) reached the
    client although the route retries every 5xx: no retry was made."""
    overflowed = int(run.client.get("upstream_rq_active_overflow", 0))
    uo = sum(1 for r in run.records if r.code == 503 and "UO" in r.flag_set)
    ok = overflowed > 0 and run.codes.get(503, 0) > 0 and run.retries == 0 and (not run.records or uo > 0)
    detail = t("retries.check.client_overflow.seen", lang, n503=run.codes.get(503, 0), overflow=overflowed,
               retries=run.retries)
    return Check(ok, t("retries.check.client_overflow.title", lang), detail, lang,
                 "" if ok else t("retries.check.remedy.client_overflow", lang))


def retried_to(run: RetryRun, addresses: Mapping[str, str], pod: str) -> tuple[int, int]:
    """(retried responses that ended on ``pod``, retried responses) in the fortio pod's access log."""
    retried = [r for r in run.records if r.attempts > 1]
    return sum(1 for r in retried if addresses.get(r.upstream_host) == pod), len(retried)


def allowed_back(total: int, other_overflow: int) -> float:
    """Of ``total`` retried calls, how many may end back on the slow pod: ``1 - OTHER_POD_SHARE`` of them,
    plus one per overflow of the other pod's own sidecar (``server_overflow_retried``)."""
    return other_overflow + (1 - OTHER_POD_SHARE) * total


def server_overflow_retried(default: RetryRun, retried: RetryRun, addresses: Mapping[str, str], *,
                            slow: str = "service-go-v1-0", other: str = "service-go-v2-0", lang: str = "en"
                            ) -> Check:
    """Step 6: the slow pod's server sidecar overflowed in both runs. Under Istio's default policy its 503
    (``x-envoy-overloaded``) reached the clients unretried; with ``retryOn: 5xx`` it was retried, fewer 503s
    reached the clients, and the retries ended on the other pod (``previous_hosts``).

    A retried call may still end on the slow pod when the other pod's sidecar overflowed too (a busy machine
    slows it: its 503 is retried, and ``previous_hosts`` sends that retry to the slow pod): each of those
    overflows may bring one call back (12 of 55 back on v1 in a CI run with the machine shared), beyond the
    ``1 - OTHER_POD_SHARE`` allowed otherwise."""
    overloaded = sum(1 for r in default.records if r.code == 503 and r.overloaded)
    on_other, total = retried_to(retried, addresses, other)
    other_overflow = retried.server_overflows(other)
    hosts_ok = not addresses or not retried.records or (
        total > 0 and total - on_other <= allowed_back(total, other_overflow))
    ok = (default.server_overflows(slow) > 0 and default.retries == 0 and overloaded > 0
          and retried.server_overflows(slow) > 0 and retried.retries > 0
          and retried.share_503 < default.share_503 and hosts_ok)
    detail = t("retries.check.server_overflow.seen", lang, overflow=default.server_overflows(slow),
               default=100 * default.share_503, overloaded=overloaded, retries=retried.retries,
               retried=100 * retried.share_503, other=on_other, total=total,
               other_overflow=other_overflow)
    return Check(ok, t("retries.check.server_overflow.title", lang), detail, lang,
                 "" if ok else t("retries.check.remedy.server_overflow", lang))


def explorer_ran(runs: Sequence[RetryRun], *, lang: str = "en") -> Check:
    """Step 7: the explorer's last run answered every call (200, the app's 503, a breaker's 503 or a
    timeout's 504) and service-go saw at least one request per call."""
    if not runs:
        return Check(False, t("retries.check.explorer.title", lang), t("retries.check.explorer.none", lang),
                     lang, t("retries.check.remedy.explorer_none", lang))
    last = runs[-1]
    answered = sum(last.codes.values()) == last.calls and set(last.codes) <= {200, 503, 504}
    ok = last.calls > 0 and answered and last.amplification >= 0.99
    detail = t("retries.check.explorer.seen", lang, calls=last.calls, amplification=last.amplification,
               share=100 * last.share_503)
    return Check(ok, t("retries.check.explorer.title", lang), detail, lang,
                 "" if ok else t("retries.check.remedy.explorer", lang))
