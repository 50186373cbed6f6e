"""Theory for the plots: from a rule (a translated config or the explorer's knobs) to a ``TheoryOverlay``.

Glue between ``lablib.theory`` (pure limits, closed forms, simulation) and ``lablib.viz.plots``: the limit L,
the band real Envoy may admit, the fast-rejection bound 1 − L/c and a simulated curve of fortio's threads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lablib.theory.closed_forms import fast_rejection_bound
from lablib.theory.limits import ClusterLimits, limit_band, limits_for, theoretical_limit
from lablib.theory.simulation import simulate
from lablib.viz.knobs import BreakerKnobs, destination_rule
from lablib.viz.plots import TheoryOverlay

__all__ = ["knob_limits", "knob_theory", "limits_for_files", "overlay", "overlay_for_config", "timings"]

#: Concurrencies where the smooth curves are drawn (the explorer's slider spans 1..100).
CURVE_CS: tuple[int, ...] = (1, 2, 5, *range(10, 101, 5))
#: Fewer points for the (slower) simulation.
SIM_CS: tuple[int, ...] = (5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100)


def overlay(
    limits: Sequence[ClusterLimits],
    *,
    label: str = "",
    service_time_s: float = 0.025,
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
    config: Any, *, host: str = "service-go", workers: int = 2, **options: Any
) -> TheoryOverlay:
    """``overlay`` for a ``MeshConfig`` (e.g. the lab's current one) and the route to ``host``."""
    return overlay(limits_for(config, host, workers=workers), **options)


def knob_limits(
    knobs: BreakerKnobs,
    objects: Sequence[Any],
    *,
    workers: int = 2,
    host: str = "service-go",
    base: dict[str, Any] | None = None,
) -> list[ClusterLimits]:
    """The route's cluster limits if the DR had ``knobs``: translate ``objects`` with the knobs' DR instead.

    ``objects`` are the other applied manifests (Service, Deployments, VirtualService); endpoints are made
    from their pods (addresses do not matter to the limits).
    """
    from lablib.manifests import pods_of
    from lablib.translate import Endpoint, translate

    def kind(o: Any) -> str:
        return str(getattr(o, "kind", None) or getattr(o, "body", o).get("kind", ""))

    others = [o for o in objects if kind(o) != "DestinationRule"]
    objs = [*others, destination_rule(knobs, base)]
    endpoints = [
        Endpoint(p.name, p.namespace, dict(p.labels), "127.0.0.1", 15006, p.container_port)
        for p in pods_of(others)
    ]
    return limits_for(translate(objs, endpoints), host, workers=workers)


def _load(paths: Iterable[Any]) -> list[Any]:
    from lablib.manifests import load_files

    return load_files(paths)  # together: a route's subsets are defined by the rule in another file


def limits_for_files(
    paths: Iterable[Any], *, workers: int = 2, host: str = "service-go"
) -> list[ClusterLimits]:
    """The route's cluster limits for manifest files (validated; pods become endpoints), without a lab."""
    from lablib.manifests import pods_of
    from lablib.translate import Endpoint, translate

    objects = _load(paths)
    endpoints = [
        Endpoint(p.name, p.namespace, dict(p.labels), "127.0.0.1", 15006, p.container_port)
        for p in pods_of(objects)
    ]
    return limits_for(translate(objects, endpoints), host, workers=workers)


def timings(points: Iterable[Any]) -> dict[str, float]:
    """Service and rejection times measured by runs, as ``overlay`` keyword arguments.

    service time: the mean latency of the lowest-concurrency run that got no 503 (nothing queued there);
    rejection time: total 503 time / #503 over runs whose result kept the error histogram.
    """
    from lablib.viz.runs import _error_sum_s

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


def knob_theory(
    paths: Iterable[Any], *, workers: int = 2, host: str = "service-go", **options: Any
) -> Callable[[BreakerKnobs], TheoryOverlay]:
    """A ``theory_for`` for the explorer: the overlay if the DR in ``paths`` had the given knobs.

    The other objects (Service, Deployments, VirtualService) are read once; each call translates again.
    """
    objects = _load(paths)
    base = next(
        (dict(getattr(o, "body", o)) for o in objects if getattr(o, "kind", "") == "DestinationRule"), None
    )

    def theory_for(knobs: BreakerKnobs) -> TheoryOverlay:
        return overlay(knob_limits(knobs, objects, workers=workers, host=host, base=base), **options)

    return theory_for
