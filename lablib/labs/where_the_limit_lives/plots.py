"""Lab 03's figures and tables, from plain data (``LimitPoint``, ``ClientsRun``, theory's ``ClusterLimits``).

Figures are plotly (``widget=True``: a ``FigureWidget`` the explorer updates in place); tables are
``lablib.notebook.tables.HTML``. Every word comes from the catalogue in ``lang``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from lablib.i18n import t
from lablib.labs.where_the_limit_lives.experiment import ClientsRun, LimitPoint
from lablib.notebook.export import figure_widget
from lablib.notebook.tables import HTML
from lablib.theory.limits import ClusterLimits, limit_band, overflow_onset, theoretical_limit

__all__ = ["add_run", "clients_figure", "clusters_table", "explorer_figure", "routes_figure",
           "workers_figure"]

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_CELL = "padding:2px 8px;border:1px solid #ddd;text-align:right"


def _fig(widget: bool, **layout: object) -> go.Figure:
    fig = figure_widget() if widget else go.Figure()
    fig.update_layout(template="plotly_white", height=420, legend={"orientation": "h", "y": -0.2}, **layout)
    return fig


def routes_figure(points: Mapping[str, Sequence[LimitPoint]], limits: Mapping[str, Sequence[ClusterLimits]],
                  *, lang: str = "en") -> go.Figure:
    """503 share vs ``-c`` per route, each with its own L (dashed) and, when it differs, where the first of
    its clusters overflows (dotted: a 90/10 split's small subset is not what trips first, the big one is)."""
    fig = _fig(False, title=t("limits.plot.routes_title", lang),
               xaxis_title=t("notebook.plot.concurrency_axis", lang),
               yaxis_title=t("notebook.plot.share_axis", lang),
               yaxis_range=[-3, 103])
    for i, (route, pts) in enumerate(points.items()):
        color = _PALETTE[i % len(_PALETTE)]
        fig.add_scatter(x=[p.concurrency for p in pts], y=[100 * p.share_503 for p in pts], mode="markers",
                        name=t("limits.plot.route", lang, route=route), marker={"color": color, "size": 9})
        lim = limits.get(route, ())
        limit, onset = theoretical_limit(lim), overflow_onset(lim)
        fig.add_scatter(x=[limit, limit], y=[0, 100], mode="lines", line={"color": color, "dash": "dash"},
                        name=t("limits.plot.route_limit", lang, route=route, limit=limit))
        if onset < limit - 0.5:
            fig.add_scatter(x=[onset, onset], y=[0, 100], mode="lines", line={"color": color, "dash": "dot"},
                            name=t("limits.plot.route_onset", lang, route=route, onset=onset))
    return fig


def _short(cluster: str) -> str:
    """``outbound|80|v1|service-go…`` -> ``v1``; the route's one cluster -> ``service-go``."""
    parts = cluster.split("|")
    return (parts[2] or parts[3].split(".")[0]) if len(parts) == 4 else cluster


def clusters_table(points: Mapping[str, Sequence[LimitPoint]], *, lang: str = "en") -> HTML:
    """Per route and concurrency: what each Envoy cluster carried and how many 503s its own breaker made
    (the first repeat of each concurrency)."""
    head = "".join(f"<th style='{_CELL}'>{html.escape(h)}</th>" for h in (
        t("limits.table.route", lang), "c", t("limits.table.cluster", lang), "upstream_rq_total",
        "upstream_rq_pending_overflow", t("limits.table.share", lang)))
    rows, text = [], []
    for route, pts in points.items():
        for p in pts:
            if p.repeat:
                continue
            for cluster, counters in p.clusters.items():
                total = counters.get("upstream_rq_total", 0)
                if not total and not p.overflowed(cluster):
                    continue
                cells = (route, p.concurrency, _short(cluster), total,
                         counters.get("upstream_rq_pending_overflow", 0), f"{100 * p.share_503:.0f}%")
                rows.append("<tr>" + "".join(f"<td style='{_CELL}'>{html.escape(str(v))}</td>" for v in cells)
                            + "</tr>")
                text.append(" | ".join(str(v) for v in cells))
    return HTML(f"<table style='border-collapse:collapse'><tr>{head}</tr>{''.join(rows)}</table>",
                "\n".join(text))


def clients_figure(runs: Mapping[int, ClientsRun], *, one_client_in_flight: float, server_limit: float,
                   lang: str = "en") -> go.Figure:
    """Per number of client pods: the most requests each server pod's sidecar held at once (bars), next to
    one client's in-flight limit and the server sidecar's own L (lines); server-side 503s in the hover."""
    fig = _fig(False, title=t("limits.plot.clients_title", lang), barmode="group",
               xaxis_title=t("limits.plot.clients_axis", lang), yaxis_title=t("limits.plot.held_axis", lang))
    pods = sorted({pod for r in runs.values() for pod in r.peak})
    xs = [str(n) for n in runs]
    for i, pod in enumerate(pods):
        fig.add_bar(x=xs, y=[r.peak.get(pod, 0) for r in runs.values()], name=pod,
                    marker_color=_PALETTE[i % len(_PALETTE)],
                    customdata=[r.server_overflows for r in runs.values()],
                    hovertemplate=t("limits.plot.clients_hover", lang, held="%{y}", server="%{customdata}")
                    + "<extra>" + pod + "</extra>")
    lines = ((one_client_in_flight, t("limits.plot.one_client", lang, limit=one_client_in_flight), "dash"),
             (server_limit, t("limits.plot.server_limit", lang, limit=server_limit), "dot"))
    for y, name, dash in lines:
        fig.add_scatter(x=xs, y=[y] * len(xs), mode="lines", line={"color": "black", "dash": dash}, name=name)
    return fig


def workers_figure(points: Mapping[int, Sequence[LimitPoint]], limits: Mapping[int, Sequence[ClusterLimits]],
                   *, lang: str = "en") -> go.Figure:
    """Per worker count: the most requests the client sidecar admitted at once (markers, one per run)
    inside the band theory draws for that many workers (shaded), and the exact breaker's L (dashed)."""
    fig = _fig(False, title=t("limits.plot.workers_title", lang),
               xaxis_title=t("limits.plot.workers_axis", lang),
               yaxis_title=t("limits.plot.admitted_axis", lang))
    ws = list(points)
    bands = [limit_band(limits[w]) for w in ws]
    fig.add_scatter(x=ws + ws[::-1], y=[b[1] for b in bands] + [b[0] for b in bands][::-1], fill="toself",
                    mode="none", fillcolor="rgba(255,165,0,0.2)", name=t("notebook.plot.theory_band", lang))
    fig.add_scatter(x=ws, y=[theoretical_limit(limits[w]) for w in ws], mode="lines",
                    line={"color": "orange", "dash": "dash"}, name=t("notebook.plot.theory_limit", lang))
    xs = [w for w in ws for _ in points[w]]
    fig.add_scatter(x=xs, y=[p.admitted_peak for w in ws for p in points[w]], mode="markers",
                    marker={"size": 10, "color": _PALETTE[0]}, name=t("limits.plot.admitted_peak", lang))
    fig.add_scatter(x=xs, y=[p.connections_peak for w in ws for p in points[w]], mode="markers",
                    marker={"size": 8, "symbol": "x", "color": _PALETTE[1]},
                    name=t("limits.plot.connections_peak", lang))
    fig.update_xaxes(tickvals=ws)
    return fig


def explorer_figure(*, lang: str = "en") -> go.FigureWidget:
    """The explorer's plot: 503 share vs the clients' total concurrency, a trace per setting."""
    return _fig(True, title=t("limits.explorer.title", lang), xaxis_title=t("limits.plot.total_axis", lang),
                yaxis_title=t("notebook.plot.share_axis", lang), yaxis_range=[-3, 103])


def add_run(fig: go.Figure, label: str, run: ClientsRun) -> None:
    """One explorer run as a point of its setting's trace (made on first use), in place."""
    trace = next((tr for tr in fig.data if tr.name == label), None)
    x, y = run.concurrency, 100 * run.share_503
    if trace is None:
        fig.add_scatter(x=[x], y=[y], mode="markers", name=label,
                        marker={"size": 11, "color": _PALETTE[len(fig.data) % len(_PALETTE)]})
        return
    with fig.batch_update():
        trace.x, trace.y = (*trace.x, x), (*trace.y, y)
