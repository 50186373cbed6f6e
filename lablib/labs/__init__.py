"""The labs: one package per notebook, named like it, and the one table of them.

``LABS`` is what the notebook generator, the tests and the docs read (as jupytext keeps its formats in one
table): adding a lab is one row here, one package beside this file and one source in ``tools/notebooks/``.
A lab package builds on the notebook kit (``lablib.notebook``) and the layers below it, never on another lab's
package (``tests/test_layout.py`` checks it).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from lablib.notebook.parameters import Param

__all__ = ["LABS", "LabInfo", "lab_info", "parameters_of", "read_parameters"]


@dataclass(frozen=True)
class LabInfo:
    """One lab.

    Attributes:
        number: ``"01"`` …: the notebook's and the source's number.
        notebook: the notebook's file name in ``labs/`` (and ``labs/zh/``, the Chinese edition).
        package: the lab's logic, ``lablib.labs.<name>`` (the notebook's name without its number).
        ci_parameters: papermill parameters small enough for CI (the notebook's own defaults are the class's).
        checks: how many check verdicts an executed notebook shows (the tests count them).
    """

    number: str
    notebook: str
    package: str
    ci_parameters: dict[str, Any] = field(default_factory=dict)
    checks: int = 0

    @property
    def source(self) -> str:
        """The bilingual jupytext source both editions are generated from."""
        return f"tools/notebooks/lab{self.number}.py"


_HERE = Path(__file__).resolve().parent


def _solution(package: str) -> str:
    """A lab's reference answer to its exercise (CI gives it as the parameter ``exercise_<lab>``)."""
    return (_HERE / package / "exercise-solution.yaml").read_text(encoding="utf-8")


#: Every lab, in the order students take them.
LABS: Final[tuple[LabInfo, ...]] = (
    LabInfo("01", "01-circuit-breaking.ipynb", "lablib.labs.circuit_breaking",
            {"concurrency": [5, 40], "calls_per_thread": 10, "repeats": 1, "workers": 2,
             "backend": "embedded",
             # predictions (one left empty: skipping breaks nothing) and the exercise's reference answer
             "predict_seed_share": 67, "predict_pending_share": None,
             "predict_counter": "upstream_cx_overflow", "exercise_lab01": _solution("circuit_breaking")},
            checks=6),
    LabInfo("02", "02-outlier-detection.ipynb", "lablib.labs.outlier_detection",
            {"backend": "embedded", "base_ejection_time": "3s", "interval": "1s", "grow_base": "2s",
             "qps": 40, "run_explorer": True, "predict_return_s": 2, "predict_seed_errors": None,
             "exercise_lab02": _solution("outlier_detection")},
            checks=15),
    LabInfo("03", "03-where-the-limit-lives.ipynb", "lablib.labs.where_the_limit_lives",
            {"backend": "embedded", "concurrency": [10, 40, 60], "calls_per_thread": 10, "repeats": 1,
             "client_counts": [1, 2, 3], "client_concurrency": 20, "worker_counts": [1, 4],
             "worker_concurrency": 40, "worker_repeats": 2, "workers": 2, "run_explorer": True,
             "predict_fewest_503": "none", "predict_first_subset": None,
             "exercise_lab03": _solution("where_the_limit_lives")},
            checks=6),
    LabInfo("04", "04-reproducing-published-runs.ipynb", "lablib.labs.reproducing_published_runs",
            {"task_concurrency": [1, 3], "task_runs": 1, "book_concurrency": [20, 40], "book_runs": 1},
            checks=3),
    LabInfo("05", "05-retries-meet-breakers.ipynb", "lablib.labs.retries_meet_breakers",
            {"backend": "embedded", "calls": 150, "attempts": [0, 1, 2, 5], "concurrency": 10,
             "retry_concurrency": [1, 20], "budget_concurrency": [5, 40], "calls_per_thread": 5,
             "delay_ms": 300, "run_explorer": True, "predict_amplification": 1.75,
             "predict_counter": "upstream_rq_retry_overflow", "predict_server_503": None},
            checks=9),
    LabInfo("06", "06-the-server-protects-itself.ipynb", "lablib.labs.the_server_protects_itself",
            {"backend": "embedded", "client_counts": [1, 3], "concurrency": 20, "calls_per_thread": 5,
             # 50 ms, not the lab's 100: the notebook's fortio time fell from 44 s to 11 s (2 runs), and a
             # call still spans two samples of the gauges (every 20 ms)
             "server_limit": 15, "service_time_ms": 50, "warm_runs": 1, "run_explorer": True,
             "predict_server_peak": 15, "predict_h2_share": 50, "predict_grpc_status": "UNAVAILABLE"},
            checks=7),
)


def lab_info(key: str) -> LabInfo:
    """A lab by number (``"01"``), notebook name or package."""
    for info in LABS:
        if key in (info.number, info.notebook, info.package, info.package.rsplit(".", 1)[-1]):
            return info
    raise KeyError(key)


def parameters_of(key: str) -> Mapping[str, Param]:
    """A lab's declared parameters (its ``parameters`` module): name -> how the value is read."""
    return importlib.import_module(f"{lab_info(key).package}.parameters").PARAMETERS


def read_parameters(namespace: MutableMapping[str, Any], *, lab: str) -> dict[str, Any]:
    """The cell after a notebook's parameters cell: its values typed (written back into ``namespace``), or
    one ``ParameterError`` in the notebook's language (``lablib.notebook.parameters.read``)."""
    from lablib.notebook.parameters import read

    return read(namespace, parameters_of(lab))
