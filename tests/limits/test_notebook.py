"""labs/03-where-the-limit-lives.ipynb: committed clean (tests/notebooks checks it is generated), shaped as
the issue asks, and executing end to end on real Envoy with small parameters (the session's one run of each
edition), leaving nothing running."""

from __future__ import annotations

import pytest

from tests.notebooks.executions import EDITIONS, assert_ran_clean
from tests.notebooks.test_notebook import assert_committed_clean, assert_lab_steps


def test_notebook_is_committed_clean():
    assert_committed_clean("03", *EDITIONS)


def test_notebook_shape_title_steps_parameters_cleanup_last():
    assert assert_lab_steps("03") == 5


@pytest.mark.envoy
@pytest.mark.parametrize("lang", sorted(EDITIONS))
def test_notebook_executes_end_to_end_and_leaves_nothing_running(lab_run, lang):
    # the session's one run of this edition (tests/notebooks/test_editions.py reads the zh run too)
    assert_ran_clean(lab_run("03", lang), checks=6, exact=True)
