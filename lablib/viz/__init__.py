"""What the notebooks show: runs, plots, tables, checks, explanations and the interactive explorer.

One import idiom in the labs: ``import lablib.viz as viz``. Plots take plain data (``RunPoint``s and a
``TheoryOverlay``) so they are tested without Envoy; ``sweep``/``run_point`` and the explorer drive a ``Lab``.
Every function that writes text for the student takes ``lang`` (``"en"`` or ``"zh"``, from the notebook's
parameters cell; messages in ``lablib.i18n``). Taught in ``labs/01-circuit-breaking.ipynb``.
"""

from lablib.viz import checks
from lablib.viz.book import BOOK_LABEL, BOOK_RUNS, MANIFESTS, book_points
from lablib.viz.checks import Check
from lablib.viz.explain import why_more_than_limit, why_per_cluster, why_queueing, why_sockets, why_varies
from lablib.viz.knobs import SEED_KNOBS, BreakerKnobs, destination_rule, write_destination_rule
from lablib.viz.language import error_text, set_language
from lablib.viz.plots import (
    TheoryOverlay,
    add_point,
    admitted_figure,
    counters_figure,
    latency_figure,
    share_figure,
    update_theory,
)
from lablib.viz.progress import ProgressBar, progress_bar
from lablib.viz.runs import OVERFLOW_COUNTERS, RunPoint, admitted_concurrency, fortio_args, run_point, sweep
from lablib.viz.tables import HTML, cluster_yaml, comparison_table, limits_table, side_by_side
from lablib.viz.theory_view import (
    knob_limits,
    knob_theory,
    limits_for_files,
    overlay,
    overlay_for_config,
    timings,
)
from lablib.viz.widgets import BreakerExplorer

__all__ = [
    "BOOK_LABEL",
    "BOOK_RUNS",
    "HTML",
    "MANIFESTS",
    "OVERFLOW_COUNTERS",
    "SEED_KNOBS",
    "BreakerExplorer",
    "BreakerKnobs",
    "Check",
    "ProgressBar",
    "RunPoint",
    "TheoryOverlay",
    "add_point",
    "admitted_concurrency",
    "admitted_figure",
    "book_points",
    "checks",
    "cluster_yaml",
    "comparison_table",
    "counters_figure",
    "destination_rule",
    "error_text",
    "fortio_args",
    "knob_limits",
    "knob_theory",
    "latency_figure",
    "limits_for_files",
    "limits_table",
    "overlay",
    "overlay_for_config",
    "progress_bar",
    "run_point",
    "set_language",
    "share_figure",
    "side_by_side",
    "sweep",
    "timings",
    "update_theory",
    "why_more_than_limit",
    "why_per_cluster",
    "why_queueing",
    "why_sockets",
    "why_varies",
    "write_destination_rule",
]
