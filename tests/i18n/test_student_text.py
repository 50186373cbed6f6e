"""No English-only text reaches a student: every error, warning, manifest problem and progress message that
lablib makes is a ``Msg`` from the catalogues (or plain names/numbers), never a literal English sentence.

The scan reads lablib's source (AST) and flags, per file:
- ``raise SomeLabError(<literal text>)``: a str literal, f-string, ``"…" + x``, ``"…" % x`` or ``"…".format``;
- progress messages (``progress(…)``, ``self._progress(…)``, ``_say(…)``) and ``warnings.warn(…)`` given text;
- in ``lablib.manifests``: ``Problem(…)``, ``_problem(…)`` and a Checker's ``error``/``warning``/``report``
  given text.
A statement that is not for students (a bug check, the CLI's own words) says so with ``# not student text``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lablib.i18n import Msg, render
from tests.support import lab_error_names

REPO = Path(__file__).resolve().parents[2]
LABLIB = REPO / "lablib"
MARK = "# not student text"

#: Files whose words are not a notebook's: the catalogues' own code, the terminal's CLI, a server process.
NOT_NOTEBOOK = {
    "lablib/i18n/_catalog.py": "its own errors (a missing key is a bug; a bad lang has no language)",
    "lablib/_cli.py": "the terminal CLI speaks English, like kubectl",
    "lablib/__main__.py": "the terminal CLI speaks English, like kubectl",
    "lablib/manifests/_cli.py": "the terminal `validate` command speaks English, like istioctl",
    "lablib/fortio/__main__.py": "the terminal fortio command speaks English, like fortio",
    "lablib/fortio/testing.py": "test helpers",
}


def _is_text(node: ast.AST | None) -> bool:
    """A literal English sentence: a str constant with words (a letter and a space: not a name, severity or
    field path such as ``spec.host``), an f-string with such a part, or one glued or formatted."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and " " in node.value and any(c.isalpha() for c in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(_is_text(v) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _is_text(node.left) or _is_text(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format",
                                                                                                "join"):
        return _is_text(node.func.value)
    if isinstance(node, ast.IfExp):
        return _is_text(node.body) or _is_text(node.orelse)
    return False


def _name(func: ast.AST) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.BoolOp):  # (progress or self._progress)(…)
        return next((n for n in map(_name, func.values) if n), "")
    return ""


def _violations(path: Path, errors: set[str]) -> list[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    rel = str(path.relative_to(REPO))
    in_manifests = rel.startswith("lablib/manifests/")
    found = []

    def flag(node: ast.AST, what: str) -> None:
        start = max(node.lineno - 2, 0)
        if any(MARK in lines[i] for i in range(start, getattr(node, "end_lineno", node.lineno))):
            return
        found.append(f"{rel}:{node.lineno}: {what}: {lines[node.lineno - 1].strip()}")

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and _name(node.exc.func) in errors:
            call = node.exc
            if any(_is_text(a) for a in call.args) or any(_is_text(k.value) for k in call.keywords):
                flag(node, f"{_name(call.func)} raised with English text")
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            texts = any(_is_text(a) for a in node.args) or any(_is_text(k.value) for k in node.keywords)
            if not texts:
                continue
            if name in ("progress", "_progress", "_say"):
                flag(node, "progress message in English")
            elif name == "warn" and isinstance(node.func, ast.Attribute):
                flag(node, "warning in English")
            elif in_manifests and name in ("Problem", "_problem", "error", "warning", "report"):
                flag(node, "manifest problem in English")
    return sorted(found, key=lambda f: int(f.split(":")[1]))


FILES = sorted(p for p in LABLIB.rglob("*.py") if str(p.relative_to(REPO)) not in NOT_NOTEBOOK)


@pytest.fixture(scope="module")
def error_names() -> set[str]:
    names = lab_error_names()
    assert {"ValidationFailed", "EnvoyError", "FortioUsageError", "LabNotRunning"} <= names
    return names


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(LABLIB)))
def test_no_english_only_text_reaches_a_student(path, error_names):
    found = _violations(path, error_names)
    assert not found, "make these Msg(key, …) from lablib/i18n catalogues:\n" + "\n".join(found)


def test_the_scan_sees_english_text(tmp_path, error_names):
    bad = LABLIB / "_scan_probe.py"  # a file of lablib's tree, so the scan reads it as it reads the rest
    try:
        bad.write_text(
            'def f(progress, x):\n'
            '    progress(0, 1, f"starting {x}")\n'
            '    _problem(m, "warning", "spec.host", MSG, FIX)  # a severity and a path are not sentences\n'
            '    raise LabError("no such pod " + x)\n'
            'def g(x):\n'
            '    raise LabError(Msg("lab.validation_failed", n=x))  # a Msg: fine\n'
            'def h(x):\n'
            '    raise LabError(f"bug: {x}")  # not student text: an internal check\n',
            encoding="utf-8")
        found = _violations(bad, error_names)
    finally:
        bad.unlink()
    assert [line.split(": ")[1] for line in found] == ["progress message in English",
                                                       "LabError raised with English text"]


def test_a_msg_is_english_text_that_renders_in_chinese():
    m = Msg("lab.validation_failed", n=2)
    assert m == "2 error(s); nothing was applied:" and isinstance(m, str)
    assert render(m, "zh") == "2 个错误；没有应用任何内容："
    assert render([Msg("lab.envoy_said"), "x"], "zh") == "--- Envoy 的原话 ---、x"
    assert render("service-go-0", "zh") == "service-go-0"  # names stay as they are
