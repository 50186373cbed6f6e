"""Predict, then observe: a value the student commits before a measured run, compared after it.

A ``Question`` is data a lab declares (what is asked, its unit or choices, how close counts as right, and the
known misconceptions, each with the sentence that explains it). A ``Prediction`` is one answer: a number, a
choice, or nothing (skipping is allowed). ``compare(prediction, theory, measurement, lang)`` is pure: it puts
prediction, theory and measurement side by side and picks one sentence on what the difference means, the
misconception's own when one applies. The widget (``lablib.notebook.predict_widget.ask``) is a thin shell
over this; papermill and CI give the value as a parameter (``predict_<id> = None`` skips).

Every ``compare`` is recorded (``lablib.notebook.summary``) for the notebook's summary table.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from lablib.i18n import t

__all__ = ["Misconception", "Outcome", "Prediction", "PredictionLike", "Question", "Verdict", "compare",
           "shown"]

Value = float | str
Outcome = Literal["close", "above", "below", "different", "skipped", "unmeasured"]


#: Text in a language: ``text(lang, **values)``, a lab's ``lambda lang, **v: t(KEY, lang, **v)``.
Text = Callable[..., str]


@dataclass(frozen=True)
class Misconception:
    """A wrong idea a prediction may reveal: ``applies(prediction, theory, measurement)`` tells, and
    ``sentence(lang, **values)`` (placeholders ``prediction``, ``theory``, ``measurement`` and the question's
    values) says what the run showed instead. ``id`` names it in the summary and the tests."""

    id: str
    sentence: Text
    applies: Callable[[Value, Any, Any], bool]


@dataclass(frozen=True)
class Question:
    """What a lab asks before a run.

    ``text(lang, **values)`` asks it (placeholders from the prediction's ``values``); a number question has a
    ``unit`` (kept as written: ``%``, ``s``) and bounds; a choice question has ``choices`` (names a student
    reads in Envoy's or Istio's own output, kept as they are). ``tolerance``: how far from the measurement a
    number still counts as close (absolute, in ``unit``).
    """

    id: str
    text: Text
    unit: str = ""
    choices: tuple[str, ...] = ()
    low: float = 0.0
    high: float = math.inf
    tolerance: float = 0.0
    misconceptions: tuple[Misconception, ...] = ()

    @property
    def parameter(self) -> str:
        """The notebook parameter that gives this prediction (papermill, CI): ``predict_<id>``."""
        return f"predict_{self.id}"

    def question_text(self, lang: str, values: Mapping[str, Any]) -> str:
        return self.text(lang, **values)

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is an answer to this question (a choice of it, or a number within bounds)."""
        if self.choices:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return math.isfinite(value) and self.low <= value <= self.high


@dataclass(frozen=True)
class Prediction:
    """One answer to ``question`` (``value`` None: skipped), with the question's placeholders."""

    question: Question
    value: Value | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    locked: bool = True


def shown(value: Any, unit: str, lang: str) -> str:
    """A value as the table shows it: ``12%``, ``15 s``, a choice as it is, ``–`` for nothing."""
    if value is None:
        return t("predict.none", lang)
    if isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2:  # a range: theory's band
        return f"{shown(value[0], '', lang)}–{shown(value[1], unit, lang)}"
    text = f"{value:.1f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return f"{text}{unit}" if unit in ("%", "") else f"{text} {unit}"


class PredictionLike(Protocol):
    """What holds a prediction (the widget): its current ``Prediction``."""

    @property
    def prediction(self) -> Prediction: ...


@dataclass(frozen=True)
class Verdict:
    """Prediction, theory and measurement side by side, and what the difference means (``sentence``)."""

    question: Question
    prediction: Value | None
    theory: Any
    measurement: Any
    outcome: Outcome
    sentence: str
    misconception: str | None
    lang: str
    asked: str = ""

    @property
    def close(self) -> bool:
        return self.outcome == "close"

    def cells(self) -> tuple[str, str, str]:
        unit = self.question.unit
        return (shown(self.prediction, unit, self.lang), shown(self.theory, unit, self.lang),
                shown(self.measurement, unit, self.lang))

    def __str__(self) -> str:
        p, th, m = self.cells()
        head = t("predict.line", self.lang, prediction=p, theory=th, measurement=m)
        return f"{self.asked}\n{head}\n{self.sentence}" if self.asked else f"{head}\n{self.sentence}"

    def _repr_html_(self) -> str:
        p, th, m = self.cells()
        color = {"close": "#1a7f37", "skipped": "#57606a", "unmeasured": "#57606a"}.get(self.outcome,
                                                                                          "#9a6700")
        heads = [t("predict.col.prediction", self.lang), t("predict.col.theory", self.lang),
                 t("predict.col.measurement", self.lang)]
        cell = "padding:2px 10px;border:1px solid #ddd;text-align:center"
        th_row = "".join(f"<th style='{cell};background:#f6f8fa'>{html.escape(h)}</th>" for h in heads)
        td_row = "".join(f"<td style='{cell}'>{html.escape(v)}</td>" for v in (p, th, m))
        asked = f"<div><i>{html.escape(self.asked)}</i></div>" if self.asked else ""
        return (f"<div class='lablib-verdict' data-outcome='{self.outcome}' "
                f"data-question='{self.question.id}'"
                f" style='border-left:4px solid {color};padding:4px 8px;margin:4px 0;font-family:sans-serif'>"
                f"{asked}<table style='border-collapse:collapse;margin:4px 0'><tr>{th_row}</tr>"
                f"<tr>{td_row}</tr></table>"
                f"<div style='color:{color}'>{html.escape(self.sentence)}</div></div>")


def _outcome(question: Question, value: Value, measurement: Any) -> Outcome:
    if question.choices:
        return "close" if value == measurement else "different"
    if abs(float(value) - float(measurement)) <= question.tolerance:
        return "close"
    return "above" if float(value) > float(measurement) else "below"


def _sentence(outcome: Outcome, lang: str, fmt: Mapping[str, Any]) -> str:
    if outcome == "skipped":
        if fmt["measurement"] == t("predict.none", lang):
            return t("predict.skipped_unmeasured", lang, **fmt)
        return t("predict.skipped", lang, **fmt)
    if outcome == "unmeasured":
        return t("predict.unmeasured", lang, **fmt)
    if outcome == "close":
        return t("predict.close", lang, **fmt)
    if outcome == "above":
        return t("predict.above", lang, **fmt)
    if outcome == "below":
        return t("predict.below", lang, **fmt)
    return t("predict.different", lang, **fmt)


def compare(prediction: Prediction | PredictionLike, theory: Any, measurement: Any, lang: str, *,
            record: bool = True) -> Verdict:
    """The prediction next to the theory and the measurement, and one sentence on what the difference means.

    A known misconception that applies gets its own sentence; otherwise the sentence says how close the
    prediction was and what the theory expected. ``measurement`` None: the run did not measure it (say so,
    never guess). ``record``: keep the verdict for the notebook's summary.
    """
    from lablib.notebook import summary

    if not isinstance(prediction, Prediction):  # the widget: what it holds now (unlocked: skipped)
        prediction = prediction.prediction
    question = prediction.question
    values = dict(prediction.values)
    value = prediction.value if prediction.locked and question.accepts(prediction.value) else None
    unit = question.unit
    fmt = {**values, "prediction": shown(value, unit, lang), "theory": shown(theory, unit, lang),
           "measurement": shown(measurement, unit, lang)}
    misconception = None
    if value is None:
        outcome: Outcome = "skipped"
    elif measurement is None:
        outcome = "unmeasured"
    else:
        outcome = _outcome(question, value, measurement)
    found = None
    if outcome not in ("close", "skipped", "unmeasured"):
        found = next((m for m in question.misconceptions if m.applies(value, theory, measurement)), None)
    if found is not None:
        misconception = found.id
        sentence = found.sentence(lang, **fmt)
    else:
        sentence = _sentence(outcome, lang, fmt)
    verdict = Verdict(question, value, theory, measurement, outcome, sentence, misconception, lang,
                      asked=question.question_text(lang, values))
    if record:
        summary.record_prediction(verdict)
    return verdict

