"""Timeline logic on plain data: events, periods, error counts, code totals."""

from __future__ import annotations

from lablib.labs.outlier_detection.timeline import (
    CodeSample,
    HostSample,
    StatSample,
    Timeline,
    events_from_samples,
)

C = "outbound|80||service-go.default.svc.cluster.local"
A, B = "127.0.0.1:1001", "127.0.0.1:1002"


def _series(address: str, states: str, *, errors: list[int] | None = None, dt: float = 0.5):
    """'1' in pool, '0' out, one sample every dt seconds."""
    out = ("/failed_outlier_check",)
    return [HostSample(i * dt, C, address, ch == "1", ("healthy",) if ch == "1" else out,
                       {"rq_error": errors[i]} if errors else {})
            for i, ch in enumerate(states)]


def test_events_are_transitions_bracketed_by_samples():
    events = events_from_samples(_series(A, "1110000111"))
    assert [(e.kind, e.t, e.t_before) for e in events] == [("ejected", 1.5, 1.0), ("returned", 3.5, 3.0)]
    assert all(e.uncertainty == 0.5 for e in events)


def test_host_seen_out_first_counts_as_ejected_at_first_sample():
    events = events_from_samples(_series(A, "0011"))
    assert [(e.kind, e.t) for e in events] == [("ejected", 0.0), ("returned", 1.0)]


def test_periods_open_and_closed_per_host():
    tl = Timeline(hosts=_series(A, "1100110000") + _series(B, "1111100000"), duration=5.0)
    periods = tl.periods()
    assert [(p.address, p.start, p.end) for p in periods] == [(A, 1.0, 2.0), (B, 2.5, None), (A, 3.0, None)]
    assert periods[0].duration == 1.0 and periods[2].duration is None
    assert tl.max_in_pool_out(C) == 2
    assert tl.addresses() == [A, B]


def test_errors_before_ejection_counts_since_last_return():
    # 3 errors before the first ejection; the count then stays (no traffic while out);
    # 5 more before the second.
    tl = Timeline(hosts=_series(A, "1110011100", errors=[0, 1, 2, 3, 3, 3, 4, 6, 8, 8]))
    first, second = tl.events("ejected")
    assert tl.errors_before_ejection(first) == 3
    assert tl.errors_before_ejection(second) == 5


def test_errors_before_ejection_unknown_without_host_stats():
    tl = Timeline(hosts=_series(A, "10"))
    assert tl.errors_before_ejection(tl.events("ejected")[0]) is None


def test_stat_delta_and_code_totals_window():
    stat = "upstream_cx_none_healthy"
    tl = Timeline(stats=[StatSample(0, C, {stat: 2}), StatSample(1, C, {stat: 9})],
                  codes=[CodeSample(0, 1, {200: 10}), CodeSample(1, 2, {200: 4, 503: 6}, {"UH": 6})])
    assert tl.stat_delta("upstream_cx_none_healthy") == 7
    assert tl.stat_delta("missing") == 0
    assert tl.code_totals() == {200: 14, 503: 6}
    assert tl.code_totals(until=1.0) == {200: 10}
    assert tl.flag_totals(since=1.0) == {"UH": 6}
    assert tl.codes[1].calls == 10 and tl.codes[1].t == 1.5
