"""Closed forms for the 503 share of a closed-loop fortio run (``-qps 0``) against a breaker admitting L.

Pure arithmetic. The discrete-event simulation (``lablib.theory.simulation``) reproduces each of these in its
limit; the tests in tests/theory check that it does.
"""

from __future__ import annotations

import math

__all__ = ["duration_run_bound", "fast_rejection_bound", "littles_law_concurrency"]


def fast_rejection_bound(c: float, L: float) -> float:
    """503 share of an ``-n N -c C`` run when rejections take no time: 0 for c ≤ L, else ``1 - L/c``.

    Model: each of the c fortio threads owns N/C calls. The first L threads are admitted; a rejected thread
    gets its 503 in no time and calls again at once, so it burns all its calls as 503s before any admitted
    call finishes, while the L admitted threads finish theirs without contention. The 503 share is the
    share of threads rejected at the start, ``(c - L)/c``. With slower rejections the roles mix (a rejected
    thread can slip in when a slot frees) and the share moves toward ``duration_run_bound`` or, when
    rejections are slower than service, below this value: it is the fast-rejection limit, not a bound in
    every regime.
    """
    if c <= 0:
        raise ValueError(f"concurrency must be > 0, got {c}")
    if L < 0:
        raise ValueError(f"limit must be >= 0, got {L}")
    return 0.0 if c <= L else 1.0 - L / c


def duration_run_bound(
    c: float,
    L: float,
    *,
    service_time_s: float,
    reject_time_s: float,
    in_flight: float | None = None,
) -> float:
    """Steady-state 503 share of CALLS in a ``-t D -c C -qps 0`` run (rejected threads keep looping).

    Model (a closed queueing network in steady state):
    - ``min(c, L)`` threads hold admitted slots; the other ``c - L`` threads are rejected and call again at
      once, each making one call every ``reject_time_s`` (r): 503s arrive at rate ``(c - L)/r``.
    - Of the admitted threads only ``in_flight`` (K, default L: no queue) are served at once; each takes
      ``service_time_s`` (s), so 200s complete at rate ``K/s``. The ``L - K`` queued threads add latency, not
      throughput.
    - Every freed slot is refilled at once (by the same thread or a looping one: who refills does not change
      the rates), rejection does not depend on history, and the run is long enough to ignore start and end.

    So the share of calls that are 503 is ``((c-L)/r) / ((c-L)/r + K/s) = (c-L)·s / ((c-L)·s + K·r)``.
    With r = s and no queue it equals ``1 - L/c``; with r ≪ s (local 503s are fast) it approaches 1: the
    503 share of a duration run is much higher than the share of threads that are rejected.
    """
    if c <= 0:
        raise ValueError(f"concurrency must be > 0, got {c}")
    if service_time_s <= 0 or reject_time_s < 0:
        raise ValueError("service_time_s must be > 0 and reject_time_s >= 0")
    if c <= L:
        return 0.0
    k = L if in_flight is None else min(in_flight, L)
    if k <= 0:
        return 1.0
    looping = c - L
    return looping * service_time_s / (looping * service_time_s + k * reject_time_s)


def littles_law_concurrency(ok_count: int, avg_latency_s: float, duration_s: float) -> float:
    """Admitted concurrency from the 200s of a run, by Little's law ``L = λ·W``.

    λ = ok_count / duration_s (200s per second), W = their average latency (queueing included), so the
    result is the time-average number of admitted requests in the system: compare it with the breaker's L.
    """
    if duration_s <= 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    if ok_count < 0 or avg_latency_s < 0 or math.isnan(avg_latency_s):
        raise ValueError("ok_count and avg_latency_s must be >= 0")
    return ok_count / duration_s * avg_latency_s
