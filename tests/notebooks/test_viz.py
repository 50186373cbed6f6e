"""The notebook kit and lab 01's package without Envoy: runs, plots, checks, tables, explanations, knobs
and the explorer's wiring."""

from __future__ import annotations

import math
from pathlib import Path

import plotly.graph_objects as go
import pytest
import yaml

from lablib.labs.circuit_breaking import explain, knobs
from lablib.labs.circuit_breaking.explorer import BreakerExplorer
from lablib.notebook import book, checks, plots, runs, tables, theory_view

from .conftest import make_result, point


# -- runs -------------------------------------------------------------------------------------------------
def test_share_and_explained_503_count_from_codes_and_counters():
    p = point("r", 30, 96, calls=300, pending=90, active=6)
    assert p.share_503 == pytest.approx(0.32)
    assert p.explained_503 == 96
    assert p.calls == 300


def test_admitted_concurrency_uses_the_200s_time_only():
    # 300 calls at 100 qps = 3 s; avg 0.1 s -> 30 s of call time, 503s took 6 s: the 200s hold 24 s / 3 s = 8.
    r = make_result({200: 200, 503: 100}, qps=100, avg_s=0.1, errors_sum_s=6.0)
    assert runs.admitted_concurrency(r) == pytest.approx(8.0)
    # without the error split, 503s count as instant: an upper estimate
    r2 = make_result({200: 200, 503: 100}, qps=100, avg_s=0.1)
    assert runs.admitted_concurrency(r2) == pytest.approx(10.0)
    assert runs.admitted_concurrency(make_result({503: 5})) is None


def test_fortio_args_follow_the_book_and_keep_n_at_least_c():
    assert runs.fortio_args(30) == "load -c 30 -qps 0 -n 300 -loglevel Error http://service-go/env"
    assert " -n 5 " in runs.fortio_args(5, calls=2)  # N < C would make extra calls in fortio
    assert " -qps 50 " in runs.fortio_args(5, qps=50)


def test_summary_groups_repeats_by_concurrency():
    pts = [point("r", 20, 10, repeat=0), point("r", 20, 30, repeat=1), point("r", 40, 200)]
    s = runs.summary(pts)
    assert [x.concurrency for x in s] == [20, 40]
    assert s[0].low == pytest.approx(0.05) and s[0].high == pytest.approx(0.15) and s[0].runs == 2


