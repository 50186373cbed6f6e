"""PURE: what retries do to the load, for a failure fraction ``p`` and ``n`` retries (``attempts: n``).

Each attempt fails on its own with probability ``p`` (a flaky instance: service-go's fault with a seed) and a
failed attempt is retried while retries are left. A call then makes ``1 + p + p² + … + pⁿ`` attempts on
average
(the **amplification**: requests reaching the service per client call) and fails only when all ``n + 1``
attempts failed (``pⁿ⁺¹``). The band allows a run its sampling error: the spread of the attempts per call (a
truncated geometric number) over the run's calls.
"""

from __future__ import annotations

import math

__all__ = ["amplification", "amplification_band", "attempts_variance", "failed_share", "retries_503"]


def _check(p: float, n: int) -> None:
    if not 0.0 <= p <= 1.0 or n < 0:
        raise ValueError(f"need 0 <= p <= 1 and n >= 0, got p={p!r}, n={n!r}")


def amplification(p: float, n: int) -> float:
    """Requests reaching the service per client call: ``Σ_{k=0..n} pᵏ`` (``n + 1`` when every attempt
    fails)."""
    _check(p, n)
    return float(sum(p**k for k in range(n + 1)))


def failed_share(p: float, n: int) -> float:
    """The share of calls that still fail: every one of the ``n + 1`` attempts failed, ``pⁿ⁺¹``."""
    _check(p, n)
    return float(p ** (n + 1))


def attempts_variance(p: float, n: int) -> float:
    """The variance of one call's attempts ``K``: ``E[K²] − E[K]²`` with ``P(K ≥ j) = pʲ⁻¹`` for j ≤ n + 1."""
    _check(p, n)
    second = sum((2 * j - 1) * p ** (j - 1) for j in range(1, n + 2))
    return max(0.0, second - amplification(p, n) ** 2)


def amplification_band(p: float, n: int, calls: int, *, sigmas: float = 3.0, slack: float = 0.03
                       ) -> tuple[float, float]:
    """Where a run of ``calls`` calls may measure the amplification: theory ± ``sigmas`` standard errors of
    the mean attempts per call, plus ``slack`` (what the theory leaves out: a reset connection, a retry
    Envoy dropped)."""
    if calls < 1:
        raise ValueError(f"need at least one call, got {calls!r}")
    mid = amplification(p, n)
    half = sigmas * math.sqrt(attempts_variance(p, n) / calls) + slack
    return max(1.0, mid - half), min(n + 1.0, mid + half)


def retries_503(retry_on: str, codes: tuple[int, ...] = ()) -> bool:
    """Whether a retry policy with these ``retry_on`` conditions (and ``retriable_status_codes``) retries an
    app's 503: ``5xx`` and ``gateway-error`` do, ``retriable-status-codes`` only with 503 listed; Istio's
    default (``connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes``, no code since
    1.24) does not."""
    words = {w.strip() for w in retry_on.split(",") if w.strip()}
    return bool(words & {"5xx", "gateway-error"}) or ("retriable-status-codes" in words and 503 in codes)
