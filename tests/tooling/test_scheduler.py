"""The suite's xdist scheduler (tests/conftest.py): whole scopes per worker, and with three workers or more
one worker for the tests that drive a real JupyterLab or JupyterHub."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests.conftest import pytest_xdist_make_scheduler

BROWSER = [f"tests/browser/test_lab0{n}_browser.py::test_run[en]" for n in (3, 5, 6)]
HUB = ["tests/classroom/test_jupyterhub.py::test_three_students"]
LAB02 = ["tests/outlier/test_notebook.py::test_runs[en]", "tests/browser/test_lab02_browser.py::test_run[en]"]
OTHER = [f"tests/mesh/test_m{n}.py::test_one" for n in range(6)]


class Node:
    """What the scheduler sees of a worker: it is sent test indexes and may be shut down."""

    def __init__(self, name: str) -> None:
        self.name, self.sent, self.shutting_down = name, [], False
        self.gateway = SimpleNamespace(id=name)

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent.extend(indexes)

    def shutdown(self) -> None:
        self.shutting_down = True


def _first_scopes(workers: int, collection: list[str]) -> dict[str, list[str]]:
    """The files each worker is sent at the start (xdist gives each two scopes at once)."""
    config: Any = SimpleNamespace(getvalue=lambda name: [f"{workers}*popen"], option=SimpleNamespace())
    scheduler: Any = pytest_xdist_make_scheduler(config, None)
    nodes = [Node(f"gw{i}") for i in range(workers)]
    for node in nodes:
        scheduler.add_node(node)
        scheduler.add_node_collection(node, collection)
    scheduler.schedule()
    return {n.name: sorted({collection[i].split("::")[0] for i in n.sent}) for n in nodes}


def _files(nodeids: list[str]) -> list[str]:
    return sorted({n.split("::")[0] for n in nodeids})


def test_with_three_workers_the_first_takes_the_browser_and_hub_scopes_and_the_others_the_rest() -> None:
    # heaviest first, as pytest_collection_modifyitems orders them: browser files, a lab, the hub, the rest
    sent = _first_scopes(3, BROWSER[:1] + LAB02 + BROWSER[1:] + HUB + OTHER)
    assert sent["gw0"] == _files(BROWSER[:1] + LAB02)  # lab 02's unit whole: it has a browser test
    assert sent["gw1"] == _files(OTHER[0:1] + OTHER[2:3])
    assert sent["gw2"] == _files(OTHER[1:2] + OTHER[3:4])


def test_a_worker_whose_kind_is_used_up_takes_the_other_kind() -> None:
    sent = _first_scopes(3, BROWSER + HUB)
    assert sent == {"gw0": _files(BROWSER[0:1] + HUB), "gw1": _files(BROWSER[1:2]),
                    "gw2": _files(BROWSER[2:3])}


def test_with_two_workers_the_costliest_scopes_go_first_whatever_their_kind() -> None:
    sent = _first_scopes(2, BROWSER + OTHER)
    assert sent == {"gw0": _files(BROWSER[0:1] + BROWSER[2:3]), "gw1": _files(BROWSER[1:2] + OTHER[0:1])}
