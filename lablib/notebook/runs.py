"""One load run as the notebook plots it: which rule, which concurrency, what fortio saw, which counters
moved.

``RunPoint`` is plain data so plots, checks and explanations can be tested without Envoy. ``sweep`` is the one
function that drives a lab through a list of concurrencies (reset counters, run fortio, read the cluster's
overflow counters), the way the book's step 4 does by hand.
"""

from __future__ import annotations

import contextlib
import io
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from lablib._exceptions import ParameterError
from lablib.i18n import Msg, t
from lablib.lab_defaults import HOST
from lablib.notebook import contention
from lablib.notebook.contention import Contention
from lablib.translate.names import build_subset_key, fqdn

if TYPE_CHECKING:
    from lablib.lab import Lab

__all__ = [
    "OVERFLOW_COUNTERS",
    "SERVICE_CLUSTER",
    "FortioLike",
    "RunPoint",
    "admitted_concurrency",
    "by_label",
    "fortio_args",
    "run_point",
    "share_503",
    "summary",
    "sweep",
]

#: The Envoy cluster the book's route uses, named as Istio names it: the client sidecar's
#: ``outbound|80||service-go.default.svc.cluster.local``.
SERVICE_CLUSTER: str = build_subset_key("outbound", 80, None, fqdn(HOST))

#: Envoy counters that explain a 503 UO (or, for connections, why more requests waited), in display order.
OVERFLOW_COUNTERS: tuple[str, ...] = (
    "upstream_rq_pending_overflow",  # the pending queue (http1MaxPendingRequests) was full: 503
    "upstream_rq_active_overflow",  # max_requests (http2MaxRequests) reached when a stream attached: 503
    "upstream_cx_overflow",  # max_connections reached: no new connection, the request waits (no 503 itself)
)

#: Called with (done, total, message); same shape as ``lablib.backends.base.ProgressCallback``.
Progress = Callable[[int, int, str], None]


class FortioLike(Protocol):
    """What the notebook reads from a fortio result (``lablib.fortio.FortioResult`` has all of it)."""

    codes: Mapping[int, int]
    count: int
    qps: float
    avg_s: float
    percentiles: Mapping[float, float]
    sockets: int
    num_threads: int


@dataclass(frozen=True)
class RunPoint:
    """One ``fortio load`` at one concurrency under one rule.

    ``overflows`` holds the client sidecar's overflow counters for the run (counters are reset before each
    run, so these are the run's own); empty for the book's runs, which printed none.
    """

    label: str
    concurrency: int
    result: Any
    overflows: Mapping[str, int] = field(default_factory=dict)
    repeat: int = 0
    #: fortio's text report of the run (kept, not printed, when the run was quiet)
    output: str = field(default="", repr=False, compare=False)
    #: how much CPU other programs took during the run (``lablib.notebook.contention``; None: unmeasured)
    contention: Contention | None = field(default=None, repr=False, compare=False)

    @property
    def calls(self) -> int:
        return int(self.result.count)

    @property
    def share_503(self) -> float:
        """Fraction (0..1) of the calls answered 503."""
        return share_503(self.result)

    @property
    def admitted(self) -> float | None:
        """Requests the breaker let in at once, by Little's law on the 200s (None when it cannot be told)."""
        return admitted_concurrency(self.result)

    @property
    def explained_503(self) -> int:
        """503s accounted for by Envoy's rejecting counters (pending + active overflow)."""
        return int(self.overflows.get("upstream_rq_pending_overflow", 0)) + int(
            self.overflows.get("upstream_rq_active_overflow", 0)
        )


def share_503(result: Any) -> float:
    """Fraction of ``result``'s calls that got 503."""
    count = int(result.count) or sum(int(v) for v in result.codes.values())
    return int(result.codes.get(503, 0)) / count if count else 0.0


def _error_sum_s(result: Any) -> float | None:
    """Total time spent in non-2xx calls, from fortio's ``ErrorsDurationHistogram`` if the result kept it."""
    raw = getattr(result, "raw", None)
    if isinstance(raw, Mapping):
        err = raw.get("ErrorsDurationHistogram")
        if isinstance(err, Mapping) and err.get("Sum") is not None:
            return float(err["Sum"])
    buckets = getattr(result, "errors_histogram", None)
    if buckets:  # bucket midpoints: within a bucket's width of the true sum
        return sum((b.start_s + b.end_s) / 2 * b.count for b in buckets)
    return None


def admitted_concurrency(result: Any) -> float | None:
    """Average number of requests inside the breaker (active + pending), by Little's law on the 200s.

    L = λ·W with λ = 200s per second of the run and W = the mean latency of a 200. fortio keeps the time of
    the non-2xx calls apart (``ErrorsDurationHistogram``), so W = (all time − error time) / #200. Without
    that split the 503s are taken as instant, which slightly over-states W when 503s are many.
    """
    ok = int(result.codes.get(200, 0))
    count = int(result.count)
    qps = float(result.qps)
    if not ok or not count or qps <= 0:
        return None
    total_s = float(result.avg_s) * count
    err_s = _error_sum_s(result)
    ok_s = total_s - (err_s if err_s is not None else 0.0)
    duration_s = float(getattr(result, "duration_s", 0) or 0) or count / qps
    return max(0.0, (ok / duration_s) * (ok_s / ok))


