"""Closed forms for the 503 share, and the simulation reproducing each of them in its limit."""

from __future__ import annotations

import math

import pytest

from lablib.theory import (
    ClusterLimits,
    duration_run_bound,
    fast_rejection_bound,
    littles_law_concurrency,
    simulate,
)

DEFAULT = "outbound|80||service-go.default.svc.cluster.local"


def breaker(in_flight: float, queue: float, *, name: str = DEFAULT, weight: float = 1.0) -> ClusterLimits:
    """An HTTP/1.1 cluster with keep-alive: ``in_flight`` connections and ``queue`` pending requests."""
    return ClusterLimits(name, weight, in_flight, queue, math.inf, math.inf, False, 1, 1)


def test_fast_rejection_bound_is_zero_up_to_L_then_one_minus_L_over_c() -> None:
    assert [fast_rejection_bound(c, 2) for c in (1, 2)] == [0.0, 0.0]
    assert fast_rejection_bound(3, 2) == pytest.approx(1 / 3)
    assert fast_rejection_bound(20, 20) == 0.0 and fast_rejection_bound(40, 20) == pytest.approx(0.5)
    assert fast_rejection_bound(5, math.inf) == 0.0
    with pytest.raises(ValueError):
        fast_rejection_bound(0, 2)


def test_duration_run_bound_counts_calls_not_threads() -> None:
    # r = s, no queue: each looping thread calls as often as an admitted one, so the share is 1 - L/c.
    assert duration_run_bound(4, 2, service_time_s=0.01, reject_time_s=0.01) == pytest.approx(0.5)
    # Fast local 503s: looping threads make many calls, so the share of calls is far above 1 - L/c.
    fast = duration_run_bound(4, 2, service_time_s=0.025, reject_time_s=0.0005)
    assert fast == pytest.approx(2 * 0.025 / (2 * 0.025 + 2 * 0.0005)) and fast > 0.95
    # Queued threads add latency, not throughput: only in_flight completes 200s.
    queued = duration_run_bound(4, 2, service_time_s=0.01, reject_time_s=0.01, in_flight=1)
    assert queued == pytest.approx(2 / 3)
    assert duration_run_bound(2, 2, service_time_s=0.01, reject_time_s=0.0) == 0.0
    assert duration_run_bound(3, 2, service_time_s=0.01, reject_time_s=0.0) == 1.0


def test_littles_law() -> None:
    assert littles_law_concurrency(200, 0.025, 2.5) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        littles_law_concurrency(10, 0.01, 0)


@pytest.mark.parametrize(("in_flight", "queue"), [(1, 1), (2, 0), (3, 2)])
def test_simulation_never_rejects_at_or_below_L(in_flight: int, queue: int) -> None:
    limit = in_flight + queue
    for c in range(1, limit + 1):
        result = simulate(c, 30 * c, [breaker(in_flight, queue)], service_time_s=0.01, reject_time_s=0.001,
                          service_cv=0.5, repeats=5)
        assert result.shares == (0.0,) * 5, (c, result.shares)


@pytest.mark.parametrize(("in_flight", "queue"), [(1, 1), (2, 2), (4, 0)])
def test_simulation_reaches_the_fast_rejection_bound_when_rejections_take_no_time(in_flight: int,
                                                                                  queue: int) -> None:
    limit = in_flight + queue
    for c in (limit + 1, 2 * limit, 5 * limit):
        result = simulate(c, 40 * c, [breaker(in_flight, queue)], service_time_s=0.01, reject_time_s=1e-9,
                          service_cv=0.3, repeats=5)
        assert result.mean == pytest.approx(fast_rejection_bound(c, limit), abs=0.02), c


def test_simulation_reaches_the_duration_run_bound_in_long_t_runs() -> None:
    lim = breaker(1, 1)  # L = 2, one in flight
    for c, reject in ((3, 0.002), (6, 0.001), (6, 0.01)):
        result = simulate(c, 0, [lim], service_time_s=0.01, reject_time_s=reject, duration_s=5.0, repeats=2)
        bound = duration_run_bound(c, 2, service_time_s=0.01, reject_time_s=reject, in_flight=1)
        assert result.mean == pytest.approx(bound, abs=0.01), (c, reject)
        assert result.mean > fast_rejection_bound(c, 2)


def test_unlimited_queue_never_rejects() -> None:
    lim = ClusterLimits("c", 1.0, 1, math.inf, math.inf, math.inf, False, 1, 1)
    result = simulate(20, 400, [lim], service_time_s=0.001, reject_time_s=0.0001, service_cv=0.5, repeats=3)
    assert result.shares == (0.0, 0.0, 0.0)
    # Everything waits: on average nearly all 20 threads are admitted (in flight or queued).
    assert result.admitted_mean == pytest.approx(20, rel=0.05)
