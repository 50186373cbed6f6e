"""Plots survive export: an executed lab converted by nbconvert to HTML carries every figure's data and
plotly.js itself (no CDN), and an explorer says in the page that it needs a kernel.

The lab is the session's one execution of lab 01 (``lab_run``: CI's small parameters, real Envoy), shared with
the notebook tests; the kernel test below runs a real ipykernel for a few cells (about 3 s).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from traitlets.config import Config

from lablib.i18n import t
from lablib.notebook.export import EXPORT_RENDERER, live_widget, use_export_renderer
from tests.support import CJK

PLOTLY = "application/vnd.plotly.v1+json"
WIDGET = "application/vnd.jupyter.widget-view+json"
#: The banner that opens plotly.js's bundle: the library is in the page, not fetched
PLOTLY_JS = re.compile(r"plotly\.js v\d+\.\d+\.\d+")


def _figures(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    return [o["data"][PLOTLY] for c in nb.cells for o in c.get("outputs", []) if PLOTLY in o.get("data", {})]


def _new_plots(page: str) -> list[list[dict[str, Any]]]:
    """The traces of every ``Plotly.newPlot("id", DATA, LAYOUT…)`` call of an HTML page."""
    decoder, found = json.JSONDecoder(), []
    for match in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', page):
        data, _ = decoder.raw_decode(page, match.end())
        found.append(data)
    return found


def _traces(data: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a reader sees of each trace: its name, type and points."""
    return [(tr.get("name"), tr.get("type"), json.dumps(tr.get("x")), json.dumps(tr.get("y"))) for tr in data]


@pytest.mark.envoy
def test_every_figure_of_an_executed_lab_is_drawn_from_its_html_export(lab_run):
    nb = lab_run("01", "en").notebook
    figures = _figures(nb)
    assert len(figures) >= 4, "lab 01 draws the share, latency, admitted and counters figures"
    page, _ = HTMLExporter().from_notebook_node(nb)
    in_page = [_traces(data) for data in _new_plots(page)]
    for fig in figures:
        title = fig["layout"].get("title")
        assert _traces(fig["data"]) in in_page, f"figure {title} is missing from the HTML"
    assert len(PLOTLY_JS.findall(page)) == 1, "plotly.js is embedded once, so the page draws offline"
    assert not re.search(r"<script[^>]+src=\"[^\"]*plotly[^\"]*\"", page), "no plotly.js from a CDN"


@pytest.mark.envoy
def test_an_exported_explorer_says_it_needs_a_kernel(lab_run):
    nb = lab_run("01", "en").notebook
    explorer = [o for c in nb.cells if c.get("id") == "explorer"
                for o in c.outputs if WIDGET in o.get("data", {})]
    assert explorer and explorer[0]["data"]["text/html"].count(t("export.needs_kernel", "en")[:40]) == 1
    # As docs/classroom.md publishes it (nbconvert --ClearMetadataPreprocessor.enabled=True, which drops the
    # widget state papermill saved), or as JupyterLab saves a notebook: no widget to draw, the note instead.
    exporter = HTMLExporter(config=Config({"ClearMetadataPreprocessor": {"enabled": True}}))
    page, _ = exporter.from_notebook_node(nb)
    assert "lablib-live-only" in page and t("export.needs_kernel", "en")[:40] in page
    assert len(_new_plots(page)) == len(_figures(nb)), "the figures stay"


def test_the_fallback_speaks_the_notebooks_language():
    import ipywidgets as w

    bundle = live_widget(w.Button(), lang="zh")._repr_mimebundle_()
    assert WIDGET in bundle, "a live kernel still gets the widget"
    assert CJK.search(bundle["text/html"]) and bundle["text/plain"] == t("export.needs_kernel", "zh")


def test_outside_a_kernel_the_renderer_is_left_alone():
    import plotly.io as pio

    before = pio.renderers.default
    assert use_export_renderer() == before and pio.renderers.default == before


_CELLS = [
    "import lablib.notebook as kit, plotly.graph_objects as go\n"
    "kit.set_language('en')\nkit.set_language('zh')",
    "go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name='a'))",
    "go.Figure(go.Scatter(x=[5], y=[6], name='b'))",
    # what it saves: plotly's renderer module (nbformat, jsonschema, a grammar built at import: ~1.2 s)
    "import sys; from lablib.notebook.export import use_export_renderer\n"
    "print('plotly.io._renderers' in sys.modules, use_export_renderer())",
    "import plotly.io as pio; print(pio.renderers.default)",
    "go.Figure(go.Scatter(x=[7], y=[8], name='c'))",
]


def _run_cells(cells: list[str], env: dict[str, str] | None = None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, kernel_name="python3", timeout=120).execute(env=env or dict(os.environ))
    return nb


def _outputs(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    return [o for c in nb.cells for o in c.outputs]


def test_in_a_kernel_set_language_embeds_plotly_js_once_and_keeps_the_interactive_mimetype():
    nb = _run_cells(_CELLS)
    outputs = _outputs(nb)
    with_js = [o for o in outputs if PLOTLY_JS.search(o.get("data", {}).get("text/html", ""))]
    assert len(with_js) == 1, "set_language twice must not embed plotly.js twice"
    figures = [o for o in outputs if PLOTLY in o.get("data", {})]
    assert len(figures) == 3 and all("text/html" in o["data"] for o in figures)
    assert [tr["name"] for o in figures for tr in o["data"][PLOTLY]["data"]] == ["a", "b", "c"]
    # two figures shown, and plotly's renderer module never loaded
    assert nb.cells[3].outputs[0]["text"].split() == ["False", EXPORT_RENDERER]
    # once plotly's renderer module is loaded its own kernel default shows; figures still carry their HTML
    assert nb.cells[4].outputs[0]["text"].strip() == "plotly_mimetype"


def test_a_renderer_the_user_chose_wins():
    nb = _run_cells(_CELLS, env={**os.environ, "PLOTLY_RENDERER": "plotly_mimetype"})
    outputs = _outputs(nb)
    assert not [o for o in outputs if "text/html" in o.get("data", {}) and PLOTLY in o["data"]]
    assert len([o for o in outputs if PLOTLY in o.get("data", {})]) == 3
    assert nb.cells[4].outputs[0]["text"].strip() == "plotly_mimetype"


def test_a_renderer_set_in_the_notebook_wins():
    nb = _run_cells([_CELLS[0], "import plotly.io as pio; pio.renderers.default = 'json'", _CELLS[1]])
    data = [o["data"] for o in _outputs(nb) if "data" in o]
    assert data and all(PLOTLY not in d and "text/html" not in d for d in data), data
    assert any("application/json" in d for d in data)


def test_a_figure_widget_comes_without_the_iri_grammar_and_keeps_its_figure():
    # a fresh interpreter: the cost is the first import of plotly's widget module (rfc3987-syntax's grammars)
    code = (
        "import sys; import plotly.graph_objects as go; from lablib.notebook.export import figure_widget\n"
        "f = figure_widget(go.Figure(go.Scatter(x=[1], y=[2], name='a')))\n"
        "print(type(f).__name__, f.data[0].name, 'rfc3987_syntax' in sys.modules)\n"
        "import rfc3987_syntax; print(rfc3987_syntax.__name__)"  # importable as usual afterwards
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["FigureWidget", "a", "False", "rfc3987_syntax"]
