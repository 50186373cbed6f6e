"""Lab 01's predictions and exercise: what the student commits before the runs, and the rule they write.

Predictions (``PREDICTIONS``): the 503 share under the seed's rule and with the pending limit, and which
counter counts the 503s; ``measured_share`` / ``theory_share`` / ``measured_counter`` read them from the
runs. The exercise (``exercise(workers)``): keep 503s under 5% at c = 30 while no more than 15 requests
reach service-go at once; ``diagnose`` (pure) names the wrong idea a graded run shows.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lablib.i18n import t
from lablib.lab_defaults import MANIFESTS, WORKERS
from lablib.notebook.exercise import Criterion, Exercise, Grade
from lablib.notebook.predict import Misconception, Question, Verdict, compare
from lablib.notebook.runs import RunPoint, fortio_args, share_503
from lablib.notebook.sampling import active_requests, peaks
from lablib.notebook.theory_view import limits_for_files
from lablib.theory.limits import ClusterLimits, theoretical_limit

__all__ = [
    "CLUSTER",
    "COUNTERS",
    "EXERCISE_C",
    "MAX_IN_FLIGHT",
    "MAX_SHARE",
    "PREDICTIONS",
    "diagnose",
    "make_exercise",
    "measured_counter",
    "measured_share",
    "theory_counter",
    "theory_share",
    "verdicts",
]

#: The rule the answer box starts from, and the reference solution (files beside this module, so that the
#: table of the labs can give CI the solution as a parameter without importing the notebook kit).
START = (Path(__file__).parent / "exercise-start.yaml").read_text(encoding="utf-8")
SOLUTION = (Path(__file__).parent / "exercise-solution.yaml").read_text(encoding="utf-8")
#: the same answer with its comments in Chinese (the zh edition's solution box)
SOLUTION_ZH = (Path(__file__).parent / "exercise-solution.zh.yaml").read_text(encoding="utf-8")

CLUSTER = "outbound|80||service-go.default.svc.cluster.local"
SERVICE = MANIFESTS / "service/go/service-go.yaml"
ROUTE = MANIFESTS / "istio/route/virtual-service-go.yaml"
#: The counters a student may pick as "the one that counts the 503s".
COUNTERS = ("upstream_rq_pending_overflow", "upstream_rq_active_overflow", "upstream_cx_overflow")


def _near(value: float, target: float, points: float) -> bool:
    return abs(value - target) <= points


PREDICTIONS: dict[str, Question] = {
    "seed_share": Question(
        "seed_share", lambda lang, **v: t("predict.lab01.seed_share.question", lang, **v), unit="%",
        high=100.0, tolerance=10.0,
        misconceptions=(Misconception(
            "max_connections_rejects", lambda lang, **v: t("predict.lab01.seed_share.rejects", lang, **v),
            # expected at least half of "1 - 10/c" (rejection above 10) where the queue took them
            lambda p, theory, m: float(p) >= 20.0 and float(m) < float(p) / 2),)),
    "pending_share": Question(
        "pending_share", lambda lang, **v: t("predict.lab01.pending_share.question", lang, **v), unit="%",
        high=100.0, tolerance=10.0,
        misconceptions=(
            Misconception("counted_in_flight_only",
                          lambda lang, **v: t("predict.lab01.pending_share.in_flight_only", lang, **v),
                          lambda p, theory, m: float(p) > float(m) and theory is not None
                          and float(p) >= float(theory) + 10.0),
            Misconception("queue_absorbs",
                          lambda lang, **v: t("predict.lab01.pending_share.queue_absorbs", lang, **v),
                          lambda p, theory, m: float(p) < 5.0 and float(m) >= 10.0))),
    "counter": Question(
        "counter", lambda lang, **v: t("predict.lab01.counter.question", lang, **v), choices=COUNTERS,
        misconceptions=(
            Misconception("cx_overflow_rejects", lambda lang, **v: t("predict.lab01.counter.cx", lang, **v),
                          lambda p, theory, m: p == "upstream_cx_overflow"),
            Misconception("active_overflow", lambda lang, **v: t("predict.lab01.counter.active", lang, **v),
                          lambda p, theory, m: p == "upstream_rq_active_overflow"))),
}


def measured_share(points: Sequence[RunPoint], c: int) -> float | None:
    """The mean 503 share (%) of the runs at ``c`` (None: no run at that concurrency)."""
    shares = [p.share_503 for p in points if p.concurrency == c]
    return 100 * sum(shares) / len(shares) if shares else None


def theory_share(limit: float, c: int) -> float:
    """The fast-rejection bound 1 − L/c in % (0 when L is unlimited or above c)."""
    return 0.0 if not math.isfinite(limit) else max(0.0, 100 * (1 - limit / c))


def measured_counter(points: Sequence[RunPoint]) -> str | None:
    """The rejecting counter that counted the most 503s over ``points`` (None: no 503 at all)."""
    totals = {name: sum(int(p.overflows.get(name, 0)) for p in points) for name in COUNTERS[:2]}
    best = max(totals, key=lambda k: totals[k])
    return best if totals[best] > 0 else None


def theory_counter(limits: Sequence[ClusterLimits]) -> str:
    """The counter theory says counts the 503s: the pending queue's where excess requests wait for a
    connection (HTTP/1.1, connections the tighter limit), else max_requests' (the excess is rejected)."""
    route = limits[0]
    return "upstream_rq_pending_overflow" if route.queue_limited_by_connections else COUNTERS[1]


