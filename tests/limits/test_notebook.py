"""labs/03-where-the-limit-lives.ipynb: committed clean (tests/notebooks checks it is generated), shaped as
the issue asks, and executing end to end on real Envoy with small parameters (the session's one run of each
edition), leaving nothing running."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from lablib.labs import lab_info
from tests.notebooks.executions import EDITIONS, assert_ran_clean
from tests.notebooks.test_notebook import assert_lab_shape

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE.parents[1] / "labs" / "03-where-the-limit-lives.ipynb"
#: CI's parameter set (``LABS``): the few runs that still show each property.
SMALL = lab_info("03").ci_parameters


def test_notebook_is_committed_clean():
    for path in (NOTEBOOK, NOTEBOOK.parent / "zh" / NOTEBOOK.name):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.outputs == [] and c.execution_count is None for c in code), "commit without outputs"


def test_notebook_shape_title_steps_parameters_cleanup_last():
    headings = assert_lab_shape(NOTEBOOK, [*SMALL, "lang"], "lablib.labs.where_the_limit_lives.checks")
    steps = [line.split(":")[0] for line in headings]
    assert steps == [f"## Step {i}" for i in range(1, len(steps) + 1)] and len(steps) == 5


@pytest.mark.envoy
@pytest.mark.parametrize("lang", sorted(EDITIONS))
def test_notebook_executes_end_to_end_and_leaves_nothing_running(lab_run, lang):
    # the session's one run of this edition (tests/notebooks/test_editions.py reads the zh run too)
    assert_ran_clean(lab_run("03", lang), checks=6, exact=True)
