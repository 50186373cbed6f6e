"""Lab 02's exercise on real Envoy: v1 fails from 0.5 s, v2 from 3 s; the reference ejects v1 within 2 s and
never both; typical wrong answers fail with the hint meant for them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lablib.labs.outlier_detection import exercise as ex
from lablib.notebook.exercise import attempt
from tests.outlier.conftest import (
    ROUTE,
    SERVICE_GO,
    lab_home,  # noqa: F401  (a private $LABLIB_HOME, no process left behind)
)

pytestmark = pytest.mark.envoy

PERCENT_LINE = next(line + "\n" for line in ex.SOLUTION.splitlines() if "maxEjectionPercent" in line)


@pytest.fixture(scope="module")
def lab(lab_home: Path) -> Iterator[object]:  # noqa: F811
    from lablib.lab import Lab

    the_lab = Lab("embedded", name="lab02-exercise-tests", service_time_ms=10)
    try:
        the_lab.apply(SERVICE_GO)
        the_lab.apply(ROUTE)
        yield the_lab
    finally:
        the_lab.cleanup()


def test_the_reference_solution_ejects_v1_fast_and_never_both(lab, tmp_path):
    done = attempt(ex.EXERCISE, lab, ex.SOLUTION, directory=tmp_path)
    assert done.passed, done


@pytest.mark.parametrize(("answer", "hint"), [
    (ex.START, "percent_too_high"),  # the seed's block: maxEjectionPercent 100 lets both go
    (ex.SOLUTION.replace("consecutive5xxErrors: 3 ", "consecutive5xxErrors: 100 "), "threshold_too_high"),
    (ex.SOLUTION.replace(PERCENT_LINE, ""), "percent_too_low"),  # Envoy's 10%: never one of two hosts
])
def test_a_typical_wrong_answer_fails_with_the_hint_meant_for_it(lab, tmp_path, answer, hint):
    done = attempt(ex.EXERCISE, lab, answer, lang="zh", directory=tmp_path)
    assert done.applied and not done.passed, done
    assert done.hint == hint, done
    assert done.hints()[0] in str(done)
