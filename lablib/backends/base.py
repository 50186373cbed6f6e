"""The one small API every backend offers, and the plain data it returns.

``Lab`` (``lablib.lab``) picks a backend and forwards to it; notebooks and the CLI only talk to ``Lab``.
The verbs follow kubectl (apply, delete) and Envoy's admin endpoints (stats, clusters, reset_counters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from lablib.envoy.upstream import ClusterStats, HostStatus  # re-exported: backends return them

if TYPE_CHECKING:
    from lablib._types import PathLike
    from lablib.envoy.access_log import ResponseRecord
    from lablib.envoy.explain import RunExplanation
    from lablib.fortio.result import FortioResult

__all__ = ["Backend", "BackendBase", "ClusterStats", "HostStatus", "ProgressCallback"]

#: Called with (done, total, message) while something slow runs; total may be 0 when unknown. ``message`` is a
#: ``lablib.i18n.Msg``: its English text as a ``str``, ``render(message, lang)`` in the notebook's language.
ProgressCallback = Callable[[int, int, str], None]


@runtime_checkable
class Backend(Protocol):
    """What a backend must do. Used as a context manager, closing it stops everything it started.

    ``Lab`` and the notebooks call nothing else; a verb a backend cannot do raises ``BackendUnavailable``
    with the reason.
    """

    name: str

    def apply(self, path: PathLike, *, progress: ProgressCallback | None = None) -> list[str]:
        """Validate then apply every object in ``path``; return ``Kind/name`` of each. Nothing on error."""

    def delete(self, path: PathLike) -> list[str]:
        """Delete every object in ``path`` that exists (tolerates ones already gone)."""

    def fortio(self, args: str | list[str], *, pod: str | None = None,
               progress: ProgressCallback | None = None) -> FortioResult:
        """Run ``fortio load …`` from the fortio pod (or client pod ``pod``); return the parsed result
        (``-curl``: one call)."""

    def stats(self, cluster: str | None = None, *, pod: str | None = None
              ) -> ClusterStats | dict[str, ClusterStats]:
        """Client sidecar stats for one Envoy cluster (or all ``outbound|`` clusters); with ``pod``, that
        pod's sidecar (its ``inbound|`` clusters)."""

    def reset_counters(self) -> None:
        """Zero the client sidecar's counters (Envoy ``POST /reset_counters``)."""

    def hosts(self, cluster: str | None = None) -> list[HostStatus]:
        """Host health as the client sidecar sees it (Envoy ``/clusters``)."""

    def proxy_config(self, what: str = "cluster", *, pod: str | None = None) -> str:
        """The client sidecar's config as YAML, like ``istioctl proxy-config cluster fortio -o yaml``; with
        ``pod``, that pod's sidecar."""

    def responses(self, since: float | None = None, *, wait_for: int = 0, timeout: float = 3.0
                  ) -> list[ResponseRecord]:
        """The client sidecar's access log: one record per response (code, Envoy flags, cluster, host),
        those started at/after ``since`` (epoch seconds); ``wait_for`` waits up to ``timeout`` s until that
        many are there (Envoy flushes its log on a timer)."""

    def explain(self, run: FortioResult | None = None) -> RunExplanation:
        """Every response of a fortio run (default: the last) by cause, next to the counters it moved."""

    def set_fault(self, target: str, *, code: int = 503, fraction: float = 1.0,
                  delay_ms: float = 0.0, seed: int | None = None) -> list[str]:
        """Make the app of pod ``target`` (or of each pod of Deployment ``target``) answer ``code`` for
        ``fraction`` of its calls and take ``delay_ms`` longer on each (service-go's ``POST /fault``); 0 and 0
        heal. ``seed``: each call fails at random with probability ``fraction`` (a flaky instance) instead of
        every 1/fraction-th call. Returns the pods changed."""

    def cleanup(self) -> None:
        """Delete everything the lab applied and stop what it started. Idempotent."""

    def close(self) -> None:
        """Release this handle (for the embedded mesh: stop it unless it was started persistent)."""

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc: object) -> None: ...


_B = TypeVar("_B", bound="BackendBase")


class BackendBase:
    """What every backend shares, written once: ``with backend: …`` closes it at the end.

    A backend class derives from this and implements ``Backend`` (``close`` included); the ``Backend``
    protocol stays the contract (tests check each backend's signatures against it).
    """

    def close(self) -> None:  # pragma: no cover - every backend has its own
        raise NotImplementedError

    def __enter__(self: _B) -> _B:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
