"""Shared fixtures for the notebook, viz and browser tests.

``make_result`` builds a real ``lablib.fortio.FortioResult`` from a few numbers, so the viz tests read the
same record a run returns. ``lab_env`` gives a child process (kernel, JupyterLab) its own ``$LABLIB_HOME``
and an environment marker that every process it starts inherits, so the tests find exactly their own Envoys.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import nbformat
import pytest

from lablib.fortio.result import FortioResult
from lablib.notebook.checks import lab_processes
from lablib.notebook.runs import RunPoint

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "labs" / "01-circuit-breaking.ipynb"
MARKER_VAR = "LABLIB_TEST_RUN"
#: papermill in a child Python: it starts the kernel with the child's environment (the test's ``lab_env``);
#: without jsonschema's iri checker (1.1 s of rfc3987-syntax grammars per run; see tests/conftest.py)
_PAPERMILL = (
    "import json, sys; sys.modules['rfc3987_syntax'] = None; import papermill; "
    "papermill.execute_notebook(sys.argv[1], sys.argv[2], "
    "parameters=json.loads(sys.argv[3]), cwd=sys.argv[4], kernel_name='python3', progress_bar=False)"
)


def make_result(
    codes: dict[int, int],
    *,
    c: int = 10,
    avg_s: float = 0.025,
    qps: float = 400.0,
    sockets: int | None = None,
    percentiles: dict[float, float] | None = None,
    errors_sum_s: float | None = None,
) -> FortioResult:
    """A ``FortioResult`` with the given codes; duration = count / qps."""
    count = sum(codes.values())
    raw = {"ErrorsDurationHistogram": {"Sum": errors_sum_s}} if errors_sum_s is not None else None
    return FortioResult(
        codes=dict(codes),
        count=count,
        num_threads=c,
        qps=qps,
        requested_qps=0,
        duration_s=count / qps,
        avg_s=avg_s,
        min_s=avg_s / 10,
        max_s=avg_s * 5,
        stddev_s=avg_s / 2,
        percentiles=percentiles
        or {50.0: avg_s, 75.0: avg_s * 1.2, 90.0: avg_s * 1.5, 99.0: avg_s * 3, 99.9: avg_s * 4},
        sockets=sockets if sockets is not None else c + codes.get(503, 0),
        sockets_per_thread=None,
        histogram=None,
        errors_histogram=None,
        url="http://service-go/env",
        labels="",
        version="test",
        source="lablib",
        raw=raw,
        exactly=count,
    )


def point(
    label: str,
    c: int,
    n503: int,
    *,
    calls: int | None = None,
    repeat: int = 0,
    pending: int | None = None,
    active: int = 0,
    cx: int = 0,
    **kw: object,
) -> RunPoint:
    """A run at concurrency ``c`` with ``n503`` 503s out of ``calls`` (default 10·c) and matching counters."""
    calls = calls if calls is not None else 10 * c
    counters = {
        "upstream_rq_pending_overflow": n503 if pending is None else pending,
        "upstream_rq_active_overflow": active,
        "upstream_cx_overflow": cx,
    }
    return RunPoint(label, c, make_result({200: calls - n503, 503: n503}, c=c, **kw), counters, repeat)


@pytest.fixture
def lab_env() -> Iterator[dict[str, str]]:
    """Environment for a child that runs a lab: private ``$LABLIB_HOME``, embedded backend, a unique marker.

    On exit, fails the test if any Envoy or service-go process carrying the marker is still alive (after
    killing it, so nothing leaks into the next test).
    """
    home = Path(tempfile.mkdtemp(prefix="lablib-nbtest-"))
    marker = uuid.uuid4().hex
    env = {**os.environ, "LABLIB_HOME": str(home), "LABLIB_BACKEND": "embedded", MARKER_VAR: marker}
    try:
        yield env
    finally:
        left = lab_processes(marker=f"{MARKER_VAR}={marker}")
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        shutil.rmtree(home, ignore_errors=True)
        assert not left, f"processes left running after the test: {left}"


def execute_notebook(notebook: Path, out: Path, parameters: Mapping[str, Any], env: Mapping[str, str],
                     *, timeout: float = 300) -> nbformat.NotebookNode:
    """Run ``notebook`` through papermill (the way CI overrides its ``parameters`` cell) in a kernel with
    ``env``, from the notebook's folder; fail the test on a non-zero exit or any error output; return the
    executed notebook."""
    args = [str(notebook), str(out), json.dumps(dict(parameters)), str(notebook.parent)]
    proc = subprocess.run([sys.executable, "-c", _PAPERMILL, *args], env=dict(env), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    return nb
