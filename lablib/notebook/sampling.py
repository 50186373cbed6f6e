"""Peaks of Envoy gauges while a run lasts: read a sidecar's gauges every few milliseconds on a thread and
keep the most each one showed (``upstream_rq_active``: requests in flight to a cluster's hosts).

A gauge read between two requests misses what happened in between, so a sampled peak is a lower bound of the
true one; exercises grade it together with the theory's bound, never alone.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["PERIOD_S", "active_requests", "peaks"]

#: How often the gauges are read (s): a few reads per request of the lab's 25 ms service.
PERIOD_S = 0.005


def active_requests(lab: Any, *, pod: str | None = None) -> Callable[[], dict[str, int]]:
    """A reader of every outbound cluster's ``upstream_rq_active`` in the client sidecar (one ``/stats``
    read per call)."""

    def read() -> dict[str, int]:
        stats = lab.stats(pod=pod) if pod is not None else lab.stats()
        many = stats if isinstance(stats, Mapping) else {getattr(stats, "cluster", ""): stats}
        return {name: int(s.get("upstream_rq_active", 0)) for name, s in many.items()}

    return read


@contextlib.contextmanager
def peaks(read: Callable[[], Mapping[str, int]], *, period_s: float = PERIOD_S) -> Iterator[dict[str, int]]:
    """While the body runs, call ``read`` every ``period_s`` and keep each key's highest value."""
    found: dict[str, int] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):  # a read racing a reconfiguration is not the run's failure
                for key, value in read().items():
                    found[key] = max(found.get(key, 0), int(value))
            stop.wait(period_s)

    thread = threading.Thread(target=sample, name="lablib-peaks", daemon=True)
    thread.start()
    try:
        yield found
    finally:
        stop.set()
        thread.join()
