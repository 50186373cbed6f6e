"""Lab 05's predictions: what the student commits before the measured runs.

``amplification`` (before Step 2): requests reaching service-go per call at ``attempts: N``; ``counter``
(before Step 3): which counter moves when retries exceed ``maxRetries``; ``server_503`` (before Step 6):
whether Istio's default policy retries a server sidecar's overflow. ``verdicts_*`` put each next to the
theory and the run (``lablib.notebook.predict.compare``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lablib.i18n import t
from lablib.labs.retries_meet_breakers.experiment import RetryRun
from lablib.labs.retries_meet_breakers.theory import amplification
from lablib.notebook.predict import Misconception, Question, Verdict, compare

__all__ = ["COUNTERS", "PREDICTIONS", "SERVER_503", "moved_counter", "predicted_n", "verdict_amplification",
           "verdict_counter", "verdict_server_503"]

#: The counters a student may expect to move when retries exceed ``maxRetries``.
COUNTERS = ("upstream_rq_retry_overflow", "upstream_rq_pending_overflow", "upstream_rq_active_overflow",
            "upstream_rq_retry_limit_exceeded")
#: Step 6's answers: what happens to a server sidecar's 503 under Istio's default retry policy.
SERVER_503 = ("retried", "not retried")


PREDICTIONS: dict[str, Question] = {
    "amplification": Question(
        "amplification", lambda lang, **v: t("predict.lab05.amplification.question", lang, **v),
        low=1.0, high=10.0, tolerance=0.15,
        misconceptions=(
            Misconception("every_call_retried",
                          lambda lang, **v: t("predict.lab05.amplification.every_call", lang, **v),
                          lambda p, theory, m: float(p) >= float(theory) + 0.5),
            Misconception("retries_are_free",
                          lambda lang, **v: t("predict.lab05.amplification.free", lang, **v),
                          lambda p, theory, m: float(p) <= 1.05),
        )),
    "counter": Question(
        "counter", lambda lang, **v: t("predict.lab05.counter.question", lang, **v), choices=COUNTERS,
        misconceptions=(
            Misconception("limit_is_attempts",
                          lambda lang, **v: t("predict.lab05.counter.limit_exceeded", lang, **v),
                          lambda p, theory, m: p == "upstream_rq_retry_limit_exceeded"),
            Misconception("request_breakers",
                          lambda lang, **v: t("predict.lab05.counter.request_breakers", lang, **v),
                          lambda p, theory, m: p in COUNTERS[1:3]),
        )),
    "server_503": Question(
        "server_503", lambda lang, **v: t("predict.lab05.server_503.question", lang, **v), choices=SERVER_503,
        misconceptions=(Misconception("default_retries_503",
                                      lambda lang, **v: t("predict.lab05.server_503.default_503", lang, **v),
                                      lambda p, theory, m: p == "retried"),)),
}


def predicted_n(attempts: Sequence[int]) -> int:
    """The N the amplification question asks about: 2 when Step 2 runs it, else the most retries run."""
    return 2 if 2 in attempts else max(attempts)


def verdict_amplification(guess: Any, runs: Sequence[RetryRun], *, lang: str = "en") -> Verdict:
    """The amplification prediction next to theory (for the run's measured fraction) and the run."""
    run = next(r for r in runs if r.attempts == predicted_n([r.attempts for r in runs]))
    theory = round(amplification(run.failure_fraction, run.attempts), 2)
    return compare(guess, theory, round(run.amplification, 2), lang)


def moved_counter(runs: Sequence[RetryRun]) -> str | None:
    """The counter of ``COUNTERS`` that moved most over ``runs`` (None: none moved)."""
    totals = {c: sum(int(r.client.get(c, 0)) for r in runs) for c in COUNTERS}
    best = max(totals, key=lambda c: totals[c])
    return best if totals[best] else None


def verdict_counter(guess: Any, sweep: Mapping[str, Sequence[RetryRun]], *, lang: str = "en") -> Verdict:
    """The counter prediction next to theory (the retry breaker's own) and what moved under maxRetries."""
    capped = list(sweep.values())[1]
    return compare(guess, COUNTERS[0], moved_counter(capped), lang)


def verdict_server_503(guess: Any, default: RetryRun, *, lang: str = "en") -> Verdict:
    """The Step 6 prediction next to theory (not retried) and the run under the book's route."""
    measured = None
    if default.server_overflows():  # nothing overflowed: the run says nothing about the question
        measured = SERVER_503[0] if default.retries > 0 else SERVER_503[1]
    return compare(guess, SERVER_503[1], measured, lang)
