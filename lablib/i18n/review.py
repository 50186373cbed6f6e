"""Which English each translation was checked against: gettext's "fuzzy" flag, kept beside the catalogues.

``zh.review.yaml`` records, per key, the first 8 hex digits of the sha256 of the English template that its
Chinese entry was last reviewed against. When an English text changes (or a key is new), its Chinese entry
waits for review, and ``tests/i18n/test_review.py`` fails, naming the key, the English before and after (the
old text is found in git history by its hash) and the command to run. Editing only a Chinese text needs no
record.

    .venv/bin/python -m lablib.i18n.review                  # list the entries waiting for review
    .venv/bin/python -m lablib.i18n.review KEY [KEY ...]    # after checking (and fixing) their Chinese
    .venv/bin/python -m lablib.i18n.review 'outlier.rule.*' # a pattern records every key it matches
    .venv/bin/python -m lablib.i18n.review --all            # every waiting entry, each one checked by you

Recording also drops keys that no catalogue has any more. The file is written by this command only.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from lablib.i18n._catalog import _HERE, LANGS, file_of, read_catalogue

__all__ = ["COMMAND", "Waiting", "describe", "english_hash", "old_english", "orphans", "record", "waiting"]

#: What a maintainer runs, from the repository's root, after reviewing a translation.
COMMAND = ".venv/bin/python -m lablib.i18n.review"
_HEX = re.compile(r"[0-9a-f]{8}")
_HEADER = """\
# The English each {lang} entry was last reviewed against: key -> first 8 hex digits of sha256(English
# template). Written only by `{command} KEY...` after a review (see lablib/i18n/review.py).
"""


def english_hash(text: str) -> str:
    """The short hash recorded for an English template (of the text as loaded: re-quoting changes nothing)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


@dataclass(frozen=True)
class Waiting:
    """A translation whose English changed since it was reviewed (``recorded`` None: never reviewed)."""

    key: str
    english: str
    translation: str
    recorded: str | None


def _translated(lang: str) -> str:
    if lang not in LANGS[1:]:
        raise ValueError(f"{lang!r} is not a translated language; use one of {LANGS[1:]}")
    return lang


def _ledger_path(lang: str, directory: Path) -> Path:
    return directory / f"{_translated(lang)}.review.yaml"


def read_ledger(lang: str = "zh", directory: Path = _HERE) -> dict[str, str]:
    """The recorded hashes, key -> 8 hex digits (empty when the file does not exist yet)."""
    path = _ledger_path(lang, directory)
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    bad = sorted(k for k, v in data.items() if not isinstance(v, str) or not _HEX.fullmatch(v))
    if bad:
        raise ValueError(f"{path}: {bad} are not 8 hex digits; re-record them with `{COMMAND} KEY`")
    return data


def _write_ledger(lang: str, entries: dict[str, str], directory: Path) -> None:
    lines = [_HEADER.format(lang=lang, command=COMMAND)]
    lines += [f'{key}: "{entries[key]}"\n' for key in sorted(entries)]
    path = _ledger_path(lang, directory)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(path)  # never a half-written record


def waiting(lang: str = "zh", directory: Path = _HERE) -> list[Waiting]:
    """Entries of ``lang`` whose English is not the one they were reviewed against, in key order."""
    english, translated = read_catalogue("en", directory), read_catalogue(_translated(lang), directory)
    ledger = read_ledger(lang, directory)
    return [Waiting(key, english[key], translated.get(key, ""), ledger.get(key))
            for key in sorted(english) if ledger.get(key) != english_hash(english[key])]


def orphans(lang: str = "zh", directory: Path = _HERE) -> list[str]:
    """Recorded keys that no catalogue has any more (recording anything drops them)."""
    return sorted(set(read_ledger(lang, directory)) - set(read_catalogue("en", directory)))


def record(patterns: Iterable[str], lang: str = "zh", directory: Path = _HERE) -> list[str]:
    """Record the current English of every key matching ``patterns`` (keys or ``fnmatch`` patterns) as
    reviewed; drop keys no catalogue has. Nothing is written when a pattern matches no key."""
    english, translated = read_catalogue("en", directory), read_catalogue(_translated(lang), directory)
    keys: set[str] = set()
    for pattern in patterns:
        matched = fnmatch.filter(english, pattern)
        if not matched:
            raise KeyError(f"{pattern!r} matches no key of the catalogues")
        keys.update(matched)
    missing = sorted(k for k in keys if k not in translated)
    if missing:
        raise KeyError(f"{missing} have no {lang} text yet; write it in lablib/i18n/<first segment>.{lang}"
                       ".yaml")
    ledger = {k: v for k, v in read_ledger(lang, directory).items() if k in english}
    ledger.update({k: english_hash(english[k]) for k in keys})
    _write_ledger(lang, ledger, directory)
    return sorted(keys)


