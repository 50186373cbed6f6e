"""HTML tables for lab 02: the seed's rule next to the lab's, as Envoy receives them.

``mapping_table(SEED, LAB)`` lists each Envoy ``outlier_detection`` field with the value each rule gives it
and why (``rule.effective_envoy``). ``envoy_view(lab)`` shows what the client sidecar really got, read back
from its config dump like ``istioctl proxy-config cluster fortio -o yaml``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

from lablib import _yamlio
from lablib.i18n import t
from lablib.labs.outlier_detection.observer import DEFAULT_CLUSTER
from lablib.labs.outlier_detection.rule import OutlierSettings, effective_envoy
from lablib.labs.outlier_detection.timeline import Timeline

if TYPE_CHECKING:
    from lablib.lab import Lab

__all__ = ["HTMLTable", "envoy_view", "event_table", "mapping_table"]


class HTMLTable:
    """A small table that renders as HTML in Jupyter and as aligned text elsewhere."""

    def __init__(self, header: list[str], rows: list[list[str]], *, caption: str = "") -> None:
        self.header, self.rows, self.caption = header, rows, caption

    def _repr_html_(self) -> str:
        cap = (f"<caption style='text-align:left'>{html.escape(self.caption)}</caption>"
               if self.caption else "")
        head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(c))}</td>" for c in r)
                       + "</tr>" for r in self.rows)
        return f"<table class='lablib-table'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __str__(self) -> str:
        widths = [max(len(str(x)) for x in col) for col in zip(self.header, *self.rows, strict=False)]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False))
                 for r in [self.header, *self.rows]]
        return "\n".join(([self.caption] if self.caption else []) + lines)

    __repr__ = __str__


def mapping_table(seed: OutlierSettings, lab: OutlierSettings, *, lang: str = "en") -> HTMLTable:
    """Envoy field | the seed's rule gives | the lab's rule gives | why (for the lab's value)."""
    seed_rows = {f: (v, src) for f, v, src, _ in effective_envoy(seed, lang=lang)}
    unset = t("outlier.table.unset", lang)
    rows = []
    for field, value, src, why in effective_envoy(lab, lang=lang):
        s_value, s_src = seed_rows.get(field, (unset, "-"))
        rows.append([field, f"{s_value}  ← {s_src}", f"{value}  ← {src}", why])
    for field, (value, src) in seed_rows.items():  # fields only the seed's rule produces
        if not any(r[0] == field for r in rows):
            rows.append([field, f"{value}  ← {src}", unset, ""])
    head = [t("outlier.table.mapping.field", lang), t("outlier.table.mapping.seed", lang),
            t("outlier.table.mapping.lab", lang), t("outlier.table.mapping.why", lang)]
    return HTMLTable(head, rows, caption=t("outlier.table.mapping.caption", lang))


def _cluster_named(items: Any, name: str) -> dict[str, Any] | None:
    for c in items or []:
        if isinstance(c, dict) and c.get("name") == name:
            return c
    return None


def envoy_view(lab: Lab, cluster: str = DEFAULT_CLUSTER, *, lang: str = "en") -> str:
    """The outlier-detection part of ``cluster`` in the client sidecar's live config, as YAML."""
    dump = _yamlio.load(lab.proxy_config("cluster"))
    if isinstance(dump, dict):  # istioctl-like rendering may wrap the list
        dump = dump.get("clusters") or dump.get("items") or [dump]
    c = _cluster_named(dump, cluster)
    if c is None:
        return "# " + t("outlier.table.envoy_view.no_cluster", lang, cluster=cluster)
    keys = ("outlier_detection", "outlierDetection", "common_lb_config", "commonLbConfig")
    part = {k: c[k] for k in keys if k in c}
    if not part:
        return "# " + t("outlier.table.envoy_view.no_outlier", lang, cluster=cluster)
    return f"# {cluster}\n" + yaml.safe_dump(part, sort_keys=False)


def event_table(tl: Timeline, *, names: Mapping[str, str] | None = None, lang: str = "en") -> HTMLTable:
    """Every ejection and return: when (± sampling period), which host, errors answered, time out."""
    names = dict(names or {})
    rows = []
    for e in tl.events():
        name = names.get(e.address, e.address)
        if e.kind == "ejected":
            errors = tl.errors_before_ejection(e)
            rows.append([f"{e.t:.2f}s (±{e.uncertainty:.2f})", name, t("outlier.table.events.ejected", lang),
                         "?" if errors is None else str(errors), ""])
        else:
            out = next((p for p in tl.periods(address=e.address, cluster=e.cluster) if p.end == e.t), None)
            rows.append([f"{e.t:.2f}s (±{e.uncertainty:.2f})", name, t("outlier.table.events.returned", lang),
                         "",
                         f"{out.duration:.1f}s" if out and out.duration is not None else ""])
    head = ["t", t("outlier.table.events.host", lang), t("outlier.table.events.event", lang),
            t("outlier.table.events.errors", lang), t("outlier.table.events.out", lang)]
    return HTMLTable(head, rows, caption=t("outlier.table.events.caption", lang))
