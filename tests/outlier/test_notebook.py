"""labs/02-outlier-detection.ipynb: committed clean (tests/notebooks checks it is generated), shaped as
the issue asks, and executing end to end on real Envoy with short times (the session's one run of each
edition), leaving nothing running."""

from __future__ import annotations

import pytest

from lablib.labs import lab_info
from tests.notebooks.executions import EDITIONS, assert_ran_clean
from tests.notebooks.test_notebook import assert_committed_clean, assert_lab_steps


def test_notebook_is_committed_clean():
    assert_committed_clean("02", "en")


def test_notebook_shape_title_steps_parameters_cleanup_last():
    assert assert_lab_steps("02") >= 6


@pytest.mark.envoy
@pytest.mark.parametrize("lang", sorted(EDITIONS))
def test_notebook_executes_end_to_end_and_leaves_nothing_running(lab_run, lang):
    # the session's one run of this edition (tests/notebooks/test_editions.py reads the zh run too); the
    # leftover check looks for processes with the run's marker and for processes under the lab's files
    assert_ran_clean(lab_run("02", lang), checks=lab_info("02").checks)
