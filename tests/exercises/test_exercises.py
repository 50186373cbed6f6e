"""Exercises without Envoy: each lab's ``diagnose`` names the wrong idea from the rule's limits (the same
translation the lab runs) and the run's numbers; a bad answer is refused at its line before anything is
applied; the hints come in steps, in both languages; nbgrader's runs score a failed answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from lablib import LabError
from lablib.labs.circuit_breaking import exercise as ex01
from lablib.labs.outlier_detection import exercise as ex02
from lablib.labs.where_the_limit_lives import exercise as ex03
from lablib.labs.where_the_limit_lives.mesh import route_limits
from lablib.notebook import summary
from lablib.notebook.exercise import Attempt, ExerciseFailed, Grade, attempt, hint_steps
from lablib.notebook.theory_view import limits_for_files
from tests.support import CJK

EXERCISES = {"lab01": ex01.make_exercise(2), "lab02": ex02.EXERCISE, "lab03": ex03.make_exercise(2)}


def _limit01(tmp_path: Path, text: str):
    rule = tmp_path / "rule.yaml"
    rule.write_text(text)
    return limits_for_files([ex01.SERVICE, rule, ex01.ROUTE], workers=2)[0]


def _rule01(mc: int, req: int | None, pending: int | None) -> str:
    text = ex01.START.replace("maxConnections: 10", f"maxConnections: {mc}")
    text = text.replace("http2MaxRequests: 10", f"http2MaxRequests: {req}") if req else text.replace(
        "        http2MaxRequests: 10\n", "")
    return text.replace("http1MaxPendingRequests: 10", f"http1MaxPendingRequests: {pending}") if pending \
        else text.replace("        http1MaxPendingRequests: 10\n", "")


@pytest.mark.parametrize(("rule", "share", "peak", "hint"), [
    ((11, 15, None), 0.0, 15, None),  # the reference: 11 + 2 workers × 2 pods = 15 connections at most
    ((15, 15, None), 0.067, 15, "slack_rejects"),  # a request on a worker's extra connection: 503
    ((10, 10, 10), 0.40, 10, "queue_too_small"),  # the book's rule
    ((15, 15, 20), 0.10, 15, "queue_too_small"),  # room for 15 waiting, not for the start's 30
    ((30, 30, 10), 0.0, 28, "too_many_in_flight"),
    ((15, None, 20), 0.06, 15, "per_worker_slack"),  # 15 + 2 workers × 2 pods connections
    ((100, 15, 20), 0.55, 15, "requests_reject"),  # http2MaxRequests rejects, never queues
    ((100, 15, 40), 0.0, 16, None),  # a requests bound: +1 for a moment with 2 workers (checked, counted)
    ((100, 15, 40), 0.0, 17, "other"),
    ((11, 15, None), 0.0, 16, "other"),  # a connection bound: its slack is the whole of it
])
def test_lab01_diagnose_names_the_wrong_idea(tmp_path, rule, share, peak, hint):
    limit = _limit01(tmp_path, _rule01(*rule))
    found, values = ex01.diagnose(limit, share, peak)
    assert found == hint
    if hint is not None:
        steps = hint_steps(EXERCISES["lab01"], Grade((), found, values), "en")
        assert len(steps) == (2 if hint == "other" else 3) and all(steps)
        assert all(CJK.search(s) for s in hint_steps(EXERCISES["lab01"], Grade((), found, values), "zh"))


def test_lab02_diagnose_reads_what_envoy_runs():
    yaml_cluster = ("- name: outbound|80||service-go.default.svc.cluster.local\n"
                    "  outlierDetection:\n    consecutive5xx: 100\n    maxEjectionPercent: 50\n")
    od = ex02.effective_outlier(yaml_cluster)
    assert od == {"consecutive_5xx": 100, "enforcing_consecutive_5xx": 100, "max_ejection_percent": 50,
                  "consecutive_gateway_failure": 5, "enforcing_consecutive_gateway_failure": 0}
    assert ex02.diagnose(od, 5.4, 1)[0] == "threshold_too_high"
    assert ex02.diagnose({**od, "consecutive_5xx": 3}, 0.1, 1)[0] is None
    assert ex02.diagnose({**od, "consecutive_5xx": 5, "max_ejection_percent": 100}, 0.3, 2)[0] == \
        "percent_too_high"
    assert ex02.diagnose({**od, "consecutive_5xx": 3, "max_ejection_percent": 10}, None, 0)[0] == \
        "percent_too_low"
    assert ex02.diagnose(None, None, 0)[0] == "no_detection"
    assert ex02.effective_outlier("- name: other\n") is None


def test_lab03_diagnose_compares_each_subset_with_where_it_started(tmp_path):
    def limits(text: str):
        rule = tmp_path / "rule.yaml"
        rule.write_text(text)
        got = route_limits("50-50", workers=2, rule=rule)
        return [next(c for c in got if f"|{s}|" in c.cluster) for s in ("v1", "v2")]

    s1, s2 = limits(ex03.START)
    cases = {
        ex03.SOLUTION: None,
        ex03.START.replace("maxConnections: 10", "maxConnections: 5"): "changed_v1",
        ex03.START: "v2_unchanged",
        ex03.START + "    trafficPolicy:\n      connectionPool:\n        http:\n          "
                     "http1MaxPendingRequests: 5\n": "pending_is_not_in_flight",
        ex03.START + "    trafficPolicy:\n      connectionPool:\n        tcp:\n          "
                     "maxConnections: 5\n": "per_worker_slack",
    }
    for text, hint in cases.items():
        v1, v2 = limits(text)
        assert ex03.diagnose(v1, v2, s1, s2, v2_peak=5)[0] == hint, text
    # The reference bounds v2 by http2MaxRequests: 5, checked and then counted on a count both workers share,
    # so a sample may see 6 for a moment (envoy.breaker.check-then-increment); 7 is more than Envoy allows.
    v1, v2 = limits(ex03.SOLUTION)
    assert v2.in_flight_race == 1
    assert ex03.diagnose(v1, v2, s1, s2, v2_peak=6)[0] is None
    assert ex03.diagnose(v1, v2, s1, s2, v2_peak=7)[0] == "other"


BAD = {
    "invalid YAML": (ex01.SOLUTION.replace("  host: service-go", "  host: service-go: x"), 6),
    "unknown field": (ex01.SOLUTION.replace("maxConnections: 11", "maxConnectionz: 11"), 10),
    "another host": (ex01.SOLUTION.replace("host: service-go", "host: httpbin"), 6),
    "another name": (ex01.SOLUTION.replace("name: service-go", "name: my-breaker"), 4),
    "not a rule": ("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n  - port: 80\n", 1),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_bad_answer_is_refused_at_its_line_before_the_lab_is_touched(tmp_path, case, lang):
    text, line = BAD[case]

    class Untouchable:  # any use of the lab would mean something was applied
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"the lab was used: {name}")

    done = attempt(EXERCISES["lab01"], Untouchable(), text, lang=lang, directory=tmp_path)
    assert done.problems and done.grade is None and not done.passed
    assert any(f"exercise-lab01.yaml:{line}:" in p for p in done.problems), done.problems
    assert bool(CJK.search(str(done))) == (lang == "zh")
    html = done._repr_html_()
    assert "data-state='refused'" in html and "Traceback" not in html


def test_hints_come_one_step_at_a_time_and_nbgrader_scores_a_failed_answer(monkeypatch):
    exercise = EXERCISES["lab02"]
    grade = Grade((), "percent_too_high", {"percent": 100, "hosts": 2, "goal": 2.0})
    from lablib.notebook.exercise import Criterion

    grade = Grade((Criterion(False, "x"),), "percent_too_high", grade.values)
    done = Attempt(exercise, "rule", "en", grade=grade)
    assert done.hint == "percent_too_high" and len(done.hints()) == 3
    from lablib.notebook.exercise import result_html

    assert result_html(done, hints_shown=1).count("lablib-hint") == 1
    assert result_html(done, hints_shown=3).count("lablib-hint") == 3
    summary.clear()
    done.graded()  # a student's run: recorded, not raised
    assert summary.records()[0].outcome == "failed"
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(ExerciseFailed) as info:
        done.graded()
    assert isinstance(info.value, LabError)
    summary.clear()


def test_every_exercise_has_goal_title_solution_and_hints_in_both_languages():
    for key, exercise in EXERCISES.items():
        assert exercise.parameter == f"exercise_{key}"
        for lang in ("en", "zh"):
            assert exercise.title(lang) and exercise.goal(lang)
            assert bool(CJK.search(exercise.goal(lang))) == (lang == "zh")
        assert "other" in exercise.hints and len(exercise.hints) >= 3
        assert exercise.solution != exercise.start


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_the_chinese_solution_is_the_same_rule_with_its_comments_in_chinese(key: str) -> None:
    from lablib import _yamlio
    from lablib.notebook.exercise_widget import ExerciseWidget

    exercise = EXERCISES[key]
    en, zh = exercise.solution_in("en"), exercise.solution_in("zh")
    assert en == exercise.solution and zh != en
    assert _yamlio.load(zh) == _yamlio.load(en)  # only the comments differ

    def comments(text: str) -> list[str]:
        return [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]

    assert comments(zh) and all(CJK.search(c) for c in comments(zh))
    assert not any(CJK.search(c) for c in comments(en))
    widget = ExerciseWidget(exercise, lab=None, lang="zh")
    widget.show_solution()
    assert comments(zh)[0].strip() in widget.solution.value.replace("&gt;", ">").replace("&lt;", "<")
