"""Lab 05's checks on data shaped like real runs (``RetryRun``s with the counters real Envoy gave in the
notebook's runs): each passes on what a working step shows, fails on what a broken one would, and a failing
check says what to do next in English and in Chinese. The predictions' verdicts and the theory are checked
here too (pure)."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import pytest

from lablib.envoy.access_log import ResponseRecord
from lablib.labs.retries_meet_breakers import checks, exercise, theory
from lablib.labs.retries_meet_breakers.experiment import RetryRun
from lablib.notebook.predict import Prediction
from tests.support import CJK

NEXT_STEP = {"en": re.compile(r"`|Step \d|[Rr]e-run|parameters cell|[Pp]ress Run"),
             "zh": re.compile(r"`|第 \d 步|重新运行|参数单元格|按“运行”")}
V1, V2 = "service-go-v1-0", "service-go-v2-0"
ADDRESSES = {"127.0.0.1:1": V1, "127.0.0.1:2": V2}


def run(label: str = "r", *, c: int = 10, calls: int = 400, attempts: int = 0, reached: int = 400,
        failed: int = 0, codes: dict[int, int] | None = None, client: dict[str, int] | None = None,
        server_overflow: int = 0, records: tuple[ResponseRecord, ...] = ()) -> RetryRun:
    counters = {"upstream_rq_total": reached, "upstream_rq_503": failed,
                "upstream_rq_active_overflow": server_overflow}
    return RetryRun(label, c, codes or {200: calls}, calls, dict(client or {}), {V1: counters},
                    {"attempts": attempts}, {50.0: 30.0, 90.0: 40.0, 99.0: 60.0}, 1.0, records)


def amplified(n: int, p: float = 0.5, calls: int = 400, *, off: float = 0.0) -> RetryRun:
    reached = round(calls * (theory.amplification(p, n) + off))
    failed_calls = round(calls * theory.failed_share(p, n))
    return run(f"N={n}", attempts=n, reached=reached, failed=round(reached * p),
               codes={200: calls - failed_calls, 503: failed_calls},
               client={"upstream_rq_retry": reached - calls, "upstream_rq_total": reached})


def record(code: int, attempts: int, host: str, *, flags: str = "-", overloaded: bool = False
           ) -> ResponseRecord:
    return ResponseRecord(0.0, 10, code, flags, "via_upstream", "c", host, overloaded=overloaded,
                          attempts=attempts)


def sweep(capped_overflow: dict[int, int], *, free_overflow: int = 0) -> dict[str, list[RetryRun]]:
    free = [run(c=c, client={"upstream_rq_retry": 50, "upstream_rq_retry_overflow": free_overflow,
                             "upstream_rq_total": 150}) for c in capped_overflow]
    capped = [run(c=c, client={"upstream_rq_retry": 20, "upstream_rq_retry_overflow": o,
                               "upstream_rq_total": 120}) for c, o in capped_overflow.items()]
    return {"none": free, "maxRetries: 2": capped}


def budget(share: float, free_share: float = 0.43, overflow: int = 300) -> dict[str, list[RetryRun]]:
    def with_share(s: float, o: int) -> RetryRun:
        total = 1000
        return run(c=40, client={"upstream_rq_total": total, "upstream_rq_retry": round(s * total),
                                 "upstream_rq_retry_overflow": o})
    return {"none": [with_share(free_share, 0)], "maxRetries: 2": [with_share(0.05, 400)],
            "retryBudget: 20%": [with_share(share, overflow)]}


def timeouts(per_try_cut: int = 30, route_timeouts: int = 9, never: int = 17) -> dict[str, RetryRun]:
    return {
        "per-try": run(calls=10, attempts=2, reached=30, codes={504: 10},
                       client={"upstream_rq_per_try_timeout": per_try_cut}),
        "too-long": run(calls=10, attempts=3, reached=29, codes={504: 10},
                        client={"upstream_rq_timeout": route_timeouts}),
        "queue": run(calls=100, reached=100 - never, codes={200: 26, 504: 74},
                     client={"upstream_rq_timeout": 74, "upstream_rq_pending_total": 100,
                             "upstream_rq_total": 100 - never}),
    }


def server_runs(*, retried_to: str = "127.0.0.1:2") -> tuple[RetryRun, RetryRun]:
    default = run(calls=400, codes={200: 260, 503: 140}, server_overflow=140,
                  records=tuple(record(503, 1, "127.0.0.1:1", overloaded=True) for _ in range(70)))
    retried = run(calls=400, codes={200: 398, 503: 2}, server_overflow=130,
                  client={"upstream_rq_retry": 130},
                  records=tuple(record(200, 2, retried_to) for _ in range(60)))
    return default, retried


# (name, a passing call, a failing call)
CASES: list[tuple[str, Any, Any]] = [
    ("default", lambda lang: checks.default_does_not_retry(
        run(codes={200: 200, 503: 200}, reached=400, failed=200), {"retry_policy": {}}, lang=lang),
     lambda lang: checks.default_does_not_retry(
        run(codes={200: 200, 503: 200}, reached=400, failed=200, client={"upstream_rq_retry": 90}),
        {"retry_policy": {"retriable_status_codes": [503]}}, lang=lang)),
    ("amplification", lambda lang: checks.amplification_follows_theory(
        [amplified(n) for n in (0, 1, 2, 5)], lang=lang),
     lambda lang: checks.amplification_follows_theory(
        [amplified(0), amplified(1), amplified(2, off=0.4), amplified(5)], lang=lang)),
    ("breaker", lambda lang: checks.retry_breaker_trips(sweep({1: 0, 20: 45}), max_retries=2, lang=lang),
     lambda lang: checks.retry_breaker_trips(sweep({1: 3, 20: 45}), max_retries=2, lang=lang)),
    ("budget", lambda lang: checks.budget_caps_retries(budget(0.13), percent=20, lang=lang),
     lambda lang: checks.budget_caps_retries(budget(0.40), percent=20, lang=lang)),
    ("timeouts", lambda lang: checks.timeouts_cut_calls(timeouts(), lang=lang),
     lambda lang: checks.timeouts_cut_calls(timeouts(never=0), lang=lang)),
    ("client overflow", lambda lang: checks.overflow_not_retried(
        run(codes={200: 5, 503: 95}, client={"upstream_rq_active_overflow": 95}), lang=lang),
     lambda lang: checks.overflow_not_retried(
        run(codes={200: 5, 503: 95}, client={"upstream_rq_active_overflow": 95, "upstream_rq_retry": 40}),
        lang=lang)),
    ("server overflow", lambda lang: checks.server_overflow_retried(*server_runs(), ADDRESSES, lang=lang),
     lambda lang: checks.server_overflow_retried(*server_runs(retried_to="127.0.0.1:1"), ADDRESSES,
                                                 lang=lang)),
    ("explorer", lambda lang: checks.explorer_ran([amplified(2)], lang=lang),
     lambda lang: checks.explorer_ran([], lang=lang)),
]


@pytest.mark.parametrize(("passing", "failing"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_check_passes_on_a_working_step_and_fails_with_a_remedy(passing: Any, failing: Any, lang: str
                                                                     ) -> None:
    good, bad = passing(lang), failing(lang)
    assert good.ok and not good.remedy, str(good)
    assert not bad.ok and bad.remedy and NEXT_STEP[lang].search(bad.remedy), str(bad)
    assert bool(CJK.search(str(bad))) == (lang == "zh")


def test_the_theory_is_the_geometric_sum_and_its_variance() -> None:
    assert theory.amplification(0.5, 2) == 1.75 and theory.failed_share(0.5, 2) == 0.125
    assert theory.amplification(1.0, 5) == 6 and theory.attempts_variance(1.0, 5) == 0
    # the variance of the attempts equals a direct sum over the truncated geometric distribution
    p, n = 0.3, 4
    pmf = {k: p ** (k - 1) * (1 - p) for k in range(1, n + 1)} | {n + 1: p**n}
    mean = sum(k * q for k, q in pmf.items())
    assert math.isclose(theory.attempts_variance(p, n), sum(q * (k - mean) ** 2 for k, q in pmf.items()))
    assert theory.retries_503("5xx") and theory.retries_503("gateway-error")
    assert theory.retries_503("retriable-status-codes", (503,)) and not theory.retries_503(
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes")
    with pytest.raises(ValueError):
        theory.amplification(1.5, 1)


def test_the_predictions_compare_with_theory_and_the_run() -> None:
    runs = [amplified(n) for n in (0, 1, 2, 5)]
    question = exercise.PREDICTIONS["amplification"]
    verdict = exercise.verdict_amplification(Prediction(question, 3.0, {"p": 50, "n": 2}), runs, lang="en")
    assert verdict.misconception == "every_call_retried" and verdict.theory == 1.75
    verdict = exercise.verdict_amplification(Prediction(question, 1.0, {"p": 50, "n": 2}), runs, lang="zh")
    assert verdict.misconception == "retries_are_free" and CJK.search(verdict.sentence)
    capped = sweep({1: 0, 20: 45})
    counter = exercise.PREDICTIONS["counter"]
    asked = {"max_retries": 2}
    assert exercise.verdict_counter(Prediction(counter, "upstream_rq_retry_overflow", asked), capped).close
    wrong = exercise.verdict_counter(Prediction(counter, "upstream_rq_retry_limit_exceeded", asked), capped)
    assert wrong.misconception == "limit_is_attempts"
    default, _ = server_runs()
    server = exercise.PREDICTIONS["server_503"]
    assert exercise.verdict_server_503(Prediction(server, "retried"), default).misconception == (
        "default_retries_503")


def _shared_machine_run(v2_overflow: int) -> RetryRun:
    """The retried run of a CI run with the machine shared: 43 of 55 retried calls ended on v2."""
    records = tuple(record(200, 2, "127.0.0.1:2") for _ in range(43)) + tuple(
        record(200, 3, "127.0.0.1:1") for _ in range(12))
    r = run(calls=400, codes={200: 392, 503: 8}, server_overflow=129, client={"upstream_rq_retry": 129},
            records=records)
    v2 = {"upstream_rq_pending_overflow": 0, "upstream_rq_active_overflow": v2_overflow}
    return dataclasses.replace(r, server={**r.server, V2: v2})


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_calls_back_on_the_slow_pod_are_allowed_as_far_as_the_other_pods_own_overflows(lang: str) -> None:
    default, _ = server_runs()
    # v2's sidecar refused some itself: a retry of one of those goes back to v1 (previous_hosts)
    shared = checks.server_overflow_retried(default, _shared_machine_run(6), ADDRESSES, lang=lang)
    assert shared.ok and "6" in shared.detail, str(shared)
    # v2 refused nothing: 12 of 55 back on v1 is more than the 1 in 5 previous_hosts leaves
    quiet = checks.server_overflow_retried(default, _shared_machine_run(0), ADDRESSES, lang=lang)
    assert not quiet.ok and quiet.remedy, str(quiet)
