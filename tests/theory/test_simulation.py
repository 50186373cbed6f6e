"""The discrete-event simulation: fortio's split, routing, capacities, determinism."""

from __future__ import annotations

import math

import pytest

from lablib.theory import (
    ClusterLimits,
    calls_per_thread,
    fast_rejection_bound,
    simulate,
    simulate_curve,
    simulate_envelope,
)

V1 = "outbound|80|v1|service-go.default.svc.cluster.local"
V2 = "outbound|80|v2|service-go.default.svc.cluster.local"
DEFAULT = "outbound|80||service-go.default.svc.cluster.local"


def http1(name: str, weight: float, connections: float, pending: float, *, per_connection: float = math.inf,
          endpoints: int = 1, workers: int = 1) -> ClusterLimits:
    return ClusterLimits(name, weight, connections, pending, math.inf, per_connection, False, endpoints,
                         workers, "LEAST_REQUEST")


def test_calls_per_thread_gives_the_leftover_to_thread_0_like_fortio() -> None:
    assert calls_per_thread(30, 3) == [10, 10, 10]
    assert calls_per_thread(20, 3) == [8, 6, 6]
    assert sum(calls_per_thread(101, 7)) == 101
    # fortio calls before it checks the count: with N < C every thread still makes one call.
    assert calls_per_thread(2, 4) == [2, 1, 1, 1]


@pytest.mark.parametrize(("c", "n"), [(3, 20), (7, 101), (4, 4)])
def test_simulated_run_makes_exactly_n_calls(c: int, n: int) -> None:
    result = simulate(c, n, [http1(DEFAULT, 1.0, 1, 1)], service_time_s=0.01, reject_time_s=0.001,
                      service_cv=0.3, repeats=4)
    assert result.calls == n
    for share in result.shares:  # every share is a whole number of 503s out of exactly n calls
        assert share * n == pytest.approx(round(share * n), abs=1e-9)


def test_same_seed_same_result_other_seed_other_result() -> None:
    limits = [http1(V1, 0.5, 2, 1), http1(V2, 0.5, 2, 1)]
    kwargs = {"service_time_s": 0.01, "reject_time_s": 0.002, "service_cv": 0.4, "repeats": 6}
    assert simulate(9, 90, limits, seed=7, **kwargs) == simulate(9, 90, limits, seed=7, **kwargs)
    other_seed = simulate(9, 90, limits, seed=8, **kwargs)
    assert simulate(9, 90, limits, seed=7, **kwargs).shares != other_seed.shares


def test_two_subset_clusters_each_limited_to_n_admit_about_2n() -> None:
    # A -t run keeps every thread calling, so both clusters stay full: the route admits N + N.
    n_each = 5
    limits = [http1(V1, 0.5, n_each, 0), http1(V2, 0.5, n_each, 0)]
    kwargs = {"service_time_s": 0.01, "reject_time_s": 0.0002, "service_cv": 0.3, "repeats": 2,
              "duration_s": 0.5}
    both = simulate(40, 0, limits, **kwargs)
    assert 0.9 * 2 * n_each <= both.admitted_mean <= 2 * n_each
    assert set(both.rejections_by_cluster) == {V1, V2}  # both subsets' breakers trip
    one = simulate(40, 0, [http1(V1, 1.0, n_each, 0)], **kwargs)
    assert 0.9 * n_each <= one.admitted_mean <= n_each


def test_weighted_routing_sends_the_share_of_calls_each_weight_asks_for() -> None:
    # Unlimited clusters: nothing is rejected, so check the split through a breaker that rejects all.
    never = http1(V2, 0.2, 0, 0)  # no connection, no queue: every call routed here is a 503
    always = http1(V1, 0.8, math.inf, 0)
    result = simulate(4, 4000, [always, never], service_time_s=0.001, reject_time_s=0.001, repeats=2)
    assert result.mean == pytest.approx(0.2, abs=0.03)


def test_slack_capacity_admits_the_per_worker_connections_too() -> None:
    lim = http1(DEFAULT, 1.0, 1, 1, endpoints=2, workers=2)  # slack connections 1 + 2*2 = 5
    exact = simulate(12, 600, [lim], service_time_s=0.01, reject_time_s=1e-6, repeats=3)
    slack = simulate(12, 600, [lim], service_time_s=0.01, reject_time_s=1e-6, repeats=3, capacity="slack")
    assert exact.mean == pytest.approx(fast_rejection_bound(12, lim.admitted), abs=0.02)
    assert slack.mean == pytest.approx(fast_rejection_bound(12, lim.admitted_high), abs=0.02)


def test_envoy_pools_reduce_to_the_exact_breaker_with_one_worker_one_endpoint_and_keep_alive() -> None:
    lim = http1(DEFAULT, 1.0, 2, 1)
    for c in (2, 3, 6):
        kwargs = {"service_time_s": 0.01, "reject_time_s": 0.0005, "service_cv": 0.3, "repeats": 8}
        exact = simulate(c, 20 * c, [lim], **kwargs)
        envoy = simulate(c, 20 * c, [lim], capacity="envoy", **kwargs)
        assert envoy.mean == pytest.approx(exact.mean, abs=0.03), c


