"""Lab 03's predictions and exercise.

Predictions (``PREDICTIONS``): which route answers the fewest 503s at the highest concurrency, and which
subset's cluster overflows first under 90/10 (Step 1). The exercise (``exercise(workers)``): give v2 its own
limit of 5 in flight without changing v1's, graded under the 50/50 route at c = 40 from the clusters' limits
(theory) and their in-flight peaks (measured); ``diagnose`` (pure) names the wrong idea.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lablib.i18n import t
from lablib.lab_defaults import WORKERS
from lablib.labs.where_the_limit_lives.experiment import LimitPoint
from lablib.labs.where_the_limit_lives.mesh import ROUTES, route_limits, use_route
from lablib.notebook.exercise import Criterion, Exercise, Grade
from lablib.notebook.predict import Misconception, Question, Verdict, compare
from lablib.notebook.runs import fortio_args
from lablib.notebook.sampling import active_requests, peaks
from lablib.theory.limits import ClusterLimits, theoretical_limit

__all__ = [
    "EXERCISE_C",
    "PREDICTIONS",
    "V2_IN_FLIGHT",
    "diagnose",
    "fewest_503",
    "first_subset",
    "make_exercise",
    "theory_fewest",
    "theory_first_subset",
    "verdicts",
]

#: The rule the answer box starts from, and the reference solution (files beside this module, so that the
#: table of the labs can give CI the solution as a parameter without importing the notebook kit).
START = (Path(__file__).parent / "exercise-start.yaml").read_text(encoding="utf-8")
SOLUTION = (Path(__file__).parent / "exercise-solution.yaml").read_text(encoding="utf-8")
#: the same answer with its comments in Chinese (the zh edition's solution box)
SOLUTION_ZH = (Path(__file__).parent / "exercise-solution.zh.yaml").read_text(encoding="utf-8")

PREDICTIONS: dict[str, Question] = {
    "fewest_503": Question(
        "fewest_503", lambda lang, **v: t("predict.lab03.fewest_503.question", lang, **v),
        choices=tuple(ROUTES),
        misconceptions=(
            Misconception("per_pod_limit", lambda lang, **v: t("predict.lab03.fewest_503.per_pod", lang, **v),
                          lambda p, theory, m: p == "none"),
            Misconception("skew_ignored", lambda lang, **v: t("predict.lab03.fewest_503.skew", lang, **v),
                          lambda p, theory, m: p == "90-10"))),
    "first_subset": Question(
        "first_subset", lambda lang, **v: t("predict.lab03.first_subset.question", lang, **v),
        choices=("v1", "v2"),
        misconceptions=(Misconception(
            "share_is_limit", lambda lang, **v: t("predict.lab03.first_subset.small_share", lang, **v),
            lambda p, theory, m: p == "v2"),)),
}


def _top(points: Sequence[LimitPoint]) -> list[LimitPoint]:
    top = max(p.concurrency for p in points)
    return [p for p in points if p.concurrency == top]


def fewest_503(routes: Mapping[str, Sequence[LimitPoint]]) -> str | None:
    """The route whose runs at the highest concurrency answered the smallest 503 share (None: no runs)."""
    means = {r: sum(p.share_503 for p in _top(pts)) / len(_top(pts)) for r, pts in routes.items() if pts}
    return min(means, key=lambda r: means[r]) if means else None


def theory_fewest(limits: Mapping[str, Sequence[ClusterLimits]]) -> str:
    """The route with the highest theoretical limit L."""
    return max(limits, key=lambda r: theoretical_limit(limits[r]))


def first_subset(points: Sequence[LimitPoint]) -> str | None:
    """Under 90/10: the subset whose cluster counted more breaker 503s at the highest concurrency (None: no
    overflow at all)."""
    if not points:
        return None
    counts = {"v1": 0, "v2": 0}
    for p in _top(points):
        for cluster in p.clusters:
            for subset in counts:
                if f"|{subset}|" in cluster:
                    counts[subset] += p.overflowed(cluster)
    if counts["v1"] == counts["v2"]:
        return None
    return max(counts, key=lambda s: counts[s])


def theory_first_subset(limits: Sequence[ClusterLimits]) -> str:
    """The subset whose cluster fills first: the smallest admitted-per-share."""
    def fills_at(c: ClusterLimits) -> float:
        return c.admitted / c.weight if c.weight else float("inf")

    first = min(limits, key=fills_at)
    return "v1" if "|v1|" in first.cluster else "v2"


def verdicts(guesses: Mapping[str, Any], routes: Mapping[str, Sequence[LimitPoint]],
             limits: Mapping[str, Sequence[ClusterLimits]], *, lang: str = "en") -> list[Verdict]:
    """Lab 03's two predictions (``guesses``: question id -> its widget) next to theory and Step 1's runs."""
    return [compare(guesses["fewest_503"], theory_fewest(limits), fewest_503(routes), lang=lang),
            compare(guesses["first_subset"], theory_first_subset(limits["90-10"]),
                    first_subset(routes.get("90-10", ())), lang=lang)]


# -- the exercise --------------------------------------------------------------------------------------------
EXERCISE_C = 40
V2_IN_FLIGHT = 5


_FIELDS = ("max_connections", "max_requests", "max_pending_requests", "max_requests_per_connection", "http2")


def _subset(limits: Sequence[ClusterLimits], subset: str) -> ClusterLimits | None:
    return next((c for c in limits if f"|{subset}|" in c.cluster), None)


def diagnose(v1: ClusterLimits, v2: ClusterLimits, start_v1: ClusterLimits, start_v2: ClusterLimits,
             v2_peak: int) -> tuple[str | None, dict[str, Any]]:
    """The wrong idea a run shows (a hint key; None: goal met) and the numbers its hint needs. Pure: the
    clusters' limits under the answer and under the rule it started from, and v2's measured peak."""
    values = {"v1_in_flight": v1.in_flight, "v1_queue": v1.queue, "v2_in_flight": v2.in_flight,
              "v2_pending": v2.max_pending_requests, "slack": v2.in_flight_high, "workers": v2.workers,
              "endpoints": v2.endpoints, "max_connections": v2.max_connections, "goal": V2_IN_FLIGHT,
              "race": v2.in_flight_race}
    if any(getattr(v1, f) != getattr(start_v1, f) for f in _FIELDS):
        return "changed_v1", values
    if all(getattr(v2, f) == getattr(start_v2, f) for f in _FIELDS):
        return "v2_unchanged", values
    if v2.in_flight != V2_IN_FLIGHT:
        if v2.max_pending_requests == V2_IN_FLIGHT:
            return "pending_is_not_in_flight", values
        return "wrong_number", values
    if v2.in_flight_high > V2_IN_FLIGHT:
        return "per_worker_slack", values
    if v2_peak > V2_IN_FLIGHT + v2.in_flight_race or v2_peak == 0:  # +1 for a moment: checked, then counted
        return "other", values
    return None, values


def _grader(workers: int) -> Any:
    start_path: list[Path] = []

    def grade(lab: Any, rule: Path, lang: str) -> Grade:
        if not start_path:  # the starting rule, as a file the theory reads (next to the answer)
            start_path.append(rule.with_name("exercise-lab03-start.yaml"))
            start_path[0].write_text(START, encoding="utf-8")
        answer = route_limits("50-50", workers=workers, rule=rule)
        start = route_limits("50-50", workers=workers, rule=start_path[0])
        v1, v2 = _subset(answer, "v1"), _subset(answer, "v2")
        s1, s2 = _subset(start, "v1"), _subset(start, "v2")
        if v1 is None or v2 is None or s1 is None or s2 is None:  # unreachable: the 50/50 route needs both
            return Grade((Criterion(False, t("exercise.lab03.crit.no_subsets", lang)),), "other")
        lab.reset_counters()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                peaks(active_requests(lab)) as seen:
            lab.fortio(fortio_args(EXERCISE_C))
        v1_peak = int(seen.get(v1.cluster, 0))
        v2_peak = int(seen.get(v2.cluster, 0))
        hint, values = diagnose(v1, v2, s1, s2, v2_peak)
        same_v1 = all(getattr(v1, f) == getattr(s1, f) for f in _FIELDS)
        criteria = (
            Criterion(v2.in_flight == V2_IN_FLIGHT and v2.in_flight_high <= V2_IN_FLIGHT
                      and 0 < v2_peak <= V2_IN_FLIGHT + v2.in_flight_race,
                      t("exercise.lab03.crit.v2", lang, in_flight=v2.in_flight, high=v2.in_flight_high,
                        race=v2.in_flight_race, peak=v2_peak, goal=V2_IN_FLIGHT)),
            Criterion(same_v1, t("exercise.lab03.crit.v1", lang, in_flight=v1.in_flight, queue=v1.queue,
                                 was_in_flight=s1.in_flight, was_queue=s1.queue, peak=v1_peak)),
        )
        return Grade(criteria, hint if not all(c.ok for c in criteria) else None, values)

    return grade


def make_exercise(workers: int = WORKERS) -> Exercise:
    """Lab 03's exercise for sidecars with ``workers`` Envoy workers (the theory's per-worker bound)."""
    return Exercise(
        "lab03", lambda lang: t("exercise.lab03.title", lang), lambda lang: t("exercise.lab03.goal", lang),
        START, SOLUTION, _grader(workers), prepare=lambda lab: use_route(lab, "50-50"),
        solutions={"zh": SOLUTION_ZH},
        hints={
            "changed_v1": (lambda lang, **v: t("exercise.lab03.hint.v1.1", lang, **v),
                           lambda lang, **v: t("exercise.lab03.hint.v1.2", lang, **v),
                           lambda lang, **v: t("exercise.lab03.hint.v1.3", lang, **v)),
            "v2_unchanged": (lambda lang, **v: t("exercise.lab03.hint.same.1", lang, **v),
                             lambda lang, **v: t("exercise.lab03.hint.v1.2", lang, **v),
                             lambda lang, **v: t("exercise.lab03.hint.v1.3", lang, **v)),
            "pending_is_not_in_flight": (lambda lang, **v: t("exercise.lab03.hint.pending.1", lang, **v),
                                         lambda lang, **v: t("exercise.lab03.hint.pending.2", lang, **v),
                                         lambda lang, **v: t("exercise.lab03.hint.pending.3", lang, **v)),
            "wrong_number": (lambda lang, **v: t("exercise.lab03.hint.number.1", lang, **v),
                             lambda lang, **v: t("exercise.lab03.hint.pending.2", lang, **v)),
            "per_worker_slack": (lambda lang, **v: t("exercise.lab03.hint.slack.1", lang, **v),
                                 lambda lang, **v: t("exercise.lab03.hint.slack.2", lang, **v)),
            "other": (lambda lang, **v: t("exercise.lab03.hint.other.1", lang, **v),),
        })
