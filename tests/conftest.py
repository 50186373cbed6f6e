"""Fixtures shared across test folders."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.notebooks.executions import LabRuns

# nbformat (tests/support.py, papermill) imports jsonschema, which builds rfc3987-syntax's 38 grammars at
# import only to check "iri" formats: 1.2 s of every pytest process's collection (figure_widget in
# lablib.notebook.export says more). No test validates an iri; jsonschema skips that checker when the import
# fails.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def lab_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabRuns]:
    """``lab_run("03", "zh")``: that edition of that lab executed on real Envoy with its CI parameters, once
    per session however many tests read it (the first test to ask pays for the run; see ``LabRuns``)."""
    from tests.notebooks.executions import LabRuns  # here: collecting other tests imports no notebook kit

    base = tmp_path_factory.getbasetemp()
    # with several workers (xdist), each has its own basetemp under one the whole session shares: a lab's
    # edition executes once for all of them (``LabRuns``)
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    runs = LabRuns(tmp_path_factory.mktemp, shared / "lab-runs")
    yield runs
    runs.close()


# --- the suite on several workers (pytest-xdist; `make test` runs -n 2) ---
#: Folders whose tests share a session fixture that is slow to start: one worker takes the whole folder (the
#: real etcd + kube-apiserver starts once, not once per worker).
_ONE_WORKER_FOLDERS = ("tests/apiserver/",)
#: What a file's tests cost, roughly, by their most expensive marker: the costliest files start first, so no
#: worker is left with a long test at the end while the other has nothing to do.
_COST = {"browser": 4, "classroom": 3, "apiserver": 2, "envoy": 1}


#: The files whose tests read a lab's executions (``lab_run``), by lab. With that lab's Chinese-edition test
#: of test_editions.py they are one unit: no worker waits on the lock of an execution another one is running.
_LAB_FILES = {
    "tests/notebooks/test_notebook.py": "01",
    "tests/export/test_export.py": "01",
    "tests/outlier/test_notebook.py": "02",
    "tests/browser/test_lab02_browser.py": "02",  # starts lab 02's executions beside its own run
    "tests/limits/test_notebook.py": "03",
    "tests/notebooks/test_lab04.py": "04",
    "tests/retries/test_notebook.py": "05",
    "tests/server_limit/test_notebook.py": "06",
}
_EDITION = re.compile(
    r"tests/notebooks/test_editions\.py::test_chinese_notebook_runs_in_chinese_and_leaks_no_english\[(\d\d)\]")


def _lab_of(nodeid: str) -> str | None:
    match = _EDITION.fullmatch(nodeid)
    return match.group(1) if match else _LAB_FILES.get(nodeid.split("::", 1)[0])


def _scope(nodeid: str) -> str:
    """The unit one worker takes whole: the tests that read one lab's executions (``_LAB_FILES``), else a
    test's file (its module-scoped fixtures, e.g. a shared mesh, start once) or its folder when that is in
    ``_ONE_WORKER_FOLDERS``."""
    lab = _lab_of(nodeid)
    if lab is not None:
        return f"lab {lab}"
    path = nodeid.split("::", 1)[0]
    return next((f for f in _ONE_WORKER_FOLDERS if path.startswith(f)), path)


#: Tests that drive a real JupyterLab or JupyterHub in their own processes (a server, kernels, a browser, a
#: lab): with three workers or more, one worker takes their scopes, so no two of them compete for the CPU.
_SCREEN_FOLDERS = ("tests/browser/", "tests/classroom/")


def _on_screen(nodeids: Iterable[str]) -> bool:
    return any(n.startswith(_SCREEN_FOLDERS) for n in nodeids)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's scope scheduling with our scopes, in the order the workers collected them (heaviest first,
    below) rather than xdist's default of the scopes with the most tests first.

    With three workers or more, the first takes the scopes with a JupyterLab/JupyterHub test (``_on_screen``)
    and the others the rest, each in that order; a worker whose kind is used up takes the other kind. The
    suite spends much of its time waiting (ejection windows, kernels and browsers starting), so `make test`
    runs three workers on two cores, but three browsers at once made every one of them slower."""
    from xdist.scheduler import LoadScopeScheduling

    class ByScope(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            if len(self.nodes) >= 3:
                screen = node is self.nodes[0]
                mine = next((s for s, unit in self.workqueue.items() if _on_screen(unit) == screen), None)
                if mine is not None:
                    self.workqueue.move_to_end(mine, last=False)
            super()._assign_work_unit(node)

    config.option.loadscopereorder = False
    return ByScope(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # one process: the order of the files does not matter
    cost: dict[str, int] = {}
    for item in items:
        mine = max((c for m, c in _COST.items() if item.get_closest_marker(m)), default=0)
        if "lab_run" in getattr(item, "fixturenames", ()):
            if _lab_of(item.nodeid) is None:
                raise pytest.UsageError(f"{item.nodeid} reads a lab's execution (lab_run): add its file to "
                                        "_LAB_FILES in tests/conftest.py, with the lab it reads")
            mine = max(mine, 4)  # executes a whole lab notebook (or reads one another worker executes)
        scope = _scope(item.nodeid)
        cost[scope] = max(cost.get(scope, 0), mine)
    items.sort(key=lambda item: -cost[_scope(item.nodeid)])  # stable: a scope's tests keep their order
