"""``FortioResult``: the one small record that plots and checks read, whatever produced the run.

Built by :func:`lablib.fortio.reader.read_result` from our JSON, real fortio JSON or fortio's text
summary, and returned by :func:`lablib.fortio.load`. Times are in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lablib.fortio.http_client import code_is_ok
from lablib.i18n import Msg, render

__all__ = ["Bucket", "FortioResult"]


@dataclass(frozen=True)
class Bucket:
    """One exported histogram bucket: ``(start_s, end_s]``, cumulative ``percent``, ``count``."""

    start_s: float
    end_s: float
    percent: float
    count: int


@dataclass(frozen=True)
class FortioResult:
    """One fortio ``load`` run.

    ``source`` says where it came from: ``"lablib"`` (our generator), ``"fortio-json"`` (real fortio
    ``-json``) or ``"fortio-text"`` (fortio's text summary, as printed in the book). Fields the source
    does not carry are ``None`` (e.g. ``sockets_per_thread`` before fortio 1.35, ``histogram`` from
    ``-loglevel Error`` text).
    """

    #: HTTP code -> calls (warmup excluded); -1 is a socket error. A gRPC run (``run_type`` ``GRPC …``) is
    #: keyed by fortio's names: ``SERVING`` (OK), ``ERROR`` (any failed call), or a health status
    #: (``NOT_SERVING``…)
    codes: dict[int | str, int]
    #: calls recorded (DurationHistogram Count)
    count: int
    #: threads after any lowering (``-c``, or fortio's "would be C")
    num_threads: int
    #: actual queries per second
    qps: float
    #: ``-qps`` asked for; 0 means max speed
    requested_qps: float
    #: run duration (s), after warmup
    duration_s: float
    avg_s: float
    min_s: float
    max_s: float
    #: population standard deviation (s)
    stddev_s: float
    #: percentile (e.g. 99.9) -> seconds
    percentiles: dict[float, float]
    #: fortio's "Sockets used" (every dial, warmup included)
    sockets: int | None
    sockets_per_thread: list[int] | None
    histogram: list[Bucket] | None
    errors_histogram: list[Bucket] | None
    url: str
    labels: str
    version: str
    source: str
    raw: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    #: ``-n`` (0 when the run was time-bounded)
    exactly: int = 0
    #: RFC 3339 start time when known
    start_time: str = ""
    #: fortio's ``RunType``: ``HTTP``, ``GRPC Ping``, ``GRPC Ping Delay=10ms``, ``GRPC Health for ''``…
    run_type: str = "HTTP"
    #: gRPC runs: the failed calls (``codes["ERROR"]``) by gRPC status name, e.g. ``{"UNAVAILABLE": 12}``
    #: (an Envoy overflow); ``{}`` when none failed; None when the source does not say (real fortio's JSON,
    #: a text summary printed at ``-loglevel Error``) or for an HTTP run
    grpc_errors: dict[str, int] | None = None
    #: ``-h2``: the calls went over HTTP/2 (fortio's std client)
    h2: bool = False

    @property
    def grpc(self) -> bool:
        """A ``-grpc`` run."""
        return self.run_type.startswith("GRPC")

    def share(self, code: int | str) -> float:
        """Fraction (0..1) of calls that returned ``code`` (``503``, or for gRPC ``"ERROR"``)."""
        return self.codes.get(code, 0) / self.count if self.count else 0.0

    def grpc_share(self, status: str) -> float:
        """Fraction (0..1) of calls that failed with gRPC ``status`` (``"UNAVAILABLE"``); 0 when unknown."""
        n = (self.grpc_errors or {}).get(status, 0)
        return n / self.count if self.count else 0.0

    @property
    def ok(self) -> int:
        """Calls with a 2xx/418 code, or SERVING for gRPC (fortio's notion of OK)."""
        return sum(n for c, n in self.codes.items() if code_is_ok(c))

    @property
    def non_ok(self) -> int:
        """Calls with any other code, socket errors (-1) included."""
        return sum(n for c, n in self.codes.items() if not code_is_ok(c))

    def summary(self, lang: str = "en") -> str:
        """One line for a notebook, in ``lang``: ``30 calls, 3 threads: 200 36.7%, 503 63.3%; p50 3.00 ms;
        20 sockets``."""
        # each code's share is a name and a number (a list: joined with the language's separator)
        n_all = self.count
        items = sorted(self.codes.items(), key=lambda kv: str(kv[0]))
        codes = [f"{c} {100 * n / n_all:.1f}%" for c, n in items] if n_all else "-"
        text = Msg("fortio.result.summary", count=n_all, threads=self.num_threads, qps=self.qps, codes=codes)
        p50 = self.percentiles.get(50.0)
        if p50 is not None:
            text = Msg("fortio.result.summary_p50", text=text, ms=p50 * 1000)
        if self.sockets is not None:
            text = Msg("fortio.result.summary_sockets", text=text, sockets=self.sockets)
        return render(text, lang)
