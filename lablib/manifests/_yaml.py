"""Parse YAML keeping positions: every field path of every document maps to its line.

Also catches what a student copying from a book or a web page brings along: full-width punctuation
(``apiVersion：…`` with U+FF1A), curly quotes, tabs, and the book's printed line numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from lablib.i18n import Msg
from lablib.manifests._limits import MAX_ALIAS_NODES, MAX_DEPTH, MAX_ITEMS
from lablib.manifests._problem import Problem

__all__ = ["Document", "InputLimit", "child_path", "load_bounded", "parse_yaml"]

#: Look-alike characters -> (their description, a Msg: "a full-width colon"; the ASCII character YAML needs).
FULL_WIDTH: dict[str, tuple[str, str]] = {
    "\uff1a": (Msg("manifests.yaml.char.full_width_colon"), ":"),
    "\uff0c": (Msg("manifests.yaml.char.full_width_comma"), ","),
    "\u3001": (Msg("manifests.yaml.char.ideographic_comma"), ","),
    "\u3000": (Msg("manifests.yaml.char.full_width_space"), " "),
    "\uff1b": (Msg("manifests.yaml.char.full_width_semicolon"), ";"),
    "\uff0d": (Msg("manifests.yaml.char.full_width_hyphen"), "-"),
    "\uff03": (Msg("manifests.yaml.char.full_width_number_sign"), "#"),
    "\uff3b": (Msg("manifests.yaml.char.full_width_left_bracket"), "["),
    "\uff3d": (Msg("manifests.yaml.char.full_width_right_bracket"), "]"),
    "\uff5b": (Msg("manifests.yaml.char.full_width_left_brace"), "{"),
    "\uff5d": (Msg("manifests.yaml.char.full_width_right_brace"), "}"),
    "\uff5c": (Msg("manifests.yaml.char.full_width_vertical_line"), "|"),
    "\uff1e": (Msg("manifests.yaml.char.full_width_greater_than"), ">"),
    "\uff0e": (Msg("manifests.yaml.char.full_width_full_stop"), "."),
    "\uff02": (Msg("manifests.yaml.char.full_width_quotation_mark"), '"'),
    "\uff07": (Msg("manifests.yaml.char.full_width_apostrophe"), "'"),
    "\u201c": (Msg("manifests.yaml.char.curly_quote"), '"'),
    "\u201d": (Msg("manifests.yaml.char.curly_quote"), '"'),
    "\u2018": (Msg("manifests.yaml.char.curly_quote"), "'"),
    "\u2019": (Msg("manifests.yaml.char.curly_quote"), "'"),
}

#: The parser's own words (libyaml's and PyYAML's, in English) -> the same words as a Msg, so that a notebook
#: says them in its language; words not listed here are shown as the parser wrote them.
PARSER_WORDS: dict[str, str] = {
    "mapping values are not allowed in this context": Msg("manifests.yaml.parser.mapping_values"),
    "found character that cannot start any token": Msg("manifests.yaml.parser.cannot_start_token"),
    "could not find expected ':'": Msg("manifests.yaml.parser.expected_colon"),
    "found a tab character that violates indentation": Msg("manifests.yaml.parser.tab_indentation"),
    "found unexpected end of stream": Msg("manifests.yaml.parser.unexpected_end"),
    "found unknown escape character": Msg("manifests.yaml.parser.unknown_escape"),
    "block sequence entries are not allowed in this context": Msg("manifests.yaml.parser.sequence_entries"),
    "did not find expected alphabetic or numeric character": Msg("manifests.yaml.parser.expected_alnum"),
    "did not find expected comment or line break": Msg("manifests.yaml.parser.expected_line_break"),
    "did not find expected key": Msg("manifests.yaml.parser.expected_key"),
    "did not find expected node content": Msg("manifests.yaml.parser.expected_node"),
    "did not find expected '-' indicator": Msg("manifests.yaml.parser.expected_dash"),
    "did not find expected ',' or ']'": Msg("manifests.yaml.parser.expected_bracket"),
    "did not find expected ',' or '}'": Msg("manifests.yaml.parser.expected_brace"),
    "while scanning a simple key": Msg("manifests.yaml.parser.while_simple_key"),
    "while scanning for the next token": Msg("manifests.yaml.parser.while_next_token"),
    "while parsing a block mapping": Msg("manifests.yaml.parser.while_block_mapping"),
    "while parsing a block collection": Msg("manifests.yaml.parser.while_block_collection"),
    "while parsing a block node": Msg("manifests.yaml.parser.while_block_node"),
    "while parsing a flow sequence": Msg("manifests.yaml.parser.while_flow_sequence"),
    "while parsing a flow mapping": Msg("manifests.yaml.parser.while_flow_mapping"),
    "while parsing a flow node": Msg("manifests.yaml.parser.while_flow_node"),
    "while scanning a quoted scalar": Msg("manifests.yaml.parser.while_quoted_scalar"),
    "while scanning a plain scalar": Msg("manifests.yaml.parser.while_plain_scalar"),
    "while scanning an alias": Msg("manifests.yaml.parser.while_alias"),
    "while scanning an anchor": Msg("manifests.yaml.parser.while_anchor"),
}
_UNKNOWN_TAG = re.compile(r"could not determine a constructor for the tag '(.*)'", re.DOTALL)

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


class InputLimit(Exception):
    """Input past one of the caps of ``_limits``: a Problem at ``line`` (1-based) with its fix (``message``
    and ``fix`` are Msgs: pass them on as they are, or as a value of another Msg)."""

    def __init__(self, line: int, message: str, fix: str) -> None:
        super().__init__(message)
        self.line, self.message, self.fix = line, message, fix


try:  # libyaml's parser when PyYAML has it: events 10x faster (a 1 MiB file in about a second)
    from yaml.cyaml import CParser

    _EVENTS: tuple[type, ...] = (CParser,)
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _EVENTS = (yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser)


def _too_deep(line: int) -> InputLimit:
    return InputLimit(
        line, Msg("manifests.yaml.too_deep", depth=MAX_DEPTH), Msg("manifests.yaml.too_deep_fix")
    )


def _libyaml_limit(exc: yaml.YAMLError) -> InputLimit | None:
    """libyaml's own depth cap (1000, met while it scans ahead of the composer) said as ours."""
    if "maximum nesting depth" not in str(getattr(exc, "problem", "") or ""):
        return None
    mark = getattr(exc, "problem_mark", None)
    return _too_deep(mark.line + 1 if mark is not None else 1)


