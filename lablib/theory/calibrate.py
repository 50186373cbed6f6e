"""Service and rejection times taken from a fortio run, to calibrate the simulation with the run itself.

Reads a ``lablib.fortio.FortioResult`` (its ``raw`` fortio JSON) or fortio's JSON as a dict: only
``DurationHistogram`` / ``ErrorsDurationHistogram`` (``Count``, ``Sum``/``Avg``, ``StdDev``),
``ActualDuration`` (ns) and ``ConnectionStats``. fortio records every call in DurationHistogram and the
non-2xx ones again in ErrorsDurationHistogram, so the 200s are "totals minus errors".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lablib.theory.limits import ClusterLimits

__all__ = ["RunTiming", "times_from_result", "timing_from_result"]


@dataclass(frozen=True)
class RunTiming:
    """What one run says about the time calls take. Times in seconds; NaN where the run cannot tell."""

    #: Mean time a served call holds its breaker slot (see ``timing_from_result`` for the estimator).
    service_time_s: float
    #: Coefficient of variation of the 200s' latency (queueing included, so an upper estimate).
    service_cv: float
    #: Mean latency of the non-OK calls (the 503s): what a rejection costs a thread, reconnect included.
    reject_time_s: float
    #: Their coefficient of variation.
    reject_cv: float
    #: fortio's mean connect time to its sidecar (ConnectionStats): a loopback TCP handshake measured in this
    #: run, client overhead included, so an upper estimate of Envoy's own upstream connects on this machine.
    connect_time_s: float
    #: Time from Envoy sending a 200 to the same thread's next request reaching Envoy: a 503 round trip makes
    #: the same hops and client work plus a reconnect, so ``reject_time_s - connect_time_s``.
    client_gap_s: float
    #: Mean latency of the 200s as fortio saw it (queueing included).
    ok_latency_s: float
    ok_count: int
    error_count: int
    duration_s: float

    def simulate_options(self, *, reject_time_s: float | None = None) -> dict[str, float]:
        """Keyword arguments for ``simulate`` calibrated by this run.

        A run without 503s cannot tell the rejection time: pass ``reject_time_s`` (e.g. from a run with
        503s) or the result uses the fastest plausible rejection, 0 (the fast-rejection limit). A run
        without 200s cannot tell the service time (NaN): ``simulate`` refuses it; calibrate from another run.
        """
        reject = self.reject_time_s if math.isfinite(self.reject_time_s) else (reject_time_s or 0.0)
        connect = self.connect_time_s if math.isfinite(self.connect_time_s) else 0.0
        gap = self.client_gap_s if math.isfinite(self.client_gap_s) else 0.0
        return {
            "service_time_s": self.service_time_s,
            "service_cv": self.service_cv,
            "reject_time_s": reject,
            "reject_cv": self.reject_cv if math.isfinite(self.reject_cv) else 0.0,
            "connect_time_s": connect,
            "client_gap_s": gap,
            # Connects and client turnarounds are scheduling delays on a shared machine: memoryless, so
            # exponential (cv 1); what matters is which of the two usually comes first, and how often not.
            "timing_cv": 1.0,
        }


def _raw(result: Any) -> Mapping[str, Any]:
    if isinstance(result, Mapping):
        return result
    raw = getattr(result, "raw", None)
    if isinstance(raw, Mapping):
        return raw
    raise TypeError(f"{type(result).__name__} has no fortio JSON: pass a FortioResult or fortio's JSON dict")


def _moments(hist: Mapping[str, Any] | None) -> tuple[int, float, float]:
    """(count, sum, sum of squares) of a fortio HistogramData, from Count, Sum/Avg and StdDev."""
    if not hist:
        return 0, 0.0, 0.0
    count = int(hist.get("Count") or 0)
    if count == 0:
        return 0, 0.0, 0.0
    total = float(hist["Sum"]) if hist.get("Sum") is not None else float(hist.get("Avg") or 0.0) * count
    mean = total / count
    std = float(hist.get("StdDev") or 0.0)
    return count, total, count * (std * std + mean * mean)


def _cv(count: int, total: float, squares: float) -> float:
    if count < 2 or total <= 0:
        return 0.0
    mean = total / count
    return math.sqrt(max(squares / count - mean * mean, 0.0)) / mean


def timing_from_result(result: Any, *, limits: Sequence[ClusterLimits] | None = None) -> RunTiming:
    """Times of one run: the 200s' and the 503s' latencies, and what they imply for the simulation.

    The 200s' mean latency includes time spent in the pending queue, so it overestimates the service time
    as soon as calls queue. Given the route's ``limits``, the service time is the smaller of two upper
    bounds: that mean latency, and ``K * duration / ok_count`` where K is the most calls real Envoy can
    have in flight (``sum(in_flight_high)``, slack included): K slots serve at most K*D/s calls in D
    seconds. Without limits it is the mean latency. A ``-c 1`` run gives the cleanest one.
    """
    raw = _raw(result)
    count, total, squares = _moments(raw.get("DurationHistogram"))
    errors, err_total, err_squares = _moments(raw.get("ErrorsDurationHistogram"))
    ok = count - errors
    ok_latency = (total - err_total) / ok if ok > 0 else math.nan
    duration = float(raw.get("ActualDuration") or 0) / 1e9
    service = ok_latency
    if limits and ok > 0 and duration > 0:
        slots = sum(lim.in_flight_high for lim in limits if lim.weight > 0)
        if math.isfinite(slots):
            service = min(service, slots * duration / ok)
    connections = raw.get("ConnectionStats") or {}
    connect = float(connections.get("Avg") or 0.0) if connections.get("Count") else math.nan
    reject = err_total / errors if errors else math.nan
    gap = max(reject - (connect if math.isfinite(connect) else 0.0), 0.0) if errors else math.nan
    return RunTiming(
        service_time_s=service,
        service_cv=_cv(ok, total - err_total, squares - err_squares),
        reject_time_s=reject,
        reject_cv=_cv(errors, err_total, err_squares) if errors else math.nan,
        connect_time_s=connect,
        client_gap_s=gap,
        ok_latency_s=ok_latency,
        ok_count=ok,
        error_count=errors,
        duration_s=duration,
    )


def times_from_result(result: Any, *, limits: Sequence[ClusterLimits] | None = None) -> tuple[float, float]:
    """``(service_time_s, reject_time_s)`` of a run, for ``simulate`` (see ``timing_from_result``).

    reject_time_s is NaN when the run had no errors: nothing was rejected, so the run cannot tell.
    """
    timing = timing_from_result(result, limits=limits)
    return timing.service_time_s, timing.reject_time_s
