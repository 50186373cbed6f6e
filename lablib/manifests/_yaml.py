"""Parse YAML keeping positions: every field path of every document maps to its line.

Also catches what a student copying from a book or a web page brings along: full-width punctuation
(``apiVersion：…`` with U+FF1A), curly quotes, tabs, and the book's printed line numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from lablib.manifests._problem import Problem

__all__ = ["Document", "child_path", "parse_yaml"]

#: Look-alike characters -> (their description, the ASCII character YAML needs).
FULL_WIDTH: dict[str, tuple[str, str]] = {
    "\uff1a": ("a full-width colon", ":"),
    "\uff0c": ("a full-width comma", ","),
    "\u3001": ("an ideographic comma", ","),
    "\u3000": ("a full-width space", " "),
    "\uff1b": ("a full-width semicolon", ";"),
    "\uff0d": ("a full-width hyphen-minus", "-"),
    "\uff03": ("a full-width number sign", "#"),
    "\uff3b": ("a full-width left bracket", "["),
    "\uff3d": ("a full-width right bracket", "]"),
    "\uff5b": ("a full-width left brace", "{"),
    "\uff5d": ("a full-width right brace", "}"),
    "\uff5c": ("a full-width vertical line", "|"),
    "\uff1e": ("a full-width greater-than sign", ">"),
    "\uff0e": ("a full-width full stop", "."),
    "\uff02": ("a full-width quotation mark", '"'),
    "\uff07": ("a full-width apostrophe", "'"),
    "\u201c": ("a curly quote", '"'),
    "\u201d": ("a curly quote", '"'),
    "\u2018": ("a curly quote", "'"),
    "\u2019": ("a curly quote", "'"),
}

_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_BOOK_LINE_NUMBER = re.compile(r"^\s*(\d+)(?:\s|$)")
_NO_SPACE_AFTER_COLON = re.compile(r"^\s*(?:-\s+)?[A-Za-z][\w.-]*:[^\s/:]")
_BLOCK_SCALAR = re.compile(r"(?:^|[:\-]\s)\s*[|>][-+0-9]*$")


@dataclass
class Document:
    """One YAML document: its plain data, the line where it starts, and the line of every field path."""

    data: Any
    line: int
    #: ``"spec.subsets[0].labels"`` -> 1-based line of that key (or list item).
    positions: dict[str, int] = field(default_factory=dict)


def child_path(parent: str, key: object) -> str:
    """The dotted path of ``key`` under ``parent``; keys with dots or slashes are bracketed (annotations)."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{parent}[{key}]"
    text = str(key)
    if _SIMPLE_KEY.match(text):
        return f"{parent}.{text}" if parent else text
    return f'{parent}["{text}"]'


def parse_yaml(text: str, file: str) -> tuple[list[Document], list[Problem]]:
    """Parse every document of ``text``; return the documents and the problems (YAML errors are errors).

    When the YAML is invalid no document is returned: a file with a syntax error applies nothing.
    """
    problems = _scan_book_line_numbers(text, file)
    documents: list[Document] = []
    syntax_error: yaml.YAMLError | None = None
    try:
        for node in yaml.compose_all(text, Loader=yaml.SafeLoader):
            data = SafeConstructor().construct_document(node) if node is not None else None
            if data is None:  # an empty document (between two ---)
                continue
            doc = Document(data=data, line=node.start_mark.line + 1)
            _walk(node, "", doc.positions, problems, file)
            documents.append(doc)
    except yaml.YAMLError as exc:
        syntax_error = exc
        documents = []
    problems += _scan_full_width(text, file, strict=syntax_error is not None)
    if syntax_error is not None:
        problems.append(_syntax_problem(syntax_error, text, file, problems))
    return documents, problems


def _walk(node: Node, path: str, positions: dict[str, int], problems: list[Problem], file: str) -> None:
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.value == "<<":
                continue
            key: object = key_node.value
            child = child_path(path, key)
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                problems.append(
                    Problem(
                        "error",
                        file,
                        line,
                        f"duplicate key '{key_node.value}' (first on line "
                        f"{seen[key_node.value]}); YAML keeps only the last one and Kubernetes rejects "
                        "the file",
                        fix="remove one of the two",
                        path=child,
                    )
                )
            seen[key_node.value] = line
            positions.setdefault(child, line)
            _walk(value_node, child, positions, problems, file)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{path}[{index}]"
            positions.setdefault(child, item.start_mark.line + 1)
            _walk(item, child, positions, problems, file)