def verdicts(guesses: Mapping[str, Any], seed: Sequence[RunPoint], pending: Sequence[RunPoint], *, c: int,
             seed_limits: Sequence[ClusterLimits], pending_limits: Sequence[ClusterLimits],
             lang: str = "en") -> list[Verdict]:
    """Lab 01's three predictions (``guesses``: question id -> its widget) next to theory and the runs."""
    seed_l, pending_l = theoretical_limit(seed_limits), theoretical_limit(pending_limits)
    return [compare(guesses["seed_share"], theory_share(seed_l, c), measured_share(seed, c), lang=lang),
            compare(guesses["pending_share"], theory_share(pending_l, c), measured_share(pending, c),
                    lang=lang),
            compare(guesses["counter"], theory_counter(pending_limits), measured_counter(pending), lang=lang)]


# -- the exercise --------------------------------------------------------------------------------------------
#: The exercise's load and goal: fortio -c 30 (-n 300), fewer than 5% 503s, at most 15 in flight.
EXERCISE_C = 30
MAX_SHARE = 0.05
MAX_IN_FLIGHT = 15


def diagnose(limit: ClusterLimits, share: float, peak: int, *, c: int = EXERCISE_C,
             max_in_flight: int = MAX_IN_FLIGHT,
             max_share: float = MAX_SHARE) -> tuple[str | None, dict[str, Any]]:
    """The wrong idea a run shows (a key of the exercise's hints; None when the goal is met) and the numbers
    its hint needs. Pure: ``limit`` is the route's cluster under the rule, ``share`` (0..1) and ``peak`` what
    the run measured."""
    values = {"in_flight": limit.in_flight, "queue": limit.queue, "admitted": limit.admitted,
              "slack": limit.in_flight_high, "connections": limit.slack_connections,
              "workers": limit.workers, "endpoints": limit.endpoints,
              "max_requests": limit.max_requests, "max_connections": limit.max_connections,
              "wait": max(0.0, c - limit.in_flight), "c": c,
              "goal": max_in_flight, "race": limit.in_flight_race}
    if limit.in_flight > max_in_flight:
        return "too_many_in_flight", values
    if limit.in_flight_high > max_in_flight:
        return "per_worker_slack", values
    if share >= max_share:
        if not limit.queue_limited_by_connections:
            return "requests_reject", values
        if limit.queue < c:  # at the start all c wait for their connections, not only c - in flight
            return "queue_too_small", values
        if limit.slack_exceeds_max_requests:  # a request on a worker's extra connection is refused
            return "slack_rejects", values
        return "other", values
    if peak > max_in_flight + limit.in_flight_race:  # a requests bound: +1 for a moment (checked, counted)
        return "other", values
    return None, values


def _criteria(limit: ClusterLimits, share: float, peak: int, lang: str) -> tuple[Criterion, ...]:
    return (
        Criterion(share < MAX_SHARE, t("exercise.lab01.crit.share", lang, c=EXERCISE_C, share=100 * share,
                                       goal=100 * MAX_SHARE)),
        Criterion(limit.in_flight_high <= MAX_IN_FLIGHT and peak <= MAX_IN_FLIGHT + limit.in_flight_race,
                  t("exercise.lab01.crit.in_flight", lang, high=limit.in_flight_high,
                    race=limit.in_flight_race, peak=peak, goal=MAX_IN_FLIGHT)),
    )


def _grader(workers: int) -> Any:
    def grade(lab: Any, rule: Path, lang: str) -> Grade:
        limit = limits_for_files([SERVICE, rule, ROUTE], workers=workers)[0]
        lab.reset_counters()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                peaks(active_requests(lab)) as seen:
            result = lab.fortio(fortio_args(EXERCISE_C))
        share = share_503(result)
        peak = int(seen.get(CLUSTER, 0))
        hint, values = diagnose(limit, share, peak)
        criteria = _criteria(limit, share, peak, lang)
        return Grade(criteria, hint if not all(c.ok for c in criteria) else None, values)

    return grade


def make_exercise(workers: int = WORKERS) -> Exercise:
    """Lab 01's exercise for a lab whose sidecars run ``workers`` Envoy workers."""
    return Exercise(
        "lab01", lambda lang: t("exercise.lab01.title", lang), lambda lang: t("exercise.lab01.goal", lang),
        START, SOLUTION, _grader(workers), solutions={"zh": SOLUTION_ZH},
        hints={
            "too_many_in_flight": (lambda lang, **v: t("exercise.lab01.hint.too_many.1", lang, **v),
                                   lambda lang, **v: t("exercise.lab01.hint.too_many.2", lang, **v),
                                   lambda lang, **v: t("exercise.lab01.hint.too_many.3", lang, **v)),
            "per_worker_slack": (lambda lang, **v: t("exercise.lab01.hint.slack.1", lang, **v),
                                 lambda lang, **v: t("exercise.lab01.hint.slack.2", lang, **v),
                                 lambda lang, **v: t("exercise.lab01.hint.slack.3", lang, **v)),
            "slack_rejects": (lambda lang, **v: t("exercise.lab01.hint.slack_rejects.1", lang, **v),
                              lambda lang, **v: t("exercise.lab01.hint.slack.2", lang, **v),
                              lambda lang, **v: t("exercise.lab01.hint.slack.3", lang, **v)),
            "requests_reject": (lambda lang, **v: t("exercise.lab01.hint.reject.1", lang, **v),
                                lambda lang, **v: t("exercise.lab01.hint.reject.2", lang, **v),
                                lambda lang, **v: t("exercise.lab01.hint.reject.3", lang, **v)),
            "queue_too_small": (lambda lang, **v: t("exercise.lab01.hint.queue.1", lang, **v),
                                lambda lang, **v: t("exercise.lab01.hint.queue.2", lang, **v),
                                lambda lang, **v: t("exercise.lab01.hint.queue.3", lang, **v)),
            "other": (lambda lang, **v: t("exercise.lab01.hint.other.1", lang, **v),
                      lambda lang, **v: t("exercise.lab01.hint.other.2", lang, **v)),
        })
