"""Lab 03's exercise on real Envoy: under the 50/50 route at c = 40, the reference gives v2 its own 5 in
flight and leaves v1's 10 + 10; typical wrong answers fail with the hint meant for them."""

from __future__ import annotations

import pytest

from lablib.labs.where_the_limit_lives import exercise as ex
from lablib.notebook.exercise import attempt
from tests.limits.conftest import lab  # noqa: F401  (lab 03's lab: service-go, fortio, the rule)
from tests.outlier.conftest import lab_home  # noqa: F401

pytestmark = pytest.mark.envoy

EXERCISE = ex.make_exercise(workers=2)
V2_POOL = "    trafficPolicy:\n      connectionPool:\n"


def test_the_reference_solution_limits_v2_alone(lab, tmp_path):  # noqa: F811
    done = attempt(EXERCISE, lab, EXERCISE.solution, directory=tmp_path)
    assert done.passed, done


@pytest.mark.parametrize(("answer", "hint"), [
    (ex.START.replace("maxConnections: 10", "maxConnections: 5"), "changed_v1"),  # top level: v1 too
    (ex.START + V2_POOL + "        http:\n          http1MaxPendingRequests: 5\n",
     "pending_is_not_in_flight"),
    (ex.START + V2_POOL + "        tcp:\n          maxConnections: 5\n", "per_worker_slack"),
])
def test_a_typical_wrong_answer_fails_with_the_hint_meant_for_it(lab, tmp_path, answer, hint):  # noqa: F811
    done = attempt(EXERCISE, lab, answer, directory=tmp_path)
    assert done.applied and not done.passed, done
    assert done.hint == hint, done


def test_a_rule_without_the_routes_subsets_is_refused_and_nothing_changes(lab, tmp_path):  # noqa: F811
    no_subsets = ex.START.split("  subsets:")[0]
    done = attempt(EXERCISE, lab, no_subsets, directory=tmp_path)
    assert done.problems and not done.applied, done  # the 50/50 route needs v1 and v2
    assert any("exercise-lab03.yaml" in p or "virtual-service" in p for p in done.problems), done.problems
