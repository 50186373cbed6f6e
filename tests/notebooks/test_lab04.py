"""labs/04-reproducing-published-runs.ipynb (and its zh edition): committed clean, shaped as the issue asks,
and executing end to end on real Envoy with small parameters, every check passing, nothing left running."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest

from tests.notebooks.conftest import execute_notebook
from tests.notebooks.test_notebook import assert_lab_shape
from tests.support import notebook_checks, processes_under

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "labs" / "04-reproducing-published-runs.ipynb"
ZH = REPO / "labs" / "zh" / NOTEBOOK.name
#: CI's parameter set: one run per -c, two book points.
SMALL = {"task_concurrency": [1, 3], "task_runs": 1, "book_concurrency": [20, 40],
         "book_runs": 1}


@pytest.mark.parametrize("path", [NOTEBOOK, ZH])
def test_notebook_is_committed_clean_and_shaped(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), "commit without outputs"
    heading = "## Step " if path == NOTEBOOK else "## 第 "
    steps = assert_lab_shape(path, [*SMALL, "lang"], "lablib.reproduce", heading=heading)
    assert len(steps) == 6, steps
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert 'lang = "zh"' in params.source if path == ZH else 'lang = "en"' in params.source


@pytest.mark.envoy
@pytest.mark.parametrize("path", [NOTEBOOK])
def test_notebook_executes_end_to_end_and_leaves_nothing_running(tmp_path, path):
    home = Path(tempfile.mkdtemp(prefix="lablib-lab04-"))
    env = {**os.environ, "LABLIB_HOME": str(home), "LABLIB_BACKEND": "embedded"}
    try:
        nb = execute_notebook(path, tmp_path / "executed.ipynb", SMALL, env, timeout=600)
        checks = notebook_checks(nb)
        assert len(checks) == 3, f"expected every check cell to render, got {len(checks)}"
        failed = [html for ok, html in checks if not ok]
        assert not failed, failed
        tables = [c for c in nb.cells for o in c.get("outputs", [])
                  if "lablib-sensitivity" in (o.get("data") or {}).get("text/html", "")]
        assert len(tables) == 2, "both sensitivity tables render from the recorded numbers"
        assert not processes_under(home), "the notebook's cleanup left processes running"
    finally:
        for p in processes_under(home):
            with contextlib.suppress(Exception):
                p.kill()
        shutil.rmtree(home, ignore_errors=True)
