"""``lablib._exceptions`` sits below ``lablib.i18n``: it imports nothing from lablib (no circle), yet its
errors render their own texts in any language through the ``t`` that lablib.i18n installs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from lablib import EnvoyError, ValidationFailed
from lablib.i18n import Msg

REPO = Path(__file__).resolve().parents[2]


def lablib_imports(source: str) -> list[str]:
    """Every module of lablib that ``source`` imports, at the top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "lablib"]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if node.level or module.split(".")[0] == "lablib":
                found.append(module)
    return found


def test_exceptions_import_nothing_from_lablib():
    # The probe: the lazy import this module had (inside a method) is what the scan must see.
    assert lablib_imports("def f():\n    from lablib.i18n import t\n") == ["lablib.i18n"]
    assert lablib_imports("from . import i18n\n") == ["."]
    assert lablib_imports((REPO / "lablib" / "_exceptions.py").read_text(encoding="utf-8")) == []


def test_the_errors_own_texts_render_in_the_notebook_language():
    class Problem:  # what ValidationFailed reads of a lablib.manifests.Problem
        severity = "error"

        def in_lang(self, lang: str) -> str:
            return f"p.yaml:3: {lang}"

    failed = ValidationFailed([Problem()])
    assert str(failed) == "1 error(s); nothing was applied:\np.yaml:3: en"
    assert failed.in_lang("zh") == "1 个错误；没有应用任何内容：\np.yaml:3: zh"
    envoy = EnvoyError(Msg("lab.validation_failed", n=2), envoy_output="bad config")
    assert envoy.in_lang("zh") == "2 个错误；没有应用任何内容：\n--- Envoy 的原话 ---\nbad config"
    assert str(envoy) == "2 error(s); nothing was applied:\n--- envoy said ---\nbad config"


def test_importing_only_the_exceptions_installs_the_catalogue():
    # Any import of lablib runs lablib/__init__, which imports lablib.i18n: the hook is always there.
    code = ("import lablib._exceptions as e\n"
            "assert e._catalogue is not None\n"
            "print(e.EnvoyError('x', envoy_output='y').in_lang('zh'))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stdout) == (0, "x\n--- Envoy 的原话 ---\ny\n"), out.stderr
