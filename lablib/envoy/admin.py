"""Envoy's admin interface as Python data: ``/stats`` and ``/clusters`` parsers, and a tiny admin client.

The parsers are pure (text in, data out) so both backends use them: the embedded mesh reads the client
sidecar's admin port directly, the kind backend reads the same text through ``pilot-agent request GET stats``.
"""

from __future__ import annotations

import http.client
import urllib.parse
from collections.abc import Mapping

from lablib.backends.base import ClusterStats, HostStatus

__all__ = ["AdminClient", "cluster_stats", "parse_clusters", "parse_stats"]

#: ``/clusters`` keys that belong to the cluster itself rather than to one host.
_CLUSTER_LEVEL = {"default_priority", "high_priority", "outlier", "added_via_api", "observability_name",
                  "eds_service_name"}


def parse_stats(text: str) -> dict[str, int]:
    """Envoy ``/stats`` text (``name: value`` per line) -> ``{name: value}`` for counters and gauges.

    Histogram lines (``P0(nan,…)``) and anything else that is not an integer are skipped. Stat names may
    contain ``|`` and ``:`` (Istio cluster names), so a line is split at its last ``": "``.
    """
    flat: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, value = line.rpartition(": ")
        if not sep:
            continue
        try:
            flat[name.strip()] = int(value.strip())
        except ValueError:
            continue
    return flat


def cluster_stats(flat: Mapping[str, int], cluster: str) -> ClusterStats:
    """The stats of one Envoy cluster, keys without the ``cluster.<name>.`` prefix.

    >>> cluster_stats({"cluster.outbound|80||a.b.upstream_rq_pending_overflow": 3}, "outbound|80||a.b")["upstream_rq_pending_overflow"]
    3
    """  # noqa: E501
    prefix = f"cluster.{cluster}."
    # Cluster names contain dots: `outbound|80||a` must not take the stats of `outbound|80||a.b`.
    longer = tuple(f"cluster.{n}." for n in cluster_names(flat, prefix=cluster + ".") if n != cluster)
    values = {k[len(prefix):]: v for k, v in flat.items()
              if k.startswith(prefix) and not (longer and k.startswith(longer))}
    return ClusterStats(cluster=cluster, values=values)


def cluster_names(flat: Mapping[str, int], *, prefix: str = "outbound|") -> list[str]:
    """Names of the clusters that have stats in ``flat`` (by default Istio's ``outbound|`` ones), sorted."""
    names = set()
    for key in flat:
        if key.startswith("cluster." + prefix) and key.endswith(".upstream_rq_total"):
            names.add(key[len("cluster."):-len(".upstream_rq_total")])
    return sorted(names)


def parse_clusters(text: str) -> list[HostStatus]:
    """Envoy ``/clusters`` text -> one ``HostStatus`` per (cluster, host).

    Lines look like
    ``outbound|80|v1|service-go.default.svc.cluster.local::127.0.0.1:8081::health_flags::healthy``;
    cluster-level lines (``::default_priority::max_connections::1``) are skipped. Health flags keep Envoy's
    spelling (``/failed_outlier_check``) so ``HostStatus.ejected`` works on them.
    """
    hosts: dict[tuple[str, str], dict[str, object]] = {}
    for line in text.splitlines():
        parts = line.strip().split("::")
        if len(parts) < 4 or parts[1] in _CLUSTER_LEVEL:
            continue
        cluster, address, key, value = parts[0], "::".join(parts[1:-2]), parts[-2], parts[-1]
        entry = hosts.setdefault((cluster, address), {"flags": (), "stats": {}})
        if key == "health_flags":
            entry["flags"] = _health_flags(value)
            continue
        try:
            entry["stats"][key] = int(value)  # type: ignore[index]
        except ValueError:
            continue
    return [HostStatus(cluster=c, address=a, health_flags=e["flags"], stats=e["stats"])  # type: ignore[arg-type]
            for (c, a), e in hosts.items()]


def _health_flags(value: str) -> tuple[str, ...]:
    value = value.strip()
    if value in ("", "healthy"):
        return ("healthy",)
    return tuple("/" + f for f in value.split("/") if f)


class AdminClient:
    """HTTP calls to one Envoy's admin listener (``127.0.0.1:<port>``)."""

    def __init__(self, host: str, port: int, *, timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    def request(self, method: str, path: str, params: Mapping[str, str] | None = None) -> tuple[int, str]:
        """Send one admin request; return (status, body text)."""
        if params:
            path += "?" + urllib.parse.urlencode(params)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            return resp.status, resp.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def get(self, path: str, **params: str) -> str:
        status, body = self.request("GET", path, params)
        if status != 200:
            raise OSError(f"envoy admin GET {path} on port {self.port}: HTTP {status}: {body.strip()[:200]}")
        return body

    def post(self, path: str, **params: str) -> str:
        status, body = self.request("POST", path, params)
        if status != 200:
            raise OSError(f"envoy admin POST {path} on port {self.port}: HTTP {status}: {body.strip()[:200]}")
        return body

    def ready(self) -> bool:
        """True when ``/ready`` says LIVE (all initial config loaded)."""
        try:
            status, body = self.request("GET", "/ready")
        except OSError:
            return False
        return status == 200 and body.strip() == "LIVE"

    def stats(self, filter: str | None = None) -> dict[str, int]:
        """``/stats`` as ``{name: value}``; ``filter`` is Envoy's regex filter."""
        return parse_stats(self.get("/stats", **({"filter": filter} if filter else {})))

    def clusters(self) -> list[HostStatus]:
        return parse_clusters(self.get("/clusters"))

    def reset_counters(self) -> None:
        self.post("/reset_counters")
