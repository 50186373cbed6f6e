"""Theory for the plots: from a rule (a translated config or the explorer's knobs) to a ``TheoryOverlay``.

Glue between ``lablib.theory`` (pure limits, closed forms, simulation) and ``plots``: the limit L,
the band real Envoy may admit, the fast-rejection bound 1 − L/c and a simulated curve of fortio's threads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from lablib.lab_defaults import HOST, SERVICE_TIME_MS, WORKERS
from lablib.notebook.plots import TheoryOverlay
from lablib.theory.closed_forms import fast_rejection_bound
from lablib.theory.limits import ClusterLimits, limit_band, limits_for, theoretical_limit
from lablib.theory.simulation import simulate

__all__ = ["limits_for_files", "limits_for_objects", "limits_with_rule", "load", "overlay",
           "overlay_for_config", "timings"]

#: Concurrencies where the smooth curves are drawn (the explorer's slider spans 1..100).
CURVE_CS: tuple[int, ...] = (1, 2, 5, *range(10, 101, 5))
#: Fewer points for the (slower) simulation.
SIM_CS: tuple[int, ...] = (5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100)


def overlay(
    limits: Sequence[ClusterLimits],
    *,
    label: str = "",
    service_time_s: float = SERVICE_TIME_MS / 1000,
    reject_time_s: float = 0.001,
    calls_per_thread: int = 10,
    sim_cs: Iterable[int] = SIM_CS,
    curve_cs: Iterable[int] = CURVE_CS,
    sim_repeats: int = 3,
) -> TheoryOverlay:
    """L, the band and the curves for the route's clusters ``limits`` (``lablib.theory.limits_for``).

    The simulation runs fortio's ``-n 10·c`` closed loop with the given service and rejection times
    (take them from a run: the 200s' and 503s' latencies); ``sim_repeats=0`` skips it.
    """
    limit = theoretical_limit(limits)
    low, high = limit_band(limits)
    curve_cs = list(curve_cs)
    bound = (
        [(c, fast_rejection_bound(c, limit)) for c in curve_cs]
        if math.isfinite(limit)
        else [(c, 0.0) for c in curve_cs]
    )
    simulated: list[tuple[float, float]] = []
    if sim_repeats > 0:
        for c in sim_cs:
            res = simulate(
                c,
                calls_per_thread * c,
                limits,
                service_time_s=service_time_s,
                reject_time_s=reject_time_s,
                repeats=sim_repeats,
                seed=c,
                # Envoy's own pools (per worker x endpoint, LEAST_REQUEST, reconnects holding a pending
                # slot): closer to what the runs measure than the exact breaker (lablib.theory.simulate).
                capacity="envoy",
            )
            simulated.append((c, res.mean))
    return TheoryOverlay(limit=limit, band=(low, high), bound=bound, simulated=simulated, label=label)


def overlay_for_config(
    config: Any, *, host: str = HOST, workers: int = WORKERS, **options: Any
) -> TheoryOverlay:
    """``overlay`` for a ``MeshConfig`` (e.g. the lab's current one) and the route to ``host``."""
    return overlay(limits_for(config, host, workers=workers), **options)


def limits_with_rule(
    rule: dict[str, Any],
    objects: Sequence[Any],
    *,
    workers: int = WORKERS,
    host: str = HOST,
) -> list[ClusterLimits]:
    """The route's cluster limits if ``rule`` (a DestinationRule as plain data) replaced the applied one.

    ``objects`` are the other applied manifests (Service, Deployments, VirtualService); endpoints are made
    from their pods (addresses do not matter to the limits).
    """
    def kind(o: Any) -> str:
        return str(getattr(o, "kind", None) or getattr(o, "body", o).get("kind", ""))

    return limits_for_objects([*(o for o in objects if kind(o) != "DestinationRule"), rule],
                              workers=workers, host=host)


def load(paths: Iterable[Any]) -> list[Any]:
    from lablib.manifests import load_files

    return load_files(paths)  # together: a route's subsets are defined by the rule in another file


def limits_for_files(
    paths: Iterable[Any], *, workers: int = WORKERS, host: str = HOST
) -> list[ClusterLimits]:
    """The route's cluster limits for manifest files (validated; pods become endpoints), without a lab."""
    return limits_for_objects(load(paths), workers=workers, host=host)


def limits_for_objects(
    objects: Sequence[Any], *, workers: int = WORKERS, host: str = HOST
) -> list[ClusterLimits]:
    """The route's cluster limits for manifests (or plain objects): translated as the lab would, with the
    objects' pods as endpoints (addresses do not matter to the limits)."""
    from lablib.manifests import pods_of
    from lablib.translate import Endpoint, translate

    endpoints = [
        Endpoint(p.name, p.namespace, dict(p.labels), "127.0.0.1", 15006, p.container_port)
        for p in pods_of(objects)
    ]
    return limits_for(translate(list(objects), endpoints), host, workers=workers)


def timings(points: Iterable[Any]) -> dict[str, float]:
    """Service and rejection times measured by runs, as ``overlay`` keyword arguments.

    service time: the mean latency of the lowest-concurrency run that got no 503 (nothing queued there);
    rejection time: total 503 time / #503 over runs whose result kept the error histogram.
    """
    from lablib.notebook.runs import _error_sum_s

    pts = list(points)
    out: dict[str, float] = {}
    clean = sorted((p for p in pts if not p.result.codes.get(503, 0)), key=lambda p: p.concurrency)
    if clean:
        out["service_time_s"] = float(clean[0].result.avg_s)
    err_s = n503 = 0.0
    for p in pts:
        n = p.result.codes.get(503, 0)
        s = _error_sum_s(p.result) if n else None
        if s is not None:
            err_s, n503 = err_s + s, n503 + n
    if n503:
        out["reject_time_s"] = err_s / n503
    return out
