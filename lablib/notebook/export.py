"""What a notebook's outputs look like outside the kernel that made them: exported HTML, Jupyter Book, a
repository's preview.

plotly 7 shows a figure in a kernel as its own mimetype only (``application/vnd.plotly.v1+json``), which
JupyterLab draws and every static export drops. ``use_export_renderer`` (called by ``set_language``, the
first line of every lab) makes the kernel show each ``go.Figure`` as plotly's ``plotly_mimetype+notebook``
renderers would: the plotly mimetype (JupyterLab draws it, it ranks first there) plus a ``text/html`` copy,
and before the kernel's first figure plotly.js itself, once, so an exported page draws every figure without a
network (no CDN).

It builds that bundle from plotly's renderer classes (``plotly.io._base_renderers``) through an IPython
display formatter instead of setting ``plotly.io.renderers.default``: reading that imports
``plotly.io._renderers``, which imports nbformat only to check its version, and nbformat brings jsonschema and
rfc3987-syntax, which builds a grammar at import: 1.2 s at the first cell of every lab (bench_notebook).
plotly's widget module imports that renderer module too: ``figure_widget`` makes the explorers' widgets
without that grammar.

A widget lives in a kernel; a static page has none. ``live_widget`` displays a widget with a ``text/html``
fallback that says so (what nbconvert, Jupyter Book and GitHub show when the page has no widget state).
"""

from __future__ import annotations

import html
import os
import sys
from typing import Any

from lablib.i18n import t

__all__ = ["EXPORT_RENDERER", "LiveWidget", "figure_widget", "live_widget", "use_export_renderer"]

#: The plotly mimetype for JupyterLab + self-contained HTML (plotly.js embedded once) for every export.
EXPORT_RENDERER = "plotly_mimetype+notebook"
#: Defaults that are no user's choice: plotly's own in a kernel (``plotly.io._renderers``), and ours.
_PLOTLY_KERNEL_DEFAULTS = ("", "plotly_mimetype", "jupyterlab", EXPORT_RENDERER)

_shown = {"formatter": False, "plotly_js": False}


def use_export_renderer() -> str:
    """Make plotly figures survive export in this kernel; returns the renderer figures are shown with.

    Only in an IPython kernel, and never over a renderer the user chose (``PLOTLY_RENDERER`` in the
    environment, or one set in the notebook through ``plotly.io.renderers``); plotly.js is embedded once
    however often it is called.
    """
    if not _in_kernel():
        import plotly.io as pio

        return str(pio.renderers.default)
    chosen = _chosen_renderer()
    if not _shown["formatter"]:
        from IPython import get_ipython

        # Looked up before a figure's own _ipython_display_ (IPython's IPythonDisplayFormatter); by name, so
        # plotly is imported only when a figure is shown. A go.FigureWidget is no go.Figure: a widget stays.
        get_ipython().display_formatter.ipython_display_formatter.for_type_by_name(
            "plotly.graph_objs._figure", "Figure", _show)
        _shown["formatter"] = True
    return chosen or EXPORT_RENDERER


def _chosen_renderer() -> str | None:
    """The renderer the user chose, if any: ``PLOTLY_RENDERER``, or one set through ``plotly.io.renderers``
    (only if something imported that module: reading it here would cost what this module saves)."""
    if os.environ.get("PLOTLY_RENDERER"):
        return os.environ["PLOTLY_RENDERER"]
    renderers = sys.modules.get("plotly.io._renderers")
    default = str(renderers.renderers.default) if renderers is not None else ""
    return None if default in _PLOTLY_KERNEL_DEFAULTS else default


def _show(fig: Any) -> None:
    """Display ``fig`` as ``EXPORT_RENDERER`` would (plotly's own display when the user chose a renderer)."""
    if _chosen_renderer() is not None:
        fig._ipython_display_()
        return
    from IPython.display import display
    from plotly.io._base_renderers import NotebookRenderer, PlotlyRenderer
    from plotly.io._utils import validate_coerce_fig_to_dict

    notebook = NotebookRenderer(config={})
    if not _shown["plotly_js"]:
        notebook.activate()  # plotly.js, once per kernel, as plotly's renderer does before its first figure
        _shown["plotly_js"] = True
    fig_dict = validate_coerce_fig_to_dict(fig, True)
    bundle = PlotlyRenderer().to_mimebundle(dict(fig_dict))
    bundle.update(notebook.to_mimebundle(dict(fig_dict)))
    display(bundle, raw=True)


def figure_widget(figure: Any = None) -> Any:
    """A ``go.FigureWidget`` (of ``figure``, if given): what the explorers update in place.

    plotly's widget module imports ``plotly.io._renderers`` (for a version warning), hence nbformat and
    jsonschema, and jsonschema loads its optional checker of the ``iri`` formats from rfc3987-syntax when that
    is installed (jupyter-events installs it), which builds 38 grammars at import: 1.2 s (2.8 s under a
    profiler) at a lab's explorer. The first call imports the widget module with that optional checker left
    out: jsonschema then does not check ``iri`` formats in this process (nothing in a lab does), and a later
    ``import rfc3987_syntax`` works as usual.
    """
    if "plotly.basewidget" not in sys.modules and "jsonschema" not in sys.modules:
        left_out = "rfc3987_syntax" not in sys.modules
        if left_out:
            sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import fails: checker skipped
        try:
            import plotly.basewidget  # noqa: F401
        finally:
            if left_out:
                del sys.modules["rfc3987_syntax"]
    import plotly.graph_objects as go

    return go.FigureWidget() if figure is None else go.FigureWidget(figure)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__module__.startswith("ipykernel")


class LiveWidget:
    """A widget displayed with a static fallback: the widget where a kernel runs it, ``note`` elsewhere."""

    def __init__(self, widget: Any, note: str) -> None:
        self.widget, self.note = widget, note

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/html"] = (f"<div class='lablib-live-only' style='border:1px dashed #999;"
                               f"padding:6px 10px;color:#555;font-family:sans-serif'>"
                               f"{html.escape(self.note)}</div>")
        bundle["text/plain"] = self.note
        return bundle


def live_widget(widget: Any, *, lang: str = "en") -> LiveWidget:
    """An explorer's ``widget`` for ``display``, saying in ``lang`` wherever the page is static that the
    explorer needs a running kernel."""
    return LiveWidget(widget, t("export.needs_kernel", lang))
