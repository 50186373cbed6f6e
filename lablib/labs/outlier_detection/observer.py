"""Watch the client sidecar's view of each host while load runs: a sampling thread and a load thread.

``Observer`` polls the lab's ``hosts()`` (Envoy ``/clusters``: the ``/failed_outlier_check`` health flag) and
``stats()`` (``outlier_detection.*``, ``membership_healthy``, ``upstream_cx_none_healthy``) at ~10 Hz
and fills a ``Timeline``. ``LoadRunner`` runs fortio in short paced slices (``-qps Q -n N``: no warmup, so
no abort on the first 503) and records the response codes of each slice: "response codes over time".
``watch()`` runs both, plus timed actions (turn a fault on, apply a rule), and returns the timeline.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lablib.i18n import Msg
from lablib.labs.outlier_detection.rule import ParameterError
from lablib.labs.outlier_detection.timeline import CodeSample, HostSample, Mark, StatSample, Timeline
from lablib.notebook.runs import SERVICE_CLUSTER

if TYPE_CHECKING:
    from lablib.lab import Lab

__all__ = [
    "DEFAULT_CLUSTER",
    "DEFAULT_URL",
    "OBSERVED_STATS",
    "Action",
    "LoadRunner",
    "Observer",
    "ret_codes",
    "watch",
]

log = logging.getLogger(__name__)

#: The subset-less cluster of the book's VirtualService: both service-go pods are its hosts.
DEFAULT_CLUSTER = SERVICE_CLUSTER
DEFAULT_URL = "http://service-go/env"

#: Cluster stats sampled with the hosts (Envoy ``cluster_stats.rst`` names, without ``cluster.<name>.``).
OBSERVED_STATS = (
    "outlier_detection.ejections_active",
    "outlier_detection.ejections_enforced_total",
    "outlier_detection.ejections_enforced_consecutive_5xx",
    "outlier_detection.ejections_enforced_consecutive_gateway_failure",
    "outlier_detection.ejections_detected_consecutive_5xx",
    "outlier_detection.ejections_detected_consecutive_gateway_failure",
    "outlier_detection.ejections_overflow",
    "upstream_cx_none_healthy",
    "membership_healthy",
    "membership_total",
    "upstream_rq_total",
    "upstream_rq_retry",
    "upstream_rq_pending_overflow",
    "upstream_rq_active_overflow",
    "upstream_cx_overflow",
)


def _host_in_pool(host: Any) -> bool:
    """A host takes traffic when Envoy lists no failure flag for it (``healthy``)."""
    healthy = getattr(host, "healthy", None)
    return bool(healthy) if healthy is not None else not getattr(host, "ejected", False)


class Observer:
    """Sample ``lab.hosts()`` and ``lab.stats()`` on a daemon thread every ``period_s`` seconds.

    Use as a context manager (sampling stops on exit) or call ``start()``/``stop()``. Errors from the lab (an
    Envoy being reconfigured) skip that sample; the last one is kept in ``last_error``.

    >>> with Observer(lab, DEFAULT_CLUSTER) as obs:          # doctest: +SKIP
    ...     lab.fortio("load -qps 50 -n 200 http://service-go/env")
    >>> obs.timeline.events()                               # doctest: +SKIP
    """

    def __init__(self, lab: Lab, clusters: str | Sequence[str] = DEFAULT_CLUSTER, *, period_s: float = 0.1,
                 stats: Iterable[str] = OBSERVED_STATS) -> None:
        if period_s <= 0:
            raise ValueError(f"period_s must be > 0, got {period_s!r}")
        self.lab = lab
        self.clusters = (clusters,) if isinstance(clusters, str) else tuple(clusters)
        self.period_s = float(period_s)
        self.stat_names = tuple(stats)
        self.timeline = Timeline()
        self.last_error: BaseException | None = None
        self.errors = 0
        self._t0 = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- clock ----------------------------------------------------------------------------------------------
    def now(self) -> float:
        """Seconds since ``start()``."""
        return time.monotonic() - self._t0

    def mark(self, label: str) -> Mark:
        """Record that something happened now (drawn as a labelled vertical line)."""
        m = Mark(self.now(), label)
        with self._lock:
            self.timeline.marks.append(m)
        return m

    def add_codes(self, sample: CodeSample) -> None:
        with self._lock:
            self.timeline.codes.append(sample)

    # -- sampling -------------------------------------------------------------------------------------------
    def sample_once(self) -> None:
        """Take one sample of every watched cluster now."""
        t = self.now()
        hosts = self.lab.hosts()
        stats = self.lab.stats()
        host_samples = [HostSample(t, h.cluster, h.address, _host_in_pool(h), tuple(h.health_flags),
                                   dict(getattr(h, "stats", {}) or {}))
                        for h in hosts if h.cluster in self.clusters]
        stat_samples = []
        for cluster in self.clusters:
            cs = stats.get(cluster) if isinstance(stats, Mapping) else None
            if cs is None:
                continue
            values = getattr(cs, "values", cs)
            stat_samples.append(StatSample(t, cluster, {n: int(values.get(n, 0)) for n in self.stat_names}))
        with self._lock:
            self.timeline.hosts.extend(host_samples)
            self.timeline.stats.extend(stat_samples)

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            try:
                self.sample_once()
            except Exception as exc:  # keep sampling through a reconfiguration; report at the end
                self.errors += 1
                self.last_error = exc
                with self._lock:
                    self.timeline.sample_errors.append(f"t={self.now():.2f}s {type(exc).__name__}: {exc}")
                log.debug("observer sample failed: %s", exc)
            next_t += self.period_s
            delay = next_t - time.monotonic()
            if delay < 0:  # fell behind (busy machine): skip missed ticks rather than burst
                next_t = time.monotonic()
                delay = 0
            self._stop.wait(delay)

    def start(self) -> Observer:
        """Start sampling (t = 0 now)."""
        if self._thread is not None:
            raise RuntimeError("observer already started")
        self._t0 = time.monotonic()
        self.timeline.t0 = self._t0
        self._thread = threading.Thread(target=self._run, name="outlier-observer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Timeline:
        """Stop sampling, take one last sample, and return the timeline."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=10)
            self._thread = None
            with contextlib.suppress(Exception):
                self.sample_once()
        self.timeline.duration = self.now()
        return self.timeline

    def __enter__(self) -> Observer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ret_codes(result: Any) -> dict[int, int]:
    """The ``RetCodes`` of a fortio result (our ``FortioResult``, fortio's JSON dict, or anything close)."""
    for name in ("ret_codes", "RetCodes", "codes"):
        value = result.get(name) if isinstance(result, Mapping) else getattr(result, name, None)
        if value is not None:
            return {int(k): int(v) for k, v in dict(value).items()}
    raise TypeError(f"cannot find response codes (RetCodes) in fortio result {type(result).__name__}")


