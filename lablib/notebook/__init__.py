"""The notebook kit: what every lab's notebook uses, whatever it teaches.

Language (``set_language``: lab errors as one line in the notebook's language), the parameters cell read
and typed (``parameters.read``), predictions (``predict``: ask before a run, compare after it), exercises
(``exercise``: the student writes the rule, the lab grades it) and their ``summary``, progress bars, runs
(``RunPoint``, ``run_point``, ``sweep``), checks (``Check``: a verdict and what to do when it fails), tables,
plots of the 503 share against the theory, the theory overlay, the book's published runs, and what the
explorers share. Each lab's own logic lives in ``lablib.labs.<lab>`` and builds on this; nothing here imports
a lab. Every function that writes text for the student takes ``lang`` (``"en"`` or ``"zh"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lablib import _lazy

if TYPE_CHECKING:
    from lablib.lab_defaults import MANIFESTS
    from lablib.notebook import checks, exercise, parameters, predict, summary
    from lablib.notebook.book import BOOK_LABEL, BOOK_RUNS, book_points
    from lablib.notebook.checks import Check
    from lablib.notebook.exercise_widget import show_exercise
    from lablib.notebook.explorer import error_html
    from lablib.notebook.language import error_text, set_language
    from lablib.notebook.plots import (
        TheoryOverlay,
        add_point,
        admitted_figure,
        counters_figure,
        latency_figure,
        share_figure,
        update_theory,
    )
    from lablib.notebook.predict import compare
    from lablib.notebook.predict_widget import ask
    from lablib.notebook.progress import ProgressBar, progress_bar
    from lablib.notebook.runs import (
        OVERFLOW_COUNTERS,
        SERVICE_CLUSTER,
        RunPoint,
        admitted_concurrency,
        fortio_args,
        run_point,
        sweep,
    )
    from lablib.notebook.tables import HTML, cluster_yaml, comparison_table, limits_table, side_by_side
    from lablib.notebook.theory_view import (
        limits_for_files,
        limits_for_objects,
        limits_with_rule,
        overlay,
        overlay_for_config,
        timings,
    )

#: Where each name of the kit lives. Loaded on first use (PEP 562), so a lab imports only the parts it uses:
#: lab 04 needs no ipywidgets or plotly (0.1 s of its first cell).
_HOMES = {
    "MANIFESTS": "lablib.lab_defaults",
    **dict.fromkeys(("checks", "exercise", "parameters", "predict", "summary"), None),
    **dict.fromkeys(("BOOK_LABEL", "BOOK_RUNS", "book_points"), "lablib.notebook.book"),
    "Check": "lablib.notebook.checks",
    "show_exercise": "lablib.notebook.exercise_widget",
    "error_html": "lablib.notebook.explorer",
    **dict.fromkeys(("error_text", "set_language"), "lablib.notebook.language"),
    **dict.fromkeys(("TheoryOverlay", "add_point", "admitted_figure", "counters_figure", "latency_figure",
                     "share_figure", "update_theory"), "lablib.notebook.plots"),
    "compare": "lablib.notebook.predict",
    "ask": "lablib.notebook.predict_widget",
    **dict.fromkeys(("ProgressBar", "progress_bar"), "lablib.notebook.progress"),
    **dict.fromkeys(("OVERFLOW_COUNTERS", "SERVICE_CLUSTER", "RunPoint", "admitted_concurrency",
                     "fortio_args", "run_point", "sweep"), "lablib.notebook.runs"),
    **dict.fromkeys(("HTML", "cluster_yaml", "comparison_table", "limits_table", "side_by_side"),
                    "lablib.notebook.tables"),
    **dict.fromkeys(("limits_for_files", "limits_for_objects", "limits_with_rule", "overlay",
                     "overlay_for_config", "timings"), "lablib.notebook.theory_view"),
}


__getattr__ = _lazy.loader(__name__, _HOMES, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "BOOK_LABEL",
    "BOOK_RUNS",
    "HTML",
    "MANIFESTS",
    "OVERFLOW_COUNTERS",
    "SERVICE_CLUSTER",
    "Check",
    "ProgressBar",
    "RunPoint",
    "TheoryOverlay",
    "add_point",
    "admitted_concurrency",
    "admitted_figure",
    "ask",
    "book_points",
    "checks",
    "cluster_yaml",
    "compare",
    "comparison_table",
    "counters_figure",
    "error_html",
    "error_text",
    "exercise",
    "fortio_args",
    "latency_figure",
    "limits_for_files",
    "limits_for_objects",
    "limits_table",
    "limits_with_rule",
    "overlay",
    "overlay_for_config",
    "parameters",
    "predict",
    "progress_bar",
    "run_point",
    "set_language",
    "share_figure",
    "show_exercise",
    "side_by_side",
    "summary",
    "sweep",
    "timings",
    "update_theory",
]
