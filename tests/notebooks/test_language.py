"""``viz.set_language``: in a real kernel, a lablib error shows as one line in the notebook's language (no
traceback) and a manifest warning shows in that language at its FILE:LINE; a bug keeps its traceback."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from lablib.notebook.language import error_text
from tests.support import CJK

REPO = Path(__file__).resolve().parents[2]
SEED_DR = REPO / "manifests" / "istio" / "resilience" / "destination-rule-go-cb.yaml"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
BAD = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: service-go
spec:
  host: service-go
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: ten
"""


def _run(lang: str, tmp_path: Path) -> nbformat.NotebookNode:
    (tmp_path / "bad.yaml").write_text(BAD, encoding="utf-8")
    cells = [
        f"import lablib.notebook as kit\nlang = kit.set_language({lang!r})",
        "from lablib import load_file\nload_file('bad.yaml')",
        f"load_file({str(SEED_DR)!r}); print('loaded')",
        "{}['no such key']  # a bug in a cell: Python's own traceback",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=120,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def _error(cell: nbformat.NotebookNode) -> list[str]:
    (out,) = [o for o in cell.outputs if o.output_type == "error"]
    return [ANSI.sub("", line) for line in out.traceback]


def _stderr(cell: nbformat.NotebookNode) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_lab_errors_show_one_line_in_the_notebooks_language_and_warnings_too(lang, tmp_path):
    nb = _run(lang, tmp_path)
    error = "\n".join(_error(nb.cells[1]))
    assert "Traceback" not in error and 'File "' not in error and "load_file" not in error
    assert error.startswith("ValidationFailed")
    field = "spec.trafficPolicy.connectionPool.tcp.maxConnections"
    assert f"bad.yaml:10: DestinationRule/service-go: {field}" in error
    assert bool(CJK.search(error)) is (lang == "zh")
    if lang == "zh":
        assert "1 个错误；没有应用任何内容" in error
    else:
        assert "1 error(s); nothing was applied" in error

    warning = _stderr(nb.cells[2])
    assert f"{SEED_DR}:" in warning and "LabWarning" in warning and "consecutiveErrors" in warning
    assert bool(CJK.search(warning)) is (lang == "zh")
    assert "loaded" in "".join(o.get("text", "") for o in nb.cells[2].outputs)

    bug = "\n".join(_error(nb.cells[3]))
    assert "KeyError" in bug and ("Traceback" in bug or "----> 1" in bug)  # not ours: Python's display


def test_error_text_of_a_plain_exception_is_its_message():
    assert error_text(ValueError("x"), "zh") == "ValueError（错误）：x"


def test_a_progress_bar_shows_messages_in_its_language_and_keeps_them_as_given():
    from lablib.i18n import Msg
    from lablib.notebook.progress import ProgressBar

    bar = ProgressBar("service-go", lang="zh")
    message = Msg("lab.validation_failed", n=3)
    bar(1, 2, message)
    assert "3 个错误" in bar.label.value and bar.messages == [message]
    bar(2, 2, "pod <b>")  # a plain str (a name) as it is, escaped
    assert "pod &lt;b&gt;" in bar.label.value and bar.bar.bar_style == "success"
