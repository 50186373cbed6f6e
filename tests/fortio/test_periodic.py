"""fortio's split of -n over -c, thread lowering, start lines and pacing (no HTTP)."""

from __future__ import annotations

import pytest

from lablib.fortio.periodic import ThreadPacer, plan_run


@pytest.mark.parametrize(
    ("n", "c", "calls"),
    [(30, 3, [10, 10, 10]), (31, 3, [11, 10, 10]), (32, 3, [12, 10, 10]), (200, 20, [10] * 20), (7, 1, [7])],
)
def test_max_speed_split_leftover_goes_to_thread_0(n, c, calls):
    plan = plan_run(qps=0, num_threads=c, exactly=n, duration_s=5, gomax=16)
    assert plan.calls_per_thread == calls and plan.num_threads == c
    assert plan.requested_qps == "max" and plan.requested_duration == f"exactly {n} calls"


def test_max_speed_start_line_is_fortios():
    plan = plan_run(qps=0, num_threads=3, exactly=30, duration_s=5, gomax=16)
    assert (
        plan.start_line
        == "Starting at max qps with 3 thread(s) [gomax 16] for exactly 30 calls (10 per thread + 0)"
    )


def test_n_less_than_c_makes_n_plus_c_minus_1_calls_and_warns():
    plan = plan_run(qps=0, num_threads=3, exactly=2, duration_s=5, gomax=2)
    assert plan.calls_per_thread == [2, 0, 0]
    # each thread's loop calls before checking, so a 0-call thread still makes one call
    made = []
    for t in range(3):
        p = ThreadPacer(plan, t)
        k = 0
        while True:
            assert p.before_call(0.0)
            k += 1
            if p.after_call(0.0) is None:
                break
        made.append(k)
    assert made == [2, 1, 1] and sum(made) == 2 + 3 - 1
    assert any("N+C-1" in w for w in plan.warnings)


def test_paced_mode_lowers_threads_like_fortio_issue_567():
    plan = plan_run(qps=8, num_threads=10, exactly=10, duration_s=5, gomax=16)
    assert plan.num_threads == 5 and plan.calls_per_thread == [2] * 5
    assert plan.warnings == ["Lowering number of threads - total call 10 -> lowering from 10 to 5 threads"]
    assert plan.start_line == (
        "Starting at 8 qps with 5 thread(s) [gomax 16] : exactly 10, 2 calls each (total 10 + 0)"
    )


def test_paced_mode_at_least_two_calls_on_one_thread():
    plan = plan_run(qps=10, num_threads=4, exactly=1, duration_s=5, gomax=1)
    # forced to 2 calls on 1 thread, then the leftover (1 - 2) brings thread 0 back to exactly N
    assert plan.num_threads == 1 and plan.per_thread == 2 and plan.calls_per_thread == [1]
    assert plan.warnings[0].startswith("Increasing the number of calls to the minimum of 2 with 1 thread")


def test_paced_duration_mode_drops_the_remainder():
    plan = plan_run(qps=10, num_threads=3, exactly=0, duration_s=2, gomax=2)
    assert plan.calls_per_thread == [6, 6, 6] and plan.requested_duration == "2s"
    assert plan.start_line == "Starting at 10 qps with 3 thread(s) [gomax 2] for 2s : 6 calls each (total 18)"


def test_paced_targets_spread_per_thread_calls_over_the_duration():
    plan = plan_run(qps=10, num_threads=2, exactly=20, duration_s=5, gomax=2)
    p = ThreadPacer(plan, 0)
    delays = []
    while (d := p.after_call(0.0)) is not None:
        delays.append(d)
    # 10 calls per thread at 5 qps per thread: call i at (i + i/9)/5 s, the last at 2 s
    assert len(delays) == 9
    assert delays[-1] == pytest.approx(2.0) and delays[0] == pytest.approx((1 + 1 / 9) / 5)


def test_max_speed_duration_stops_before_a_call_that_would_start_late():
    plan = plan_run(qps=0, num_threads=2, exactly=0, duration_s=1, gomax=2)
    p = ThreadPacer(plan, 0)
    assert p.before_call(0.5) and p.after_call(0.5) == 0.0
    assert not p.before_call(1.01)
