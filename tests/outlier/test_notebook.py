"""labs/02-outlier-detection.ipynb: committed clean (tests/notebooks checks it is generated), shaped as
the issue asks, and executing end to end on real Envoy with short times (the session's one run of each
edition), leaving nothing running."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from lablib.labs import lab_info
from tests.notebooks.executions import EDITIONS, assert_ran_clean
from tests.notebooks.test_notebook import assert_lab_shape

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE.parents[1] / "labs" / "02-outlier-detection.ipynb"
#: CI's parameter set (``LABS``): seconds instead of the lab's 15 s ejections.
SMALL = lab_info("02").ci_parameters


def test_notebook_is_committed_clean():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), "commit without outputs"


def test_notebook_shape_title_steps_parameters_cleanup_last():
    headings = assert_lab_shape(NOTEBOOK, [*SMALL, "lang"], "lablib.labs.outlier_detection.checks")
    steps = [line.split(":")[0] for line in headings]
    assert steps == [f"## Step {i}" for i in range(1, len(steps) + 1)] and len(steps) >= 6


@pytest.mark.envoy
@pytest.mark.parametrize("lang", sorted(EDITIONS))
def test_notebook_executes_end_to_end_and_leaves_nothing_running(lab_run, lang):
    # the session's one run of this edition (tests/notebooks/test_editions.py reads the zh run too); the
    # leftover check looks for processes with the run's marker and for processes under the lab's files
    assert_ran_clean(lab_run("02", lang), checks=lab_info("02").checks)
