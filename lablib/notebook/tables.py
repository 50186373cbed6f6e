"""HTML tables for the notebook: the book's runs next to ours, a DR next to the Envoy cluster it becomes."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lablib import _yamlio
from lablib.i18n import t
from lablib.notebook.runs import RunPoint, by_label, summary

__all__ = ["HTML", "comparison_table", "side_by_side"]


@dataclass(frozen=True)
class HTML:
    """A bit of HTML that Jupyter renders (``text`` is the plain-text fallback for consoles and CI logs)."""

    html: str
    text: str = ""

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.text or self.html

    def __repr__(self) -> str:
        return str(self)


_CELL = "padding:2px 8px;border:1px solid #ddd;text-align:right"


def comparison_table(
    book: Sequence[RunPoint],
    ours: Iterable[RunPoint],
    *,
    bound: Callable[[int], float] | None = None,
    lang: str = "en",
) -> HTML:
    """One row per concurrency: the book's 503 share and sockets, then each of our rules (mean [min–max]).

    ``bound(c)`` (e.g. the fast-rejection bound 1 − L/c) adds a theory column.
    """
    book_by_c = {p.concurrency: p for p in book}
    groups = {label: {s.concurrency: s for s in summary(pts)} for label, pts in by_label(ours).items()}
    conc = sorted(set(book_by_c) | {c for g in groups.values() for c in g})
    head = ["c", t("notebook.table.book_503", lang), t("notebook.table.book_sockets", lang)]
    for label in groups:
        head += [t("notebook.table.ours_503", lang, label=label),
                 t("notebook.table.ours_sockets", lang, label=label)]
    if bound is not None:
        head.append(t("notebook.table.bound", lang))
    rows: list[list[str]] = []
    for c in conc:
        b = book_by_c.get(c)
        row = [str(c), f"{100 * b.share_503:.1f}%" if b else "–", str(b.result.sockets) if b else "–"]
        for g in groups.values():
            s = g.get(c)
            row += (
                [f"{100 * s.mean:.1f}% [{100 * s.low:.0f}–{100 * s.high:.0f}] ×{s.runs}", f"{s.sockets:.0f}"]
                if s
                else ["–", "–"]
            )
        if bound is not None:
            row.append(f"{100 * bound(c):.1f}%")
        rows.append(row)
    th = "".join(f"<th style='{_CELL};background:#f6f8fa'>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td style='{_CELL}'>{html.escape(v)}</td>" for v in r) + "</tr>" for r in rows
    )
    text = "\n".join(" | ".join(r) for r in [head, *rows])
    return HTML(
        f"<table class='lablib-compare' style='border-collapse:collapse'><tr>{th}</tr>{body}</table>", text
    )


def side_by_side(
    left: str,
    right: str,
    *,
    left_title: str | None = None,
    right_title: str | None = None,
    lang: str = "en",
) -> HTML:
    """Two code blocks next to each other, e.g. a DR's YAML and ``istioctl proxy-config cluster -o yaml``.

    The titles default to "DestinationRule (Istio)" and "Envoy cluster in the client sidecar" in ``lang``.
    """
    left_title = t("notebook.table.dr_title", lang) if left_title is None else left_title
    right_title = t("notebook.table.cluster_title", lang) if right_title is None else right_title

    def block(title: str, code: str) -> str:
        return (
            f"<div style='flex:1;min-width:320px'><b>{html.escape(title)}</b><pre style='font-size:11px;"
            f"background:#f6f8fa;padding:6px;overflow:auto;max-height:480px'>{html.escape(code)}</pre></div>"
        )

    return HTML(
        f"<div class='lablib-side-by-side' style='display:flex;gap:12px'>{block(left_title, left)}"
        f"{block(right_title, right)}</div>",
        f"--- {left_title}\n{left}\n--- {right_title}\n{right}",
    )


def cluster_yaml(proxy_config: str, cluster: str) -> str:
    """The one cluster named ``cluster`` out of ``istioctl proxy-config cluster -o yaml``-like text.

    Returns the whole text when it is not a YAML list of clusters or the name is absent (nothing hidden).
    """
    import yaml

    try:
        docs = _yamlio.load(proxy_config)
    except yaml.YAMLError:
        return proxy_config
    items = (
        docs if isinstance(docs, list) else (docs or {}).get("clusters", []) if isinstance(docs, dict) else []
    )
    for item in items:
        if isinstance(item, dict) and item.get("name") == cluster:
            return yaml.safe_dump(item, sort_keys=False)
    return proxy_config


def _n(value: float, lang: str) -> str:
    return t("notebook.table.unlimited", lang) if value == float("inf") else f"{value:g}"


def limits_table(limits: Sequence[Any] | Mapping[str, Sequence[Any]], *, lang: str = "en") -> HTML:
    """The route's clusters and their breaker limits (``lablib.theory.ClusterLimits``), with L per cluster.

    A mapping ``{rule label: limits}`` adds a first column naming the rule, to compare rules row by row.
    """
    groups = dict(limits) if isinstance(limits, Mapping) else {"": limits}
    head = [
        t("notebook.table.envoy_cluster", lang),
        t("notebook.table.weight", lang),
        "max_connections",
        "max_pending_requests",
        "max_requests",
        "max_requests_per_connection",
        t("notebook.table.endpoints_workers", lang),
        t("notebook.table.admitted_exact", lang),
        t("notebook.table.admitted_band", lang),
    ]
    if isinstance(limits, Mapping):
        head.insert(0, t("notebook.table.rule", lang))
    rows = []
    for label, group in groups.items():
        for lim in group:
            row = [
                lim.cluster,
                f"{lim.weight:.2f}",
                _n(lim.max_connections, lang),
                _n(lim.max_pending_requests, lang),
                _n(lim.max_requests, lang),
                _n(lim.max_requests_per_connection, lang),
                f"{lim.endpoints} × {lim.workers}",
                _n(lim.admitted, lang),
                f"{_n(lim.admitted_low, lang)}–{_n(lim.admitted_high, lang)}",
            ]
            rows.append([label, *row] if isinstance(limits, Mapping) else row)
    th = "".join(f"<th style='{_CELL};background:#f6f8fa'>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td style='{_CELL}'>{html.escape(v)}</td>" for v in r) + "</tr>" for r in rows
    )
    text = "\n".join(" | ".join(r) for r in [head, *rows])
    return HTML(
        f"<table class='lablib-limits' style='border-collapse:collapse'><tr>{th}</tr>{body}</table>", text
    )