def fortio_args(
    concurrency: int,
    *,
    calls: int | None = None,
    qps: float = 0,
    url: str = "http://service-go/env",
    calls_per_thread: int = 10,
) -> str:
    """The book's command line: ``load -c C -qps 0 -n 10*C -loglevel Error URL`` (``calls`` overrides -n)."""
    n = calls if calls is not None else calls_per_thread * concurrency
    n = max(n, concurrency)  # fortio: keep N >= C, else threads 1..C-1 still make one call each
    return f"load -c {concurrency} -qps {qps:g} -n {n} -loglevel Error {url}"


def run_point(
    lab: Lab,
    cluster: str | None,
    label: str,
    concurrency: int,
    *,
    repeat: int = 0,
    calls: int | None = None,
    qps: float = 0,
    calls_per_thread: int = 10,
    url: str = "http://service-go/env",
    progress: Progress | None = None,
    quiet: bool = True,
) -> RunPoint:
    """Reset the client sidecar's counters, run fortio once (measuring how busy the machine was meanwhile:
    ``RunPoint.contention``), and read the overflow counters of ``cluster``.

    ``cluster=None`` sums the counters of every ``outbound|`` cluster (a weighted route spreads the load).
    ``quiet`` keeps fortio's text report in ``RunPoint.output`` instead of printing it (a sweep makes dozens).
    """
    lab.reset_counters()
    args = fortio_args(concurrency, calls=calls, qps=qps, url=url, calls_per_thread=calls_per_thread)
    text = io.StringIO()
    probe = contention.start(lab)
    with contextlib.ExitStack() as stack:
        if quiet:
            stack.enter_context(contextlib.redirect_stderr(text))
            stack.enter_context(contextlib.redirect_stdout(text))
        result = lab.fortio(args, progress=progress)
    busy = probe.stop() if probe is not None else None
    stats = lab.stats(cluster) if cluster is not None else lab.stats()
    many = stats if isinstance(stats, Mapping) else {getattr(stats, "cluster", cluster): stats}
    overflows = {name: sum(int(s.get(name, 0)) for s in many.values()) for name in OVERFLOW_COUNTERS}
    return RunPoint(label, concurrency, result, overflows, repeat, output=text.getvalue(), contention=busy)


def check_runs(concurrencies: Sequence[int], repeats: int = 1) -> None:
    """A ``ParameterError`` in the notebook's language when a parameters cell asks for no run: no ``-c``
    value, a ``-c`` below 1 or ``repeats`` below 1 (raised before anything runs, not an empty plot later)."""
    if not concurrencies:
        raise ParameterError(Msg("notebook.err.no_concurrency"))
    bad = [c for c in concurrencies if c < 1]
    if bad:
        raise ParameterError(Msg("notebook.err.concurrency", bad=[str(c) for c in bad]))
    if repeats < 1:
        raise ParameterError(Msg("notebook.err.repeats", repeats=repeats))


def sweep(
    lab: Lab,
    label: str,
    concurrencies: Iterable[int],
    *,
    cluster: str | None = None,
    repeats: int = 1,
    calls_per_thread: int = 10,
    url: str = "http://service-go/env",
    progress: Progress | None = None,
    lang: str = "en",
) -> list[RunPoint]:
    """Run fortio at each concurrency ``repeats`` times (like the book's c=20/30/40 runs, n = 10·c).

    ``progress`` gets a message per run, in ``lang``.
    """
    concurrencies = list(concurrencies)
    check_runs(concurrencies, repeats)
    plan = [(c, r) for c in concurrencies for r in range(repeats)]
    points: list[RunPoint] = []
    for i, (c, r) in enumerate(plan):
        if progress is not None:
            progress(i, len(plan),
                     t("notebook.sweep.run", lang, label=label, c=c, run=r + 1, repeats=repeats))
        points.append(run_point(lab, cluster, label, c, repeat=r, calls_per_thread=calls_per_thread, url=url))
    if progress is not None:
        progress(len(plan), len(plan), t("notebook.sweep.done", lang, label=label))
    return points


def by_label(points: Iterable[RunPoint]) -> dict[str, list[RunPoint]]:
    """Points grouped by rule label, in first-seen order, each group sorted by concurrency then repeat."""
    groups: dict[str, list[RunPoint]] = {}
    for p in points:
        groups.setdefault(p.label, []).append(p)
    return {k: sorted(v, key=lambda p: (p.concurrency, p.repeat)) for k, v in groups.items()}


@dataclass(frozen=True)
class Summary:
    """503 share at one concurrency over the repeats: mean, min and max (fractions)."""

    concurrency: int
    mean: float
    low: float
    high: float
    runs: int
    sockets: float


def summary(points: Sequence[RunPoint]) -> list[Summary]:
    """Per-concurrency mean/min/max of the 503 share for points of one label."""
    by_c: dict[int, list[RunPoint]] = {}
    for p in points:
        by_c.setdefault(p.concurrency, []).append(p)
    out = []
    for c in sorted(by_c):
        shares = [p.share_503 for p in by_c[c]]
        sockets = [float(getattr(p.result, "sockets", 0) or 0) for p in by_c[c]]
        out.append(
            Summary(
                c, statistics.fmean(shares), min(shares), max(shares), len(shares), statistics.fmean(sockets)
            )
        )
    return out