class _BoundedLoader(Composer, SafeConstructor, Resolver, *_EVENTS):  # type: ignore[misc]
    """PyYAML's safe loader with the API server's kind of caps, checked while composing, before any Python
    object is built: nesting depth, items per list or mapping, and nodes copied by aliases (an alias is a
    reference while composing; it only explodes when the tree is walked, so the count happens here).

    Events come from libyaml's parser when PyYAML has it (iterative, like PyYAML's own); the composer is
    PyYAML's Python one, so that these caps apply before its recursion."""

    def __init__(self, text: str) -> None:
        if len(_EVENTS) == 1:
            _EVENTS[0].__init__(self, text)
        else:
            yaml.reader.Reader.__init__(self, text)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        Composer.__init__(self)
        self._depth = 0
        self._copied = 0
        #: id(node) -> nodes in it with aliases expanded; only complete nodes are in it.
        self._sizes: dict[int, int] = {}

    def compose_document(self) -> Node | None:
        self._copied = 0
        self._sizes = {}
        return super().compose_document()  # type: ignore[no-any-return]

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if parent is not None and len(parent.value) >= MAX_ITEMS:  # items composed so far, before this one
            is_map = isinstance(parent, MappingNode)
            what = Msg("manifests.yaml.mapping") if is_map else Msg("manifests.yaml.list")
            raise InputLimit(
                line,
                Msg("manifests.yaml.too_many_items", what=what, most=MAX_ITEMS),
                Msg("manifests.yaml.too_many_items_fix"),
            )
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                if id(target) not in self._sizes:
                    raise InputLimit(
                        line,
                        Msg("manifests.yaml.alias_loop", anchor=event.anchor),
                        Msg("manifests.yaml.alias_loop_fix", anchor=event.anchor),
                    )
                self._copied += self._sizes[id(target)]
                if self._copied > MAX_ALIAS_NODES:
                    raise InputLimit(
                        line,
                        Msg("manifests.yaml.alias_bomb", most=MAX_ALIAS_NODES),
                        Msg("manifests.yaml.alias_bomb_fix"),
                    )
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _too_deep(line)
        try:
            node = super().compose_node(parent, index)
        finally:
            if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                self._depth -= 1
        if isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, SequenceNode):
            children = node.value
        else:
            children = []
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(c), 1) for c in children)
        return node  # type: ignore[no-any-return]

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as exc:
            # int("1" * 5000) (Python's digit limit), a date like 2001-13-45: positioned, not a traceback.
            # Python's own words otherwise ("month must be in 1..12"), as a value
            why = Msg("manifests.yaml.number_too_long") if "digits" in str(exc) else str(exc)
            problem = Msg("manifests.yaml.cannot_read_value", why=why)
            raise ConstructorError(None, None, problem, node.start_mark) from exc


