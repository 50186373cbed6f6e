"""Exercises: the student writes the rule. The lab validates it (positioned, in the notebook's language),
applies it, runs the load, grades the result against the goal and, on failure, gives the hint meant for the
wrong idea the result shows, one step at a time.

An ``Exercise`` is data a lab declares: the goal (catalogue keys), the rule the box starts with, the
reference solution, the host and name the rule must have, a ``grade(lab, rule_path, lang) -> Grade``
function that runs the load and judges it, and the hint steps of each typical wrong answer.
``attempt(exercise, lab, text)`` does one try and never raises for a bad answer: invalid YAML, a field that
does not exist or a rule for another host come back as the validator's ``FILE:LINE`` problems, nothing is
applied, and the last good rule stays. ``ExerciseWidget`` (``lablib.notebook.exercise_widget``) is the box,
the Check button, the hints and the instructors' solution around it.

nbgrader: the cell that shows the result (``Attempt.graded()``) raises when ``$NBGRADER_EXECUTION`` is set
(nbgrader's autograde and validate runs) and the answer fails, so it can be an autograded test cell; the
answer itself is the notebook parameter or the string in the answer cell, which nbgrader keeps.
"""

from __future__ import annotations

import html
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lablib._exceptions import LabError, LabWarning
from lablib.i18n import Msg, render, t
from lablib.manifests import Problem, fqdn, parse_manifests
from lablib.notebook.language import error_text

__all__ = ["Attempt", "Criterion", "Exercise", "ExerciseFailed", "Grade", "attempt", "hint_steps",
           "in_grader"]


class ExerciseFailed(LabError):
    """An exercise's answer did not meet its goal (raised only in nbgrader's runs, see ``Attempt.graded``)."""


@dataclass(frozen=True)
class Criterion:
    """One part of a goal: met or not, and what was measured (a sentence in the notebook's language)."""

    ok: bool
    text: str


@dataclass(frozen=True)
class Grade:
    """The result of a run against the goal: every criterion, and the misconception the result shows
    (``hint``: a key of the exercise's ``hints``; None when the goal is met or no known one fits).
    ``values`` fill the hint's placeholders (the numbers of this run and rule)."""

    criteria: tuple[Criterion, ...]
    hint: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.criteria) and all(c.ok for c in self.criteria)


#: ``grade(lab, rule_path, lang)``: run the exercise's load on the applied rule and judge it.
Grader = Callable[[Any, Path, str], Grade]
#: Text in a language: ``text(lang, **values)``, a lab's ``lambda lang, **v: t(KEY, lang, **v)``.
Text = Callable[..., str]


@dataclass(frozen=True)
class Exercise:
    """One exercise of a lab.

    ``title`` and ``goal`` are text in a language (``text(lang)``); ``start`` the rule the box starts with
    (YAML); ``solution`` the reference answer; the answer must be one DestinationRule named ``name`` for
    ``host`` (it replaces the lab's rule); ``hints`` maps a misconception key to its steps (``step(lang,
    **grade.values)``, shown one at a time, the last nearest to the answer); ``fallback`` is the hint key when
    the goal is missed for no known reason.
    """

    id: str
    title: Text
    goal: Text
    start: str
    solution: str
    grade: Grader
    hints: Mapping[str, Sequence[Text]]
    host: str = "service-go"
    name: str = "service-go"
    namespace: str = "default"
    fallback: str = "other"
    points: int = 1
    #: what the lab needs before the answer is validated and applied (e.g. the route the goal is about)
    prepare: Callable[[Any], object] | None = None
    #: the reference answer with its comments in another language (lang -> YAML); the same rule as
    #: ``solution`` (tests/exercises hold them equal), shown by ``solution_in``
    solutions: Mapping[str, str] = field(default_factory=dict)

    def solution_in(self, lang: str) -> str:
        """The reference answer with its comments in ``lang`` (English when it has none in that language)."""
        return self.solutions.get(lang, self.solution)

    @property
    def parameter(self) -> str:
        """The notebook parameter that gives the answer (papermill, CI): ``exercise_<id>``."""
        return f"exercise_{self.id}"


def hint_steps(exercise: Exercise, grade: Grade, lang: str) -> list[str]:
    """The hint steps for what ``grade`` showed, in ``lang`` (empty when the goal is met)."""
    if grade.passed:
        return []
    key = grade.hint if grade.hint in exercise.hints else exercise.fallback
    return [step(lang, **grade.values) for step in exercise.hints.get(key, ())]


