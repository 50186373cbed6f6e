"""plotly figures for lab 02: each host in or out of the pool over time, the response codes underneath.

``timeline_figure`` draws one row per host (1 = in the load-balancing pool, 0 = ejected, shaded while out),
then a bottom row of stacked response-code bars per load slice (503s split by Envoy flag when known:
``503 UH`` no healthy upstream, ``503 UO`` breaker overflow). Ejections (red) and returns (green) are dashed
vertical lines across all rows; the lab's own actions (``Mark``) are grey lines labelled at the top.
"""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lablib.i18n import t
from lablib.labs.outlier_detection.timeline import Timeline

__all__ = ["CODE_COLORS", "timeline_figure"]

#: One color per response class, stable across figures so students learn them.
CODE_COLORS: dict[str, str] = {
    "200": "#2ca02c",
    "500": "#ff7f0e",
    "502": "#bcbd22",
    "503": "#d62728",
    "503 UH": "#7f0000",
    "503 UO": "#9467bd",
    "504": "#8c564b",
    "other": "#7f7f7f",
}
_EJECT, _RETURN, _MARK = "#d62728", "#2ca02c", "#7f7f7f"


def _code_series(tl: Timeline) -> dict[str, list[int]]:
    """Counts per slice for each code label; 503s with a UH/UO flag get their own label."""
    labels: dict[str, list[int]] = {}
    n = len(tl.codes)
    for i, c in enumerate(tl.codes):
        counts: dict[str, int] = {}
        special = {f: c.flags.get(f, 0) for f in ("UH", "UO")}
        for code, k in c.codes.items():
            if code == 503:
                for f, m in special.items():
                    take = min(m, k)
                    if take:
                        counts[f"503 {f}"] = counts.get(f"503 {f}", 0) + take
                        k -= take
            if k:
                label = str(code) if str(code) in CODE_COLORS else "other"
                counts[label] = counts.get(label, 0) + k
        for label, k in counts.items():
            labels.setdefault(label, [0] * n)[i] = k
    order = list(CODE_COLORS)
    return dict(sorted(labels.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def _full_height_line(fig: go.Figure, x: float, color: str, dash: str) -> None:
    """One vertical line across every row (the x axes are shared), not one per subplot."""
    fig.add_shape(type="line", x0=x, x1=x, xref="x", y0=0, y1=1, yref="paper",
                  line={"color": color, "dash": dash, "width": 1})


def timeline_figure(tl: Timeline, *, names: Mapping[str, str] | None = None, title: str | None = None,
                    cluster: str | None = None, lang: str = "en") -> go.Figure:
    """Per-host pool membership (from ``/clusters`` health flags) over time, response codes underneath.

    ``names`` maps host addresses to pod names for the row labels
    (``{"127.0.0.1:15001": "service-go-v1-0"}``).
    """
    names = dict(names or {})
    hosts = [(c, a) for c in ([cluster] if cluster else tl.clusters()) for a in tl.addresses(c)]
    rows = len(hosts) + 1
    heights = [0.5 / max(1, len(hosts))] * len(hosts) + [0.5]
    subtitles = [f"{names.get(a, a)}  ({a})" if a in names else a for _, a in hosts]
    subtitles.append(t("outlier.plot.responses_row", lang))
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, row_heights=heights, vertical_spacing=0.06,
                        subplot_titles=subtitles)
    for row, (c, a) in enumerate(hosts, start=1):
        series = tl.host_series(a, c)
        fig.add_trace(go.Scatter(x=[s.t for s in series], y=[1 if s.in_pool else 0 for s in series],
                                 mode="lines", line={"shape": "hv", "color": "#1f77b4", "width": 2},
                                 name=t("outlier.plot.in_pool", lang, host=names.get(a, a)), showlegend=False,
                                 hovertemplate=f"t=%{{x:.2f}}s in=%{{y}}<extra>{names.get(a, a)}</extra>"),
                      row=row, col=1)
        for p in tl.periods(address=a, cluster=c):
            fig.add_vrect(x0=p.start, x1=p.end if p.end is not None else tl.duration, fillcolor=_EJECT,
                          opacity=0.12, line_width=0, row=row, col=1)  # type: ignore[arg-type]
        fig.update_yaxes(range=[-0.2, 1.2], tickvals=[0, 1],
                         ticktext=[t("outlier.plot.out", lang), t("outlier.plot.in", lang)], row=row, col=1)
    x = [c.t for c in tl.codes]
    widths = [max(0.05, (c.t_end - c.t_start) * 0.9) for c in tl.codes]
    for label, counts in _code_series(tl).items():
        bar = go.Bar(x=x, y=counts, width=widths, name=label, marker_color=CODE_COLORS.get(label, "#7f7f7f"),
                     hovertemplate="t=%{x:.2f}s %{y} × " + label + "<extra></extra>")
        fig.add_trace(bar, row=rows, col=1)
    fig.update_layout(barmode="stack")
    for e in tl.events(cluster=cluster):
        color = _EJECT if e.kind == "ejected" else _RETURN
        _full_height_line(fig, e.t, color, "dash")
    for i, m in enumerate(tl.marks):
        _full_height_line(fig, m.t, _MARK, "dot")
        fig.add_annotation(x=m.t, y=1.0, yref="paper", text=m.label, showarrow=False, yanchor="bottom",
                           xanchor="left", yshift=24 + 13 * (i % 2), font={"size": 10, "color": _MARK})
    span = max(tl.duration, max((c.t_end for c in tl.codes), default=0.0), 1.0)
    step = next(d for d in (0.5, 1, 2, 5, 10, 30, 60, 120, 600) if span / d <= 12)
    fig.update_xaxes(tickmode="linear", tick0=0, dtick=step)  # whole seconds, not the bars' centres
    fig.update_xaxes(title_text=t("outlier.plot.time_axis", lang), row=rows, col=1)
    fig.update_yaxes(title_text=t("outlier.plot.calls_axis", lang), row=rows, col=1)
    clusters = sorted({c for c, _ in hosts})
    text = title or t("outlier.plot.title", lang)
    if clusters:
        text += f"<br><sub>{t('outlier.plot.cluster', lang, clusters=', '.join(clusters))}</sub>"
    fig.update_layout(title={"text": text}, height=300 + 110 * len(hosts), margin={"t": 140},
                      legend={"title": t("outlier.plot.legend", lang)},
                      template="plotly_white")
    return fig
