"""The notebook's summary: the predictions made and how close they were, the exercises passed.

``predict.compare`` and the exercises' ``graded()`` record here, one entry per question or exercise (a cell
run again replaces its entry), so the last cell of a lab can show one small table an instructor collects
(``table(lang)``; ``records()`` as plain data). The record lives in the kernel: a restarted kernel starts a
new summary.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lablib.i18n import Msg, t

if TYPE_CHECKING:
    from lablib.notebook.exercise import Attempt, Exercise
    from lablib.notebook.predict import Verdict

__all__ = ["Entry", "Summary", "clear", "record_exercise", "record_prediction", "record_unattempted",
           "records", "table"]


@dataclass(frozen=True)
class Entry:
    """One row: a prediction (``kind="prediction"``) or an exercise (``"exercise"``).

    ``outcome``: close / above / below / different / skipped / unmeasured for a prediction; passed / failed /
    refused / not attempted for an exercise. ``prediction``, ``theory``, ``measurement`` are shown values.
    """

    kind: str
    id: str
    title: str
    outcome: str
    prediction: str = ""
    theory: str = ""
    measurement: str = ""
    attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_entries: dict[tuple[str, str], Entry] = {}
_attempts: dict[str, int] = {}


def clear() -> None:
    """Forget every entry (a new run of the notebook)."""
    _entries.clear()
    _attempts.clear()


def record_prediction(verdict: Verdict) -> None:
    p, th, m = verdict.cells()
    _entries[("prediction", verdict.question.id)] = Entry("prediction", verdict.question.id, verdict.asked,
                                                          verdict.outcome, p, th, m)


def record_exercise(done: Attempt) -> None:
    ex = done.exercise
    state = "refused" if done.problems else "passed" if done.passed else "failed"
    _entries[("exercise", ex.id)] = Entry("exercise", ex.id, ex.title(done.lang), state,
                                          attempts=_attempts.get(ex.id, 0))


def count_attempt(exercise_id: str) -> None:
    """One more try at an exercise (the widget counts every Check)."""
    _attempts[exercise_id] = _attempts.get(exercise_id, 0) + 1


def record_unattempted(exercise: Exercise, lang: str) -> None:
    _entries[("exercise", exercise.id)] = Entry("exercise", exercise.id, exercise.title(lang),
                                                "not_attempted", attempts=_attempts.get(exercise.id, 0))


def records() -> list[Entry]:
    """Every entry, predictions first, each in the order first recorded."""
    return sorted(_entries.values(), key=lambda e: e.kind != "prediction")


@dataclass(frozen=True)
class Summary:
    """The table of one moment (what ``table`` returns): HTML in a notebook, text elsewhere."""

    entries: tuple[Entry, ...]
    lang: str

    @property
    def predictions(self) -> list[Entry]:
        return [e for e in self.entries if e.kind == "prediction"]

    @property
    def exercises(self) -> list[Entry]:
        return [e for e in self.entries if e.kind == "exercise"]

    def totals(self) -> str:
        made = [e for e in self.predictions if e.outcome not in ("skipped", "unmeasured")]
        close = [e for e in made if e.outcome == "close"]
        passed = [e for e in self.exercises if e.outcome == "passed"]
        return t("summary.totals", self.lang, made=len(made), asked=len(self.predictions), close=len(close),
                 passed=len(passed), exercises=len(self.exercises))

    def _rows(self) -> list[list[str]]:
        lang = self.lang
        rows = []
        for e in self.entries:
            outcome = _outcomes().get(e.outcome, Msg("summary.outcome.failed")).in_lang(lang)
            if e.kind == "prediction":
                rows.append([t("summary.kind.prediction", lang), e.title, e.prediction, e.theory,
                             e.measurement, outcome])
            else:
                rows.append([t("summary.kind.exercise", lang), e.title, "", "", "",
                             t("summary.attempts", lang, outcome=outcome, n=e.attempts)])
        return rows

    def _head(self) -> list[str]:
        lang = self.lang
        return [t("summary.col.kind", lang), t("summary.col.what", lang), t("summary.col.prediction", lang),
                t("summary.col.theory", lang), t("summary.col.measurement", lang),
                t("summary.col.outcome", lang)]

    def __str__(self) -> str:
        lines = [" | ".join(self._head()), *(" | ".join(r) for r in self._rows()), self.totals()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cell = "padding:2px 8px;border:1px solid #ddd;text-align:left;vertical-align:top"
        head = "".join(f"<th style='{cell};background:#f6f8fa'>{html.escape(h)}</th>" for h in self._head())
        body = "".join(
            f"<tr data-kind='{e.kind}' data-id='{html.escape(e.id)}' data-outcome='{e.outcome}'>"
            + "".join(f"<td style='{cell}'>{html.escape(v)}</td>" for v in row) + "</tr>"
            for e, row in zip(self.entries, self._rows(), strict=True))
        return (f"<table class='lablib-summary' style='border-collapse:collapse'><tr>{head}</tr>{body}"
                "</table>"
                f"<div class='lablib-summary-totals'>{html.escape(self.totals())}</div>")


def _outcomes() -> dict[str, Msg]:
    return {"close": Msg("summary.outcome.close"), "above": Msg("summary.outcome.above"),
            "below": Msg("summary.outcome.below"), "different": Msg("summary.outcome.different"),
            "skipped": Msg("summary.outcome.skipped"), "unmeasured": Msg("summary.outcome.unmeasured"),
            "passed": Msg("summary.outcome.passed"), "failed": Msg("summary.outcome.failed"),
            "refused": Msg("summary.outcome.refused"), "not_attempted": Msg("summary.outcome.not_attempted")}


def table(lang: str = "en") -> Summary:
    """The summary so far, for the notebook's last cells."""
    return Summary(tuple(records()), lang)