@dataclass(frozen=True)
class Attempt:
    """One try: the answer, the problems that stopped it (nothing applied) or its grade, and the warnings
    the validator issued (shown, not fatal)."""

    exercise: Exercise
    text: str
    lang: str
    problems: tuple[str, ...] = ()
    grade: Grade | None = None
    warnings: tuple[str, ...] = ()
    path: Path | None = None

    @property
    def applied(self) -> bool:
        return self.grade is not None

    @property
    def passed(self) -> bool:
        return self.grade is not None and self.grade.passed

    @property
    def hint(self) -> str | None:
        return None if self.grade is None or self.grade.passed else (
            self.grade.hint if self.grade.hint in self.exercise.hints else self.exercise.fallback)

    def hints(self) -> list[str]:
        return [] if self.grade is None else hint_steps(self.exercise, self.grade, self.lang)

    def __str__(self) -> str:
        lines = [self._headline()]
        lines += [f"  {p}" for p in self.problems]
        lines += [f"  {'✔' if c.ok else '✘'} {c.text}" for c in (self.grade.criteria if self.grade else ())]
        lines += [f"  {w}" for w in self.warnings]
        hints = self.hints()
        if hints:
            label = t("exercise.hint_label", self.lang, step=1, steps=len(hints))
            lines.append(f"  {label} {hints[0]}")
        return "\n".join(lines)

    def _headline(self) -> str:
        if self.problems:
            return t("exercise.refused", self.lang)
        title = self.exercise.title(self.lang)
        if self.passed:
            return t("exercise.passed", self.lang, title=title)
        return t("exercise.failed", self.lang, title=title)

    def _repr_html_(self) -> str:
        return result_html(self, hints_shown=1)

    def graded(self) -> Attempt:
        """This attempt, recorded for the summary; in nbgrader's runs (``$NBGRADER_EXECUTION``) a failed
        answer raises ``ExerciseFailed`` so an autograded cell scores it."""
        from lablib.notebook import summary

        summary.record_exercise(self)
        if in_grader() and not self.passed:
            raise ExerciseFailed(Msg("exercise.not_met", title=self.exercise.title(self.lang)))
        return self


def in_grader() -> bool:
    """True in nbgrader's autograde or validate runs (nbgrader sets ``NBGRADER_EXECUTION``)."""
    return os.environ.get("NBGRADER_EXECUTION", "").lower() in ("autograde", "validate")


def result_html(attempt: Attempt, *, hints_shown: int = 1) -> str:
    """An attempt as HTML: the verdict, each problem or criterion, warnings, and the first hint steps."""
    ok = attempt.passed
    color = "#1a7f37" if ok else "#cf222e"
    rows = [f"<div class='lablib-problem' style='font-family:monospace;white-space:pre-wrap'>"
            f"{html.escape(p)}</div>" for p in attempt.problems]
    rows += [f"<div class='lablib-criterion' data-ok='{str(c.ok).lower()}'>{'✔' if c.ok else '✘'} "
             f"{html.escape(c.text)}</div>" for c in (attempt.grade.criteria if attempt.grade else ())]
    rows += [f"<div class='lablib-warning' style='color:#9a6700'>{html.escape(w)}</div>"
             for w in attempt.warnings]
    hints = attempt.hints()
    for i, step in enumerate(hints[:hints_shown], start=1):
        label = t("exercise.hint_label", attempt.lang, step=i, steps=len(hints))
        rows.append(f"<div class='lablib-hint' data-hint='{attempt.hint}' data-step='{i}' "
                    f"style='background:#fff8c5;padding:2px 6px;margin-top:2px'><b>{html.escape(label)}</b> "
                    f"{html.escape(step)}</div>")
    state = "refused" if attempt.problems else "passed" if ok else "failed"
    return (f"<div class='lablib-exercise-result' data-state='{state}' data-exercise='{attempt.exercise.id}' "
            f"style='border-left:4px solid {color};padding:4px 8px;margin:4px 0;font-family:sans-serif'>"
            f"<b style='color:{color}'>{html.escape(attempt._headline())}</b>{''.join(rows)}</div>")


