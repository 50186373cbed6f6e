"""plotly figures for the circuit-breaking lab, from plain data (``RunPoint``s and a ``TheoryOverlay``).

Every function returns a ``plotly.graph_objects.Figure``; pass ``widget=True`` for a ``FigureWidget`` that the
explorer (lab 01's) updates in place. Trace names are stable (``ours: <label>``, ``theory: …``)
because the explorer finds traces by name to add points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import plotly.graph_objects as go

from lablib.i18n import t
from lablib.notebook.book import is_book
from lablib.notebook.export import figure_widget
from lablib.notebook.runs import OVERFLOW_COUNTERS, RunPoint, by_label

__all__ = [
    "PERCENTILES",
    "TheoryOverlay",
    "add_point",
    "admitted_figure",
    "counters_figure",
    "latency_figure",
    "share_figure",
    "update_theory",
]

#: fortio's default ``-p`` targets, the ones the book printed.
PERCENTILES: tuple[float, ...] = (50.0, 75.0, 90.0, 99.0, 99.9)

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_BOOK_COLOR = "#7f7f7f"
# Trace names in English (tests and notebooks find traces by name); other languages: ``t(key, lang)``.
THEORY_BOUND = t("notebook.plot.theory_bound")
THEORY_SIM = t("notebook.plot.theory_sim")
THEORY_LIMIT = t("notebook.plot.theory_limit")
THEORY_BAND = t("notebook.plot.theory_band")


@dataclass(frozen=True)
class TheoryOverlay:
    """What theory says for one rule: the limit L, the band real Envoy may admit, and curves of the 503 share.

    ``bound`` and ``simulated`` are ``(concurrency, share 0..1)`` pairs.
    """

    limit: float
    band: tuple[float, float] | None = None
    bound: Sequence[tuple[float, float]] = field(default_factory=tuple)
    simulated: Sequence[tuple[float, float]] = field(default_factory=tuple)
    label: str = ""


#: Where an unlimited band edge is drawn (the explorer's concurrency slider ends at 100).
_FAR = 1000.0


def _finite(value: float | None) -> float | None:
    """``value``, or None when it is None or infinite (an unlimited rule has no line to draw)."""
    return value if value is not None and math.isfinite(value) else None


def _band_x(theory: TheoryOverlay | None) -> list[float | None]:
    if theory is None or not theory.band or _finite(theory.band[0]) is None:
        return [None] * 5
    low, high = theory.band[0], min(theory.band[1], _FAR)
    return [low, high, high, low, low]


def _fig(widget: bool, **layout: object) -> go.Figure:
    fig = figure_widget() if widget else go.Figure()
    defaults: dict[str, object] = {
        "template": "plotly_white",
        "height": 420,
        "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
    }
    fig.update_layout(**{**defaults, **layout})
    return fig


def _color(i: int, label: str) -> str:
    return _BOOK_COLOR if is_book(label) else _PALETTE[i % len(_PALETTE)]


def _ours(label: str, lang: str) -> str:
    return label if is_book(label) else t("notebook.plot.ours", lang, label=label)


def share_figure(
    points: Iterable[RunPoint],
    theory: TheoryOverlay | None = None,
    *,
    widget: bool = False,
    title: str | None = None,
    lang: str = "en",
) -> go.Figure:
    """503 share (%) vs fortio's ``-c``: a marker per run (repeats show the spread); theory: lines, band."""
    fig = _fig(
        widget,
        title=t("notebook.plot.share_title", lang) if title is None else title,
        xaxis_title=t("notebook.plot.concurrency_axis", lang),
        yaxis_title=t("notebook.plot.share_axis", lang),
        yaxis_range=[-3, 103],
    )
    _theory_traces(fig, theory, lang)
    for i, (label, pts) in enumerate(by_label(points).items()):
        fig.add_scatter(
            x=[p.concurrency for p in pts],
            y=[100 * p.share_503 for p in pts],
            mode="markers",
            name=_ours(label, lang),
            marker={
                "color": _color(i, label),
                "size": 9,
                "symbol": "diamond" if is_book(label) else "circle",
            },
            hovertemplate="c=%{x}<br>503: %{y:.1f}%<extra>" + label + "</extra>",
        )
    return fig