class LoadRunner:
    """Run ``lab.fortio`` in back-to-back paced slices on a thread, recording each slice's response codes.

    Each slice is ``load -c C -qps Q -n N URL`` with ``N = max(C, round(Q * slice_s))``: with ``-n``
    fortio does no warmup, so a failing host cannot abort the run (fortio-load-semantics §1.5).
    """

    def __init__(self, lab: Lab, observer: Observer, *, url: str = DEFAULT_URL, qps: float = 40.0,
                 connections: int = 2, slice_s: float = 0.5, extra_args: str = "") -> None:
        if qps <= 0:
            raise ParameterError(Msg("outlier.observer.qps", qps=qps))
        self.lab, self.observer, self.url = lab, observer, url
        self.qps, self.connections, self.slice_s = float(qps), int(connections), float(slice_s)
        self.extra_args = extra_args
        self.calls = max(self.connections, round(self.qps * self.slice_s))
        self.last_error: BaseException | None = None
        self.slices = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def args(self) -> str:
        extra = f" {self.extra_args}" if self.extra_args else ""
        return f"load -c {self.connections} -qps {self.qps:g} -n {self.calls}{extra} {self.url}"

    def _run(self) -> None:
        while not self._stop.is_set():
            t_start = self.observer.now()
            try:
                result = self.lab.fortio(self.args)
            except Exception as exc:
                self.last_error = exc
                log.warning("load slice failed: %s", exc)
                self._stop.wait(self.slice_s)
                continue
            self.observer.add_codes(CodeSample(t_start, self.observer.now(), ret_codes(result)))
            self.slices += 1

    def start(self) -> LoadRunner:
        self._thread = threading.Thread(target=self._run, name="outlier-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the running slice ends (wait a few slices at most: a stuck run must not hang a cell)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, 4 * self.slice_s))
            if self._thread.is_alive():
                log.warning("a fortio slice is still running after stop(); leaving it to finish on its own")
            self._thread = None


@dataclass(frozen=True)
class Action:
    """Something to do ``at_s`` seconds into a ``watch()``: e.g. turn a fault on, apply a rule."""

    at_s: float
    label: str
    do: Callable[[], object]


def _records_to_codes(records: Iterable[Any], t0_wall: float, bins: Sequence[CodeSample]) -> list[CodeSample]:
    """Re-bin access-log records (wall-clock ``start_time``) into the load's slices, adding response flags."""
    out = []
    recs = sorted(records, key=lambda r: r.start_time)
    for b in bins:
        lo, hi = t0_wall + b.t_start, t0_wall + b.t_end
        inside = [r for r in recs if lo <= r.start_time < hi]
        flags: Counter[str] = Counter()
        for r in inside:
            for f in (getattr(r, "flag_set", None) or ()):
                flags[f] += 1
        out.append(CodeSample(b.t_start, b.t_end, b.codes, dict(flags)))
    return out


def watch(lab: Lab, *, duration_s: float, cluster: str | Sequence[str] = DEFAULT_CLUSTER,
          url: str = DEFAULT_URL, qps: float = 40.0, connections: int = 2, slice_s: float = 0.5,
          period_s: float = 0.1, actions: Sequence[Action] = (),
          until: Callable[[Timeline], bool] | None = None, extra_args: str = "") -> Timeline:
    """Run paced load for ``duration_s`` while sampling hosts and stats; do ``actions`` at their times.

    ``until`` (called on the timeline after each sample period) may end the watch early, e.g. once the host is
    back. Returns the timeline; ``timeline.marks`` holds one mark per action done.
    """
    obs = Observer(lab, cluster, period_s=period_s)
    t0_wall = time.time()
    pending = sorted(actions, key=lambda a: a.at_s)
    # Each slice prints fortio's summary on stderr: dozens per watch. Keep them out of the notebook.
    with contextlib.redirect_stderr(io.StringIO()), obs:
        load = LoadRunner(lab, obs, url=url, qps=qps, connections=connections, slice_s=slice_s,
                          extra_args=extra_args).start()
        try:
            while obs.now() < duration_s:
                while pending and pending[0].at_s <= obs.now():
                    action = pending.pop(0)
                    action.do()
                    obs.mark(action.label)
                if until is not None and obs.now() > 0.5 and until(obs.timeline):
                    break
                time.sleep(min(period_s, 0.1))
        finally:
            load.stop()
    records = _access_records(lab, t0_wall, sum(c.calls for c in obs.timeline.codes))
    if records is not None:
        obs.timeline.codes = _records_to_codes(records, t0_wall, obs.timeline.codes)
    if load.slices == 0 and load.last_error is not None:
        raise load.last_error
    return obs.timeline


def _access_records(lab: Lab, since_wall: float, calls: int) -> list[Any] | None:
    """The client sidecar's access-log records since ``since_wall`` if the backend offers them, else None.

    Envoy flushes its access log on a timer, so wait (a little) until every call the load made is there.
    """
    fn = getattr(lab, "responses", None)
    if not callable(fn):
        return None
    try:
        return list(fn(since_wall, wait_for=calls, timeout=3.0))
    except TypeError:  # a backend without wait_for
        with contextlib.suppress(Exception):
            return list(fn(since_wall))
    except Exception as exc:
        log.debug("no access log: %s", exc)
    return None
