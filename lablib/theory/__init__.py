"""Breaker theory, pure: limits from Envoy config, closed forms, and a simulation of fortio's threads.

    limits_for(mesh_config, "service-go", workers=1)  -> [ClusterLimits per Envoy cluster of the route]
    theoretical_limit(limits) -> L,  limit_band(limits) -> (low, high) real Envoy may admit
    fast_rejection_bound(c, L), duration_run_bound(c, L, ...)   closed forms for the 503 share
    simulate(c, n, limits, service_time_s=..., reject_time_s=...) -> SimulationResult (mean, band)
    times_from_result(fortio_result) -> (service_time_s, reject_time_s), taken from the run itself
    band_for_run(fortio_result, limits) -> the band that run should fall in (calibrated by the run)

No I/O here: notebooks and plots (``lablib.notebook``) call these with config from ``lablib.translate`` and
results from ``lablib.fortio``.
"""

from lablib.theory.calibrate import RunTiming, times_from_result, timing_from_result
from lablib.theory.closed_forms import duration_run_bound, fast_rejection_bound, littles_law_concurrency
from lablib.theory.limits import (
    UNLIMITED,
    ClusterLimits,
    cluster_limits,
    limit_band,
    limits_for,
    overflow_onset,
    theoretical_limit,
)
from lablib.theory.runs import band_for_run
from lablib.theory.simulation import (
    SimulationResult,
    calls_per_thread,
    simulate,
    simulate_curve,
    simulate_envelope,
)

__all__ = [
    "UNLIMITED",
    "ClusterLimits",
    "RunTiming",
    "SimulationResult",
    "band_for_run",
    "calls_per_thread",
    "cluster_limits",
    "duration_run_bound",
    "fast_rejection_bound",
    "limit_band",
    "limits_for",
    "littles_law_concurrency",
    "overflow_onset",
    "simulate",
    "simulate_curve",
    "simulate_envelope",
    "theoretical_limit",
    "times_from_result",
    "timing_from_result",
]