def test_envoy_pools_let_each_endpoint_open_a_connection_past_max_connections() -> None:
    # The Istio task's rule with keep-alive: one endpoint admits 1 + 1; two endpoints add one connection.
    one = http1(DEFAULT, 1.0, 1, 1, endpoints=1)
    two = http1(DEFAULT, 1.0, 1, 1, endpoints=2)
    kwargs = {"service_time_s": 0.01, "reject_time_s": 1e-6, "service_cv": 0.3, "repeats": 6,
              "capacity": "envoy"}
    share_one = simulate(6, 240, [one], **kwargs).mean
    share_two = simulate(6, 240, [two], **kwargs).mean
    assert share_one == pytest.approx(fast_rejection_bound(6, 2), abs=0.03)
    assert fast_rejection_bound(6, 3) - 0.03 <= share_two < share_one - 0.05


def test_no_keep_alive_makes_real_envoy_stricter_than_the_exact_breaker() -> None:
    # maxRequestsPerConnection 1: each request holds the pending slot while its connection comes up, so a
    # returning thread that is faster than that connection is rejected even at c = L.
    lim = http1(DEFAULT, 1.0, 1, 1, per_connection=1)
    slow_connect = simulate(2, 40, [lim], service_time_s=0.01, reject_time_s=0.0005, connect_time_s=0.0004,
                            client_gap_s=0.0001, repeats=4)
    fast_connect = simulate(2, 40, [lim], service_time_s=0.01, reject_time_s=0.0005, connect_time_s=0.0001,
                            client_gap_s=0.0004, repeats=4)
    # Only the very first calls collide: both threads start at once and the first connection is coming up.
    assert fast_connect.shares == (1 / 40,) * 4
    assert slow_connect.mean >= 0.4


def test_envelope_spans_its_variants_and_curve_runs_each_c() -> None:
    lim = http1(DEFAULT, 1.0, 1, 1, per_connection=1, endpoints=2)
    base = {"service_time_s": 0.01, "reject_time_s": 0.0008, "client_gap_s": 0.0006, "timing_cv": 1.0,
            "service_cv": 0.05, "repeats": 10, "capacity": "envoy"}
    env = simulate_envelope(4, 80, [lim], [{"connect_time_s": 0.0}, {"connect_time_s": 0.0003}], **base)
    assert len(env.variants) == 2 and len(env.shares) == 20
    assert env.low == min(v.low for v in env.variants) and env.high == max(v.high for v in env.variants)
    curve = simulate_curve([1, 2, 4], lambda c: 10 * c, [lim], **base)
    assert [r.c for r in curve] == [1, 2, 4] and [r.calls for r in curve] == [10, 20, 40]
    assert curve[0].shares == (0.0,) * 10


def test_bad_inputs_are_refused_with_the_reason() -> None:
    lim = http1(DEFAULT, 1.0, 1, 1)
    with pytest.raises(ValueError, match="reject_time_s"):
        simulate(2, 10, [lim], service_time_s=0.01, reject_time_s=math.nan)
    with pytest.raises(ValueError, match="no clusters"):
        simulate(2, 10, [], service_time_s=0.01, reject_time_s=0.001)
    with pytest.raises(ValueError, match="-c >= 1"):
        simulate(0, 10, [lim], service_time_s=0.01, reject_time_s=0.001)


def test_seed_rule_503s_come_from_worker_slack_and_max_requests() -> None:
    # The seed's rule: 10 connections, 10 requests, pending unset. The exact breaker only queues; Envoy with
    # 2 workers opens slack connections whose streams max_requests rejects (measured-envoy-1.40.md), while
    # with 1 worker and one endpoint per subset nothing is ever rejected.
    kwargs = {"service_time_s": 0.025, "reject_time_s": 0.0005, "service_cv": 0.1, "repeats": 5,
              "connect_time_s": 0.0002, "capacity": "envoy"}
    for workers, expect_503s in ((1, False), (2, True)):
        lim = ClusterLimits(DEFAULT, 1.0, 10, math.inf, 10, 10, False, 2, workers, "LEAST_REQUEST")
        results = [simulate(c, 10 * c, [lim], **kwargs) for c in (20, 30, 60)]
        rejected = sum(r.overflows.get("upstream_rq_active_overflow", 0) for r in results)
        assert (rejected > 0) == expect_503s, workers
        assert all(r.overflows.get("upstream_rq_pending_overflow", 0) == 0 for r in results)
        assert all(r.mean < 0.1 for r in results)  # a few, not the 1 - L/c of a real limit
        assert simulate(30, 300, [lim], **{**kwargs, "capacity": "exact"}).mean == 0.0


def test_which_counter_a_simulated_503_increments() -> None:
    times = {"service_time_s": 0.01, "reject_time_s": 0.001, "repeats": 2}
    pending = simulate(6, 60, [http1(DEFAULT, 1.0, 1, 1)], **times)
    assert set(pending.overflows) == {"upstream_rq_pending_overflow"}
    by_requests = ClusterLimits(DEFAULT, 1.0, math.inf, math.inf, 2, math.inf, False, 1, 1)
    active = simulate(6, 60, [by_requests], **times)
    assert set(active.overflows) == {"upstream_rq_active_overflow"}
    assert sum(active.overflows.values()) == sum(active.rejections_by_cluster.values())
