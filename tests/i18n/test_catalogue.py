"""The message catalogues: each key in the file of its first segment, same keys and placeholders everywhere,
every key used, glossary terms kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lablib import LabError
from lablib.i18n import (
    LANGS,
    CatalogueError,
    LanguageError,
    MissingMessage,
    _catalog,
    catalogue,
    catalogue_files,
    check_lang,
    fields,
    read_catalogue,
    t,
)
from tests.support import CJK

REPO = Path(__file__).resolve().parents[2]
#: Keys whose Chinese text is only code, names and punctuation (nothing to translate).
NO_CJK = {"notebook.check.line", "notebook.table.ours_sockets", "notebook.table.dr_title", "i18n.list_sep",
          "manifests.problem.fix_sep"}
#: ``t("key"`` or ``Msg("key"`` (also with ``'key'`` inside f-strings; ``_t`` in lablib._exceptions): how
#: lablib asks for a message.
CALL = re.compile(r"""\b(?:_?t|Msg)\(\s*["']([a-z0-9_.]+)["']""")
#: A key at the start of a line of a catalogue file.
KEY = re.compile(r"^([a-z0-9_.]+):", re.MULTILINE)


def _used_keys() -> dict[str, list[str]]:
    """Keys asked for by lablib and by the notebooks' sources (their own labels and titles, ``lab0N.*``)."""
    used: dict[str, list[str]] = {}
    notebooks = sorted((REPO / "tools" / "notebooks").glob("*.py"))
    for path in [*sorted((REPO / "lablib").rglob("*.py")), *notebooks]:
        for key in CALL.findall(path.read_text(encoding="utf-8")):
            used.setdefault(key, []).append(str(path.relative_to(REPO)))
    return used


def test_every_language_has_the_same_keys_in_the_same_files():
    en = {p.name.split(".")[0]: set(KEY.findall(p.read_text(encoding="utf-8")))
          for p in catalogue_files("en")}
    assert sum(map(len, en.values())) == len(catalogue("en"))  # the scan sees every key
    for lang in LANGS:
        for path in catalogue_files(lang):
            keys = set(KEY.findall(path.read_text(encoding="utf-8")))
            twin = en.get(path.name.split(".")[0], set())
            assert keys - twin == set(), f"{path.name} has keys its English twin lacks"
            assert twin - keys == set(), f"{path.name} lacks keys its English twin has"
        assert set(catalogue(lang)) == set(catalogue("en")), lang


def test_each_key_lives_in_the_file_named_for_its_first_segment():
    # Read with a regex, not the loader, so the rule is checked even if the loader's own check broke.
    for lang in LANGS:
        for path in catalogue_files(lang):
            wrong = [k for k in KEY.findall(path.read_text(encoding="utf-8"))
                     if f"{k.split('.')[0]}.{lang}.yaml" != path.name]
            assert not wrong, f"{path.name}: keys {wrong} belong in the file of their first segment"


def test_the_loader_refuses_a_key_in_the_wrong_file_at_its_line(tmp_path):
    (tmp_path / "outlier.en.yaml").write_text("# a comment\noutlier.ok: fine\nviz.na: n/a\n",
                                              encoding="utf-8")
    assert read_catalogue("zh", tmp_path) == {}
    with pytest.raises(CatalogueError, match=r"outlier\.en\.yaml:3: key 'viz\.na' belongs in viz\.en\.yaml: "
                                             r"a key lives in the file named for its first segment") as info:
        read_catalogue("en", tmp_path)
    assert isinstance(info.value, LabError)
    (tmp_path / "outlier.en.yaml").write_text("outlier.ok: fine\n", encoding="utf-8")
    (tmp_path / "viz.en.yaml").write_text("viz.na: n/a\n", encoding="utf-8")
    assert read_catalogue("en", tmp_path) == {"outlier.ok": "fine", "viz.na": "n/a"}  # moved: accepted


def test_the_loader_refuses_other_file_names_duplicates_and_values_that_are_not_text(tmp_path):
    (tmp_path / "viz.en.yaml").write_text("viz.na: n/a\n", encoding="utf-8")
    (tmp_path / "en.yaml").write_text("viz.other: x\n", encoding="utf-8")  # the old layout (a stale buffer)
    with pytest.raises(CatalogueError, match=r"en\.yaml: not a catalogue file name; .*<first segment>"):
        read_catalogue("en", tmp_path)
    (tmp_path / "en.yaml").unlink()
    (tmp_path / "zh.review.yaml").write_text("{}\n", encoding="utf-8")  # the review record is allowed
    assert read_catalogue("en", tmp_path) == {"viz.na": "n/a"}
    (tmp_path / "viz.en.yaml").write_text("viz.na: n/a\nviz.b: x\nviz.na: again\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"viz\.en\.yaml:3: key 'viz\.na' is written twice"):
        read_catalogue("en", tmp_path)
    (tmp_path / "viz.en.yaml").write_text("viz.na: n/a\nviz.on: on\n", encoding="utf-8")  # YAML 1.1: a bool
    with pytest.raises(CatalogueError, match=r"viz\.en\.yaml:2: 'viz\.on' is not `key: template`"):
        read_catalogue("en", tmp_path)


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
        t("notebook.check.pass", "fr")
    assert isinstance(info.value, LabError)


def test_a_missing_key_raises_and_never_falls_back_to_english(tmp_path, monkeypatch):
    with pytest.raises(MissingMessage):
        t("no.such.key", "en")
    (tmp_path / "only.en.yaml").write_text("only.en: hello {name}\n", encoding="utf-8")
    (tmp_path / "both.en.yaml").write_text("both.x: hi\n", encoding="utf-8")
    (tmp_path / "both.zh.yaml").write_text("both.x: 你好\n", encoding="utf-8")
    monkeypatch.setattr(_catalog, "_HERE", tmp_path)
    _catalog.catalogue.cache_clear()
    try:
        assert t("only.en", "en", name="x") == "hello x"
        assert t("both.x", "zh") == "你好"
        with pytest.raises(MissingMessage, match=r"'only.en'.*'zh'.*lablib/i18n/only\.zh\.yaml"):
            t("only.en", "zh", name="x")
    finally:
        monkeypatch.undo()
        _catalog.catalogue.cache_clear()
    assert t("notebook.check.pass", "zh") == "通过"  # the real catalogues are back


def _glossary_table(heading: str) -> list[list[str]]:
    """The rows of the table under ``## <heading>`` in docs/glossary.md (header and rule left out)."""
    rows, inside = [], False
    for line in (REPO / "docs" / "glossary.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line.startswith(f"## {heading}")
        elif inside and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] not in ("English", "---"):
                rows.append(cells)
    return rows


def _glossary() -> list[tuple[str, list[str]]]:
    return [(cells[0], [x.strip() for x in cells[1].split(" / ")]) for cells in _glossary_table("Terms")]


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


def _chinese_texts() -> list[tuple[str, str]]:
    """(where, text) of every Chinese text a student reads: the zh catalogues and the markdown of labs/zh/,
    without code, placeholders, HTML comments (the claims markers) and the names docs/glossary.md keeps in
    English (a parameter such as ``workers`` is a name, not the word "worker")."""
    import nbformat

    texts = [(f"zh catalogue {key}", text) for key, text in catalogue("zh").items()]
    for path in sorted((REPO / "labs" / "zh").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        texts += [(f"labs/zh/{path.name} cell {c.id}", c.source) for c in nb.cells
                  if c.cell_type == "markdown"]
    not_prose = re.compile(r"```.*?```|`[^`]*`|\{[^{}]*\}|<!--.*?-->", re.DOTALL)
    glossary = (REPO / "docs" / "glossary.md").read_text(encoding="utf-8")
    kept = set(re.findall(r"`([A-Za-z_][\w-]*)`", glossary.split("## Kept in English", 1)[1]))
    alternatives = "|".join(map(re.escape, sorted(kept, key=len, reverse=True)))
    names = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")
    return [(where, names.sub("#", not_prose.sub("#", text))) for where, text in texts]


def test_the_chinese_text_uses_one_word_per_concept():
    rejected = [(cells[1], [w.strip() for w in cells[2].split(" / ")], cells[0])
                for cells in _glossary_table("Words not used")]
    assert {"进行中", "活跃", "放行", "worker"} <= {w for _, words, _ in rejected for w in words}
    texts = _chinese_texts()
    assert len(texts) > 300 and any("labs/zh/" in where for where, _ in texts)
    wrong = [f"{where}: '{word}' ({english}) is {use} here: ...{text[max(0, m.start() - 12):m.end() + 12]}..."
             for use, words, english in rejected for word in words
             for where, text in texts for m in re.finditer(re.escape(word), text)]
    space = re.compile(r"[\u3400-\u9fff] +[\u3400-\u9fff]")
    wrong += [f"{where}: a space between two Chinese characters: ...{text[m.start():m.end()]}..."
              for where, text in texts for m in space.finditer(text)]
    assert not wrong, "\n".join(wrong)


def test_no_key_is_written_twice():
    # PyYAML keeps the last of two equal keys without a word; a copy-pasted key would hide a message.
    for lang in LANGS:
        keys = []
        for path in catalogue_files(lang):
            keys += re.findall(r"^([a-z0-9_.]+):", path.read_text(encoding="utf-8"), re.MULTILINE)
        assert len(keys) == len(set(keys)) == len(catalogue(lang)), lang


def test_each_area_has_its_catalogue_in_every_language():
    areas = {p.name.split(".")[0] for lang in LANGS for p in catalogue_files(lang)}
    assert len(areas) > 10
    for lang in LANGS:
        assert {p.name.split(".")[0] for p in catalogue_files(lang)} == areas, lang
