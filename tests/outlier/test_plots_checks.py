"""Plots and check cells on synthetic timelines: they say what the data says, pass and fail."""

from __future__ import annotations

from lablib.labs.outlier_detection import checks
from lablib.labs.outlier_detection.plots import timeline_figure
from lablib.labs.outlier_detection.timeline import CodeSample, HostSample, Mark, StatSample, Timeline

C = "outbound|80||service-go.default.svc.cluster.local"
A, B = "127.0.0.1:1001", "127.0.0.1:1002"


def _tl(a: str, b: str, *, errors_a: list[int] | None = None, stats: dict[str, list[int]] | None = None,
        dt: float = 1.0, codes: list[dict[int, int]] | None = None,
        flags: list[dict[str, int]] | None = None) -> Timeline:
    """Two hosts; a/b are strings of '1' (in pool) / '0' (out), one sample per dt."""
    hosts = []
    for addr, states, errs in ((A, a, errors_a), (B, b, None)):
        for i, ch in enumerate(states):
            flags_ = ("healthy",) if ch == "1" else ("/failed_outlier_check",)
            host_stats = {"rq_error": errs[i]} if errs else {}
            hosts.append(HostSample(i * dt, C, addr, ch == "1", flags_, host_stats))
    n = len(a)
    stat_samples = [StatSample(i * dt, C, {k: v[i] for k, v in (stats or {}).items()}) for i in range(n)]
    flags = flags or [{}] * n
    code_samples = [CodeSample(i * dt, (i + 1) * dt, c, flags[i]) for i, c in enumerate(codes or [])]
    return Timeline(hosts=hosts, stats=stat_samples, codes=code_samples, duration=n * dt,
                    marks=[Mark(0.5, "fault on")])


def test_figure_has_a_row_per_host_codes_split_by_flag_and_event_lines():
    tl = _tl("1100011", "1111000", codes=[{200: 5}, {200: 3, 503: 2}, {503: 5}, {503: 5}, {503: 5},
                                          {200: 5}, {200: 5}],
             flags=[{}, {}, {}, {"UH": 5}, {"UH": 3}, {}, {}])
    fig = timeline_figure(tl, names={A: "service-go-v1-0"})
    names = [t.name for t in fig.data]
    assert "in pool: service-go-v1-0" in names and f"in pool: {B}" in names
    bars = {t.name: list(t.y) for t in fig.data if t.type == "bar"}
    assert bars["503 UH"] == [0, 0, 0, 5, 3, 0, 0]
    assert bars["503"] == [0, 2, 5, 0, 2, 0, 0]
    assert bars["200"] == [5, 3, 0, 0, 0, 5, 5]
    dashed = [s for s in fig.layout.shapes if s.line.dash == "dash"]
    assert len(dashed) == len(tl.events()) == 3  # A out, B out, A back
    shaded = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(shaded) == len(tl.periods()) == 2
    assert any(a.text == "fault on" for a in fig.layout.annotations)


def test_ejected_after_threshold_with_slack():
    good = _tl("1110000", "1111111", errors_a=[0, 1, 2, 4, 4, 4, 4])
    assert checks.ejected_after(good, 3).ok
    assert not checks.ejected_after(good, 5).ok  # 4 errors < 5: the rule was not the one you think
    late = _tl("1110000", "1111111", errors_a=[0, 5, 9, 15, 15, 15, 15])
    result = checks.ejected_after(late, 3)
    assert not result.ok and "consecutiveErrors" in result.detail
    assert not checks.ejected_after(_tl("1111", "1111"), 3).ok


def test_returned_after_base_plus_one_interval():
    tl = _tl("1" + "0" * 5 + "11", "1" * 8, dt=1.0)  # out from t=1 to t=6: 5s
    assert checks.returned_after(tl, 5, 1).ok
    assert not checks.returned_after(tl, 2, 1).ok  # too late for 2s + 1s (+ 1s sampling jitter)
    assert not checks.returned_after(tl, 8, 1).ok  # too early for 8s
    still_out = checks.returned_after(_tl("1000", "1111"), 5, 1)
    assert not still_out.ok and "still out" in still_out.detail


def test_a_return_the_sampler_missed_is_read_from_the_ejection_counter():
    # A out from t=1 on in every sample, but the cluster ejected again at t=6: A, the only host out, had come
    # back (between two samples) and was ejected again at once, its fault still on.
    enforced = {"outlier_detection.ejections_enforced_total": [0, 1, 1, 1, 1, 1, 2, 2, 2]}
    tl = _tl("1" + "0" * 8, "1" * 9, stats=enforced)
    assert tl.reejected_at(tl.periods()[0]) == 6.0
    seen = checks.returned_after(tl, 5, 1)
    assert seen.ok and "ejected again" in seen.detail and "t=6.0s" in seen.detail
    assert not checks.returned_after(tl, 2, 1).ok, "the time still has to fit"
    assert "再次被驱逐" in checks.returned_after(tl, 5, 1, lang="zh").detail
    # No second ejection counted: still out. Another host out too: the counter cannot say whose it was.
    flat = {"outlier_detection.ejections_enforced_total": [0] + [1] * 8}
    assert not checks.returned_after(_tl("1" + "0" * 8, "1" * 9, stats=flat), 5, 1).ok
    both = _tl("1" + "0" * 8, "11" + "0" * 7, stats=enforced)
    assert both.reejected_at(both.periods()[0]) is None


def test_all_ejected_uh_needs_every_host_out_and_none_healthy_counter():
    stats = {"upstream_cx_none_healthy": [0, 0, 4, 9]}
    assert checks.all_ejected_uh(_tl("1000", "1100", stats=stats), 2).ok
    assert not checks.all_ejected_uh(_tl("1000", "1111", stats=stats), 2).ok
    no_uh = {"upstream_cx_none_healthy": [0, 0, 0, 0]}
    assert not checks.all_ejected_uh(_tl("1000", "1100", stats=no_uh), 2).ok


