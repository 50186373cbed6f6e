"""The band a measured fortio run should fall in: the simulation calibrated by that run.

What a notebook asks after ``result = lab.fortio("load -c 4 -qps 0 -n 80 http://service-go/env")``:
is this 503 share what the breaker explains? ``band_for_run(result, limits)`` answers with a
``SimulationResult`` whose ``band`` is the expected range and ``contains(result.share(503))`` the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lablib.theory.calibrate import _raw, timing_from_result
from lablib.theory.limits import ClusterLimits
from lablib.theory.simulation import Capacity, SimulationResult, simulate_envelope

__all__ = ["band_for_run"]


def band_for_run(
    result: Any,
    limits: Sequence[ClusterLimits],
    *,
    capacity: Capacity = "envoy",
    repeats: int = 40,
    seed: int = 0,
    calibration: Any = None,
    handshake_time_s: float = 0.0,
) -> SimulationResult:
    """Simulate the run's own ``-c``/``-n`` (or ``-t``) with times taken from the run itself.

    Service, rejection and client turnaround times come from ``timing_from_result`` (with the limits, so
    queueing is taken out of the service time). Envoy's upstream
    connect time is not in fortio's output; it lies between 0 (the kernel completes a loopback handshake
    inside ``connect()``) and fortio's own loopback connect time in the same run, so the band spans both
    (``simulate_envelope``). A run without 503s cannot tell the rejection time: 0 is used (fast rejection).

    Args:
        result: a ``lablib.fortio.FortioResult`` or fortio's JSON as a dict.
        limits: the route's clusters (``limits_for``), with the Envoy worker count of the sidecar.
        capacity: "envoy" (per-worker, per-endpoint pools, as real Envoy), "exact" or "slack".
        repeats: simulated runs per connect-time variant.
        seed: for reproducible bands.
        calibration: optionally a ``-c 1`` run of the same service: nothing queues there, so its 200s'
            latency is the service time itself (the run's own 200s include time spent queued).
        handshake_time_s: the mTLS handshake each new upstream connection adds (the environment's: Istio's
            auto mTLS between sidecars; 0 for plaintext). fortio's output cannot tell it.
    """
    raw: Mapping[str, Any] = _raw(result)
    c = int(raw.get("NumThreads") or 0)
    calls = int((raw.get("DurationHistogram") or {}).get("Count") or 0)
    if c < 1 or calls < 1:
        raise ValueError("the run has no threads or no calls: nothing to compare")
    timing = timing_from_result(raw, limits=limits)
    exactly = int(raw.get("Exactly") or 0)
    options: dict[str, Any] = dict(timing.simulate_options())
    if calibration is not None:
        alone = timing_from_result(calibration)
        if alone.ok_count < 1:
            raise ValueError("the calibration run has no 200s: it cannot tell the service time")
        options["service_time_s"], options["service_cv"] = alone.service_time_s, alone.service_cv
    if exactly <= 0:  # a -t run: threads loop for the run's duration
        options["duration_s"] = timing.duration_s
    return simulate_envelope(c, exactly if exactly > 0 else calls, limits,
                             [{"connect_time_s": 0.0}, {}], capacity=capacity, repeats=repeats, seed=seed,
                             handshake_time_s=handshake_time_s, **options)
