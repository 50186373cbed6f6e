"""Retries and the retry breakers on real Envoy 1.40 sidecars configured as Istio 1.30 would (lab 05).

One flaky service-go v1 (each call answers 503 with probability p, drawn at random) behind its sidecar, the
fortio pod's client sidecar in front. Robust properties only: the amplification measured at the server
(requests that reached service-go per client call) inside theory's band for the measured failure fraction,
which counter moves and when, a share below a ceiling; never an exact percentage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lablib.labs.retries_meet_breakers import mesh, steps
from lablib.labs.retries_meet_breakers.experiment import RetryRun, measure
from lablib.labs.retries_meet_breakers.theory import amplification, amplification_band, failed_share
from lablib.notebook.runs import SERVICE_CLUSTER

pytestmark = pytest.mark.envoy

P = 0.5


def run(lab: Any, work: Path, c: int, calls: int, *, rule: dict[str, Any] | None = None,
        **route: Any) -> RetryRun:
    mesh.use_rule(lab, work, **(rule or {}))
    mesh.use_route(lab, work, **route)
    return measure(lab, "test", c, calls=calls, settings=route)


def test_every_retry_field_istio_translates_is_one_envoy_accepts_and_runs(lab: Any, work: Path) -> None:
    # retry_priority, retry_back_off, a retry_on made of a code only (",retriable-status-codes", as Istio
    # writes it), hash_policy and max_grpc_timeout: lab.apply returns once the live Envoy runs them
    route = mesh.retry_route(work, attempts=3, retry_on="503", per_try_timeout="250ms", timeout="2s")
    vs = yaml.safe_load(route.read_text())
    vs["spec"]["http"][0]["retries"].update({"backoff": "10ms", "retryRemoteLocalities": True,
                                             "retryIgnorePreviousHosts": True})
    route.write_text(yaml.safe_dump(vs))
    rule = mesh.retry_rule(work, max_retries=7, budget={"percent": 12.5, "minRetryConcurrency": 2})
    dr = yaml.safe_load(rule.read_text())
    dr["spec"]["trafficPolicy"]["loadBalancer"] = {"consistentHash": {"httpHeaderName": "x-user"}}
    rule.write_text(yaml.safe_dump(dr))
    lab.apply(rule)
    lab.apply(route)
    live = steps.route_policy(lab)
    policy = live["retry_policy"]
    assert live["timeout"] == "2s"
    assert policy["retry_on"] == ",retriable-status-codes" and policy["retriable_status_codes"] == [503]
    assert policy["num_retries"] == 3 and policy["per_try_timeout"] == "0.250s"
    assert policy["retry_back_off"]["base_interval"] == "0.010s"
    assert policy["retry_priority"]["name"] == "envoy.retry_priorities.previous_priorities"
    assert policy["retry_host_predicate"][0]["name"] == "envoy.retry_host_predicates.previous_hosts"
    cluster = yaml.safe_load(lab.proxy_config("cluster"))
    (mine,) = [c for c in cluster if c["name"] == SERVICE_CLUSTER]
    (threshold,) = mine["circuitBreakers"]["thresholds"]
    assert threshold["maxRetries"] == 7
    assert threshold["retryBudget"] == {"budgetPercent": {"value": 12.5}, "minRetryConcurrency": 2}
    codes = measure(lab, "smoke", 2, calls=10).codes  # and it serves
    assert codes == {200: 10}


def test_amplification_follows_theory_for_0_1_2_5_retries(lab: Any, work: Path) -> None:
    mesh.make_flaky(lab, P, seed=7)
    runs = [run(lab, work, 10, 300, attempts=n) for n in (0, 1, 2, 5)]
    for r in runs:
        low, high = r.band()
        assert low <= r.amplification <= high, (r.attempts, r.amplification, r.failure_fraction, (low, high))
        assert abs(r.failure_fraction - P) < 0.12, r.failure_fraction  # the knob's draws, every attempt alike
    # the client's 503 share falls as theory's p^(N+1) (3 binomial errors + 3 points of slack)
    for r in runs:
        expected = failed_share(r.failure_fraction, r.attempts)
        assert abs(r.share_503 - expected) <= 3 * (expected * (1 - expected) / r.calls) ** 0.5 + 0.03, r
    assert [r.amplification for r in runs] == sorted(r.amplification for r in runs)
    assert runs[-1].share_503 < runs[0].share_503 / 4
    # each retry is one Envoy counted: upstream_rq_retry = what reached the server - the calls
    for r in runs:
        assert r.retries == r.reached - r.calls, (r.retries, r.reached, r.calls)


def test_retry_overflow_counts_exactly_when_concurrent_retries_exceed_max_retries(lab: Any, work: Path
                                                                                   ) -> None:
    mesh.make_flaky(lab, P, seed=3)
    # a call has at most one retry outstanding: with -c at or below maxRetries the breaker cannot trip
    for c in (1, 2):
        r = run(lab, work, c, 30 * c, rule={"max_retries": 2}, attempts=2)
        assert r.retries > 0 and r.retry_overflow == 0, (c, r.client)
    over = run(lab, work, 20, 300, rule={"max_retries": 2}, attempts=2)
    assert over.retry_overflow > 0, over.client
    free = run(lab, work, 20, 300, attempts=2)  # Istio's default max_retries: 2^32-1
    assert free.retry_overflow == 0 and free.retries > over.retries, (free.client, over.client)
    # a refused retry leaves the failed try's 503 to the client: more 503s than without the breaker
    assert over.share_503 > free.share_503
    assert over.amplification < free.amplification


def test_a_refused_retry_reaches_the_client_as_the_upstream_503_flagged_uo(lab: Any, work: Path) -> None:
    mesh.make_flaky(lab, P, seed=5)
    mesh.use_rule(lab, work, max_retries=1)
    mesh.use_route(lab, work, attempts=2)
    r = measure(lab, "uo", 20, calls=200, responses=True)
    refused = [x for x in r.records if x.code == 503 and "UO" in x.flag_set]
    assert r.retry_overflow > 0 and refused, r.client
    assert all(x.details == "via_upstream" for x in refused)  # the app's 503, not a local reply


def test_the_budget_caps_retries_near_its_percent_where_max_retries_does_not_scale(lab: Any, work: Path
                                                                                  ) -> None:
    mesh.make_flaky(lab, P, seed=11)
    free = run(lab, work, 40, 400, attempts=2)
    budget = run(lab, work, 40, 400, rule={"budget": {"percent": 20}}, attempts=2)
    floor = 3  # Istio's minRetryConcurrency when the budget leaves it out
    assert budget.retry_overflow > 0, budget.client
    assert budget.retry_share <= 0.20 + floor / 40 + 0.05, budget.retry_share
    assert free.retry_share > budget.retry_share + 0.1, (free.retry_share, budget.retry_share)
    # at low load the floor lets every retry through, like an unlimited breaker would
    low = run(lab, work, 2, 60, rule={"budget": {"percent": 20}}, attempts=2)
    assert low.retry_overflow == 0 and low.retries > 0, low.client
    # the budget grows with the load; maxRetries 2 does not: at c=40 it refuses more than the budget
    fixed = run(lab, work, 40, 400, rule={"max_retries": 2}, attempts=2)
    assert fixed.retry_share < budget.retry_share, (fixed.retry_share, budget.retry_share)
    # with a budget, max_retries is not consulted: maxRetries 1 beside a 100% budget refuses (almost) nothing
    both = run(lab, work, 40, 400, rule={"max_retries": 1, "budget": {"percent": 100}}, attempts=2)
    assert both.retry_overflow < fixed.retry_overflow / 4 and both.retry_share > free.retry_share - 0.1, (
        both.client, fixed.client)


def test_the_client_sidecars_own_overflow_is_never_retried(lab: Any, work: Path) -> None:
    mesh.heal(lab)
    r = run(lab, work, 10, 100, rule={"pool": {"http": {"http2MaxRequests": 1}}}, attempts=5,
            retry_on="5xx,gateway-error,reset,connect-failure,refused-stream,retriable-status-codes,503")
    assert r.codes.get(503, 0) > 0 and r.client["upstream_rq_active_overflow"] == r.codes[503], r
    # The rule's pool is the server sidecars' too: on a busy machine one may overflow now and then, and the
    # client retries that upstream 503 (1 retry of 1 server overflow in one run with 3 test workers on 2
    # cores). Every other retry would be of the client's own overflow.
    assert r.retries <= r.server_overflows() and r.reached == r.codes.get(200, 0), r
    r = run(lab, work, 10, 100, rule={"pool": {"tcp": {"maxConnections": 1}, "http": {
        "http1MaxPendingRequests": 1}}}, attempts=5)
    assert r.client["upstream_rq_pending_overflow"] == r.codes.get(503, 0) > 0, r
    assert r.retries <= r.server_overflows(), r


def test_per_try_timeouts_are_retried_and_the_route_timeout_bounds_the_call(lab: Any, work: Path) -> None:
    cases = steps.timeouts(lab, work, delay_ms=300, calls=10, queue_calls=100)
    per_try, too_long, queue = cases["per-try"], cases["too-long"], cases["queue"]
    # every try (1 + 2 retries) cut at 100 ms; service-go saw all of them; each call 504 URX,UT
    assert per_try.codes == {504: 10} and per_try.client["upstream_rq_per_try_timeout"] == 30
    assert per_try.reached == 30 and per_try.retries == 20
    assert {(x.flags, x.details) for x in per_try.records} == {("URX,UT", "upstream_per_try_timeout")}
    # tries of 200 ms, 3 retries, a 500 ms route timeout: it fires first (UT response_timeout). The cluster
    # counts it (upstream_rq_timeout) when a try was in flight, not when it fired during a back-off.
    assert too_long.codes == {504: 10} and 0 < too_long.client["upstream_rq_timeout"] <= 10
    assert {(x.flags, x.details) for x in too_long.records} == {("UT", "response_timeout")}
    assert all(x.attempts < too_long.attempts + 1 for x in too_long.records)
    # one connection, 100 ms: calls spend it in the pending queue; some never reach service-go
    assert queue.codes.get(504, 0) > 0 and 0 < queue.client["upstream_rq_timeout"] <= queue.codes[504]
    assert queue.client["upstream_rq_pending_total"] > 0
    assert int(queue.client["upstream_rq_total"]) < queue.calls, queue.client
    assert queue.reached <= queue.client["upstream_rq_total"]


def test_theory_band_holds_the_right_answer_and_refuses_a_wrong_one() -> None:
    # the band is not so wide it accepts anything: N=2 at p=0.5 over 300 calls excludes N=1's and N=5's means
    low, high = amplification_band(0.5, 2, 300)
    assert low < amplification(0.5, 2) < high
    assert not low <= amplification(0.5, 1) <= high and not low <= amplification(0.5, 5) <= high