def _theory_traces(fig: go.Figure, theory: TheoryOverlay | None, lang: str) -> None:
    """Theory as traces (not shapes) so a FigureWidget can move them in place when the DR knobs move."""
    limit = _finite(theory.limit) if theory else None
    fig.add_scatter(
        x=_band_x(theory),
        y=[0, 0, 100, 100, 0],
        fill="toself",
        mode="none",
        fillcolor="rgba(255,165,0,0.15)",
        name=t("notebook.plot.theory_band", lang),
        hoverinfo="skip",
    )
    fig.add_scatter(
        x=[limit, limit],
        y=[0, 100],
        mode="lines",
        name=t("notebook.plot.theory_limit", lang),
        line={"color": "orange", "dash": "dash"},
    )
    fig.add_scatter(
        x=[c for c, _ in theory.bound] if theory else [],
        y=[100 * s for _, s in theory.bound] if theory else [],
        mode="lines",
        name=t("notebook.plot.theory_bound", lang),
        line={"color": "black", "width": 1.5},
    )
    fig.add_scatter(
        x=[c for c, _ in theory.simulated] if theory else [],
        y=[100 * s for _, s in theory.simulated] if theory else [],
        mode="lines",
        name=t("notebook.plot.theory_sim", lang),
        line={"color": "black", "dash": "dot"},
    )


def _trace(fig: go.Figure, name: str) -> go.Scatter | None:
    for trace in fig.data:
        if trace.name == name:
            return trace
    return None


def update_theory(fig: go.Figure, theory: TheoryOverlay, *, lang: str = "en") -> None:
    """Move the theory traces of a ``share_figure`` drawn in ``lang`` (in place: a FigureWidget redraws)."""
    with fig.batch_update():
        _trace(fig, t("notebook.plot.theory_band", lang)).x = _band_x(theory)
        limit = _finite(theory.limit)
        _trace(fig, t("notebook.plot.theory_limit", lang)).x = [limit, limit]
        bound = _trace(fig, t("notebook.plot.theory_bound", lang))
        sim = _trace(fig, t("notebook.plot.theory_sim", lang))
        bound.x, bound.y = [c for c, _ in theory.bound], [100 * s for _, s in theory.bound]
        sim.x, sim.y = [c for c, _ in theory.simulated], [100 * s for _, s in theory.simulated]


def add_point(fig: go.Figure, point: RunPoint, *, color: str = "#17becf", lang: str = "en") -> None:
    """Append one run to a ``share_figure`` (drawn in ``lang``) in place, creating the label's trace once."""
    name = _ours(point.label, lang)
    trace = _trace(fig, name)
    if trace is None:
        fig.add_scatter(
            x=[point.concurrency],
            y=[100 * point.share_503],
            mode="markers",
            name=name,
            marker={"color": color, "size": 11, "symbol": "star"},
        )
        return
    with fig.batch_update():
        trace.x = (*trace.x, point.concurrency)
        trace.y = (*trace.y, 100 * point.share_503)


def latency_figure(
    points: Iterable[RunPoint],
    *,
    percentiles: Sequence[float] = PERCENTILES,
    widget: bool = False,
    lang: str = "en",
) -> go.Figure:
    """Latency percentiles (ms) vs concurrency, one line per percentile and rule (mean over repeats)."""
    fig = _fig(
        widget,
        title=t("notebook.plot.latency_title", lang),
        xaxis_title=t("notebook.plot.concurrency_axis", lang),
        yaxis_title=t("notebook.plot.latency_axis", lang),
    )
    dashes = ("solid", "dash", "dot", "dashdot")
    for i, (label, pts) in enumerate(by_label(points).items()):
        conc = sorted({p.concurrency for p in pts})
        for j, q in enumerate(percentiles):
            ys = []
            for c in conc:
                vals = [_percentile(p.result, q) for p in pts if p.concurrency == c]
                vals = [v for v in vals if v is not None]
                ys.append(1000 * sum(vals) / len(vals) if vals else None)
            fig.add_scatter(
                x=conc,
                y=ys,
                mode="lines+markers",
                name=f"{_ours(label, lang)} p{q:g}",
                legendgroup=label,
                line={"color": _PALETTE[j % len(_PALETTE)], "dash": dashes[i % len(dashes)]},
            )
    return fig


