"""``Msg``: a message from the catalogues that is also its English text, rendered in any language later.

Errors, warnings and progress messages are made deep inside lablib, far from the notebook that knows its
language. So they are made as ``Msg(key, **values)``: a ``str`` whose value is the English text (what the CLI,
logs and ``str(error)`` show, unchanged), which also keeps its key and values. The boundary that knows the
language (a notebook's error display, its warning display, a progress bar) asks ``render(text, lang)``.

Compose messages with a template whose values are Msgs (``Msg(key, pod=name, why=Msg(other_key))``),
never with ``+`` or f-strings: those make a plain ``str``, which ``render`` can only show in English.
A list value (of Msgs or names) is joined with the language's separator (``i18n.list_sep``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from lablib.i18n._catalog import t

__all__ = ["Joined", "Msg", "render"]


class Msg(str):
    """``Msg(key, name="lab")``: the message ``key`` with ``values``; as a ``str``, its English text."""

    key: str
    values: dict[str, Any]

    def __new__(cls, key: str, /, **values: Any) -> Msg:
        self = super().__new__(cls, t(key, "en", **_rendered(values, "en")))
        self.key = key
        self.values = values
        return self

    def in_lang(self, lang: str) -> str:
        """The message in ``lang`` (its values rendered in ``lang`` too)."""
        return t(self.key, lang, **_rendered(self.values, lang))

    def __reduce__(self) -> tuple[Any, ...]:  # pickles as key + values (worker processes, copies)
        return (_rebuild, (self.key, self.values))

    def __repr__(self) -> str:
        return f"Msg({self.key!r}, {str(self)!r})"


def _rebuild(key: str, values: dict[str, Any]) -> Msg:
    return Msg(key, **values)


class Joined(str):
    """``parts`` (Msgs, errors, names) joined by ``sep``, each in the reader's language: like a ``Msg``, a
    ``str`` (the English text) that renders in any language (``in_lang``). For text of a variable number of
    lines or items, which one catalogue template cannot hold. ``first_line`` keeps each part's first line."""

    parts: list[Any]
    sep: str
    first_line: bool

    def __new__(cls, parts: Iterable[Any], sep: str = "\n", *, first_line: bool = False) -> Joined:
        parts = list(parts)
        self = super().__new__(cls, _join(parts, sep, first_line, "en"))
        self.parts, self.sep, self.first_line = parts, sep, first_line
        return self

    def in_lang(self, lang: str) -> str:
        return _join(self.parts, self.sep, self.first_line, lang)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rejoin, (self.parts, self.sep, self.first_line))


def _join(parts: Sequence[Any], sep: str, first_line: bool, lang: str) -> str:
    texts = [render(p, lang) for p in parts]
    return sep.join((t.splitlines() or [""])[0] if first_line else t for t in texts)


def _rejoin(parts: list[Any], sep: str, first_line: bool) -> Joined:
    return Joined(parts, sep, first_line=first_line)


def render(text: Any, lang: str) -> str:
    """``text`` in ``lang``: a Msg (or anything with ``in_lang``, e.g. a LabError) in that language; a list
    joined with the language's separator; anything else as ``str(text)`` (names, numbers, Envoy's
    own words)."""
    if hasattr(text, "in_lang"):
        return str(text.in_lang(lang))
    if isinstance(text, (list, tuple)):
        return t("i18n.list_sep", lang).join(render(x, lang) for x in text)
    return str(text)


def _rendered(values: dict[str, Any], lang: str) -> dict[str, Any]:
    return {k: render(v, lang) if isinstance(v, (str, list, tuple)) or hasattr(v, "in_lang") else v
            for k, v in values.items()}
