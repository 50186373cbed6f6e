"""Lab 06's figure: per number of client pods, what the clients admitted at once and what the server sidecar
held, for each server setting, with the server's own limit as a line."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from lablib.i18n import t
from lablib.labs.the_server_protects_itself.experiment import DR_ONLY, ServerRun
from lablib.labs.the_server_protects_itself.protocols import ProtocolRun
from lablib.notebook.tables import HTML

__all__ = ["protocol_table", "server_figure", "shown_file"]


def _name(limit: int | str, lang: str) -> str:
    if limit == DR_ONLY:
        return t("lab06.plot.dr_only", lang)
    return t("lab06.plot.sidecar", lang, limit=limit)


def server_figure(sweep: Mapping[int | str, Mapping[int, ServerRun]], *, server_limit: int,
                  lang: str = "en") -> go.Figure:
    """Held by the server (one trace per setting) and admitted by the clients (dashed), against clients."""
    fig = go.Figure()
    clients_done = False
    for limit, runs in sweep.items():
        counts = sorted(runs)
        fig.add_trace(go.Scatter(x=counts, y=[runs[n].server_peak for n in counts], mode="lines+markers",
                                 name=t("lab06.plot.held", lang, setting=_name(limit, lang))))
        if not clients_done:
            fig.add_trace(go.Scatter(x=counts, y=[runs[n].admitted for n in counts], mode="lines+markers",
                                     line={"dash": "dash", "color": "gray"},
                                     name=t("lab06.plot.admitted", lang)))
            clients_done = True
    fig.add_hline(y=server_limit, line={"dash": "dot", "color": "crimson"},
                  annotation_text=t("lab06.plot.limit", lang, limit=server_limit))
    fig.update_layout(title=t("lab06.plot.title", lang), xaxis_title=t("lab06.plot.x", lang),
                      yaxis_title=t("lab06.plot.y", lang), xaxis={"dtick": 1}, height=420)
    return fig


_CELL = "padding:2px 8px;border:1px solid #ddd;text-align:right"


def protocol_table(runs: Sequence[ProtocolRun], *, lang: str = "en") -> HTML:
    """Steps 2 and 3: per run, the rule, cold or warm, the calls and how many failed (503, or gRPC's ERROR
    with its statuses), the counter that rejected them, the app's peak and the upstream connections."""
    grpc = any(r.grpc for r in runs)
    heads = [t("lab06.protocols.col.rule", lang), t("lab06.protocols.col.run", lang),
             t("lab06.protocols.col.calls", lang),
             t("lab06.protocols.col.error", lang) if grpc else t("lab06.protocols.col.503", lang),
             t("lab06.protocols.col.share", lang)]
    heads += [t("lab06.protocols.col.status", lang)] if grpc else []
    heads += ["upstream_rq_active_overflow", "upstream_rq_pending_overflow",
              t("lab06.protocols.col.app", lang), t("lab06.protocols.col.connections", lang)]
    rows, lines = [], []
    for r in runs:
        when = t("lab06.protocols.cold", lang) if r.cold else t("lab06.protocols.warm", lang)
        cells = [r.rule, when, str(r.calls),
                 str(r.failed), f"{100 * r.share:.0f}%"]
        cells += [", ".join(f"{k} {v}" for k, v in sorted(r.grpc_errors.items())) or "–"] if grpc else []
        cells += [str(r.active_overflow), str(r.pending_overflow),
                  "–" if r.app_peak is None else str(r.app_peak), f"{r.opened} / {r.open}"]
        rows.append("<tr>" + "".join(f"<td style='{_CELL}'>{html.escape(c)}</td>" for c in cells) + "</tr>")
        lines.append(" | ".join(cells))
    head = "".join(f"<th style='{_CELL};background:#f6f8fa'>{html.escape(h)}</th>" for h in heads)
    table = (f"<table class='lablib-runs' style='border-collapse:collapse'><tr>{head}</tr>{''.join(rows)}"
             "</table>")
    return HTML(table, "\n".join([" | ".join(heads), *lines]))


def shown_file(text: str) -> HTML:
    """A manifest, a command list or istioctl's output as the student reads it: verbatim, in code font."""
    return HTML(f"<pre>{html.escape(text)}</pre>", text)
