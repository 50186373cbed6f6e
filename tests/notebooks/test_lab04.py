"""labs/04-reproducing-published-runs.ipynb (and its zh edition): committed clean, shaped as the issue asks,
and executing end to end on real Envoy with small parameters (the session's one run of each edition), every
check passing, nothing left running."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from lablib.labs import lab_info
from tests.notebooks.executions import EDITIONS, assert_ran_clean
from tests.notebooks.test_notebook import assert_lab_shape

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "labs" / "04-reproducing-published-runs.ipynb"
ZH = REPO / "labs" / "zh" / NOTEBOOK.name
#: CI's parameter set (``LABS``): one run per -c, two book points.
SMALL = lab_info("04").ci_parameters


@pytest.mark.parametrize("path", [NOTEBOOK, ZH])
def test_notebook_is_committed_clean_and_shaped(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), "commit without outputs"
    heading = "## Step " if path == NOTEBOOK else "## 第 "
    steps = assert_lab_shape(path, [*SMALL, "lang"], "lablib.labs.reproducing_published_runs.reproduce",
                             heading=heading)
    assert len(steps) == 6, steps
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert 'lang = "zh"' in params.source if path == ZH else 'lang = "en"' in params.source


@pytest.mark.envoy
@pytest.mark.parametrize("lang", sorted(EDITIONS))
def test_notebook_executes_end_to_end_and_leaves_nothing_running(lab_run, lang):
    # the session's one run of this edition (tests/notebooks/test_editions.py reads the zh run too)
    run = lab_run("04", lang)
    assert_ran_clean(run, checks=3, exact=True)
    tables = [c for c in run.notebook.cells for o in c.get("outputs", [])
              if "lablib-sensitivity" in (o.get("data") or {}).get("text/html", "")]
    assert len(tables) == 2, "both sensitivity tables render from the recorded numbers"
