"""Readable views of translated config: YAML like ``istioctl proxy-config cluster <pod> -o yaml`` and the rows
of ``istioctl proxy-config cluster <pod>``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from lablib._types import JSONDict
from lablib.translate.mesh_config import MeshConfig
from lablib.translate.names import parse_subset_key

__all__ = ["format_table", "render_yaml", "summary_table"]

_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _istioctl_view(value: Any) -> Any:
    # protojson (what istioctl prints) uses lowerCamelCase field names; map keys such as extension names keep
    # their spelling (they contain dots, so the pattern leaves them alone).
    if isinstance(value, Mapping):
        return {(_camel(k) if _SNAKE.match(k) else k): _istioctl_view(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_istioctl_view(v) for v in value]
    return value


def _as_list(
    clusters_or_config: MeshConfig | Mapping[str, Any] | Iterable[Mapping[str, Any]],
) -> list[JSONDict]:
    if isinstance(clusters_or_config, MeshConfig):
        return list(clusters_or_config.outbound_clusters)
    if isinstance(clusters_or_config, Mapping):
        return [dict(clusters_or_config)]
    return [dict(c) for c in clusters_or_config]


def render_yaml(
    clusters_or_config: MeshConfig | Mapping[str, Any] | Iterable[Mapping[str, Any]],
    *,
    style: str = "istioctl",
) -> str:
    """YAML of clusters (a ``MeshConfig`` gives its outbound clusters; route configurations work too).

    ``style="istioctl"`` prints what ``istioctl proxy-config cluster <pod> -o yaml`` shows: camelCase field
    names, keys sorted, no ``@type`` on the cluster itself (nested ``Any`` keep theirs). ``style="envoy"``
    keeps the Envoy config-file form (snake_case, the translator's field order, ``@type`` kept).
    """
    items = _as_list(clusters_or_config)
    if style == "istioctl":
        items = [_istioctl_view({k: v for k, v in c.items() if k != "@type"}) for c in items]
        return yaml.safe_dump(items, sort_keys=True, default_flow_style=False, allow_unicode=True, width=120)
    if style == "envoy":
        return yaml.safe_dump(items, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120)
    raise ValueError(f"style must be 'istioctl' or 'envoy', not {style!r}")


def summary_table(config: MeshConfig, *, pod: str | None = None) -> list[dict[str, Any]]:
    """Rows of ``istioctl proxy-config cluster``: the client's outbound clusters, or ``pod``'s inbound ones.

    Columns: ``SERVICE FQDN``, ``PORT``, ``SUBSET`` (``-`` for none), ``DIRECTION``, ``TYPE``,
    ``DESTINATION RULE`` (``name.namespace`` or empty).
    """
    clusters = config.inbound_clusters.get(pod, []) if pod is not None else config.outbound_clusters
    rows = []
    for cluster in clusters:
        key = parse_subset_key(cluster["name"])
        istio = cluster.get("metadata", {}).get("filter_metadata", {}).get("istio", {})
        rule = ""
        if "config" in istio:
            parts = istio["config"].rstrip("/").split("/")
            rule = f"{parts[-1]}.{parts[-3]}"
        rows.append(
            {
                "SERVICE FQDN": key.fqdn,
                "PORT": key.port,
                "SUBSET": key.subset or "-",
                "DIRECTION": key.direction,
                "TYPE": cluster.get("type", "EDS"),
                "DESTINATION RULE": rule,
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as istioctl's fixed-width text table."""
    if not rows:
        return ""
    headers = list(rows[0])
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in headers]
    lines = ["     ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip()]
    for row in rows:
        lines.append(
            "     ".join(str(row[h]).ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip()
        )
    return "\n".join(lines) + "\n"
