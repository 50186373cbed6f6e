"""Predictions: the widget commits a value before the run, ``compare`` puts it next to theory and measurement
with one sentence, the misconception's own when the answer shows one; skipping breaks nothing; both
languages; every compare lands in the notebook's summary."""

from __future__ import annotations

import pytest

from lablib.labs.circuit_breaking.exercise import PREDICTIONS as LAB01
from lablib.labs.outlier_detection.exercise import PREDICTIONS as LAB02
from lablib.labs.where_the_limit_lives.exercise import PREDICTIONS as LAB03
from lablib.notebook import predict, summary
from lablib.notebook.predict import Prediction, compare
from lablib.notebook.predict_widget import ask
from tests.support import CJK

ALL = {**{f"01.{k}": q for k, q in LAB01.items()}, **{f"02.{k}": q for k, q in LAB02.items()},
       **{f"03.{k}": q for k, q in LAB03.items()}}


@pytest.fixture(autouse=True)
def _fresh_summary():
    summary.clear()
    yield
    summary.clear()


# (question, prediction, theory, measurement, misconception the sentence must name)
MISCONCEPTIONS = [
    (LAB01["seed_share"], 67.0, 0.0, 2.0, "max_connections_rejects"),
    (LAB01["pending_share"], 67.0, 33.3, 38.0, "counted_in_flight_only"),
    (LAB01["pending_share"], 0.0, 33.3, 38.0, "queue_absorbs"),
    (LAB01["counter"], "upstream_cx_overflow", "upstream_rq_pending_overflow", "upstream_rq_pending_overflow",
     "cx_overflow_rejects"),
    (LAB01["counter"], "upstream_rq_active_overflow", "upstream_rq_pending_overflow",
     "upstream_rq_pending_overflow", "active_overflow"),
    (LAB02["return_s"], 2.0, (15.0, 16.0), 15.6, "returns_when_healed"),
    (LAB02["seed_errors"], 3, 5, 6, "seed_field_counts"),
    (LAB03["fewest_503"], "none", "50-50", "50-50", "per_pod_limit"),
    (LAB03["fewest_503"], "90-10", "50-50", "50-50", "skew_ignored"),
    (LAB03["first_subset"], "v2", "v1", "v1", "share_is_limit"),
]


@pytest.mark.parametrize(("question", "value", "theory", "measured", "misconception"), MISCONCEPTIONS)
def test_a_known_misconception_gets_its_own_sentence_in_both_languages(question, value, theory, measured,
                                                                      misconception):
    p = Prediction(question, value, {"c": 30, "base": "15s", "interval": "1s"})
    en = compare(p, theory, measured, "en")
    zh = compare(p, theory, measured, "zh")
    assert en.misconception == zh.misconception == misconception
    assert not en.close and en.outcome in ("above", "below", "different")
    assert en.sentence != zh.sentence and CJK.search(zh.sentence) and not CJK.search(en.sentence)
    # prediction, theory and measurement side by side, in both renderings
    cells = en.cells()
    assert cells[0] == predict.shown(value, question.unit, "en") and cells[2] == predict.shown(
        measured, question.unit, "en")
    html = en._repr_html_()
    assert all(c in html for c in cells) and "data-outcome" in html
    assert str(zh).count("\n") == 2 and zh.asked and CJK.search(zh.asked)


def test_the_seed_share_sentence_says_what_the_issue_asks():
    v = compare(Prediction(LAB01["seed_share"], 67, {"c": 30}), 0.0, 1.0, "en")
    assert "you expected rejection above 10 connections" in v.sentence.lower()
    assert "Envoy queued them: maxConnections does not reject" in v.sentence


def test_close_far_skipped_and_unmeasured_each_say_so():
    q = LAB01["pending_share"]
    close = compare(Prediction(q, 35.0, {"c": 30}), 33.3, 38.0, "en")
    assert close.outcome == "close" and close.misconception is None and close.sentence.startswith("Close")
    below = compare(Prediction(q, 5.0, {"c": 30}), 33.3, 8.0, "en")  # no misconception fits: generic
    assert below.outcome == "close"
    above = compare(Prediction(q, 90.0, {"c": 30}), 85.0, 40.0, "en")
    assert above.outcome == "above" and above.misconception is None and "more" in above.sentence
    skipped = compare(Prediction(q, None, {"c": 30}), 33.3, 38.0, "en")
    assert skipped.outcome == "skipped" and "38%" in skipped.sentence and skipped.prediction is None
    unmeasured = compare(Prediction(q, 40.0, {"c": 30}), 33.3, None, "en")
    assert unmeasured.outcome == "unmeasured" and "40%" in unmeasured.sentence
    nothing = compare(Prediction(q, None, {"c": 30}), 33.3, None, "zh")
    assert nothing.outcome == "skipped" and CJK.search(nothing.sentence)


def test_a_value_outside_the_question_counts_as_skipped_not_as_an_error():
    for value in (150.0, "upstream_nonsense", float("nan"), True):
        q = LAB01["counter"] if isinstance(value, str) else LAB01["seed_share"]
        assert compare(Prediction(q, value, {"c": 30}), 0.0, 2.0, "en").outcome == "skipped"


def test_every_question_asks_in_both_languages_with_its_parameter_name():
    for key, q in ALL.items():
        assert q.parameter == f"predict_{q.id}", key
        values = {"c": 40, "base": "15s", "interval": "1s"}
        en, zh = q.question_text("en", values), q.question_text("zh", values)
        assert en.endswith("?") or en.endswith(")"), key
        assert CJK.search(zh) and not CJK.search(en), key


def test_the_widget_locks_once_refuses_what_is_not_an_answer_and_skips_when_left_open():
    w = ask(LAB01["seed_share"], None, lang="en", c=30)
    assert w.prediction.value is None and not w.locked
    assert compare(w, 0.0, 2.0, "en").outcome == "skipped"
    w.answer.value = "lots"
    assert not w.lock() and "not an answer" in w.status.value
    w.answer.value = "67 %"
    assert w.lock() and w.locked and w.answer.disabled and w.button.disabled
    assert not w.lock("5") or w.prediction.value == 67.0  # locked: stays
    assert w.prediction.value == 67.0
    assert compare(w, 0.0, 2.0, "en").misconception == "max_connections_rejects"


def test_the_widget_given_a_parameter_starts_locked_in_its_language():
    w = ask(LAB03["first_subset"], "v2", lang="zh", c=40)
    assert w.locked and w.prediction.value == "v2" and w.answer.value == "v2"
    assert CJK.search(w.status.value) and CJK.search(w.label.value)


def test_compare_records_each_question_once_for_the_summary():
    q = LAB01["seed_share"]
    compare(Prediction(q, 67.0, {"c": 30}), 0.0, 2.0, "en")
    compare(Prediction(q, 5.0, {"c": 30}), 0.0, 2.0, "en")  # the cell run again: replaces
    compare(Prediction(LAB01["counter"], None, {}), "upstream_rq_pending_overflow",
            "upstream_rq_pending_overflow", "en")
    table = summary.table("en")
    assert [(e.id, e.outcome) for e in table.predictions] == [("seed_share", "close"), ("counter", "skipped")]
    assert "1 of 2 prediction(s) made, 1 close" in table.totals()
    html = table._repr_html_()
    assert "data-id='seed_share'" in html and "lablib-summary" in html
    assert CJK.search(str(summary.table("zh")))
