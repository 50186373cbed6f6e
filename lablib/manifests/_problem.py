"""Problem: one finding about one manifest, positioned like a compiler diagnostic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lablib._exceptions import ManifestError, SchemaError, UnknownKindError, YAMLSyntaxError
from lablib.i18n import render, t

__all__ = ["Problem", "Severity"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One error or warning about a manifest.

    ``message`` says what is wrong and ``fix`` what to do about it (``lablib.i18n.Msg``s: English as
    ``str``, any language through ``in_lang``/``text_in``); ``str(problem)`` puts them together with
    the position, ``FILE:LINE: Kind/name: field.path: what is wrong; fix`` (warnings say ``warning:``
    after the position), so every problem names the file, the line and the fix.
    """

    severity: Severity
    file: str
    line: int
    message: str
    fix: str = ""
    kind: str = ""
    name: str = ""
    #: Dotted field path (``spec.subsets[0].labels``); empty for problems about the whole file or object.
    path: str = ""
    #: 1-based column when known (YAML syntax errors); not part of ``str()``, which is ``FILE:LINE``.
    column: int | None = None

    @property
    def is_error(self) -> bool:
        """True for errors (which stop a file from being applied), False for warnings."""
        return self.severity == "error"

    @property
    def text(self) -> str:
        """The problem without its position: ``Kind/name: field.path: what is wrong; fix``."""
        return self.text_in("en")

    def text_in(self, lang: str) -> str:
        """``text`` in ``lang``: ``message`` and ``fix`` (``Msg``s) rendered there; names stay as they are."""
        parts = []
        if self.kind:
            parts.append(f"{self.kind}/{self.name}" if self.name else self.kind)
        if self.path:
            parts.append(self.path)
        fix = t("manifests.problem.fix_sep", lang) + render(self.fix, lang) if self.fix else ""
        parts.append(render(self.message, lang) + fix)
        return ": ".join(parts)

    def in_lang(self, lang: str) -> str:
        """``str(problem)`` in ``lang``: ``FILE:LINE: [warning: ]text``."""
        label = t("manifests.problem.warning", lang) if self.severity == "warning" else ""
        return f"{self.file}:{self.line}: {label}{self.text_in(lang)}"

    def as_error(self) -> ManifestError:
        """This problem as the exception of its cause: ``YAMLSyntaxError`` (the file is not YAML),
        ``UnknownKindError`` (kind/apiVersion) or ``SchemaError`` (fields, values, references)."""
        if not self.kind and not self.path:
            cls: type[ManifestError] = YAMLSyntaxError
        elif self.path in ("kind", "apiVersion"):
            cls = UnknownKindError
        else:
            cls = SchemaError
        return cls(
            self.message,
            file=self.file,
            line=self.line,
            column=self.column,
            kind=self.kind or None,
            name=self.name or None,
            path=self.path or None,
            fix=self.fix or None,
        )

    def __str__(self) -> str:
        return self.in_lang("en")
