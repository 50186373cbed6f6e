"""Lab 01's exercise on real Envoy: the reference rule passes; typical wrong answers fail with the hint
meant for them; a bad answer gets the validator's positioned error in the widget, never a traceback, and
leaves the last good rule applied."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lablib.lab_defaults import MANIFESTS
from lablib.labs.circuit_breaking import exercise as ex
from lablib.notebook import checks
from lablib.notebook.exercise import attempt
from lablib.notebook.exercise_widget import ExerciseWidget
from tests.outlier.conftest import lab_home  # noqa: F401  (a private $LABLIB_HOME, no process left behind)
from tests.support import CJK

pytestmark = pytest.mark.envoy


@pytest.fixture(scope="module")
def lab(lab_home: Path) -> Iterator[object]:  # noqa: F811
    from lablib.lab import Lab

    the_lab = Lab(backend="embedded", name="lab01-exercise-tests", workers=2)
    try:
        for f in ("service/go/service-go.yaml", "kubernetes/fortio.yaml",
                  "istio/route/virtual-service-go.yaml"):
            the_lab.apply(MANIFESTS / f)
        yield the_lab
    finally:
        the_lab.cleanup()


EXERCISE = ex.make_exercise(workers=2)


def _rule(mc: int, req: int | None, pending: int | None) -> str:
    text = ex.START.replace("maxConnections: 10", f"maxConnections: {mc}")
    text = text.replace("http2MaxRequests: 10", f"http2MaxRequests: {req}") if req else text.replace(
        "        http2MaxRequests: 10\n", "")
    return text.replace("http1MaxPendingRequests: 10", f"http1MaxPendingRequests: {pending}") if pending \
        else text.replace("        http1MaxPendingRequests: 10\n", "")


def test_the_reference_solution_meets_the_goal(lab, tmp_path):
    done = attempt(EXERCISE, lab, EXERCISE.solution, directory=tmp_path)
    assert done.passed, done
    assert done.hint is None and not done.hints()


@pytest.mark.parametrize(("answer", "hint"), [
    (ex.START, "queue_too_small"),  # the book's 10 + 10: the other requests of c = 30 are rejected
    (_rule(30, 30, None), "too_many_in_flight"),  # raise the limit: 503s gone, but 30 reach service-go
    (_rule(15, None, None), "per_worker_slack"),  # maxConnections alone: 15 + 2 workers × 2 pods
])
def test_a_typical_wrong_answer_fails_with_the_hint_meant_for_it(lab, tmp_path, answer, hint):
    done = attempt(EXERCISE, lab, answer, directory=tmp_path)
    assert done.applied and not done.passed, done
    assert done.hint == hint, done
    assert len(done.hints()) == 3 and done.hints()[0] in str(done)


def test_a_bad_answer_shows_the_validators_error_and_keeps_the_last_good_rule(lab, tmp_path):
    widget = ExerciseWidget(EXERCISE, lab, lang="zh", directory=tmp_path)
    good = widget.check(EXERCISE.solution)
    assert good.passed
    applied = {"max_connections": 11, "max_requests": 15, "max_pending_requests": 2**32 - 1}
    bad = {
        ex.SOLUTION.replace("  host: service-go", "  host: service-go: x"): 6,  # not YAML
        ex.SOLUTION.replace("maxConnections: 11", "maxConnectionz: 11"): 10,  # no such field
        ex.SOLUTION.replace("host: service-go", "host: httpbin").replace("maxConnections: 11",
                                                                         "maxConnections: 1"): 6,
    }
    for text, line in bad.items():
        done = widget.check(text)
        assert not done.applied and done.problems, done
        shown = widget.result.value
        assert f"exercise-lab01.yaml:{line}:" in shown and "Traceback" not in shown and CJK.search(shown)
        assert "data-state='refused'" in shown
        still = checks.breaker_applied(lab.proxy_config("cluster"), expect=applied, cluster=ex.CLUSTER)
        assert still.ok, still  # the reference is still what Envoy runs


def test_the_widget_shows_the_hint_then_more_steps_then_the_pass_and_the_solution(lab, tmp_path):
    widget = ExerciseWidget(EXERCISE, lab, lang="en", directory=tmp_path)
    wrong = widget.check(ex.START)
    assert wrong.hint == "queue_too_small" and widget.result.value.count("lablib-hint") == 1
    assert not widget.more_button.disabled
    widget.more_hint()
    assert widget.result.value.count("lablib-hint") == 2
    right = widget.check(EXERCISE.solution)
    assert right.passed and "data-state='passed'" in widget.result.value
    assert widget.more_button.disabled
    widget.show_solution()
    assert "http2MaxRequests: 15" in widget.solution.value
    assert widget.graded() is right
