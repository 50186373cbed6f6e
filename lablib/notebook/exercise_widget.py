"""The exercise widget: the goal, a YAML box, Check, the result with its hints one step at a time, and the
reference solution behind a button (for instructors).

A thin shell over ``lablib.notebook.exercise.attempt``: the Check button runs one attempt in the kernel
(nothing runs while the student types); errors show in the result area, never as a traceback.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as w

from lablib.i18n import Msg, check_lang, t
from lablib.notebook import summary
from lablib.notebook.exercise import Attempt, Exercise, ExerciseFailed, attempt, in_grader, result_html
from lablib.notebook.explorer import error_html

__all__ = ["ExerciseWidget", "show_exercise"]


class ExerciseWidget:
    """One exercise on one lab. ``check(text)`` does what the button does (from a cell or a test);
    ``last`` is the latest attempt, ``graded()`` records it for the summary (and scores it under nbgrader)."""

    def __init__(self, exercise: Exercise, lab: Any, answer: str | None = None, *, lang: str = "en",
                 directory: Path | None = None) -> None:
        self.lang = check_lang(lang)
        self.exercise, self.lab, self.directory = exercise, lab, directory
        self.attempts: list[Attempt] = []
        self.hints_shown = 1
        lang = self.lang
        goal = html.escape(exercise.goal(lang))
        self.header = w.HTML(f"<b>{html.escape(exercise.title(lang))}</b><div>{goal}</div>")
        self.box = w.Textarea(value=answer if answer is not None else exercise.start, rows=18,
                              layout=w.Layout(width="640px"))
        self.box.add_class("lablib-exercise-answer")
        self.check_button = w.Button(description=t("exercise.widget.check", lang), button_style="primary",
                                     icon="check")
        self.check_button.add_class("lablib-exercise-check")
        self.check_button.on_click(lambda _: self._on_check())
        self.more_button = w.Button(description=t("exercise.widget.more", lang), icon="lightbulb-o",
                                    disabled=True)
        self.more_button.add_class("lablib-exercise-more")
        self.more_button.on_click(lambda _: self.more_hint())
        self.solution_button = w.Button(description=t("exercise.widget.solution", lang), icon="key")
        self.solution_button.add_class("lablib-exercise-solution")
        self.solution_button.on_click(lambda _: self.show_solution())
        ready = html.escape(t("exercise.widget.ready", lang))
        self.result = w.HTML(f"<span class='lablib-exercise-ready'>{ready}</span>")
        self.solution = w.HTML()
        self.widget = w.VBox([self.header, self.box,
                              w.HBox([self.check_button, self.more_button, self.solution_button]),
                              self.result, self.solution])
        self.widget.add_class("lablib-exercise")
        if answer is not None:  # given as a parameter (papermill, CI): graded at once
            self.check(answer)

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    def check(self, text: str | None = None) -> Attempt:
        """Validate, apply, run and grade ``text`` (default: the box); show the result and the first hint."""
        if text is not None:
            self.box.value = text
        self.check_button.disabled = True
        self.result.value = f"<i>{html.escape(t('exercise.widget.running', self.lang))}</i>"
        try:
            done = attempt(self.exercise, self.lab, self.box.value, lang=self.lang, directory=self.directory)
        finally:
            self.check_button.disabled = False
        self.attempts.append(done)
        summary.count_attempt(self.exercise.id)
        self.hints_shown = 1
        self._show()
        return done

    def _show(self) -> None:
        done = self.last
        if done is None:
            return
        self.result.value = result_html(done, hints_shown=self.hints_shown)
        self.more_button.disabled = self.hints_shown >= len(done.hints())

    def more_hint(self) -> None:
        """Show the next hint step of the last attempt."""
        self.hints_shown += 1
        self._show()

    def show_solution(self) -> None:
        """The reference answer, for instructors (the box keeps the student's text)."""
        self.solution.value = (f"<div class='lablib-exercise-solution-text'><b>"
                               f"{html.escape(t('exercise.widget.solution_title', self.lang))}</b>"
                               f"<pre>{html.escape(self.exercise.solution_in(self.lang))}</pre></div>")

    def _on_check(self) -> None:
        try:
            self.check()
        except Exception as exc:  # a button's callback has nowhere else to show it
            self.result.value = error_html(exc, self.lang)
            self.check_button.disabled = False

    def graded(self) -> Attempt | None:
        """The last attempt, recorded for the summary (None: no attempt yet, recorded as not attempted);
        under nbgrader a missing or failed answer raises (``Attempt.graded``)."""
        if self.last is None:
            summary.record_unattempted(self.exercise, self.lang)
            if in_grader():
                raise ExerciseFailed(Msg("exercise.not_attempted", title=self.exercise.title(self.lang)))
            return None
        return self.last.graded()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def show_exercise(exercise: Exercise, lab: Any, answer: str | None = None, *, lang: str = "en",
                  directory: Path | None = None) -> ExerciseWidget:
    """The exercise's widget on ``lab``; ``answer`` (the notebook parameter ``exercise_<id>``, or the answer
    cell's string) is checked at once, else the box starts from the exercise's rule."""
    return ExerciseWidget(exercise, lab, answer, lang=lang, directory=directory)
