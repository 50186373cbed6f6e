"""The message catalogues: same keys and placeholders everywhere, every key used, glossary terms kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lablib import LabError
from lablib.i18n import (
    LANGS,
    LanguageError,
    MissingMessage,
    _catalog,
    catalogue,
    catalogue_files,
    check_lang,
    fields,
    t,
)
from tests.support import CJK

REPO = Path(__file__).resolve().parents[2]
#: Keys whose Chinese text is only code, names and punctuation (nothing to translate).
NO_CJK = {"viz.check.line", "viz.table.ours_sockets", "viz.table.dr_title", "i18n.list_sep",
          "manifests.problem.fix_sep"}
#: ``t("key"`` or ``Msg("key"`` (also with ``'key'`` inside f-strings): how lablib asks for a message.
CALL = re.compile(r"""\b(?:t|Msg)\(\s*["']([a-z0-9_.]+)["']""")


def _used_keys() -> dict[str, list[str]]:
    """Keys asked for by lablib and by the notebooks' sources (their own labels and titles, ``lab0N.*``)."""
    used: dict[str, list[str]] = {}
    notebooks = sorted((REPO / "tools" / "notebooks").glob("*.py"))
    for path in [*sorted((REPO / "lablib").rglob("*.py")), *notebooks]:
        for key in CALL.findall(path.read_text(encoding="utf-8")):
            used.setdefault(key, []).append(str(path.relative_to(REPO)))
    return used


def test_every_language_has_the_same_keys():
    en = set(catalogue("en"))
    for lang in LANGS:
        keys = set(catalogue(lang))
        assert keys - en == set(), f"{lang}.yaml has keys en.yaml lacks"
        assert en - keys == set(), f"{lang}.yaml lacks keys"


def test_placeholders_match_in_every_language():
    en = catalogue("en")
    for lang in LANGS:
        other = catalogue(lang)
        wrong = {k: (fields(en[k]), fields(other[k])) for k in en if fields(en[k]) != fields(other[k])}
        assert not wrong, f"{lang}: placeholders differ from en: {wrong}"


def test_every_key_the_code_uses_exists_and_every_key_is_used():
    used = _used_keys()
    assert len(used) > 100  # the scan sees the calls (a broken pattern would find none)
    missing = {k: where for k, where in used.items() if k not in catalogue("en")}
    assert not missing, f"keys used in lablib but absent from the catalogues: {missing}"
    unused = set(catalogue("en")) - set(used)
    assert not unused, f"catalogue keys no code asks for: {sorted(unused)}"


def test_chinese_messages_are_chinese():
    zh = catalogue("zh")
    latin = sorted(k for k, v in zh.items() if not CJK.search(v) and k not in NO_CJK)
    assert not latin, f"zh messages without Chinese text: {latin}"
    assert all(not CJK.search(v) for k, v in zh.items() if k in NO_CJK)  # the list stays honest
    assert not [k for k, v in catalogue("en").items() if CJK.search(v)]


def test_unknown_language_is_a_clear_lab_error():
    assert check_lang("zh") == "zh"
    with pytest.raises(LanguageError, match=r"lang = 'fr'.*\"en\", \"zh\".*parameters cell") as info:
        t("viz.check.pass", "fr")
    assert isinstance(info.value, LabError)


def test_a_missing_key_raises_and_never_falls_back_to_english(tmp_path, monkeypatch):
    with pytest.raises(MissingMessage):
        t("no.such.key", "en")
    (tmp_path / "en.yaml").write_text("only.en: hello {name}\nboth: hi\n", encoding="utf-8")
    (tmp_path / "zh.yaml").write_text("both: 你好\n", encoding="utf-8")
    monkeypatch.setattr(_catalog, "_HERE", tmp_path)
    _catalog.catalogue.cache_clear()
    try:
        assert t("only.en", "en", name="x") == "hello x"
        assert t("both", "zh") == "你好"
        with pytest.raises(MissingMessage, match=r"'only.en'.*'zh'.*zh.yaml"):
            t("only.en", "zh", name="x")
    finally:
        monkeypatch.undo()
        _catalog.catalogue.cache_clear()
    assert t("viz.check.pass", "zh") == "通过"  # the real catalogues are back


def _glossary() -> list[tuple[str, list[str]]]:
    rows = []
    for line in (REPO / "docs" / "glossary.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("English", "---") and line.startswith("|"):
            rows.append((cells[0], [x.strip() for x in cells[1].split(" / ")]))
    return rows


def test_chinese_messages_use_the_glossary_terms():
    terms = _glossary()
    assert {"circuit breaker", "connection pool", "outlier detection", "concurrency", "ejection"} <= {
        en for en, _ in terms
    }
    en, zh = catalogue("en"), catalogue("zh")
    wrong = []
    for term, chinese in terms:
        word = re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])", re.IGNORECASE)
        for key, text in en.items():
            prose = re.sub(r"\{[^{}]*\}|`[^`]*`", "", text)  # placeholders, code: not words
            if word.search(prose) and not any(c in zh[key] for c in chinese):
                wrong.append(f"{key}: '{term}' should be {' / '.join(chinese)} in: {zh[key]}")
    assert not wrong, "\n".join(wrong)


def test_no_key_is_written_twice():
    # PyYAML keeps the last of two equal keys without a word; a copy-pasted key would hide a message.
    for lang in LANGS:
        keys = []
        for path in catalogue_files(lang):
            keys += re.findall(r"^([a-z0-9_.]+):", path.read_text(encoding="utf-8"), re.MULTILINE)
        assert len(keys) == len(set(keys)) == len(catalogue(lang)), lang


def test_each_area_has_its_catalogue_in_every_language():
    areas = {tuple(p.name.split(".")[:-2]) for lang in LANGS for p in catalogue_files(lang)[1:]}
    for lang in LANGS:
        assert {tuple(p.name.split(".")[:-2]) for p in catalogue_files(lang)[1:]} == areas, lang
