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

from typing import Any

from lablib.i18n._catalog import t

__all__ = ["Msg", "render"]


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
