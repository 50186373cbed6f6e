"""One measured run of lab 05: what the client saw, what its sidecar's retry counters say, and what reached
service-go (each server sidecar's ``inbound|80||`` counters).

``RetryRun`` is plain data, so the plots, tables and checks are tested without Envoy. ``measure`` resets every
sidecar's counters, runs fortio from one client pod (or several at once, ``measure_many``) and reads both
sides.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lablib.envoy.access_log import ResponseRecord
from lablib.labs.retries_meet_breakers.mesh import service_pods
from lablib.labs.retries_meet_breakers.theory import amplification_band
from lablib.notebook.runs import SERVICE_CLUSTER, fortio_args

__all__ = ["CLIENT_COUNTERS", "INBOUND", "RETRY_COUNTERS", "SERVER_COUNTERS", "TIMEOUT_COUNTERS", "RetryRun",
           "measure", "measure_many"]

#: The server sidecar's inbound cluster: what it forwards is what reached service-go.
INBOUND = "inbound|80||"
#: The client sidecar's counters lab 05 reads on the service's cluster.
CLIENT_COUNTERS = (
    "upstream_rq_total",  # attempts sent upstream: first tries and retries
    "upstream_rq_retry",  # retries the router made
    "upstream_rq_retry_success",  # retries that answered a non-retriable response
    "upstream_rq_retry_overflow",  # retries refused by the retry breaker (maxRetries or the budget)
    "upstream_rq_retry_limit_exceeded",  # calls that used up their attempts
    "upstream_rq_per_try_timeout",  # tries cut by perTryTimeout
    "upstream_rq_timeout",  # calls cut by the route's timeout
    "upstream_rq_pending_total",  # requests that waited for a connection
    "upstream_rq_pending_overflow",  # the pending queue was full: 503 UO
    "upstream_rq_active_overflow",  # http2MaxRequests reached: 503 UO
)
#: A server sidecar's inbound counters: requests it forwarded to the app, what the app answered, and the
#: overflows of its own breaker (Istio puts the rule's connectionPool there too).
SERVER_COUNTERS = ("upstream_rq_total", "upstream_rq_200", "upstream_rq_503", "upstream_rq_pending_overflow",
                   "upstream_rq_active_overflow")
_PERCENTILES = (50.0, 90.0, 99.0)
#: The columns of the retry breakers' tables (Steps 3 and 4) and of the timeouts' (Step 5).
RETRY_COUNTERS = ("upstream_rq_retry", "upstream_rq_retry_overflow")
TIMEOUT_COUNTERS = ("upstream_rq_per_try_timeout", "upstream_rq_timeout", "upstream_rq_pending_total",
                    "upstream_rq_total")


@dataclass(frozen=True)
class RetryRun:
    """One fortio run (or several clients' runs at once) under one retry setting.

    ``settings``: what was configured (``attempts``, ``fraction``, ``max_retries``, …: the plots' labels and
    the theory read them); ``client``: the client sidecars' counters on the service's cluster, summed;
    ``server``: per service pod, its sidecar's inbound counters; ``records``: the client's access log for the
    run, when it was read (``responses=True``).
    """

    label: str
    concurrency: int
    codes: Mapping[int, int]
    calls: int
    client: Mapping[str, int]
    server: Mapping[str, Mapping[str, int]]
    settings: Mapping[str, Any] = field(default_factory=dict)
    percentiles_ms: Mapping[float, float] = field(default_factory=dict)
    duration_s: float = 0.0
    records: tuple[ResponseRecord, ...] = field(default=(), repr=False, compare=False)

    @property
    def reached(self) -> int:
        """Requests that reached service-go: what every server sidecar forwarded to its app."""
        return sum(int(c.get("upstream_rq_total", 0)) for c in self.server.values())

    @property
    def amplification(self) -> float:
        """Requests reaching service-go per client call."""
        return self.reached / self.calls if self.calls else 0.0

    @property
    def failure_fraction(self) -> float:
        """The share of requests reaching service-go that the app answered 503 (the measured ``p``)."""
        failed = sum(int(c.get("upstream_rq_503", 0)) for c in self.server.values())
        return failed / self.reached if self.reached else 0.0

    def share(self, code: int) -> float:
        """The share (0..1) of client calls answered ``code``."""
        return int(self.codes.get(code, 0)) / self.calls if self.calls else 0.0

    @property
    def share_503(self) -> float:
        return self.share(503)

    @property
    def retries(self) -> int:
        return int(self.client.get("upstream_rq_retry", 0))

    @property
    def retry_overflow(self) -> int:
        return int(self.client.get("upstream_rq_retry_overflow", 0))

    @property
    def retry_share(self) -> float:
        """Retries among the attempts the client sidecar sent (0..1)."""
        sent = int(self.client.get("upstream_rq_total", 0))
        return self.retries / sent if sent else 0.0

    @property
    def attempts(self) -> int:
        """The route's ``attempts`` (0: retries off, or none configured)."""
        return int(self.settings.get("attempts") or 0)

    def server_overflows(self, pod: str | None = None) -> int:
        """503s the server sidecars' own breakers made (of ``pod`` only, if given)."""
        pods = [pod] if pod is not None else list(self.server)
        return sum(int(self.server.get(p, {}).get(c, 0)) for p in pods
                   for c in ("upstream_rq_pending_overflow", "upstream_rq_active_overflow"))

    def band(self) -> tuple[float, float]:
        """Where theory expects the amplification for this run's measured failure fraction and attempts."""
        return amplification_band(self.failure_fraction, self.attempts, max(self.calls, 1))


def _quiet() -> contextlib.ExitStack:
    """fortio's text report stays out of the notebook (the run keeps the result)."""
    stack = contextlib.ExitStack()
    text = io.StringIO()
    stack.enter_context(contextlib.redirect_stderr(text))
    stack.enter_context(contextlib.redirect_stdout(text))
    return stack


def _client_counters(lab: Any, pods: Sequence[str | None]) -> dict[str, int]:
    out = dict.fromkeys(CLIENT_COUNTERS, 0)
    for pod in pods:
        stats = lab.stats(SERVICE_CLUSTER, pod=pod) if pod is not None else lab.stats(SERVICE_CLUSTER)
        for name in CLIENT_COUNTERS:
            out[name] += int(stats.get(name, 0))
    return out


def _server_counters(lab: Any) -> dict[str, dict[str, int]]:
    out = {}
    for pod in service_pods(lab):
        stats = lab.stats(INBOUND, pod=pod)
        out[pod] = {name: int(stats.get(name, 0)) for name in SERVER_COUNTERS}
    return out


def _grew(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {name: int(after.get(name, 0)) - int(before.get(name, 0)) for name in after}


def _server_grew(before: Mapping[str, Mapping[str, int]], after: Mapping[str, Mapping[str, int]]
                 ) -> dict[str, dict[str, int]]:
    return {pod: _grew(before.get(pod, {}), counters) for pod, counters in after.items()}


def measure(lab: Any, label: str, concurrency: int, *, calls: int, settings: Mapping[str, Any] | None = None,
            responses: bool = False) -> RetryRun:
    """Run fortio from the fortio pod (``-c concurrency -n calls``) and read how much the client's and the
    servers' counters grew (read before and after: the cluster backend resets the fortio pod's counters
    only), and with ``responses`` the client's access log of the run."""
    lab.reset_counters()
    client, server = _client_counters(lab, [None]), _server_counters(lab)
    start = time.time()
    with _quiet():
        result = lab.fortio(fortio_args(concurrency, calls=calls))
    records = tuple(lab.responses(start - 0.001, wait_for=int(result.count))) if responses else ()
    return RetryRun(label, concurrency, dict(result.codes), int(result.count),
                    _grew(client, _client_counters(lab, [None])),
                    _server_grew(server, _server_counters(lab)), dict(settings or {}),
                    {q: 1000.0 * float(result.percentiles.get(q, 0.0)) for q in _PERCENTILES},
                    float(result.duration_s), records)


def measure_many(lab: Any, label: str, runs: Mapping[str, tuple[int, int]], *,
                 settings: Mapping[str, Any] | None = None, responses: bool = False) -> RetryRun:
    """Every client pod of ``runs`` (pod -> (concurrency, calls)) at the same time, as one run: codes and
    client counters summed over the clients; the fortio pod's access log with ``responses``."""
    lab.reset_counters()
    client, server = _client_counters(lab, list(runs)), _server_counters(lab)
    start = time.time()
    with _quiet():
        results = lab.fortio_many({pod: fortio_args(c, calls=n) for pod, (c, n) in runs.items()})
    codes: dict[int, int] = {}
    for result in results.values():
        for code, count in result.codes.items():
            codes[int(code)] = codes.get(int(code), 0) + int(count)
    calls = sum(int(r.count) for r in results.values())
    first = results.get("fortio") or next(iter(results.values()))
    records = (tuple(lab.responses(start - 0.001, wait_for=int(first.count)))
               if responses and "fortio" in results else ())
    return RetryRun(label, sum(c for c, _ in runs.values()), codes, calls,
                    _grew(client, _client_counters(lab, list(runs))),
                    _server_grew(server, _server_counters(lab)), dict(settings or {}),
                    {q: 1000.0 * float(first.percentiles.get(q, 0.0)) for q in _PERCENTILES},
                    max(float(r.duration_s) for r in results.values()), records)
