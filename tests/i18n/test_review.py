"""gettext's "fuzzy" flag: every Chinese entry was reviewed against the English it has now
(``lablib/i18n/zh.review.yaml``, written by ``python -m lablib.i18n.review``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lablib.i18n import review
from lablib.i18n.review import COMMAND, describe, english_hash, orphans, read_ledger, record, waiting

REPO = Path(__file__).resolve().parents[2]


def test_every_chinese_entry_was_reviewed_against_the_current_english():
    items, gone = waiting("zh"), orphans("zh")
    assert not items, "\n" + describe(items, "zh")
    assert not gone, f"zh.review.yaml records keys no catalogue has: {gone}; run `{COMMAND} --all`"
    assert len(read_ledger("zh")) > 800  # the record covers the catalogues (an empty one would hide nothing)


def _git(repo: Path, *args: str) -> None:
    who = ["-c", "user.name=lab", "-c", "user.email=lab@example.invalid"]
    subprocess.run(["git", *who, "-C", str(repo), *args], check=True, capture_output=True, timeout=60)


def test_an_english_change_waits_for_review_until_the_command_records_it(tmp_path):
    repo, cat = tmp_path, tmp_path / "lablib" / "i18n"
    cat.mkdir(parents=True)
    en, zh = cat / "greet.en.yaml", cat / "greet.zh.yaml"
    en.write_text('greet.hello: "Hello {name}"\ngreet.bye: bye\n', encoding="utf-8")
    zh.write_text('greet.hello: "你好 {name}"\ngreet.bye: 再见\n', encoding="utf-8")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "catalogue")

    # New keys were never reviewed.
    assert [(w.key, w.recorded) for w in waiting("zh", cat)] == [("greet.bye", None), ("greet.hello", None)]
    assert "greet.hello: new, its zh text was never reviewed" in describe(waiting("zh", cat), "zh", cat)
    assert record(["greet.*"], "zh", cat) == ["greet.bye", "greet.hello"]
    assert waiting("zh", cat) == []
    assert read_ledger("zh", cat) == {"greet.bye": english_hash("bye"),
                                      "greet.hello": english_hash("Hello {name}")}
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "reviewed")

    # The probe: the English changes, the Chinese does not; re-quoting alone changes nothing.
    en.write_text("greet.hello: Hi {name}, welcome\ngreet.bye: 'bye'\n", encoding="utf-8")
    (item,) = waiting("zh", cat)
    assert (item.key, item.english, item.translation) == ("greet.hello", "Hi {name}, welcome", "你好 {name}")
    text = describe([item], "zh", cat)
    assert "greet.hello: the English changed since its zh text was reviewed" in text
    assert "English then: Hello {name}" in text  # found in git history by its hash
    assert "English now:  Hi {name}, welcome" in text
    assert "lablib/i18n/greet.zh.yaml" in text
    assert text.endswith(f"{COMMAND} greet.hello")

    # Fixing the Chinese alone does not clear it: the review is recorded by the command.
    zh.write_text('greet.hello: "嗨 {name}，欢迎"\ngreet.bye: 再见\n', encoding="utf-8")
    assert [w.key for w in waiting("zh", cat)] == ["greet.hello"]
    with pytest.raises(KeyError, match=r"'greet\.nope' matches no key"):
        record(["greet.hello", "greet.nope"], "zh", cat)
    assert [w.key for w in waiting("zh", cat)] == ["greet.hello"]  # nothing half written
    assert record(["greet.hello"], "zh", cat) == ["greet.hello"]
    assert waiting("zh", cat) == []

    # Without its old text in git, the message still names the key and the recorded hash.
    en.write_text("greet.hello: Hey {name}\ngreet.bye: bye\n", encoding="utf-8")
    (item,) = waiting("zh", cat)
    recorded = english_hash("Hi {name}, welcome")
    assert f"English then: (not in git history; its hash was {recorded})" in describe([item], "zh", cat)

    # A removed key is dropped from the record by the next recording.
    en.write_text("greet.hello: Hey {name}\n", encoding="utf-8")
    zh.write_text('greet.hello: "嘿 {name}"\n', encoding="utf-8")
    assert orphans("zh", cat) == ["greet.bye"]
    record(["greet.hello"], "zh", cat)
    assert (orphans("zh", cat), waiting("zh", cat)) == ([], [])
    assert (cat / "zh.review.yaml").read_text(encoding="utf-8").endswith(
        f'greet.hello: "{english_hash("Hey {name}")}"\n')


def _command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lablib.i18n.review", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_the_command_lists_what_waits_and_records_a_review(tmp_path):
    (tmp_path / "greet.en.yaml").write_text("greet.hello: hello\ngreet.bye: bye\n", encoding="utf-8")
    (tmp_path / "greet.zh.yaml").write_text("greet.hello: 你好\ngreet.bye: 再见\n", encoding="utf-8")
    where = ["--catalogues", str(tmp_path)]
    listed = _command(*where)
    assert listed.returncode == 1, listed.stderr
    assert listed.stdout.endswith(f"{COMMAND} greet.bye greet.hello\n")
    assert (_command("greet.nope", *where).returncode, _command(*where).returncode) == (2, 1)
    recorded = _command("greet.hello", *where)
    assert (recorded.returncode, recorded.stdout) == (0, "recorded 1 zh review(s): greet.hello\n")
    assert _command(*where).stdout.startswith("greet.bye: new")
    assert _command("--all", *where).returncode == 0
    assert _command(*where).stdout == "every zh entry is reviewed against the current English\n"


def test_a_key_without_chinese_cannot_be_recorded(tmp_path):
    (tmp_path / "greet.en.yaml").write_text("greet.hello: hello\n", encoding="utf-8")
    (tmp_path / "greet.zh.yaml").write_text("{}\n", encoding="utf-8")
    with pytest.raises(KeyError, match=r"no zh text yet.*greet|greet.*no zh text yet"):
        record(["greet.hello"], "zh", tmp_path)
    assert not (tmp_path / "zh.review.yaml").exists()
    with pytest.raises(ValueError, match="not a translated language"):
        review.waiting("en", tmp_path)
