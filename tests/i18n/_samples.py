"""Every student-facing text lablib makes, rendered from fixed inputs in one language.

``render(lang)`` calls each function of the notebook kit and lab packages that writes text a student reads
(explanations, check verdicts, table headers, plot titles/axes/legends, widget labels) and returns
``{name: text}``; the zh tests compare it with the English rendering of the same inputs.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from lablib.backends.base import HostStatus
from lablib.labs.circuit_breaking import explain
from lablib.labs.circuit_breaking.explorer import BreakerExplorer
from lablib.labs.outlier_detection import checks as ochecks
from lablib.labs.outlier_detection import plots as oplots
from lablib.labs.outlier_detection import tables as otables
from lablib.labs.outlier_detection.rule import LAB, SEED
from lablib.labs.outlier_detection.timeline import CodeSample, HostSample, Mark, StatSample, Timeline
from lablib.notebook import book, checks, plots, tables
from lablib.theory.limits import ClusterLimits
from tests.notebooks.conftest import point

C = "outbound|80||service-go.default.svc.cluster.local"
A, B = "127.0.0.1:1001", "127.0.0.1:1002"


def _limits(pending: float = 10) -> ClusterLimits:
    return ClusterLimits(cluster=C, weight=1.0, max_connections=10, max_pending_requests=pending,
                         max_requests=10, max_requests_per_connection=10, http2=False, endpoints=2, workers=2)


def _tl(a: str, b: str, *, errors_a: list[int] | None = None, stats: dict[str, list[int]] | None = None,
        codes: list[dict[int, int]] | None = None, flags: list[dict[str, int]] | None = None) -> Timeline:
    """Two hosts; a/b are strings of '1' (in pool) / '0' (out), one sample per second."""
    hosts = []
    for addr, states, errs in ((A, a, errors_a), (B, b, None)):
        for i, ch in enumerate(states):
            fl = ("healthy",) if ch == "1" else ("/failed_outlier_check",)
            hosts.append(HostSample(float(i), C, addr, ch == "1", fl, {"rq_error": errs[i]} if errs else {}))
    n = len(a)
    stat_samples = [StatSample(float(i), C, {k: v[i] for k, v in (stats or {}).items()}) for i in range(n)]
    flags = flags or [{}] * n
    code_samples = [CodeSample(float(i), i + 1.0, c, flags[i]) for i, c in enumerate(codes or [])]
    return Timeline(hosts=hosts, stats=stat_samples, codes=code_samples, duration=float(n),
                    marks=[Mark(0.5, "fault on")])


class _Proc:
    def __init__(self, pid: int, alive: bool) -> None:
        self.pid, self.role, self._alive = pid, "envoy", alive

    def alive(self) -> bool:
        return self._alive


class _Lab:
    def __init__(self, dump: str) -> None:
        self.dump = dump

    def proxy_config(self, _kind: str) -> str:
        return self.dump


def _fig(fig: Any) -> str:
    """The text a student reads on a figure: title, axis titles, legend names, subplot titles, hover."""
    lay = fig.layout
    parts = [str(lay.title.text), str(lay.legend.title.text) if lay.legend.title else ""]
    parts += [str(getattr(lay, k).title.text) for k in dir(lay) if k.startswith(("xaxis", "yaxis"))
              and getattr(lay, k) is not None and getattr(lay, k).title.text]
    parts += [str(getattr(ax, "ticktext", None) or "") for k in dir(lay) if k.startswith("yaxis")
              for ax in [getattr(lay, k)] if ax is not None]
    parts += [str(a.text) for a in lay.annotations]
    parts += [f"{t.name} {getattr(t, 'hovertemplate', '') or ''}" for t in fig.data]
    return "\n".join(parts)


def _widgets(*ws: Any) -> str:
    out = []
    for wdg in ws:
        for attr in ("description", "tooltip", "value"):
            v = getattr(wdg, attr, None)
            if isinstance(v, str) and v:
                out.append(v)
    return "\n".join(out)


def render(lang: str) -> dict[str, str]:
    """``{name: text}`` for every student-facing function, in ``lang`` (``"en"`` passes no argument)."""
    kw: dict[str, Any] = {} if lang == "en" else {"lang": lang}
    out: dict[str, str] = {}
    # -- lab 01: explanations ---------------------------------------------------------------------------
    seed = [point("seed", 10, 0, pending=0),
            point("seed", 40, 4, pending=0, active=4, cx=300, avg_s=0.1, percentiles={50.0: 0.1})]
    pend = [point("pend", 10, 0), point("pend", 40, 200, pending=199, active=1),
            point("pend", 30, 30, pending=30), point("pend", 60, 100, pending=100)]
    hosts = [HostStatus(C, "127.0.0.1:1", ("healthy",), {"rq_total": 120}),
             HostStatus(C, "127.0.0.1:2", ("healthy",), {"rq_total": 80})]
    out["why_queueing"] = str(explain.why_queueing(seed, pend, **kw))
    out["why_queueing.html"] = explain.why_queueing(seed, pend, **kw).html
    out["why_per_cluster"] = str(explain.why_per_cluster(_limits(), hosts=hosts, admitted=pend, **kw))
    out["why_per_cluster.inf"] = str(explain.why_per_cluster(_limits(pending=math.inf), **kw))
    out["why_more_than_limit"] = str(explain.why_more_than_limit(
        pend, limit=20, max_connections=10, workers=2, hosts=2, seed=seed, **kw))
    out["why_more_than_limit.noactive"] = str(explain.why_more_than_limit(
        pend, limit=20, max_connections=10, workers=2, hosts=2, seed=seed[:1], **kw))
    out["why_sockets"] = str(explain.why_sockets(pend, **kw))
    out["why_varies"] = str(explain.why_varies([point("r", 40, 100), point("r", 40, 180, repeat=1)], **kw))
    # -- lab 01: checks ---------------------------------------------------------------------------------
    ch = [HostStatus(C, "127.0.0.1:1", ("healthy",), {}), HostStatus(C, "127.0.0.1:2", ("/failed",), {})]
    out["pods_up.ok"] = str(checks.pods_up(ch[:1], expected=1, **kw))
    out["pods_up.fail"] = str(checks.pods_up(ch, expected=2, **kw))
    out["pods_up.none"] = str(checks.pods_up([], expected=2, **kw))
    out["route_works.ok"] = str(checks.route_works(point("x", 1, 0).result, **kw))
    out["route_works.fail"] = str(checks.route_works(point("x", 1, 5, calls=10).result, **kw))
    cfg = yaml.safe_dump([{"name": C, "circuitBreakers": {"thresholds": [{"maxConnections": 10}]}}])
    out["breaker_applied.ok"] = str(checks.breaker_applied(cfg, expect={"max_connections": 10}, **kw))
    out["breaker_applied.wrong"] = str(checks.breaker_applied(
        cfg, expect={"max_connections": 10, "max_pending_requests": 10}, cluster=C, **kw))
    out["breaker_applied.missing"] = str(checks.breaker_applied(cfg, expect={}, cluster="nope", **kw))
    out["breaker_trips.ok"] = str(checks.breaker_trips([point("p", 5, 0), point("p", 40, 100)], 20, **kw))
    out["breaker_trips.bad"] = str(checks.breaker_trips([point("p", 5, 3), point("p", 40, 0)], 20, **kw))
    out["breaker_trips.none"] = str(checks.breaker_trips([point("p", 5, 0)], 20, **kw))
    out["every_503_explained.ok"] = str(checks.every_503_explained(pend, **kw))
    out["every_503_explained.bad"] = str(checks.every_503_explained([point("p", 40, 50, pending=10)], **kw))
    out["cleaned_up.ok"] = str(checks.cleaned_up({}, marker="LABLIB_I18N_NOBODY=1", **kw))
    out["all_of"] = str(checks.all_of("two things", [checks.route_works(point("x", 1, 0).result, **kw),
                                                       checks.pods_up([], expected=1, **kw)], **kw))
    out["check.html"] = checks.pods_up([], expected=1, **kw)._repr_html_()
    # -- lab 01: tables, plots, widgets -----------------------------------------------------------------
    ours = [point("seed", 20, 0), point("seed", 20, 20, repeat=1), point("seed", 40, 0)]
    out["comparison_table"] = str(tables.comparison_table(
        book.book_points(**kw), ours, bound=lambda c: max(0.0, 1 - 20 / c), **kw))
    out["side_by_side"] = str(tables.side_by_side("a: 1", "b: 2", **kw))
    out["limits_table"] = str(tables.limits_table([_limits(), _limits(pending=math.inf)], **kw))
    out["limits_table.map"] = str(tables.limits_table({"seed": [_limits()]}, **kw))
    theory = plots.TheoryOverlay(limit=20, band=(18, 24), bound=[(30, 0.33)], simulated=[(30, 0.3)])
    out["share_figure"] = _fig(plots.share_figure([*ours, *book.book_points(**kw)], theory, **kw))
    out["latency_figure"] = _fig(plots.latency_figure(ours, **kw))
    out["admitted_figure"] = _fig(plots.admitted_figure(pend, theory, **kw))
    out["counters_figure"] = _fig(plots.counters_figure(pend, **kw))
    ex = BreakerExplorer(object(), **kw)
    out["explorer"] = _widgets(ex.concurrency, ex.calls, ex.qps, ex.max_connections, ex.max_pending,
                               ex.max_requests, ex.per_connection, ex.h2_upgrade, ex.run_button, ex.status,
                               *ex.widget.children[0].children) + "\n" + _fig(ex.figure)
    # -- lab 02 -----------------------------------------------------------------------------------------
    good = _tl("1110000", "1111111", errors_a=[0, 1, 2, 4, 4, 4, 4])
    late = _tl("1110000", "1111111", errors_a=[0, 5, 9, 15, 15, 15, 15])
    out["ejected_after.ok"] = str(ochecks.ejected_after(good, 3, **kw))
    out["ejected_after.late"] = str(ochecks.ejected_after(late, 3, **kw))
    out["ejected_after.early"] = str(ochecks.ejected_after(good, 5, **kw))
    out["ejected_after.none"] = str(ochecks.ejected_after(_tl("1111", "1111"), 3, **kw))
    out["ejected_after.nocount"] = str(ochecks.ejected_after(_tl("1100", "1111"), 3, **kw))
    back = _tl("1" + "0" * 5 + "11", "1" * 8)
    out["returned_after.ok"] = str(ochecks.returned_after(back, 5, 1, **kw))
    out["returned_after.still"] = str(ochecks.returned_after(_tl("1000", "1111"), 5, 1, **kw))
    out["returned_after.none"] = str(ochecks.returned_after(_tl("1111", "1111"), 5, 1, **kw))
    uh = {"upstream_cx_none_healthy": [0, 0, 4, 9]}
    out["all_ejected_uh.ok"] = str(ochecks.all_ejected_uh(_tl("1000", "1100", stats=uh), 2, **kw))
    out["all_ejected_uh.bad"] = str(ochecks.all_ejected_uh(_tl("1000", "1111", stats=uh, codes=[{503: 2}],
                                                                 flags=[{"UH": 2}]), 2, **kw))
    refused = {"outlier_detection.ejections_overflow": [0, 0, 3, 7]}
    kept = _tl("1000", "1111", stats=refused)
    out["max_ejection_kept.ok"] = str(ochecks.max_ejection_kept(kept, 2, 50, **kw))
    out["max_ejection_kept.bad"] = str(ochecks.max_ejection_kept(_tl("1000", "1111"), 2, 50, **kw))
    out["ejection_grows.ok"] = str(ochecks.ejection_grows(_tl("1001000000111", "1" * 13), 2, **kw))
    out["ejection_grows.none"] = str(ochecks.ejection_grows(_tl("1111", "1111"), 2, **kw))
    calm = _tl("1111", "1111", stats={"upstream_rq_pending_overflow": [0, 5, 9, 20]})
    out["never_ejected.ok"] = str(ochecks.never_ejected(calm, "500s", **kw))
    out["never_ejected.bad"] = str(ochecks.never_ejected(_tl("1100", "1111"), "500s", **kw))
    out["overflow_not_counted.ok"] = str(ochecks.overflow_not_counted(calm, **kw))
    out["overflow_not_counted.bad"] = str(ochecks.overflow_not_counted(_tl("1111", "1111"), **kw))
    retried = {"upstream_rq_retry": [0, 4, 8, 8]}
    hidden = _tl("1100", "1111", stats=retried, codes=[{200: 5}] * 4)
    out["retries_hide.retried"] = str(ochecks.retries_hide(hidden, 503, retried={503}, **kw))
    out["retries_hide.shown"] = str(ochecks.retries_hide(hidden, 503, **kw))
    out["all_in_pool.ok"] = str(ochecks.all_in_pool(_tl("11", "11", codes=[{200: 5}, {200: 5}]), 2, **kw))
    out["all_in_pool.bad"] = str(ochecks.all_in_pool(_tl("10", "11", codes=[{200: 5}, {503: 5}]), 2, **kw))
    out["cleaned_up.outlier.ok"] = str(ochecks.cleaned_up([_Proc(1, False)], **kw))
    out["cleaned_up.outlier.bad"] = str(ochecks.cleaned_up([_Proc(7, True)], __file__, **kw))
    od = {"outlier_detection": {"consecutive_5xx": 3, "interval": "1s", "base_ejection_time": "15s",
                                "max_ejection_percent": 100}}
    out["rule_reached.ok"] = str(ochecks.rule_reached(yaml.safe_dump(od), LAB, **kw))
    out["rule_reached.wrong"] = str(ochecks.rule_reached(yaml.safe_dump(od), SEED, **kw))
    out["rule_reached.none"] = str(ochecks.rule_reached("a: 1", LAB, **kw))
    out["rule_reached.bad"] = str(ochecks.rule_reached("a: [", LAB, **kw))
    fig_tl = _tl("1100011", "1111000",
                 codes=[{200: 5}, {200: 3, 503: 2}, {503: 5}, {503: 5}, {503: 5}, {200: 5}, {200: 5}],
                 flags=[{}, {}, {}, {"UH": 5}, {"UH": 3}, {}, {}])
    out["timeline_figure"] = _fig(oplots.timeline_figure(fig_tl, names={A: "service-go-v1-0"}, **kw))
    out["mapping_table"] = str(otables.mapping_table(SEED, LAB, **kw))
    out["event_table"] = str(otables.event_table(fig_tl, **kw))
    dump = yaml.safe_dump([{"name": C, **od}, {"name": "bare"}])
    out["envoy_view.ok"] = otables.envoy_view(_Lab(dump), **kw)
    out["envoy_view.none"] = otables.envoy_view(_Lab(dump), "missing", **kw)
    out["envoy_view.bare"] = otables.envoy_view(_Lab(dump), "bare", **kw)
    from lablib.labs.outlier_detection.widgets import Explorer

    oex = Explorer(object(), rule_path="/nonexistent/dr.yaml", **kw)
    out["outlier_explorer"] = _widgets(oex.fraction, oex.consecutive, oex.max_ejection, oex.base, oex.code,
                                       oex.failing, oex.button) + "\n" + oex._title()
    out["outlier_explorer.verdict"] = str(oex.verdict())
    oex.fraction.value = 0.5
    out["outlier_explorer.checks"] = "\n".join(str(c) for c in oex.checks(good))
    oex.fraction.value = 1.0
    oex.failing.value = "v1 + v2"
    out["outlier_explorer.checks2"] = "\n".join(str(c) for c in oex.checks(good))
    return out