class _FakeLab:
    """Records calls; answers like a lab whose breaker admits 20 (for sweep/run_point wiring only)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.applied: list[str] = []

    def reset_counters(self) -> None:
        self.calls.append("reset")

    def fortio(self, args: str, progress=None):
        self.calls.append(args)
        c = int(args.split("-c ")[1].split()[0])
        n = int(args.split("-n ")[1].split()[0])
        n503 = 0 if c <= 20 else n * (c - 20) // c
        if progress:
            progress(n, n, "done")
        return make_result({200: n - n503, 503: n503}, c=c)

    def stats(self, cluster=None):
        from lablib.backends.base import ClusterStats

        return ClusterStats(cluster, {"upstream_rq_pending_overflow": 7, "upstream_cx_overflow": 3})

    def apply(self, path, progress=None):
        self.applied.append(Path(path).read_text())
        return ["DestinationRule/service-go"]


def test_sweep_resets_counters_before_every_run_and_reads_the_cluster():
    lab = _FakeLab()
    seen = []
    pts = runs.sweep(lab, "x", [10, 30], cluster="c", repeats=2, progress=lambda d, t, m: seen.append((d, t)))
    assert [p.concurrency for p in pts] == [10, 10, 30, 30]
    assert lab.calls[0] == "reset" and lab.calls[2] == "reset"
    assert pts[-1].overflows["upstream_rq_pending_overflow"] == 7
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)


# -- book -------------------------------------------------------------------------------------------------
def test_book_points_parse_the_seed_text():
    pts = book.book_points()
    assert [(p.concurrency, p.result.codes[503], p.result.sockets) for p in pts] == [
        (20, 8, 28),
        (30, 96, 121),
        (40, 160, 183),
    ]
    assert pts[1].share_503 == pytest.approx(0.32)
    assert pts[0].result.percentiles[99.9] == pytest.approx(0.112801)


# -- plots ------------------------------------------------------------------------------------------------
def _theory(limit: float = 20) -> plots.TheoryOverlay:
    return plots.TheoryOverlay(
        limit=limit,
        band=(limit, limit + 4),
        bound=[(c, max(0.0, 1 - limit / c)) for c in (10, 20, 40)],
        simulated=[(10, 0.0), (40, 0.45)],
    )


def test_share_figure_has_theory_and_one_trace_per_rule():
    pts = [point("a", 20, 0), point("a", 40, 200), point("b", 40, 100), *book.book_points()]
    fig = plots.share_figure(pts, _theory())
    names = [t.name for t in fig.data]
    assert {plots.THEORY_BAND, plots.THEORY_LIMIT, plots.THEORY_BOUND, plots.THEORY_SIM} <= set(names)
    assert "ours: a" in names and "ours: b" in names and book.BOOK_LABEL in names
    a = next(t for t in fig.data if t.name == "ours: a")
    assert list(a.x) == [20, 40] and list(a.y) == [0.0, 50.0]
    assert list(next(t for t in fig.data if t.name == plots.THEORY_LIMIT).x) == [20, 20]


def test_share_figure_with_unlimited_rule_draws_no_limit_line():
    th = theory_view.overlay([_limits(pending=math.inf)], sim_repeats=0)
    assert math.isinf(th.limit)
    fig = plots.share_figure([], th)
    limit = next(t for t in fig.data if t.name == plots.THEORY_LIMIT)
    assert all(x is None for x in limit.x)  # nothing to draw at infinity
    assert all(y == 0 for _, y in th.bound)


def test_widget_figure_gains_points_in_place_and_theory_moves():
    fig = plots.share_figure([point("a", 20, 0)], _theory(), widget=True)
    assert isinstance(fig, go.FigureWidget)
    plots.add_point(fig, point("a", 60, 400))
    plots.add_point(fig, point("new", 30, 50))
    a = next(t for t in fig.data if t.name == "ours: a")
    assert list(a.x) == [20, 60]
    assert any(t.name == "ours: new" for t in fig.data)
    plots.update_theory(fig, _theory(30))
    assert list(next(t for t in fig.data if t.name == plots.THEORY_LIMIT).x) == [30, 30]


def test_latency_admitted_and_counters_figures():
    pts = [point("a", 10, 0), point("a", 40, 200, pending=150, active=50, cx=9)]
    lat = plots.latency_figure(pts)
    assert len(lat.data) == len(plots.PERCENTILES)
    p99 = next(t for t in lat.data if t.name.endswith("p99"))
    assert list(p99.x) == [10, 40] and p99.y[0] == pytest.approx(75.0)
    adm = plots.admitted_figure(pts, _theory())
    assert any(t.name == plots.THEORY_LIMIT and list(t.y) == [20, 20] for t in adm.data)
    cnt = plots.counters_figure(pts)
    by_name = {t.name: list(t.y) for t in cnt.data}
    assert [list(level) for level in cnt.data[0].x] == [["a", "a"], ["c=10", "c=40"]]
    assert by_name["503 responses (fortio)"] == [0, 200]
    assert by_name["upstream_rq_pending_overflow"] == [0, 150]
    assert by_name["upstream_rq_active_overflow"] == [0, 50]
    assert by_name["upstream_cx_overflow"] == [0, 9]


# -- checks -----------------------------------------------------------------------------------------------
def test_check_renders_pass_and_fail_and_can_raise():
    ok, bad = checks.Check(True, "fine"), checks.Check(False, "broken", "do this")
    assert "data-ok='true'" in ok._repr_html_() and "✔" in ok._repr_html_()
    assert "data-ok='false'" in bad._repr_html_() and "do this" in bad._repr_html_()
    assert str(bad).startswith("FAIL: broken")
    with pytest.raises(checks.CheckFailed):
        bad.raise_if_failed()
    assert not checks.all_of("both", [ok, bad]) and checks.all_of("both", [ok, ok])


def test_pods_up_and_route_works():
    from lablib.backends.base import HostStatus

    c = "outbound|80||service-go.default.svc.cluster.local"
    hosts = [
        HostStatus(c, "127.0.0.1:1", ("healthy",)),
        HostStatus(c, "127.0.0.1:2", ("/failed_outlier_check",)),
    ]
    assert not checks.pods_up(hosts, expected=2)
    assert checks.pods_up(hosts[:1], expected=1)
    assert checks.route_works(make_result({200: 5}))
    assert not checks.route_works(make_result({200: 4, 503: 1}))


def test_breaker_applied_reads_proxy_config_yaml():
    text = (
        "- name: x\n  circuit_breakers:\n    thresholds:\n    - max_connections: 10\n      max_requests: 10\n"
    )
    assert checks.breaker_applied(text, expect={"max_connections": 10, "max_requests": 10})
    assert not checks.breaker_applied(text, expect={"max_pending_requests": 10})
    camel = (
        "- name: a\n  circuitBreakers: {thresholds: [{maxConnections: 1}]}\n"
        "- name: b\n  circuitBreakers: {thresholds: [{maxConnections: 10, maxPendingRequests: 10}]}\n"
    )
    want = {"max_connections": 10, "max_pending_requests": 10}
    assert checks.breaker_applied(camel, cluster="b", expect=want)
    assert not checks.breaker_applied(camel, cluster="a", expect={"max_connections": 10})
    assert not checks.breaker_applied(camel, cluster="missing", expect={"max_connections": 10})


def test_breaker_trips_wants_503s_above_and_none_below():
    good = [point("p", 5, 0), point("p", 10, 0), point("p", 40, 200)]
    assert checks.breaker_trips(good, 20)
    assert not checks.breaker_trips([point("p", 5, 1), point("p", 40, 200)], 20)  # 503 well below L
    assert not checks.breaker_trips([point("p", 40, 0)], 20)  # nothing tripped well above L
    assert not checks.breaker_trips([point("p", 10, 0)], 20)  # no run high enough to tell


def test_every_503_explained_compares_fortio_with_counters():
    assert checks.every_503_explained([point("p", 40, 200, pending=150, active=50)])
    assert not checks.every_503_explained([point("p", 40, 200, pending=10, active=0)])


def test_lab_processes_finds_children_by_ancestry_and_marker(tmp_path):
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = tmp_path / "service_go_sleeper.py"  # the name matches the "service_go" pattern
    script.write_text("import time; time.sleep(30)\n")
    env = {**os.environ, "LABLIB_VIZ_MARK": "abc"}
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        # Between fork and exec the child still shows pytest's command line: wait for the exec.
        deadline = time.monotonic() + 10
        while str(script).encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline, "the child never exec'd"
            time.sleep(0.01)
        mine = checks.lab_processes(children_of=os.getpid())
        assert proc.pid in mine
        assert proc.pid in checks.lab_processes(marker="LABLIB_VIZ_MARK=abc")
        assert proc.pid not in checks.lab_processes(marker="LABLIB_VIZ_MARK=other")
        assert not checks.cleaned_up()
    finally:
        proc.kill()
        proc.wait()
    assert proc.pid not in checks.lab_processes(children_of=os.getpid())
    assert checks.cleaned_up()


# -- tables and explanations -------------------------------------------------------------------------------
def test_comparison_table_puts_the_book_next_to_ours():
    ours = [point("seed", 20, 0), point("seed", 20, 20, repeat=1), point("seed", 40, 0)]
    t = tables.comparison_table(book.book_points(), ours, bound=lambda c: max(0.0, 1 - 20 / c))
    assert "4.0%" in t.html and "32.0%" in t.html and "40.0%" in t.html  # the book
    assert "5.0% [0–10] ×2" in t.html  # ours at c=20: mean, min–max, repeats
    assert "50.0%" in t.html  # the bound at c=40
    assert "30 |" in str(t)  # c=30 row exists (book only)


def test_side_by_side_and_cluster_yaml():
    cfg = yaml.safe_dump([{"name": "a", "x": 1}, {"name": "outbound|80||s", "circuit_breakers": {"t": 1}}])
    one = tables.cluster_yaml(cfg, "outbound|80||s")
    assert "circuit_breakers" in one and "name: a" not in one
    assert tables.cluster_yaml("not: [valid", "x") == "not: [valid"
    html = tables.side_by_side("left <b>", "right")._repr_html_()
    assert "left &lt;b&gt;" in html and "right" in html


def test_explanations_quote_the_runs():
    seed = [
        point("seed", 10, 0, pending=0),
        point("seed", 40, 4, pending=0, active=4, cx=300, avg_s=0.1, percentiles={50.0: 0.1}),
    ]
    pend = [point("pend", 10, 0), point("pend", 40, 200, pending=199, active=1)]
    q = str(explain.why_queueing(seed, pend))
    assert "c=40" in q and "1%" in q and "50%" in q and "upstream_rq_pending_overflow = 0" in q
    assert "100 ms" in q  # the seed's p50 at c=40
    from lablib.backends.base import HostStatus

    c = "outbound|80||service-go"
    hosts = [
        HostStatus(c, "127.0.0.1:1", ("healthy",), {"rq_total": 120}),
        HostStatus(c, "127.0.0.1:2", ("healthy",), {"rq_total": 80}),
    ]
    pc = str(explain.why_per_cluster(_limits(), hosts=hosts, admitted=pend))
    assert "127.0.0.1:1: 120, 127.0.0.1:2: 80" in pc
    assert "(pending unlimited)" in str(explain.why_per_cluster(_limits(pending=math.inf)))
    assert "L = 20" in pc and "2 pod(s)" in pc
    more = str(explain.why_more_than_limit(pend, limit=20, max_connections=10, workers=2, hosts=2))
    assert "10 + 2×2 = 14" in more
    assert "Sockets used" in str(explain.why_sockets(pend))
    varies = str(explain.why_varies([point("r", 40, 100), point("r", 40, 180, repeat=1)]))
    assert "c=40: 25–45%" in varies


# -- knobs, theory and the explorer ----------------------------------------------------------------------
def test_knobs_make_a_valid_destination_rule(tmp_path):
    k = knobs.BreakerKnobs(max_connections=5, http1_max_pending_requests=3, h2_upgrade=True)
    dr = knobs.destination_rule(k)
    pool = dr["spec"]["trafficPolicy"]["connectionPool"]
    assert pool == {
        "tcp": {"maxConnections": 5},
        "http": {
            "http1MaxPendingRequests": 3,
            "http2MaxRequests": 10,
            "maxRequestsPerConnection": 10,
            "h2UpgradePolicy": "UPGRADE",
        },
    }
    path = knobs.write_destination_rule(k, tmp_path)
    assert yaml.safe_load(path.read_text())["metadata"]["name"] == "service-go"
    unset = knobs.destination_rule(knobs.BreakerKnobs(0, 0, 0, 0))
    assert "trafficPolicy" not in unset["spec"]


def test_write_destination_rule_validates(tmp_path):
    from lablib import ValidationFailed

    base = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "x"},
        "spec": {"host": "service-go", "trafficPolicy": {"connectionPool": {"tcp": {"bogusField": 1}}}},
    }
    with pytest.raises(ValidationFailed):
        knobs.write_destination_rule(
            knobs.BreakerKnobs(max_connections=0),
            tmp_path,
            base={**base, "spec": {**base["spec"], "bogus": 1}},
        )
    assert not list(tmp_path.iterdir())  # nothing left behind


def _limits(pending: float = 10, **kw: object):
    from lablib.theory.limits import ClusterLimits

    values = {
        "cluster": "outbound|80||service-go.default.svc.cluster.local",
        "weight": 1.0,
        "max_connections": 10,
        "max_pending_requests": pending,
        "max_requests": 10,
        "max_requests_per_connection": 10,
        "http2": False,
        "endpoints": 2,
        "workers": 2,
        **kw,
    }
    return ClusterLimits(**values)


def test_overlay_from_limits():
    th = theory_view.overlay([_limits()], sim_cs=(10, 40), sim_repeats=2)
    assert th.limit == 20
    assert th.band[0] <= 20 <= th.band[1]
    bound = dict(th.bound)
    assert bound[10] == 0 and bound[40] == pytest.approx(0.5)
    sim = dict(th.simulated)
    assert sim[10] == pytest.approx(0, abs=0.02) and 0.2 < sim[40] < 0.8


MANIFESTS = ["manifests/service/go/service-go.yaml", "manifests/istio/route/virtual-service-go.yaml"]


def test_limits_from_the_book_files_and_from_knobs():
    from .conftest import REPO

    files = [REPO / p for p in MANIFESTS]
    pending = theory_view.limits_for_files(
        [*files, REPO / "manifests/istio/resilience/destination-rule-go-cb-pending.yaml"]
    )
    assert [lim.cluster for lim in pending] == ["outbound|80||service-go.default.svc.cluster.local"]
    assert theory_view.theoretical_limit(pending) == 20
    seed = theory_view.limits_for_files(
        [*files, REPO / "manifests/istio/resilience/destination-rule-go-cb.yaml"]
    )
    assert math.isinf(theory_view.theoretical_limit(seed))
    theory_for = knobs.knob_theory(files, sim_repeats=0)
    assert theory_for(knobs.BreakerKnobs(http1_max_pending_requests=5)).limit == 15
    assert theory_for(knobs.BreakerKnobs(max_connections=4, http1_max_pending_requests=5)).limit == 9


def test_explorer_runs_apply_changed_knobs_only_and_add_points():
    lab = _FakeLab()
    ex = BreakerExplorer(
        lab,
        theory_for=lambda k: _theory(10 + k.http1_max_pending_requests),
        knobs=knobs.BreakerKnobs(http1_max_pending_requests=10),
        cluster="c",
    )
    ex.concurrency.value = 40
    p = ex.run()
    assert p.concurrency == 40 and len(lab.applied) == 1 and "http1MaxPendingRequests: 10" in lab.applied[0]
    ex.run()
    assert len(lab.applied) == 1  # same knobs: not applied again
    trace = next(t for t in ex.figure.data if t.name.startswith("ours: explorer"))
    assert list(trace.x) == [40, 40]
    ex.max_pending.value = 30  # theory moves at once, nothing runs
    assert list(next(t for t in ex.figure.data if t.name == plots.THEORY_LIMIT).x) == [40, 40]
    assert len(lab.calls) == 4
    ex.run_button.click()  # the button does what run() does
    assert len(lab.applied) == 2 and len(ex.points) == 3
    assert "runs: 3" in ex.status.value


def test_book_runs_stay_grey_diamonds_in_chinese():
    fig = plots.share_figure(book.book_points(lang="zh"), lang="zh")
    trace = next(t for t in fig.data if t.name == book.book_label("zh"))
    assert trace.marker.symbol == "diamond" and trace.marker.color == plots._BOOK_COLOR
    assert book.is_book(book.book_label("zh")) and not book.is_book("seed")
    assert fig.layout.xaxis.title.text == "并发数（fortio -c）"
