"""The Chinese edition's run-time text: the same numbers as the English, no English sentence left over.

``_samples.render(lang)`` calls every student-facing function of the notebook kit and lab packages on the same
inputs; here the two renderings are compared key by key.
"""

from __future__ import annotations

import html
import re

import pytest

from lablib.i18n import LanguageError
from lablib.labs.circuit_breaking.explorer import BreakerExplorer
from lablib.notebook import checks, plots

from ._samples import render
from .test_catalogue import CJK

NUMBER = re.compile(r"\d+(?:\.\d+)?")
WORD = r"[A-Za-z][A-Za-z0-9_'\-]*"
#: Four or more ASCII words in a row: an English phrase (code names are one or two words).
PHRASE = re.compile(rf"{WORD}(?: {WORD}){{3,}}")
#: Text that is not lablib's to translate: PyYAML's own error message.
FOREIGN = {"rule_reached.bad": "PyYAML's error text"}
#: Samples whose input text (a label, a title, a mark) is given by the caller, so no Chinese is expected.
NO_CJK_EXPECTED: set[str] = {"envoy_view.ok"}


@pytest.fixture(scope="module")
def both() -> tuple[dict[str, str], dict[str, str]]:
    return render("en"), render("zh")


def test_every_sample_renders_in_both_languages(both):
    en, zh = both
    assert set(en) == set(zh) and len(en) > 60


def _numbers(text: str) -> list[str]:
    return sorted(NUMBER.findall(html.unescape(text)))  # &#x27; is an apostrophe, not the number 27


def test_chinese_text_has_the_same_numbers_as_the_english(both):
    en, zh = both
    differ = {k: (_numbers(en[k]), _numbers(zh[k])) for k in en if _numbers(en[k]) != _numbers(zh[k])}
    assert not differ, differ
    assert sum(len(_numbers(v)) for v in zh.values()) > 500  # the comparison saw numbers


def test_chinese_text_is_chinese_and_leaks_no_english_phrase(both):
    en, zh = both
    leaks = {k: PHRASE.findall(v) for k, v in zh.items() if k not in FOREIGN and PHRASE.findall(v)}
    assert not leaks, leaks
    untranslated = [k for k, v in zh.items() if not CJK.search(v) and k not in NO_CJK_EXPECTED]
    assert not untranslated, untranslated
    # The English side really has such phrases: the check would catch an untranslated template.
    assert sum(1 for k, v in en.items() if k not in FOREIGN and PHRASE.search(v)) > 40


def test_english_is_the_default_and_explicit_en_is_the_same():
    from tests.notebooks.conftest import point

    pts = [point("p", 5, 0), point("p", 40, 100)]
    assert str(checks.breaker_trips(pts, 20)) == str(checks.breaker_trips(pts, 20, lang="en"))
    assert str(checks.breaker_trips(pts, 20)).startswith("PASS: ")


def test_a_failed_chinese_check_raises_a_lab_error_in_chinese():
    failed = checks.route_works(type("R", (), {"codes": {503: 1}})(), lang="zh")
    assert not failed and "✘" in failed._repr_html_()
    with pytest.raises(checks.CheckFailed, match=r"^未通过：.*VirtualService"):
        failed.raise_if_failed()


def test_chinese_explorer_moves_its_own_theory_traces_and_adds_points():
    from lablib.labs.circuit_breaking.knobs import BreakerKnobs
    from tests.notebooks.conftest import point

    def theory_for(k: BreakerKnobs) -> plots.TheoryOverlay:
        return plots.TheoryOverlay(limit=k.max_connections + k.http1_max_pending_requests, band=(5, 30))

    ex = BreakerExplorer(object(), theory_for=theory_for, lang="zh")
    names = {tr.name for tr in ex.figure.data}
    assert "理论：上限 L" in names and plots.THEORY_LIMIT not in names
    ex.max_pending.value = 30  # the knob callback finds the zh traces by name and moves them
    limit = next(tr for tr in ex.figure.data if tr.name == "理论：上限 L")
    assert list(limit.x) == [ex.max_connections.value + 30] * 2
    assert "理论上限 L" in ex.status.value
    plots.add_point(ex.figure, point("x", 30, 10), lang="zh")
    assert any(tr.name == "本次实验：x" for tr in ex.figure.data)


def test_an_unknown_language_fails_at_once_with_a_lab_error():
    from lablib.labs.outlier_detection.widgets import Explorer

    with pytest.raises(LanguageError, match="parameters cell"):
        BreakerExplorer(object(), lang="cn")
    with pytest.raises(LanguageError):
        Explorer(object(), rule_path="/nonexistent/dr.yaml", lang="zh-CN")


def test_a_check_passes_or_fails_the_same_in_every_language(both):
    en, zh = both
    verdicts = {k: (v.startswith("PASS: "), zh[k].startswith("通过：")) for k, v in en.items()
                if v.startswith(("PASS: ", "FAIL: "))}
    assert len(verdicts) > 40
    assert all(a == b for a, b in verdicts.values()), {k: v for k, v in verdicts.items() if v[0] != v[1]}
    assert {a for a, _ in verdicts.values()} == {True, False}
