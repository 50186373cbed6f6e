"""The lab notebook: committed clean, shaped like the issue asks, and executing end to end on real Envoy.

The execution test reads the session's run of each edition (``lab_run``: CI's small parameters from
``LABS``, through papermill, in a kernel with its own ``$LABLIB_HOME`` and an environment marker) and checks
every check cell passed and that no Envoy or service-go process of that kernel is left.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import nbformat
import pytest

from lablib.labs import LABS, lab_info

from .conftest import NOTEBOOK, REPO
from .executions import EDITIONS, assert_ran_clean


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


def _generate():
    """tools/notebooks/generate.py as a module (tools/ is not a package)."""
    name = "lablib_tools_notebooks_generate"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "tools" / "notebooks" / "generate.py")
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)  # dataclasses look it up
        spec.loader.exec_module(module)
    return sys.modules[name]


SOURCES = [REPO / info.source for info in LABS]


def code_lines(source: str) -> list[str]:
    """A code cell's lines that count against the five-line limit: not blank, not an import."""
    lines = [line for line in source.splitlines() if line.strip()]
    return [line for line in lines if not line.startswith(("import ", "from "))]


def assert_lab_shape(path, parameters, checks: str, heading: str = "## Step ") -> list[str]:
    """The shape every lab keeps: a title; one parameters cell with a line ``name =`` for each of
    ``parameters``; code cells of at most five lines and no bare assert (the ``checks`` module does that);
    the cleanup cell last. Returns the markdown lines starting with ``heading``, for the caller's count."""
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    params = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    for name in parameters:
        assert f"{name} =" in params[0].source, f"parameter {name} missing from the parameters cell"
    code = [c for c in cells if c.cell_type == "code"]
    assert "cleanup" in code[-1].source and cells[-1] is code[-1]
    for c in code:
        if c is params[0]:  # one line per parameter, so papermill can override each
            continue
        assert len(code_lines(c.source)) <= 5, f"cell too long (logic belongs in lablib):\n{c.source}"
        assert "assert " not in c.source, f"use {checks}, not bare asserts"
    return [line for c in cells if c.cell_type == "markdown" for line in c.source.splitlines()
            if line.startswith(heading)]


def assert_lab_steps(lab: str) -> int:
    """Lab ``lab``'s notebook has the lab shape (:func:`assert_lab_shape`: its CI parameters and ``lang``, its
    package's ``checks``) and its steps are ``## Step 1``, ``## Step 2``, …; returns how many, for the
    caller's count."""
    info = lab_info(lab)
    headings = assert_lab_shape(EDITIONS["en"] / info.notebook, [*info.ci_parameters, "lang"],
                                f"{info.package}.checks")
    steps = [line.split(":")[0] for line in headings]
    assert steps == [f"## Step {i}" for i in range(1, len(steps) + 1)]
    return len(steps)


def assert_committed_clean(lab: str, *langs: str) -> None:
    """Lab ``lab``'s editions ``langs`` are valid notebooks committed without outputs."""
    for lang in langs:
        nb = nbformat.read(EDITIONS[lang] / lab_info(lab).notebook, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.outputs == [] and c.execution_count is None for c in code), "commit without outputs"


def test_sources_are_python_that_ruff_lints_like_the_rest():
    listed = subprocess.run([sys.executable, "-m", "ruff", "check", "--show-files", "."], cwd=REPO,
                            capture_output=True, text=True)
    for src in SOURCES:
        assert str(src) in listed.stdout, f"ruff check . does not cover {src}"
        compile(src.read_text(encoding="utf-8"), str(src), "exec")  # a percent script is plain Python
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", *map(str, SOURCES)], cwd=REPO,
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def test_cell_ids_are_named_and_survive_an_inserted_cell(tmp_path):
    gen = _generate()
    before = gen.read_cells(SOURCES[0])
    ids = [c.id for c in before]
    assert len(set(ids)) == len(ids) and "step-1-start-fortio" in ids and "parameters" in ids
    assert not any(i.startswith("cell-") for i in ids), "ids come from the source, not from positions"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert [c.id for c in nb.cells] == ids
    text = SOURCES[0].read_text(encoding="utf-8")
    marker = '# %% id="imports"'
    edited = tmp_path / "lab01.py"
    edited.write_text(text.replace(marker, '# %% id="a-new-cell"\nx = 1\n\n' + marker), encoding="utf-8")
    after = [c.id for c in gen.read_cells(edited)]
    assert [i for i in after if i != "a-new-cell"] == ids
    assert after.index("a-new-cell") == ids.index("imports")


@pytest.mark.parametrize(
    ("cells", "line", "message"),
    [
        ('# %% [markdown] id="title"\n# # T\n\n# %%\nx = 1\n', 4, "cell without an id"),
        ('# %% id="a"\nx = 1\n\n# %% id="a"\ny = 2\n', 4, "cell id 'a' already used at line 1"),
        ('# %% id="a b"\nx = 1\n', 1, "bad cell id 'a b'"),
        ('# %% id="a" color="red"\nx = 1\n', 1, "unknown cell option color"),
        ('x = 1\n# %% id="a"\ny = 2\n', 1, "code before the first cell"),
    ],
)
def test_a_bad_source_stops_with_a_positioned_error(tmp_path, cells, line, message):
    gen = _generate()
    src = tmp_path / "lab09.py"
    src.write_text(cells, encoding="utf-8")
    with pytest.raises(gen.NotebookSourceError) as e:
        gen.build(src)
    assert str(e.value).startswith(f"{src}:{line}: {message}; ")


def test_notebook_shape_title_steps_parameters_cleanup_last():
    steps = assert_lab_shape(NOTEBOOK, ("backend", "concurrency", "calls_per_thread", "repeats", "workers",
                                        "persist", "lang"), "lablib.notebook.checks")
    assert [s.split(":")[0] for s in steps] == [f"## Step {i}" for i in range(1, 6)]
    assert len(steps) == 5


@pytest.mark.envoy
@pytest.mark.parametrize("lang", sorted(EDITIONS))
def test_notebook_executes_end_to_end_and_leaves_nothing_running(lab_run, lang):
    # the session's one run of this edition (tests/notebooks/test_editions.py reads the same run)
    # pods up, route, breaker applied, trips, 503s explained, cleaned up
    assert_ran_clean(lab_run("01", lang), checks=6)
