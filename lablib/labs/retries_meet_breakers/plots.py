"""Lab 05's figures and tables, from plain data (``RetryRun``s and the theory of ``theory``).

Figures are plotly (``widget=True``: a ``FigureWidget`` the explorer updates in place; trace names are
stable so the explorer finds them); tables are ``lablib.notebook.tables.HTML``. Every word comes from the
catalogue in ``lang``.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from lablib import _yamlio
from lablib.i18n import t
from lablib.labs.retries_meet_breakers.experiment import RetryRun
from lablib.labs.retries_meet_breakers.theory import amplification, amplification_band, failed_share
from lablib.notebook.export import figure_widget
from lablib.notebook.tables import HTML

__all__ = ["EXPLORER_AMPLIFICATION", "EXPLORER_SHARE", "add_point", "amplification_figure", "band_text",
           "breakers_of", "counters_table",
           "explorer_figures", "hosts_table", "latency_figure", "limiters_figure", "policy_table",
           "share_figure", "theory_curve"]

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_CELL = "padding:2px 8px;border:1px solid #ddd;text-align:right"
_THEORY = "orange"
#: The explorer's two figures, by role (its traces: one per setting, and the theory's curve).
EXPLORER_AMPLIFICATION = "amplification"
EXPLORER_SHARE = "share"
#: Retries drawn on the theory's curves (N from 0 to 5, as the explorer's slider).
CURVE_N = tuple(range(6))


def _fig(widget: bool, **layout: object) -> go.Figure:
    fig = figure_widget() if widget else go.Figure()
    fig.update_layout(template="plotly_white", height=400, legend={"orientation": "h", "y": -0.25}, **layout)
    return fig


def _mean_p(runs: Sequence[RetryRun]) -> float:
    measured = [r for r in runs if r.reached]
    return sum(r.failure_fraction for r in measured) / len(measured) if measured else 0.0


def theory_curve(p: float, kind: str = EXPLORER_AMPLIFICATION) -> tuple[list[int], list[float]]:
    """The theory for failure fraction ``p`` at N = 0…5: amplification, or the 503 share in percent."""
    if kind == EXPLORER_AMPLIFICATION:
        return list(CURVE_N), [amplification(p, n) for n in CURVE_N]
    return list(CURVE_N), [100 * failed_share(p, n) for n in CURVE_N]


def amplification_figure(runs: Sequence[RetryRun], *, lang: str = "en") -> go.Figure:
    """Requests reaching service-go per client call against ``attempts`` (markers), next to the theory for
    each run's measured failure fraction (its band: the run's sampling error) and the curve for their mean."""
    fig = _fig(False, title=t("retries.plot.amplification_title", lang),
               xaxis_title=t("retries.plot.attempts_axis", lang),
               yaxis_title=t("retries.plot.amplification_axis", lang))
    p = _mean_p(runs)
    xs, ys = theory_curve(p)
    fig.add_scatter(x=xs, y=ys, mode="lines", line={"color": _THEORY, "dash": "dash"},
                    name=t("retries.plot.theory_curve", lang, p=100 * p))
    bands = [r.band() for r in runs]
    mids = [amplification(r.failure_fraction, r.attempts) for r in runs]
    fig.add_scatter(x=[r.attempts for r in runs], y=mids, mode="markers",
                    marker={"color": _THEORY, "symbol": "line-ew-open", "size": 18},
                    error_y={"type": "data", "symmetric": False,
                             "array": [b[1] - m for b, m in zip(bands, mids, strict=True)],
                             "arrayminus": [m - b[0] for b, m in zip(bands, mids, strict=True)]},
                    name=t("retries.plot.theory_band", lang))
    fig.add_scatter(x=[r.attempts for r in runs], y=[r.amplification for r in runs], mode="markers",
                    marker={"color": _PALETTE[0], "size": 11}, name=t("retries.plot.measured", lang),
                    customdata=[[100 * r.failure_fraction, r.reached, r.calls] for r in runs],
                    hovertemplate=t("retries.plot.amplification_hover", lang, p="%{customdata[0]:.0f}",
                                    reached="%{customdata[1]}", calls="%{customdata[2]}") + "<extra></extra>")
    fig.update_xaxes(tickvals=list(CURVE_N))
    return fig


def share_figure(runs: Sequence[RetryRun], *, lang: str = "en") -> go.Figure:
    """The client's 503 share against ``attempts``, next to theory's ``pᴺ⁺¹`` for the measured fraction."""
    fig = _fig(False, title=t("retries.plot.share_title", lang),
               xaxis_title=t("retries.plot.attempts_axis", lang),
               yaxis_title=t("notebook.plot.share_axis", lang),
               yaxis_range=[-3, 103])
    xs, ys = theory_curve(_mean_p(runs), EXPLORER_SHARE)
    fig.add_scatter(x=xs, y=ys, mode="lines", line={"color": _THEORY, "dash": "dash"},
                    name=t("retries.plot.theory_share", lang))
    fig.add_scatter(x=[r.attempts for r in runs], y=[100 * r.share_503 for r in runs], mode="markers",
                    marker={"color": _PALETTE[1], "size": 11}, name=t("retries.plot.measured", lang))
    fig.update_xaxes(tickvals=list(CURVE_N))
    return fig


def latency_figure(runs: Sequence[RetryRun], *, lang: str = "en") -> go.Figure:
    """The client's latency percentiles (fortio's p50, p90, p99) against ``attempts``."""
    fig = _fig(False, title=t("retries.plot.latency_title", lang),
               xaxis_title=t("retries.plot.attempts_axis", lang),
               yaxis_title=t("retries.plot.latency_axis", lang))
    for i, q in enumerate((50.0, 90.0, 99.0)):
        fig.add_scatter(x=[r.attempts for r in runs], y=[r.percentiles_ms.get(q, 0.0) for r in runs],
                        mode="lines+markers", name=f"p{q:g}", line={"color": _PALETTE[i]})
    fig.update_xaxes(tickvals=list(CURVE_N))
    return fig


def limiters_figure(sweeps: Mapping[str, Sequence[RetryRun]], *, lang: str = "en") -> go.Figure:
    """Amplification against the client's ``-c`` for each rule (no limit, ``maxRetries``, a budget): a fixed
    breaker cuts retries once the load grows; a budget grows with it. Hover: retries refused."""
    fig = _fig(False, title=t("retries.plot.limiters_title", lang),
               xaxis_title=t("notebook.plot.concurrency_axis", lang),
               yaxis_title=t("retries.plot.amplification_axis", lang))
    for i, (label, runs) in enumerate(sweeps.items()):
        fig.add_scatter(x=[r.concurrency for r in runs], y=[r.amplification for r in runs],
                        mode="lines+markers", name=label, line={"color": _PALETTE[i % len(_PALETTE)]},
                        customdata=[[r.retry_overflow, 100 * r.share_503] for r in runs],
                        hovertemplate=t("retries.plot.limiters_hover", lang, overflow="%{customdata[0]}",
                                        share="%{customdata[1]:.0f}") + "<extra>" + html.escape(label)
                        + "</extra>")
    fig.update_xaxes(type="log")
    return fig


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> HTML:
    cells = "".join(f"<th style='{_CELL}'>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td style='{_CELL}'>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    text = "\n".join(" | ".join(str(v) for v in row) for row in [list(head), *rows])
    return HTML(f"<table style='border-collapse:collapse'><tr>{cells}</tr>{body}</table>", text)


def counters_table(runs: Mapping[str, RetryRun] | Sequence[RetryRun], counters: Sequence[str], *,
                   lang: str = "en") -> HTML:
    """One row per run: label, ``-c``, calls, the client's codes, what reached service-go and ``counters``
    (the client sidecar's, by Envoy's names)."""
    items = list(runs.values()) if isinstance(runs, Mapping) else list(runs)
    head = [t("retries.table.run", lang), "c", t("retries.table.calls", lang), t("retries.table.codes", lang),
            t("retries.table.reached", lang), *counters]
    rows = [[r.label, r.concurrency, r.calls, ", ".join(f"{k}: {v}" for k, v in sorted(r.codes.items())),
             r.reached, *(r.client.get(c, 0) for c in counters)] for r in items]
    return _table(head, rows)


def policy_table(policy: Mapping[str, Any], *, lang: str = "en") -> HTML:
    """The retry policy and timeout a client sidecar runs, field by field (``-``: not set)."""
    retry = policy.get("retry_policy") or {}
    predicates = [p.get("name", "") for p in retry.get("retry_host_predicate") or ()]
    rows = [["timeout", policy.get("timeout") or "-"],
            ["retry_on", retry.get("retry_on") or "-"],
            ["num_retries", retry.get("num_retries", "-")],
            ["retriable_status_codes",
             ", ".join(str(c) for c in retry.get("retriable_status_codes") or ()) or "-"],
            ["per_try_timeout", retry.get("per_try_timeout") or "-"],
            ["retry_host_predicate", ", ".join(predicates) or "-"],
            ["host_selection_retry_max_attempts", retry.get("host_selection_retry_max_attempts", "-")]]
    if not retry:
        rows[1:] = [["retry_policy", t("retries.table.no_policy", lang)]]
    return _table([t("retries.table.field", lang), t("retries.table.value", lang)], rows)


def hosts_table(run: RetryRun, addresses: Mapping[str, str], *, lang: str = "en") -> HTML:
    """The fortio pod's responses of ``run`` by code, Envoy's flags, attempts and the pod that gave the last
    answer (``addresses``: upstream host -> pod), with ``x-envoy-overloaded`` when the answer carried it."""
    counts = Counter((r.code, r.flags, r.attempts, addresses.get(r.upstream_host, r.upstream_host or "-"),
                      "true" if r.overloaded else "-") for r in run.records)
    head = [t("retries.table.code", lang), t("retries.table.flags", lang), t("retries.table.attempts", lang),
            t("retries.table.last_pod", lang), "x-envoy-overloaded", t("retries.table.responses", lang)]
    rows = [[*key, n] for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return _table(head, rows)


def explorer_figures(p: float, *, lang: str = "en") -> dict[str, go.FigureWidget]:
    """The explorer's amplification and 503-share figures against ``attempts``, with theory's curves for a
    failure fraction ``p`` (updated when the fraction changes)."""
    figs = {
        EXPLORER_AMPLIFICATION: _fig(True, title=t("retries.explorer.amplification_title", lang),
                                     xaxis_title=t("retries.plot.attempts_axis", lang),
                                     yaxis_title=t("retries.plot.amplification_axis", lang)),
        EXPLORER_SHARE: _fig(True, title=t("retries.explorer.share_title", lang),
                             xaxis_title=t("retries.plot.attempts_axis", lang),
                             yaxis_title=t("notebook.plot.share_axis", lang), yaxis_range=[-3, 103]),
    }
    for kind, fig in figs.items():
        xs, ys = theory_curve(p, kind)
        fig.add_scatter(x=xs, y=ys, mode="lines", line={"color": _THEORY, "dash": "dash"},
                        name=t("retries.plot.theory_curve", lang, p=100 * p))
        fig.update_xaxes(tickvals=list(CURVE_N))
    return figs


def add_point(figs: Mapping[str, go.Figure], label: str, run: RetryRun, *, theory_p: float, lang: str = "en"
              ) -> None:
    """One explorer run as a point of its setting's trace in both figures (made on first use), and the
    theory's curves redrawn for ``theory_p``, in place."""
    values = {EXPLORER_AMPLIFICATION: run.amplification, EXPLORER_SHARE: 100 * run.share_503}
    for kind, fig in figs.items():
        xs, ys = theory_curve(theory_p, kind)
        with fig.batch_update():
            theory = fig.data[0]
            theory.x, theory.y = xs, ys
            theory.name = t("retries.plot.theory_curve", lang, p=100 * theory_p)
            trace = next((tr for tr in fig.data if tr.name == label), None)
            if trace is None:
                fig.add_scatter(x=[run.attempts], y=[values[kind]], mode="markers", name=label,
                                marker={"size": 11, "color": _PALETTE[(len(fig.data) - 1) % len(_PALETTE)]})
            else:
                trace.x, trace.y = (*trace.x, run.attempts), (*trace.y, values[kind])


def breakers_of(proxy_config: str, cluster: str) -> HTML:
    """The ``circuitBreakers`` block of ``cluster`` out of ``proxy_config("cluster")``'s YAML, as istioctl
    shows it (max_retries and retry_budget are in its thresholds)."""
    import yaml

    found: Any = None
    for item in _yamlio.load(proxy_config) or ():
        if isinstance(item, dict) and item.get("name") == cluster:
            found = item.get("circuitBreakers") or item.get("circuit_breakers")
    text = yaml.safe_dump({"circuitBreakers": found}, sort_keys=False)
    return HTML(f"<pre>{html.escape(text)}</pre>", text)


def band_text(run: RetryRun) -> str:
    """``1.42–1.61`` (the run's amplification band), for checks and tables."""
    low, high = amplification_band(run.failure_fraction, run.attempts, max(run.calls, 1))
    return f"{low:.2f}–{high:.2f}"