def _percentile(result: object, q: float) -> float | None:
    table = getattr(result, "percentiles", {}) or {}
    for key, value in table.items():
        if abs(float(key) - q) < 1e-9:
            return float(value)
    return None


def admitted_figure(
    points: Iterable[RunPoint],
    theory: TheoryOverlay | None = None,
    *,
    widget: bool = False,
    lang: str = "en",
) -> go.Figure:
    """Requests inside the breaker (Little's law on the 200s) vs concurrency, with L and the band drawn."""
    pts = list(points)
    top = max([p.concurrency for p in pts] + [10])
    fig = _fig(
        widget,
        title=t("notebook.plot.admitted_title", lang),
        xaxis_title=t("notebook.plot.concurrency_axis", lang),
        yaxis_title=t("notebook.plot.admitted_axis", lang),
    )
    fig.add_scatter(
        x=[0, top],
        y=[0, top],
        mode="lines",
        name=t("notebook.plot.no_breaker", lang),
        line={"color": "lightgray", "dash": "dot"},
    )
    if theory is not None:
        if theory.band and _finite(theory.band[0]) is not None:
            high = min(theory.band[1], float(top))
            fig.add_scatter(
                x=[0, top, top, 0, 0],
                y=[theory.band[0], theory.band[0], high, high, theory.band[0]],
                fill="toself",
                mode="none",
                fillcolor="rgba(255,165,0,0.15)",
                name=t("notebook.plot.theory_band", lang),
            )
        fig.add_scatter(
            x=[0, top],
            y=[_finite(theory.limit)] * 2,
            mode="lines",
            name=t("notebook.plot.theory_limit", lang),
            line={"color": "orange", "dash": "dash"},
        )
    for i, (label, group) in enumerate(by_label(pts).items()):
        kept = [p for p in group if p.admitted is not None]
        fig.add_scatter(
            x=[p.concurrency for p in kept],
            y=[p.admitted for p in kept],
            mode="markers",
            name=_ours(label, lang),
            marker={"color": _color(i, label), "size": 9},
        )
    return fig


def counters_figure(points: Iterable[RunPoint], *, widget: bool = False, lang: str = "en") -> go.Figure:
    """For each run: fortio's 503 count next to the Envoy counters that tripped, so every 503 is explained.

    The two rejecting counters (pending and active overflow) are stacked: their sum should match the 503 bar.
    ``upstream_cx_overflow`` makes requests wait, not fail, so it stands apart.
    """
    pts = [p for p in points if p.overflows]
    # Two-level axis: the rule under its runs, so long rule names stay readable.
    xs = [
        [p.label for p in pts],
        [f"c={p.concurrency}" + (f" #{p.repeat + 1}" if p.repeat else "") for p in pts],
    ]
    fig = _fig(
        widget,
        title=t("notebook.plot.counters_title", lang),
        yaxis_title=t("notebook.plot.count_axis", lang),
        barmode="relative",
        height=460,
    )
    fig.add_bar(
        x=xs,
        y=[p.result.codes.get(503, 0) for p in pts],
        name=t("notebook.plot.responses_503", lang),
        marker_color="#444",
        offsetgroup="503",
        width=0.25,
    )
    colors = {
        "upstream_rq_pending_overflow": "#d62728",
        "upstream_rq_active_overflow": "#ff7f0e",
        "upstream_cx_overflow": "#1f77b4",
    }
    for name in OVERFLOW_COUNTERS:
        group = "cx" if name == "upstream_cx_overflow" else "rq"
        fig.add_bar(
            x=xs,
            y=[p.overflows.get(name, 0) for p in pts],
            name=name,
            marker_color=colors[name],
            offsetgroup=group,
            width=0.25,
        )
    return fig
