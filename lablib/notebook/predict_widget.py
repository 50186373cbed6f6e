"""The prediction widget: the question, an answer box (a number or a choice) and a "lock in" button.

A thin shell over ``lablib.notebook.predict``: once locked, the answer cannot change (the point is to commit
before seeing the run); nothing locked means skipped. Given a value (the notebook parameter, papermill, CI)
it starts locked with it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import ipywidgets as w

from lablib.i18n import check_lang, t
from lablib.notebook.parameters import Number, OneOf, _Refused
from lablib.notebook.predict import Prediction, Question, shown

__all__ = ["PredictionWidget", "ask"]


class PredictionWidget:
    """One question's widget; ``prediction`` is what it holds now (``lock(value)`` does what the button does,
    for a cell or a test)."""

    def __init__(self, question: Question, value: Any = None, *, lang: str = "en",
                 values: Mapping[str, Any] | None = None) -> None:
        self.lang = check_lang(lang)
        self.question, self.values = question, dict(values or {})
        self.value: float | str | None = None
        self.locked = False
        text = html.escape(question.question_text(self.lang, self.values))
        self.label = w.HTML(f"<b>{t('predict.widget.title', self.lang)}</b> {text}")
        if question.choices:
            self.answer: w.Widget = w.RadioButtons(options=list(question.choices), value=None)
        else:
            unit = f" ({question.unit})" if question.unit else ""
            self.answer = w.Text(placeholder=t("predict.widget.placeholder", self.lang) + unit,
                                 layout=w.Layout(width="220px"))
        self.answer.add_class("lablib-prediction-input")
        self.button = w.Button(description=t("predict.widget.lock", self.lang), icon="lock",
                               button_style="info")
        self.button.add_class("lablib-lock")
        self.button.on_click(lambda _: self.lock())
        self.status = w.HTML(self._status(t("predict.widget.open", self.lang)))
        self.widget = w.VBox([self.label, w.HBox([self.answer, self.button]), self.status])
        self.widget.add_class("lablib-prediction")
        if value is not None:
            self.lock(value)

    def _status(self, message: str) -> str:
        return (f"<span class='lablib-prediction-status' data-locked='{str(self.locked).lower()}'>"
                f"{html.escape(message)}</span>")

    def _read(self, raw: Any) -> float | str:
        q = self.question
        param = OneOf(choices=q.choices) if q.choices else Number(low=q.low, high=q.high, unit=q.unit)
        return param.read(raw)

    def lock(self, value: Any = None) -> bool:
        """Lock in ``value`` (default: what the box holds); False, with the reason shown, if it is not an
        answer to the question. A locked prediction stays as it is."""
        if self.locked:
            return True
        raw = self.answer.value if value is None else value
        try:
            answer = self._read(raw)
        except _Refused:
            q = self.question
            expected = (", ".join(q.choices) if q.choices
                        else t("predict.widget.range", self.lang, low=q.low, high=q.high, unit=q.unit)
                        if math.isfinite(q.high) else t("predict.widget.range_from", self.lang, low=q.low,
                                                        unit=q.unit))
            self.status.value = self._status(t("predict.widget.refused", self.lang, given=str(raw),
                                               expected=expected))
            return False
        self.value, self.locked = answer, True
        if value is not None:
            self.answer.value = answer if self.question.choices else str(raw)
        self.answer.disabled = self.button.disabled = True
        self.status.value = self._status(t("predict.widget.locked", self.lang,
                                           value=shown(answer, self.question.unit, self.lang)))
        return True

    @property
    def prediction(self) -> Prediction:
        """The answer as ``compare`` reads it (not locked: skipped)."""
        return Prediction(self.question, self.value if self.locked else None, self.values, self.locked)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def ask(question: Question, value: Any = None, *, lang: str = "en", **values: Any) -> PredictionWidget:
    """The prediction widget for ``question`` (``values``: its placeholders, e.g. ``c=40``).

    ``value`` is the notebook parameter ``predict_<id>``: given (papermill, CI), the widget starts locked
    with it; None leaves it for the student to type and lock in (or skip). Pass the widget to ``compare``.
    """
    return PredictionWidget(question, value, lang=lang, values=values)
