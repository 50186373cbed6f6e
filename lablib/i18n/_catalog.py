"""Load the per-language catalogues and format messages from them.

A language's catalogue is ``<lang>.yaml`` next to this file plus one ``<area>.<lang>.yaml`` per area of lablib
(``manifests.zh.yaml``: the validator's messages), merged; a key written in two files is an error.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from lablib._exceptions import LabError

__all__ = [
    "DEFAULT_LANG",
    "LANGS",
    "LanguageError",
    "MissingMessage",
    "catalogue",
    "catalogue_files",
    "check_lang",
    "fields",
    "t",
]

#: The languages a notebook may set in its parameters cell (``lang = "zh"``), in catalogue order.
LANGS: tuple[str, ...] = ("en", "zh")
DEFAULT_LANG = "en"

_HERE = Path(__file__).resolve().parent


class LanguageError(LabError):
    """``lang`` names a language the lab has no catalogue for."""


class MissingMessage(LabError):
    """A catalogue lacks a key the code asks for (a bug in lablib: ``tests/i18n`` should have caught it)."""


def check_lang(lang: str) -> str:
    """``lang`` itself when it is one of ``LANGS``; else a ``LanguageError`` that says what to write."""
    if lang not in LANGS:
        choices = ", ".join(f'"{x}"' for x in LANGS)
        raise LanguageError(f"lang = {lang!r} is not a language of the lab; set lang to one of {choices} "
                            "in the notebook's parameters cell")
    return lang


def catalogue_files(lang: str) -> list[Path]:
    """The files of ``lang``'s catalogue: ``<lang>.yaml`` first, then each area's ``<area>.<lang>.yaml``."""
    return [_HERE / f"{check_lang(lang)}.yaml", *sorted(_HERE.glob(f"*.{lang}.yaml"))]


@cache
def catalogue(lang: str) -> Mapping[str, str]:
    """Every message of ``lang``, key -> ``str.format`` template (read once from its files)."""
    merged: dict[str, str] = {}
    for path in catalogue_files(lang):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        bad = [k for k, v in data.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise MissingMessage(f"{path}: keys {bad} are not text; every entry is `key: template`")
        twice = sorted(set(data) & set(merged))
        if twice:
            raise MissingMessage(f"{path}: keys {twice} are already in another {lang} catalogue file")
        merged.update(data)
    return merged


def fields(template: str) -> set[tuple[str, str]]:
    """The ``(name, format spec)`` placeholders of a template: ``"{n:.0f} ms"`` -> ``{("n", ".0f")}``."""
    return {(name, spec or "") for _, name, spec, _ in string.Formatter().parse(template) if name is not None}


def t(key: str, lang: str = DEFAULT_LANG, /, **values: Any) -> str:
    """The message ``key`` in ``lang``, formatted with ``values`` (``t("viz.check.pass", "zh")``)."""
    messages = catalogue(lang)
    try:
        template = messages[key]
    except KeyError:
        raise MissingMessage(f"no message {key!r} in the {lang!r} catalogue (lablib/i18n/{lang}.yaml); "
                             "add it there, in every language") from None
    return template.format(**values)
