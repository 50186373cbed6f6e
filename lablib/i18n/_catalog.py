"""Load the per-language catalogues and format messages from them.

A key lives in the file named for its first segment and its language: ``outlier.rule.why.x`` is in
``outlier.en.yaml`` and ``outlier.zh.yaml``, so a reader finds any key in one guess. The loader refuses a
key in another file, a key written twice, a value that is not text, and a YAML file named otherwise.
``<lang>.review.yaml`` is not a catalogue: it records which English each translation was reviewed against
(``lablib.i18n.review``).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from lablib import _exceptions
from lablib._exceptions import LabError
from lablib._yamlio import LOADER

__all__ = [
    "DEFAULT_LANG",
    "LANGS",
    "CatalogueError",
    "LanguageError",
    "MissingMessage",
    "catalogue",
    "catalogue_files",
    "check_lang",
    "fields",
    "file_of",
    "read_catalogue",
    "t",
]

#: The languages a notebook may set in its parameters cell (``lang = "zh"``), in catalogue order.
LANGS: tuple[str, ...] = ("en", "zh")
DEFAULT_LANG = "en"

_HERE = Path(__file__).resolve().parent
_STR = "tag:yaml.org,2002:str"


class LanguageError(LabError):
    """``lang`` names a language the lab has no catalogue for."""


class MissingMessage(LabError):
    """A catalogue lacks a key the code asks for (a bug in lablib: ``tests/i18n`` should have caught it)."""


class CatalogueError(LabError):
    """A catalogue file breaks a rule: a key in the wrong file or twice, a value not text, a bad file name."""


def check_lang(lang: str) -> str:
    """``lang`` itself when it is one of ``LANGS``; else a ``LanguageError`` that says what to write."""
    if lang not in LANGS:
        choices = ", ".join(f'"{x}"' for x in LANGS)
        raise LanguageError(f"lang = {lang!r} is not a language of the lab; set lang to one of {choices} "
                            "in the notebook's parameters cell")
    return lang


def file_of(key: str, lang: str) -> str:
    """The name of the file where ``key`` lives in ``lang``: ``outlier.rule.x`` -> ``outlier.zh.yaml``."""
    return f"{key.split('.', 1)[0]}.{lang}.yaml"


def catalogue_files(lang: str, directory: Path = _HERE) -> list[Path]:
    """The files of ``lang``'s catalogue (``<prefix>.<lang>.yaml``), sorted; refuses any other YAML file there
    (an ``en.yaml`` saved from an old editor buffer would otherwise hide its keys)."""
    check_lang(lang)
    for path in directory.glob("*.yaml"):
        parts = path.name.split(".")
        a_catalogue = len(parts) == 3 and parts[1] in LANGS
        a_review = parts[1:] == ["review", "yaml"] and parts[0] in LANGS[1:]
        if not (a_catalogue or a_review):
            raise CatalogueError(f"{path}: not a catalogue file name; a key lives in <first segment>."
                                 f"<lang>.yaml (e.g. outlier.{lang}.yaml), reviews in <lang>.review.yaml")
    return sorted(directory.glob(f"*.{lang}.yaml"))


def read_catalogue(lang: str, directory: Path = _HERE) -> dict[str, str]:
    """Every message of ``lang`` in ``directory``, key -> template, each key checked to be in its own file."""
    merged: dict[str, str] = {}
    for path in catalogue_files(lang, directory):
        # libyaml's reader: the same nodes and marks, 10 ms for the catalogue instead of 160
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=LOADER)
        if node is None:
            continue
        if not isinstance(node, yaml.MappingNode):
            line = node.start_mark.line + 1
            raise CatalogueError(f"{path}:{line}: a catalogue is a mapping `key: template`")
        for key_node, value in node.value:
            key, where = key_node.value, f"{path}:{key_node.start_mark.line + 1}"
            if key_node.tag != _STR or not isinstance(value, yaml.ScalarNode) or value.tag != _STR:
                raise CatalogueError(f"{where}: {key!r} is not `key: template` (quote values like on, 1)")
            if file_of(key, lang) != path.name:
                raise CatalogueError(f"{where}: key {key!r} belongs in {file_of(key, lang)}: a key lives in "
                                     "the file named for its first segment; move it there, in every language")
            if key in merged:
                raise CatalogueError(f"{where}: key {key!r} is written twice")
            merged[key] = value.value
    return merged


@cache
def catalogue(lang: str) -> Mapping[str, str]:
    """Every message of ``lang``, key -> ``str.format`` template (read once from its files)."""
    return read_catalogue(lang, _HERE)


def fields(template: str) -> set[tuple[str, str]]:
    """The ``(name, format spec)`` placeholders of a template: ``"{n:.0f} ms"`` -> ``{("n", ".0f")}``."""
    return {(name, spec or "") for _, name, spec, _ in string.Formatter().parse(template) if name is not None}


def t(key: str, lang: str = DEFAULT_LANG, /, **values: Any) -> str:
    """The message ``key`` in ``lang``, formatted with ``values`` (``t("notebook.check.pass", "zh")``)."""
    messages = catalogue(lang)
    try:
        template = messages[key]
    except KeyError:
        raise MissingMessage(f"no message {key!r} in the {lang!r} catalogue (lablib/i18n/"
                             f"{file_of(key, lang)}); add it there, in every language") from None
    return template.format(**values)


_exceptions.use_catalogue(t)  # LabErrors render their own catalogue messages through t (no import back here)
