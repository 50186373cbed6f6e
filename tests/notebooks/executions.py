"""Each lab notebook executed once per edition for the whole test session (``lab_run``, tests/conftest.py).

A notebook run on real Envoy takes a minute or more; the per-lab tests (checks pass, tables render, nothing
left running) and the edition tests (Chinese verdicts, no English leak) read the same executed notebook
instead of running it again each. The parameters are ``LABS[...].ci_parameters``, CI's small set.

An execution runs the edition as committed (the Chinese edition's own ``lang = "zh"``), through papermill
in a child process with a private ``$LABLIB_HOME`` and an environment marker. Right after the kernel is gone
it records which processes of that run are still alive (by marker and by home), then kills them, so a leak
fails the tests that read the run and never reaches the next one.

With several test workers (``make test``: pytest-xdist) an edition still executes once per session: the
first worker to ask runs it under a file lock in a folder every worker sees and saves the outcome there; a
worker that asks meanwhile waits on the lock, then reads it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
import pytest

from lablib.labs import LabInfo, lab_info
from lablib.notebook.checks import lab_processes
from tests.support import notebook_checks, processes_under

from .conftest import MARKER_VAR, REPO, execute_notebook

#: the editions every lab has, and where each lives
EDITIONS: dict[str, Path] = {"en": REPO / "labs", "zh": REPO / "labs" / "zh"}
#: papermill's limit for one notebook
TIMEOUT_S = 600
#: Labs whose two editions run side by side. Lab 02 mostly waits on its ejection timers under a paced load
#: (fortio -qps 40): two runs share the 2 cores without changing what they show, and take ~1.5 runs' time
#: instead of 2. The other labs load Envoy flat out (-qps 0), so each of their runs has the machine alone.
SIDE_BY_SIDE = frozenset({"02"})


@dataclass(frozen=True)
class Execution:
    """One executed edition of one lab.

    Attributes:
        info: the lab's row of ``LABS``.
        lang: ``"en"`` or ``"zh"``.
        path: the notebook that ran (``labs/<name>`` or ``labs/zh/<name>``).
        marker: ``LABLIB_TEST_RUN=<hex>``, in the environment of every process the run started.
        out: the executed notebook's file (papermill's output).
        failure: papermill's error or the cells' error outputs, when the run failed.
        left_by_marker: processes (pid -> command) with the marker still alive after the kernel ended.
        left_under_home: processes (pid -> command) running from the run's ``$LABLIB_HOME`` after it ended.
    """

    info: LabInfo
    lang: str
    path: Path
    marker: str
    out: Path
    failure: str | None = None
    left_by_marker: dict[int, str] = field(default_factory=dict)
    left_under_home: dict[int, str] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({
            "lab": self.info.number, "lang": self.lang, "path": str(self.path), "marker": self.marker,
            "out": str(self.out), "failure": self.failure, "left_by_marker": self.left_by_marker,
            "left_under_home": self.left_under_home}))

    @classmethod
    def load(cls, path: Path) -> Execution:
        d = json.loads(path.read_text())
        return cls(lab_info(d["lab"]), d["lang"], Path(d["path"]), d["marker"], Path(d["out"]), d["failure"],
                   {int(k): v for k, v in d["left_by_marker"].items()},
                   {int(k): v for k, v in d["left_under_home"].items()})

    @property
    def notebook(self) -> nbformat.NotebookNode:
        """The executed notebook; fails the calling test (not a later one) if the run failed."""
        if self.failure is not None:
            pytest.fail(f"{self.path.relative_to(REPO)} failed to execute:\n{self.failure}", pytrace=False)
        return nbformat.read(self.out, as_version=4)


def execute_lab(info: LabInfo, lang: str, workdir: Path) -> Execution:
    """Run ``info``'s ``lang`` edition with its CI parameters; a failed run is recorded (``failure``), and
    every test that reads it fails with the error."""
    path = EDITIONS[lang] / info.notebook
    home = Path(tempfile.mkdtemp(prefix=f"lablib-lab{info.number}-{lang}-"))
    token = uuid.uuid4().hex
    marker = f"{MARKER_VAR}={token}"
    env = {**os.environ, "LABLIB_HOME": str(home), "LABLIB_BACKEND": "embedded", MARKER_VAR: token}
    out = workdir / f"{path.stem}.{lang}.executed.ipynb"
    failure = None
    try:
        execute_notebook(path, out, info.ci_parameters, env, timeout=TIMEOUT_S)
    except AssertionError as e:  # a non-zero papermill exit or an error output
        failure = str(e)
    except Exception as e:  # a timeout: every test that reads this run reports it
        failure = f"{type(e).__name__}: {e}"
    by_marker = lab_processes(marker=marker)
    under_home = {p.pid: " ".join(p.info["cmdline"] or []) for p in processes_under(home)}
    for pid in {*by_marker, *under_home}:  # nothing of this run may reach the next one
        with contextlib.suppress(psutil.Error, OSError):
            psutil.Process(pid).kill()
    shutil.rmtree(home, ignore_errors=True)
    return Execution(info, lang, path, marker, out, failure, by_marker, under_home)


class LabRuns:
    """The session's executions (the ``lab_run`` fixture, ``tests/conftest.py``).

    ``runs("03", "zh")`` runs that edition the first time it is asked for and returns the same ``Execution``
    every time after. A lab of ``SIDE_BY_SIDE`` runs both editions at once, and ``runs.start("02")`` starts
    them in the background, so they overlap with a test that mostly waits too (lab 02's browser test): at
    most two notebooks run at a time, so a load-driven lab asked for meanwhile waits for them.
    """

    def __init__(self, workdir: Callable[[str], Path], shared: Path) -> None:
        self._workdir = workdir
        self._shared = shared  # the session's folder of executions, seen by every worker
        shared.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=len(EDITIONS), thread_name_prefix="lab-run")
        self._runs: dict[tuple[str, str], Future[Execution]] = {}

    def _submit(self, info: LabInfo, langs: list[str]) -> None:
        for lang in langs:
            if (info.number, lang) not in self._runs:
                workdir = self._workdir(f"lab{info.number}-{lang}")  # here: mktemp is not thread-safe
                self._runs[info.number, lang] = self._pool.submit(self._once, info, lang, workdir)

    def _once(self, info: LabInfo, lang: str, workdir: Path) -> Execution:
        """Execute ``info``'s ``lang`` edition unless a worker of this session has: then read its outcome."""
        name = f"lab{info.number}-{lang}"
        with open(self._shared / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another worker executing it: wait for its outcome
            saved = self._shared / f"{name}.json"
            if saved.exists():
                return Execution.load(saved)
            run = execute_lab(info, lang, workdir)
            run.save(saved)
            return run

    def _editions(self, info: LabInfo, lang: str) -> list[str]:
        return list(EDITIONS) if info.number in SIDE_BY_SIDE else [lang]

    def __call__(self, lab: str, lang: str) -> Execution:
        info = lab_info(lab)
        self._submit(info, self._editions(info, lang))
        return self._runs[info.number, lang].result()

    def start(self, lab: str) -> None:
        """Start a ``SIDE_BY_SIDE`` lab's editions in the background (no-op for another lab)."""
        info = lab_info(lab)
        if info.number in SIDE_BY_SIDE:
            self._submit(info, list(EDITIONS))

    def wait(self, lab: str) -> None:
        """Wait until every run of ``lab`` started so far has ended (its tests judge the outcome)."""
        number = lab_info(lab).number
        wait([run for (n, _), run in self._runs.items() if n == number])

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def assert_ran_clean(run: Execution, *, checks: int, exact: bool = False) -> list[tuple[bool, str]]:
    """The assertions every lab's execution test makes: every check cell rendered (``checks`` of them, or at
    least that many), every verdict passed, no process of the run left. Returns the verdicts."""
    found = notebook_checks(run.notebook)
    assert (len(found) == checks) if exact else (len(found) >= checks), (
        f"expected every check cell to render ({checks}), got {len(found)}")
    failed = [html for ok, html in found if not ok]
    assert not failed, failed
    assert run.left_by_marker == {}, f"the notebook's cleanup left processes running: {run.left_by_marker}"
    assert run.left_under_home == {}, f"processes left under the lab's home: {run.left_under_home}"
    return found
