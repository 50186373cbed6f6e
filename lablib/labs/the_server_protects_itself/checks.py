"""Lab 06's check cells: robust properties only (which counter moved, which run held more, a bound that held),
each a ``lablib.notebook.checks.Check`` with what to do when it fails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lablib.i18n import t
from lablib.lab_defaults import WORKERS
from lablib.labs.the_server_protects_itself.experiment import ServerRun
from lablib.labs.the_server_protects_itself.mesh import CLIENT_LIMIT
from lablib.labs.the_server_protects_itself.protocols import (
    MAX_CONNECTIONS,
    MAX_PENDING,
    MAX_REQUESTS,
    REQUEST_CAP,
    ProtocolRun,
)
from lablib.labs.the_server_protects_itself.reading import BreakerView
from lablib.notebook.checks import Check, all_of
from lablib.theory.limits import race_slack

__all__ = ["Check", "all_of", "clients_admit_more", "ejected_by_clients", "explorer_ran", "grpc_step",
           "grpc_unavailable", "h2_cap_rejects", "h2_multiplexes", "h2_pending_while_connecting", "h2_step",
           "server_follows_clients", "server_limit_holds", "view_shows_limit"]


def _ends(runs: Mapping[int, ServerRun]) -> tuple[ServerRun, ServerRun]:
    return runs[min(runs)], runs[max(runs)]


def clients_admit_more(runs: Mapping[int, ServerRun], *, lang: str = "en") -> Check:
    """Step 1: each client sidecar admits its own limit, so together they let more through as clients are
    added (the DestinationRule's limit lives in each client, lab 03)."""
    few, most = _ends(runs)
    ok = most.admitted > few.admitted and most.admitted > CLIENT_LIMIT
    detail = t("lab06.check.admit.seen", lang, admitted={n: r.admitted for n, r in sorted(runs.items())},
               limit=CLIENT_LIMIT)
    return Check(ok, t("lab06.check.admit.title", lang, limit=CLIENT_LIMIT), detail, lang,
                 "" if ok else t("lab06.check.remedy.admit", lang))


def server_limit_holds(runs: Mapping[int, ServerRun], limit: int, *, workers: int = WORKERS,
                       lang: str = "en") -> Check:
    """Step 1: the server sidecar held at most its own limit with every count of clients (plus, for a moment,
    one per other Envoy worker of that sidecar: ``race_slack``), tripped its own breaker once the clients
    together exceeded it, and every one of its overflows reached a client as an upstream 503."""
    few, most = _ends(runs)
    slack = race_slack(workers)
    held = all(r.server_peak <= limit + slack for r in runs.values())
    tripped = most.server_overflows > 0 and (few.admitted > limit or few.server_overflows == 0)
    reached = all(r.upstream_503 == r.server_overflows for r in runs.values())
    ok = held and tripped and reached
    detail = t("lab06.check.holds.seen", lang, peaks={n: r.server_peak for n, r in sorted(runs.items())},
               overflows={n: r.server_overflows for n, r in sorted(runs.items())},
               upstream={n: r.upstream_503 for n, r in sorted(runs.items())}, limit=limit)
    return Check(ok, t("lab06.check.holds.title", lang, limit=limit, slack=slack), detail, lang,
                 "" if ok else t("lab06.check.remedy.holds", lang))


def server_follows_clients(runs: Mapping[int, ServerRun], limit: int, *, lang: str = "en") -> Check:
    """Step 1: without a limit of its own (a pool larger than the load), the server held what the clients
    admitted: more with more clients, above the limit the other setting kept, and no overflow."""
    few, most = _ends(runs)
    ok = most.server_peak > few.server_peak and most.server_peak > limit and \
        all(r.server_overflows == 0 for r in runs.values())
    detail = t("lab06.check.follows.seen", lang, peaks={n: r.server_peak for n, r in sorted(runs.items())},
               overflows=sum(r.server_overflows for r in runs.values()))
    return Check(ok, t("lab06.check.follows.title", lang, limit=limit), detail, lang,
                 "" if ok else t("lab06.check.remedy.follows", lang))


def ejected_by_clients(ejections: Mapping[str, int], none_healthy: Mapping[str, int], upstream_503: int, *,
                       lang: str = "en") -> Check:
    """Step 1: the server's overflows counted in the clients' outlier detection: some client ejected the
    server pod (after ``consecutive5xxErrors`` of its 503s) and then answered 503 "no healthy upstream"."""
    ok = upstream_503 > 0 and sum(ejections.values()) > 0 and sum(none_healthy.values()) > 0
    detail = t("lab06.check.ejected.seen", lang, upstream=upstream_503, ejections=dict(ejections),
               none=dict(none_healthy))
    return Check(ok, t("lab06.check.ejected.title", lang), detail, lang,
                 "" if ok else t("lab06.check.remedy.ejected", lang))


def _runs_seen(runs: Sequence[ProtocolRun]) -> list[str]:
    return [f"{r.failed}/{r.calls}" for r in runs]


def _own(run: ProtocolRun) -> bool:
    """The run's failures were the client sidecar's own overflows: all of them but a few (the server sidecar,
    which gets the same rule, may refuse one when two client workers pass the cap at the same moment)."""
    return run.active_overflow <= run.failed <= run.active_overflow + max(2, run.failed // 20)


def h2_multiplexes(runs: Sequence[ProtocolRun], *, lang: str = "en") -> Check:
    """Step 2: under ``maxConnections: 1`` HTTP/2 rejected nothing, and the app had more requests at once
    than there were upstream connections: one connection carried many."""
    peaks = [r.app_peak for r in runs]
    ok = bool(runs) and all(r.failed == 0 for r in runs) and \
        all(p is not None and p > max(r.open, 1) for p, r in zip(peaks, runs, strict=True))
    detail = t("lab06.check.h2.multiplex.seen", lang, failed=_runs_seen(runs), peaks=peaks,
               connections=[r.open for r in runs])
    return Check(ok, t("lab06.check.h2.multiplex.title", lang), detail, lang,
                 "" if ok else t("lab06.check.remedy.h2", lang))


def h2_cap_rejects(runs: Sequence[ProtocolRun], cap: int = REQUEST_CAP, *, lang: str = "en") -> Check:
    """Step 2: under ``http2MaxRequests`` every run rejected calls, every 503 was the client sidecar's own
    ``upstream_rq_active_overflow`` (no pending overflow), and the app never had more than the cap."""
    ok = bool(runs) and all(r.failed > 0 and _own(r) and r.pending_overflow == 0
                            and (r.app_peak is None or r.app_peak <= cap) for r in runs)
    detail = t("lab06.check.h2.cap.seen", lang, failed=_runs_seen(runs),
               active=[r.active_overflow for r in runs], peaks=[r.app_peak for r in runs], cap=cap)
    return Check(ok, t("lab06.check.h2.cap.title", lang, cap=cap), detail, lang,
                 "" if ok else t("lab06.check.remedy.h2", lang))


def h2_pending_while_connecting(runs: Sequence[ProtocolRun], *, lang: str = "en") -> Check:
    """Step 2: under ``http1MaxPendingRequests: 1`` with HTTP/2, a warm run (connections up) rejected nothing;
    what a cold run rejected was pending overflow (requests waiting for the first connections), never
    active overflow."""
    warm, cold = [r for r in runs if not r.cold], [r for r in runs if r.cold]
    ok = bool(warm) and all(r.failed == 0 and r.pending_overflow == 0 for r in warm) and \
        all(r.active_overflow == 0 for r in cold)
    detail = t("lab06.check.h2.pending.seen", lang, cold=[r.pending_overflow for r in cold],
               warm=[r.pending_overflow for r in warm], failed=_runs_seen(runs))
    return Check(ok, t("lab06.check.h2.pending.title", lang), detail, lang,
                 "" if ok else t("lab06.check.remedy.h2_pending", lang))


def h2_step(runs: Mapping[str, Sequence[ProtocolRun]], *, lang: str = "en") -> Check:
    """Step 2's check: the three rules' verdicts as one."""
    return all_of(t("lab06.check.step2", lang),
                  [h2_multiplexes(runs.get(MAX_CONNECTIONS, ()), lang=lang),
                   h2_cap_rejects(runs.get(MAX_REQUESTS, ()), lang=lang),
                   h2_pending_while_connecting(runs.get(MAX_PENDING, ()), lang=lang)], lang=lang)


def grpc_unavailable(runs: Sequence[ProtocolRun], cap: int = REQUEST_CAP, *, lang: str = "en") -> Check:
    """Step 3: the gRPC calls the breaker rejected failed with status UNAVAILABLE, each one the client
    sidecar's own ``upstream_rq_active_overflow``; no HTTP code reached the gRPC client."""
    ok = bool(runs) and all(
        r.grpc and r.failed > 0 and r.grpc_errors == {"UNAVAILABLE": r.failed}
        and _own(r) and set(r.point.result.codes) <= {"SERVING", "ERROR"} for r in runs)
    detail = t("lab06.check.grpc.seen", lang, failed=_runs_seen(runs), statuses=[r.grpc_errors for r in runs],
               active=[r.active_overflow for r in runs], cap=cap)
    return Check(ok, t("lab06.check.grpc.title", lang), detail, lang,
                 "" if ok else t("lab06.check.remedy.grpc", lang))


def grpc_step(runs: Sequence[ProtocolRun], *, lang: str = "en") -> Check:
    """Step 3's check."""
    return all_of(t("lab06.check.step3", lang), [grpc_unavailable(runs, lang=lang)], lang=lang)


def view_shows_limit(view: BreakerView, limit: int, *, lang: str = "en") -> Check:
    """Step 4: the server sidecar's ``inbound|80||`` cluster carries the Sidecar's limit (max_requests), its
    breaker counters are readable, and the clients' access logs name the flags of what happened."""
    ok = view.max_requests == limit and view.stats_visible
    detail = t("lab06.check.view.seen", lang, max_requests=view.max_requests, limit=limit,
               stats=view.overflow_stats, flags=view.flags)
    return Check(ok, t("lab06.check.view.title", lang, limit=limit), detail, lang,
                 "" if ok else t("lab06.check.remedy.view", lang))


def explorer_ran(runs: Sequence[ServerRun], *, workers: int = WORKERS, lang: str = "en") -> Check:
    """Step 5: the explorer's last run got an answer to every call, and its server held at most its limit
    (plus, for a moment, one per other Envoy worker of that sidecar: ``race_slack``)."""
    slack = race_slack(workers)
    title = t("lab06.check.explorer.title", lang, slack=slack)
    if not runs:
        return Check(False, title, t("lab06.check.explorer.none", lang), lang,
                     t("lab06.check.remedy.explorer", lang))
    last = runs[-1]
    codes: dict[int, int] = {}
    for p in last.run.points.values():
        for code, count in p.result.codes.items():
            codes[code] = codes.get(code, 0) + int(count)
    limit = last.limit if isinstance(last.limit, int) else None
    ok = sum(codes.values()) == last.calls > 0 and set(codes) <= {200, 503} and \
        (limit is None or last.server_peak <= limit + slack)
    detail = t("lab06.check.explorer.seen", lang, clients=last.clients, calls=last.calls, codes=codes,
               peak=last.server_peak, limit=last.limit)
    return Check(ok, title, detail, lang,
                 "" if ok else t("lab06.check.remedy.explorer", lang))
