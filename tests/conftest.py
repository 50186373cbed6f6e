"""Fixtures shared across test folders."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.notebooks.executions import LabRuns


@pytest.fixture(scope="session")
def lab_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabRuns]:
    """``lab_run("03", "zh")``: that edition of that lab executed on real Envoy with its CI parameters, once
    per session however many tests read it (the first test to ask pays for the run; see ``LabRuns``)."""
    from tests.notebooks.executions import LabRuns  # here: collecting other tests imports no notebook kit

    runs = LabRuns(tmp_path_factory.mktemp)
    yield runs
    runs.close()