def test_max_ejection_kept_one_of_two():
    refused = {"outlier_detection.ejections_overflow": [0, 0, 3, 7]}
    assert checks.max_ejection_kept(_tl("1000", "1111", stats=refused), 2, 50).ok
    assert not checks.max_ejection_kept(_tl("1000", "1100", stats=refused), 2, 50).ok
    assert not checks.max_ejection_kept(_tl("1000", "1111"), 2, 50).ok  # Envoy never had to refuse


def test_ejection_grows_and_never_ejected_and_overflow():
    assert checks.ejection_grows(_tl("1001000000111", "1" * 13), 2).ok  # out 2s, then 6s
    assert not checks.ejection_grows(_tl("1001001111", "1" * 10), 2).ok  # out 2s, then 2s
    calm = _tl("1111", "1111", stats={"upstream_rq_pending_overflow": [0, 5, 9, 20],
                                      "outlier_detection.ejections_enforced_total": [0, 0, 0, 0]})
    assert checks.never_ejected(calm, "500s do not count as gateway errors").ok
    assert checks.overflow_not_counted(calm).ok
    assert not checks.overflow_not_counted(_tl("1111", "1111")).ok  # no overflow: nothing shown
    assert not checks.never_ejected(_tl("1100", "1111"), "x").ok


def test_retries_hide_503_but_not_500():
    retried = {"upstream_rq_retry": [0, 4, 8, 8]}
    hidden = _tl("1100", "1111", stats=retried, codes=[{200: 5}, {200: 5}, {200: 5}, {200: 5}])
    assert checks.retries_hide(hidden, 503, retried={503}).ok
    assert not checks.retries_hide(hidden, 503).ok  # not retried, yet the client saw none
    shown = _tl("1100", "1111", codes=[{200: 3, 500: 2}, {200: 3, 500: 2}, {200: 5}, {200: 5}])
    assert checks.retries_hide(shown, 500).ok
    assert not checks.retries_hide(shown, 503).ok
    assert "✔" in checks.retries_hide(shown, 500)._repr_html_()


def test_longest_failure_run_matches_service_go_fault_pattern():
    from lablib.labs.outlier_detection.widgets import longest_failure_run
    from lablib.service_go import Fault

    for fraction in (0.0, 0.25, 0.5, 0.6, 0.75, 0.8, 0.9, 0.95):
        fault = Fault(code=503, fraction=fraction)
        run = longest = 0
        for _ in range(400):
            run = run + 1 if fault.next_code() is not None else 0
            longest = max(longest, run)
        assert longest == longest_failure_run(fraction), fraction
    assert longest_failure_run(1.0) == float("inf")


def test_explorer_builds_rule_and_faults_from_sliders(tmp_path):
    from lablib.labs.outlier_detection.widgets import Explorer

    ex = Explorer(object(), rule_path=tmp_path / "dr.yaml", fraction=0.75, consecutive=4, base_ejection_s=7,
                  max_ejection_percent=50, both_fail=True, code=500)
    s = ex.settings()
    assert (s.consecutive_5xx_errors, s.base_ejection_time, s.max_ejection_percent) == (4, "7s", 50)
    assert [(f.target, f.code, f.fraction) for f in ex.faults()] == [("service-go-v1", 500, 0.75),
                                                                      ("service-go-v2", 500, 0.75)]
    assert not ex.expect_ejection()  # 0.75 fails 3 in a row at most: never 4
    ex.consecutive.value = 3
    assert ex.expect_ejection()


def test_chinese_figure_and_checks_say_the_same_as_the_english():
    tl = _tl("1100011", "1111000", codes=[{200: 5}] * 7)
    fig = timeline_figure(tl, names={A: "service-go-v1-0"}, lang="zh")
    assert "在池中：service-go-v1-0" in [t.name for t in fig.data]
    assert fig.layout.title.text.startswith("异常检测")
    for lang in ("en", "zh"):
        assert checks.returned_after(tl, 3, 1, lang=lang).ok
        assert not checks.ejection_grows(tl, 2, lang=lang).ok
    assert "驱逐" in checks.ejected_after(tl, 3, lang="zh").title


def test_max_ejection_refused_needs_nobody_out_and_a_refusal():
    refused = {"outlier_detection.ejections_overflow": [0, 2, 5, 9]}
    assert checks.max_ejection_refused(_tl("1111", "1111", stats=refused), 2, 10).ok
    assert not checks.max_ejection_refused(_tl("1100", "1111", stats=refused), 2, 10).ok  # one went out
    assert not checks.max_ejection_refused(_tl("1111", "1111"), 2, 10).ok  # nothing detected: no fault?


def test_explorer_reaches_the_default_max_ejection_percent(tmp_path):
    from lablib.labs.outlier_detection.widgets import UNSET, Explorer

    ex = Explorer(object(), rule_path=tmp_path / "dr.yaml", max_ejection_percent=None)
    assert ex.max_ejection.value == UNSET and ex.settings().max_ejection_percent is None
    assert "maxEjectionPercent" not in ex.settings().istio_fields()
    assert ex.allowed_out() == 0  # 100 x 1 / 2 > 10: neither host may go
    assert [c.title for c in ex.checks(_tl("1111", "1111"))] == [
        checks.max_ejection_refused(_tl("1111", "1111"), 2, 10).title]
    ex.max_ejection.value = 50
    assert ex.allowed_out() == 1 and ex.settings().max_ejection_percent == 50
