"""What a notebook's outputs look like outside the kernel that made them: exported HTML, Jupyter Book, a
repository's preview.

plotly 7 shows a figure in a kernel as its own mimetype only (``application/vnd.plotly.v1+json``), which
JupyterLab draws and every static export drops. ``use_export_renderer`` (called by ``set_language``, the
first line of every lab) adds plotly's ``notebook`` renderer: each figure also carries a ``text/html`` copy,
and the first figure of the kernel carries plotly.js itself, so an exported page draws every figure without
a network (no CDN). JupyterLab still draws the plotly mimetype (it ranks first there).

A widget lives in a kernel; a static page has none. ``live_widget`` displays a widget with a ``text/html``
fallback that says so (what nbconvert, Jupyter Book and GitHub show when the page has no widget state).
"""

from __future__ import annotations

import html
import os
from typing import Any

from lablib.i18n import t

__all__ = ["EXPORT_RENDERER", "LiveWidget", "live_widget", "use_export_renderer"]

#: The plotly mimetype for JupyterLab + self-contained HTML (plotly.js embedded once) for every export.
EXPORT_RENDERER = "plotly_mimetype+notebook"


def use_export_renderer() -> str:
    """Make plotly figures survive export in this kernel; returns the renderer in use.

    Only in an IPython kernel, only once (a second call would embed plotly.js again), and never over a
    renderer the user chose (``PLOTLY_RENDERER`` in the environment, or one set in the notebook).
    """
    import plotly.io as pio

    if os.environ.get("PLOTLY_RENDERER") or not _in_kernel():
        return str(pio.renderers.default)
    if pio.renderers.default in ("", "plotly_mimetype", "jupyterlab"):  # plotly's own kernel defaults
        pio.renderers.default = EXPORT_RENDERER
    return str(pio.renderers.default)


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
