"""The one small API every backend offers, and the plain data it returns.

``Lab`` (``lablib.lab``) picks a backend and forwards to it; notebooks and the CLI only talk to ``Lab``.
The verbs follow kubectl (apply, delete) and Envoy's admin endpoints (stats, clusters, reset_counters).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from lablib._types import PathLike

__all__ = ["Backend", "ClusterStats", "HostStatus", "ProgressCallback"]

#: Called with (done, total, message) while something slow runs; total may be 0 when unknown.
ProgressCallback = Callable[[int, int, str], None]


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


@runtime_checkable
class Backend(Protocol):
    """What a backend must do. Used as a context manager, closing it stops everything it started."""

    name: str

    def apply(self, path: PathLike, *, progress: ProgressCallback | None = None) -> list[str]:
        """Validate then apply every object in ``path``; return ``Kind/name`` of each. Nothing on error."""

    def delete(self, path: PathLike) -> list[str]:
        """Delete every object in ``path`` that exists (tolerates ones already gone)."""

    def fortio(self, args: str | list[str], *, progress: ProgressCallback | None = None) -> Any:
        """Run ``fortio load …`` from the fortio pod; return the parsed result (``lablib.fortio`` record)."""

    def stats(self, cluster: str | None = None) -> ClusterStats | dict[str, ClusterStats]:
        """Client sidecar stats for one Envoy cluster (or all ``outbound|`` clusters)."""

    def reset_counters(self) -> None:
        """Zero the client sidecar's counters (Envoy ``POST /reset_counters``)."""

    def hosts(self, cluster: str | None = None) -> list[HostStatus]:
        """Host health as the client sidecar sees it (Envoy ``/clusters``)."""

    def proxy_config(self, what: str = "cluster") -> str:
        """The client sidecar's config as YAML, like ``istioctl proxy-config cluster fortio -o yaml``."""

    def cleanup(self) -> None:
        """Delete everything the lab applied and stop what it started. Idempotent."""

    def close(self) -> None:
        """Release this handle (for the embedded mesh: stop it unless it was started persistent)."""

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc: object) -> None: ...
