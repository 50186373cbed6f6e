"""The lab notebook: committed clean, shaped like the issue asks, and executing end to end on real Envoy.

The execution test runs a small parameter set through papermill (the way CI overrides the ``parameters`` cell)
in a kernel with its own ``$LABLIB_HOME`` and an environment marker, then checks every check cell passed and
that no Envoy or service-go process of that kernel is left.
"""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from tests.support import notebook_checks

from .conftest import MARKER_VAR, NOTEBOOK, REPO

SMALL = {"concurrency": [5, 40], "calls_per_thread": 10, "repeats": 1, "workers": 2, "backend": "embedded"}


def _cells():
    return nbformat.read(NOTEBOOK, as_version=4).cells


def test_notebook_is_committed_clean_and_generated():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), (
        "commit notebooks without outputs"
    )
    gen = subprocess.run(
        [sys.executable, str(REPO / "tools" / "notebooks" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert gen.returncode == 0, gen.stderr


def test_notebook_shape_title_steps_parameters_cleanup_last():
    cells = _cells()
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    steps = [
        line
        for c in cells
        if c.cell_type == "markdown"
        for line in c.source.splitlines()
        if line.startswith("## Step ")
    ]
    assert [s.split(":")[0] for s in steps] == [f"## Step {i}" for i in range(1, 6)]
    assert len(steps) == 5
    params = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    for name in ("backend", "concurrency", "calls_per_thread", "repeats", "workers", "persist"):
        assert f"{name} =" in params[0].source
    last_code = [c for c in cells if c.cell_type == "code"][-1]
    assert "cleanup" in last_code.source and cells[-1] is last_code
    for c in cells:
        # The parameters cell has one line per parameter, so papermill can override each.
        if c.cell_type == "code" and c is not params[0]:
            assert len(c.source.splitlines()) <= 5, f"cell too long (logic belongs in lablib):\n{c.source}"
            assert "assert " not in c.source, "use lablib.viz.checks, not bare asserts"


@pytest.mark.envoy
def test_notebook_executes_end_to_end_and_leaves_nothing_running(lab_env, tmp_path):
    out = tmp_path / "executed.ipynb"
    marker = f"{MARKER_VAR}={lab_env[MARKER_VAR]}"
    # papermill starts the kernel with the current environment: run it in a child Python with lab_env.
    code = (
        "import json, sys, papermill; papermill.execute_notebook(sys.argv[1], sys.argv[2], "
        "parameters=json.loads(sys.argv[3]), cwd=sys.argv[4], kernel_name='python3', progress_bar=False)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(NOTEBOOK), str(out), json.dumps(SMALL), str(NOTEBOOK.parent)],
        env=lab_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    checks = notebook_checks(nb)
    # pods up, route, breaker applied, trips, 503s explained, cleaned up
    assert len(checks) >= 6, f"expected every check cell to render, got {len(checks)}"
    failed = [html for ok, html in checks if not ok]
    assert not failed, failed
    from lablib.viz.checks import lab_processes

    assert lab_processes(marker=marker) == {}, "the notebook's cleanup left processes running"