def _git(directory: Path, *args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["git", "-C", str(directory), *args], input=stdin, capture_output=True,
                          check=True, timeout=60).stdout


def old_english(key: str, digest: str, directory: Path = _HERE, *, commits: int = 300) -> str | None:
    """The English text of ``key`` whose hash is ``digest``, from the catalogue files of the last ``commits``
    commits that changed ``directory`` (None when git or the history does not have it)."""
    try:
        log = _git(directory, "log", f"-n{commits}", "--format=%x00%H", "--name-only", "--relative", "--",
                   ".")
        prefix = _git(directory, "rev-parse", "--show-prefix").decode().strip()
        wanted = []
        for chunk in log.decode().split("\0")[1:]:
            commit, *names = chunk.split()
            wanted += [f"{commit}:{prefix}{n}" for n in names if n.endswith("en.yaml") and "/" not in n]
        blobs = _git(directory, "cat-file", "--batch", stdin="".join(f"{w}\n" for w in wanted).encode())
    except (OSError, subprocess.SubprocessError):  # no git, not a checkout: the old text is unknown
        return None
    at = 0
    while at < len(blobs):
        end = blobs.index(b"\n", at)
        header = blobs[at:end].split()
        at = end + 1
        if header[-1] == b"missing":  # the file was deleted in that commit
            continue
        size = int(header[2])
        text, at = blobs[at:at + size], at + size + 1
        try:
            data = yaml.safe_load(text.decode("utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError):
            continue
        value = data.get(key) if isinstance(data, dict) else None
        if isinstance(value, str) and english_hash(value) == digest:
            return value
    return None


def _block(label: str, text: str) -> str:
    return f"  {label:<14}" + text.replace("\n", "\n" + " " * 16)


def describe(items: Sequence[Waiting], lang: str = "zh", directory: Path = _HERE) -> str:
    """What a maintainer reads: each waiting entry with its English then and now, and the command to run."""
    out = []
    for w in items:
        if w.recorded is None:
            out.append(f"{w.key}: new, its {lang} text was never reviewed")
        else:
            before = old_english(w.key, w.recorded, directory)
            out.append(f"{w.key}: the English changed since its {lang} text was reviewed")
            out.append(_block("English then:", before if before is not None
                              else f"(not in git history; its hash was {w.recorded})"))
        out.append(_block("English now:", w.english))
        out.append(_block(f"{lang} now:", w.translation))
        out.append(_block(f"{lang} file:", f"lablib/i18n/{file_of(w.key, lang)}"))
    if items:
        out.append(f"After checking (and, if needed, fixing) each {lang} text, record the review:\n"
                   f"  {COMMAND} {' '.join(w.key for w in items)}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lablib.i18n.review",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("keys", nargs="*", metavar="KEY",
                        help="record these keys (or fnmatch patterns) as reviewed against their English now")
    parser.add_argument("--all", action="store_true", help="record every entry waiting for review")
    parser.add_argument("--lang", default=LANGS[1], choices=LANGS[1:],
                        help="the translation (default: %(default)s)")
    parser.add_argument("--catalogues", type=Path, default=_HERE, metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    where = args.catalogues
    if args.keys or args.all:
        patterns = [w.key for w in waiting(args.lang, where)] if args.all else args.keys
        try:
            done = record(patterns, args.lang, where)
        except KeyError as error:
            parser.error(error.args[0])
        names = f": {' '.join(done)}" if 0 < len(done) <= 20 else ""
        print(f"recorded {len(done)} {args.lang} review(s){names}")
        return 0
    items, gone = waiting(args.lang, where), orphans(args.lang, where)
    if gone:
        print(f"recorded keys no catalogue has (any recording drops them): {' '.join(gone)}")
    if items:
        print(describe(items, args.lang, where))
        return 1
    print(f"every {args.lang} entry is reviewed against the current English")
    return 0


if __name__ == "__main__":
    sys.exit(main())