def load_bounded(text: str) -> Any:
    """``yaml.safe_load`` with the same caps as manifests (for YAML inside a value: Istio's proxy config).

    Raises:
        yaml.YAMLError: not YAML; InputLimit: past a cap (too deep, an alias bomb).
    """
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise _libyaml_limit(exc) or exc from None
    finally:
        loader.dispose()


def parse_yaml(text: str, file: str) -> tuple[list[Document], list[Problem]]:
    """Parse every document of ``text``; return the documents and the problems (YAML errors are errors).

    When the YAML is invalid (or past a cap of ``_limits``) no document is returned: a file with a syntax
    error applies nothing.
    """
    problems = _scan_book_line_numbers(text, file)
    documents: list[Document] = []
    syntax_error: yaml.YAMLError | None = None
    loader = _BoundedLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            data = loader.construct_document(node) if node is not None else None
            if data is None:  # an empty document (between two ---)
                continue
            doc = Document(data=data, line=node.start_mark.line + 1)
            _walk(node, "", doc.positions, problems, file)
            documents.append(doc)
    except InputLimit as exc:
        return [], [Problem("error", file, exc.line, exc.message, fix=exc.fix)]
    except yaml.YAMLError as exc:
        if limit := _libyaml_limit(exc):
            return [], [Problem("error", file, limit.line, limit.message, fix=limit.fix)]
        syntax_error = exc
        documents = []
    finally:
        loader.dispose()
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
                        Msg("manifests.yaml.duplicate_key", key=key_node.value, first=seen[key_node.value]),
                        fix=Msg("manifests.yaml.duplicate_key_fix"),
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
            need = Msg("manifests.yaml.ascii_colon") if ascii_char == ":" else f"'{ascii_char}'"
            in_flow = any(c in "[{" and not q for k, c, q in chars if k < col)
            structural = strict or key_end == -1 or col < key_end or in_flow
            said = {"line": number, "what": what, "char": ch, "code": ord(ch), "ascii": ascii_char}
            if structural:
                problems.append(
                    Problem("error", file, number, Msg("manifests.yaml.full_width", **said),
                            fix=Msg("manifests.yaml.full_width_fix", char=ch, need=need), column=col + 1)
                )
            else:
                problems.append(
                    Problem(
                        "warning",
                        file,
                        number,
                        Msg("manifests.yaml.full_width_maybe", **said),
                        fix=Msg("manifests.yaml.full_width_maybe_fix", char=ch, need=need),
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
            Msg("manifests.yaml.book_line_numbers"),
            fix=Msg("manifests.yaml.book_line_numbers_fix"),
        )
    ]


def _parser_words(text: str | None) -> str | None:
    """What the parser said, as a Msg when it is one of its usual sentences (PARSER_WORDS, an unknown tag);
    else its own words as they are (and our Msg from construct_object stays one)."""
    if text is None or hasattr(text, "in_lang"):
        return text
    if text in PARSER_WORDS:
        return PARSER_WORDS[text]
    if m := _UNKNOWN_TAG.fullmatch(text):
        return Msg("manifests.yaml.parser.unknown_tag", tag=m.group(1))
    return text


def _syntax_problem(exc: yaml.YAMLError, text: str, file: str, found: list[Problem]) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else 1
    column = mark.column + 1 if mark is not None else None
    what = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    at = Msg("manifests.yaml.invalid_at", line=line, column=column) if column is not None else ""
    if context:
        message = Msg("manifests.yaml.invalid_while", what=_parser_words(what),
                      context=_parser_words(context), at=at)
    else:
        message = Msg("manifests.yaml.invalid", what=_parser_words(what), at=at)
    lines = text.splitlines()
    bad = lines[line - 1] if 0 < line <= len(lines) else ""
    if any(p.is_error and p.column is not None for p in found):
        first = next(p for p in found if p.is_error and p.column is not None)
        fix = Msg("manifests.yaml.fix_full_width_first", line=first.line)
    elif any(p.is_error for p in found):
        fix = Msg("manifests.yaml.fix_problems_first")
    elif getattr(what, "key", "") == "manifests.yaml.cannot_read_value":
        fix = Msg("manifests.yaml.fix_value")
    elif "\t" in bad[: len(bad) - len(bad.lstrip())] or "'\\t'" in what:
        fix = Msg("manifests.yaml.fix_tabs")
    elif glued := next(
        (n for n in range(min(line, len(lines)), 0, -1) if _NO_SPACE_AFTER_COLON.match(lines[n - 1])), None
    ):
        key = lines[glued - 1].strip().split(":", 1)[0].lstrip("- ")
        fix = Msg("manifests.yaml.fix_glued", line=glued, key=key)
    else:
        fix = Msg("manifests.yaml.fix_generic")
    return Problem("error", file, line, message, fix=fix, column=column)