def _shape_problems(exercise: Exercise, text: str, path: Path) -> list[Problem]:
    """What the exercise itself requires of the answer, positioned like the validator's problems: one
    DestinationRule, named ``exercise.name``, for ``exercise.host`` (another host would leave the goal's
    service untouched; another name would add a second rule instead of replacing the lab's)."""
    objects, _ = parse_manifests(text, str(path))
    problems: list[Problem] = []
    rules = [m for m in objects if m.kind == "DestinationRule"]
    others = [m for m in objects if m.kind != "DestinationRule"]
    for m in others:
        problems.append(Problem("error", str(path), m.source.line, Msg("exercise.shape.kind", kind=m.kind),
                                Msg("exercise.shape.kind_fix"), m.kind, m.name))
    if not rules and not others:
        problems.append(Problem("error", str(path), 1, Msg("exercise.shape.empty"),
                                Msg("exercise.shape.kind_fix")))
    for m in rules[1:]:
        problems.append(Problem("error", str(path), m.source.line, Msg("exercise.shape.one_rule"),
                                Msg("exercise.shape.one_rule_fix"), m.kind, m.name))
    for m in rules[:1]:
        host = m.spec.get("host") if isinstance(m.spec, dict) else None
        want = fqdn(exercise.host, exercise.namespace)
        if not isinstance(host, str) or fqdn(host, m.namespace) != want:
            problems.append(Problem("error", str(path), m.line_of("spec.host"),
                                    Msg("exercise.shape.host", host=str(host), want=exercise.host),
                                    Msg("exercise.shape.host_fix", want=exercise.host), m.kind, m.name,
                                    "spec.host"))
        if m.name != exercise.name or m.namespace != exercise.namespace:
            problems.append(Problem("error", str(path), m.line_of("metadata.name"),
                                    Msg("exercise.shape.name", name=m.name, want=exercise.name),
                                    Msg("exercise.shape.name_fix", want=exercise.name), m.kind, m.name,
                                    "metadata.name"))
    return problems


_ANSWERS: Path | None = None


def _answers_dir() -> Path:
    """This process's own folder for answers: made fresh (0700, by ``mkdtemp``), never a predictable shared
    path another user could have made first, and never shared by two kernels of one user."""
    global _ANSWERS
    if _ANSWERS is None or not _ANSWERS.is_dir():
        _ANSWERS = Path(tempfile.mkdtemp(prefix="lablib-answers-"))
    return _ANSWERS


def answer_path(exercise: Exercise, directory: Path | None = None) -> Path:
    """Where an answer is written (the file its problems name): ``<directory>/exercise-<id>.yaml``."""
    folder = directory if directory is not None else _answers_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder / f"exercise-{exercise.id}.yaml"


def attempt(exercise: Exercise, lab: Any, text: str, *, lang: str = "en",
            directory: Path | None = None) -> Attempt:
    """One try at ``exercise`` with the rule ``text``: validate (the validator, then the exercise's own
    shape), apply, run and grade. A bad answer comes back as problems at its ``FILE:LINE`` with nothing
    applied (the lab's all-or-nothing apply keeps the last good rule); a failure of the lab itself (Envoy
    refused the config, a pod died) comes back the same way, as one line in ``lang``."""
    from lablib.manifests import validate_files

    path = answer_path(exercise, directory)
    path.write_text(text if isinstance(text, str) else "", encoding="utf-8")
    if exercise.prepare is not None:
        try:
            exercise.prepare(lab)
        except LabError as exc:
            return Attempt(exercise, text, lang, tuple(render(exc, lang).splitlines()), path=path)
    # Object by object first (syntax, fields, types, ranges): the exercise's own checks read a valid object.
    problems = [p for p in validate_files([path], cross_checks=False) if p.is_error]
    if not problems:
        problems = _shape_problems(exercise, text, path)
    if problems:
        return Attempt(exercise, text, lang, tuple(p.in_lang(lang) for p in problems), path=path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LabWarning)
        try:
            lab.apply(path)  # validated against what runs, then all or nothing
            grade = exercise.grade(lab, path, lang)
        except LabError as exc:
            lines = render(exc, lang).splitlines() or [error_text(exc, lang)]
            return Attempt(exercise, text, lang, tuple(lines), path=path, warnings=_warnings(caught, lang))
    return Attempt(exercise, text, lang, grade=grade, warnings=_warnings(caught, lang), path=path)


def _warnings(caught: Sequence[warnings.WarningMessage], lang: str) -> tuple[str, ...]:
    out = []
    for w in caught:
        if isinstance(w.message, LabWarning):
            out.append(f"{w.filename}:{w.lineno}: {w.message.in_lang(lang)}")
    return tuple(dict.fromkeys(out))
