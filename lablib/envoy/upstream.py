"""Envoy's upstream state as the lab reads it: one cluster's stats, one host's health.

Plain values parsed from a sidecar's admin ``/stats`` and ``/clusters`` (``lablib.envoy.admin``), returned by
both backends (``lablib.backends.base`` re-exports them). Named after Envoy's upstream: clusters and hosts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ClusterStats", "HostStatus"]


@dataclass(frozen=True)
class ClusterStats:
    """Envoy's stats for one cluster, as read from the client sidecar's ``/stats``.

    Keys are the stat names without the ``cluster.<name>.`` prefix, e.g. ``upstream_rq_pending_overflow``,
    ``circuit_breakers.default.rq_open``, ``outlier_detection.ejections_active``.
    """

    cluster: str
    values: Mapping[str, int] = field(default_factory=dict)

    def __getitem__(self, stat: str) -> int:
        return self.values[stat]

    def get(self, stat: str, default: int = 0) -> int:
        return self.values.get(stat, default)

    @property
    def overflows(self) -> dict[str, int]:
        """The breaker counters that explain 503 UO responses, by stat name."""
        names = ("upstream_rq_pending_overflow", "upstream_rq_active_overflow", "upstream_cx_overflow",
                 "upstream_rq_retry_overflow")
        return {n: self.get(n) for n in names}


@dataclass(frozen=True)
class HostStatus:
    """One upstream host of one cluster, as Envoy's ``/clusters`` shows it (with its health flags)."""

    cluster: str
    address: str
    health_flags: tuple[str, ...] = ()
    stats: Mapping[str, int] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return all(f in ("healthy", "") for f in self.health_flags) if self.health_flags else True

    @property
    def ejected(self) -> bool:
        return "/failed_outlier_check" in self.health_flags