def _code_part(line: str) -> list[tuple[int, str, bool]]:
    """The characters of ``line`` before any comment, each with its column and whether it is quoted."""
    out: list[tuple[int, str, bool]] = []
    quote = ""
    for col, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
            out.append((col, ch, True))
            continue
        if ch == "#" and (col == 0 or line[col - 1] in " \t"):
            break
        if ch in "\"'" and (col == 0 or line[col - 1] in " \t:-[{,"):
            quote = ch
            out.append((col, ch, True))
            continue
        out.append((col, ch, False))
    return out


def _scan_full_width(text: str, file: str, *, strict: bool) -> list[Problem]:
    """Full-width look-alikes outside comments and quotes.

    An error where YAML reads them as punctuation (the file did not parse, or before the line's first ``: ``,
    i.e. in a key, or inside a flow list/map); a warning inside an unquoted value, where they may be text.
    """
    problems: list[Problem] = []
    block_indent: int | None = None  # inside a block scalar (`key: |`): its text is not YAML punctuation
    for number, line in enumerate(text.splitlines(), start=1):
        indent = len(line) - len(line.lstrip(" "))
        if block_indent is not None:
            if not line.strip() or indent > block_indent:
                continue
            block_indent = None
        chars = _code_part(line)
        code = "".join(ch for _, ch, _ in chars).rstrip()
        if _BLOCK_SCALAR.search(code):
            block_indent = indent
        key_end = line.find(": ")
        reported: set[str] = set()
        for col, ch, quoted in chars:
            if ch not in FULL_WIDTH or quoted or ch in reported:
                continue
            reported.add(ch)
            what, ascii_char = FULL_WIDTH[ch]
            need = "': ' (an ASCII colon and a space)" if ascii_char == ":" else f"'{ascii_char}'"
            in_flow = any(c in "[{" and not q for k, c, q in chars if k < col)
            structural = strict or key_end == -1 or col < key_end or in_flow
            message = (
                f"line {number} uses {what} '{ch}' (U+{ord(ch):04X}); YAML needs the ASCII '{ascii_char}'"
            )
            if structural:
                problems.append(
                    Problem("error", file, number, message, fix=f"replace '{ch}' with {need}", column=col + 1)
                )
            else:
                problems.append(
                    Problem(
                        "warning",
                        file,
                        number,
                        message + " if this is punctuation",
                        fix=f"replace '{ch}' with {need}, or quote the value if it is text",
                        column=col + 1,
                    )
                )
    return problems


def _scan_book_line_numbers(text: str, file: str) -> list[Problem]:
    """Lines starting ``1 apiVersion…``, ``2 kind…``: a listing copied with the book's line numbers."""
    lines = [
        (i, m) for i, line in enumerate(text.splitlines(), start=1) if (m := _BOOK_LINE_NUMBER.match(line))
    ]
    run = [
        i
        for (i, m), (_, prev) in zip(lines[1:], lines[:-1], strict=True)
        if int(m.group(1)) == int(prev.group(1)) + 1
    ]
    if len(run) < 3:
        return []
    first = lines[0][0]
    return [
        Problem(
            "error",
            file,
            first,
            "the lines start with numbers (1, 2, 3, …): the listing was copied with the book's line numbers",
            fix="delete the number at the start of every line",
        )
    ]


def _syntax_problem(exc: yaml.YAMLError, text: str, file: str, found: list[Problem]) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else 1
    column = mark.column + 1 if mark is not None else None
    what = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {what}" + (f" ({context})" if context else "")
    if column is not None:
        message += f" at line {line}, column {column}"
    lines = text.splitlines()
    bad = lines[line - 1] if 0 < line <= len(lines) else ""
    if any(p.is_error and p.column is not None for p in found):
        first = next(p for p in found if p.is_error and p.column is not None)
        fix = f"fix the full-width punctuation reported on line {first.line} first; it is the likely cause"
    elif any(p.is_error for p in found):
        fix = "fix the problems reported above first; they are the likely cause"
    elif "\t" in bad[: len(bad) - len(bad.lstrip())] or "'\\t'" in what:
        fix = "indent with spaces, not tabs"
    elif glued := next(
        (n for n in range(min(line, len(lines)), 0, -1) if _NO_SPACE_AFTER_COLON.match(lines[n - 1])), None
    ):
        key = lines[glued - 1].strip().split(":", 1)[0].lstrip("- ")
        fix = f"line {glued} needs a space after '{key}:' (YAML reads 'key:value' as one string)"
    else:
        fix = "check the indentation and that every 'key: value' has a space after the colon"
    return Problem("error", file, line, message, fix=fix, column=column)
