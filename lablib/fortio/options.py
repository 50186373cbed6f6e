"""What ``fortio load`` takes: one options value with fortio's defaults, and the version we report.

``LoadOptions`` is fortio's ``HTTPRunnerOptions`` (periodic + HTTP options) with units in its field names;
``flags.py`` fills it from the command line, ``engine.py`` runs it, ``results.py`` echoes it in the JSON.
"""

from __future__ import annotations

import dataclasses
import socket
from dataclasses import dataclass

from lablib._exceptions import FortioUsageError
from lablib.fortio.stats import DEFAULT_PERCENTILES
from lablib.i18n import Msg

__all__ = ["DEFAULT_LOAD_OPTIONS", "FORTIO_VERSION", "LOG_LEVELS", "USER_AGENT", "VERSION", "LoadOptions"]

#: The fortio release whose ``load`` semantics this generator follows.
FORTIO_VERSION = "1.75.2"
#: What we write in ``Version``: fortio's version, marked so readers can tell our runs apart.
VERSION = FORTIO_VERSION + "+lablib"
USER_AGENT = f"fortio.org/fortio-{VERSION}"

#: loglevel names (fortio.org/log) -> rank; lower is more verbose
LOG_LEVELS = {"debug": 0, "verbose": 1, "info": 2, "warning": 3, "error": 4, "critical": 5, "fatal": 6}


@dataclass(frozen=True, kw_only=True)
class LoadOptions:
    """Everything ``fortio load`` takes, with fortio's defaults. Units are in the field names."""

    #: the URL to load (``http://`` is added when missing)
    url: str
    #: ``-c``: threads, each with its own client and at most one socket (gRPC: connections of ``-s`` threads)
    num_threads: int = 4
    #: ``-qps``: total queries per second across threads; 0 (or less) = max speed, closed loop
    qps: float = 8.0
    #: ``-n``: exactly this many calls (N // C per thread, remainder to thread 0, no warmup); 0 = use duration
    exactly: int = 0
    #: ``-t``: run duration in seconds when ``exactly`` is 0; 0 = until interrupted
    duration_s: float = 5.0
    #: ``-p``: percentiles to compute
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    #: ``-r``: histogram resolution in seconds (bucket unit)
    resolution_s: float = 0.001
    #: ``-offset``: histogram offset in seconds
    offset_s: float = 0.0
    #: ``-H``: extra request headers (a Host header replaces the URL's authority)
    headers: tuple[tuple[str, str], ...] = ()
    #: ``-timeout``: per call (connect + request + response), seconds
    timeout_s: float = 3.0
    #: ``-keepalive``: keep the socket between calls (false sends ``Connection: close``)
    keepalive: bool = True
    #: ``-allow-initial-errors``: don't abort when a warmup call fails
    allow_initial_errors: bool = False
    #: ``-sequential-warmup``: warm the threads up one after the other
    sequential_warmup: bool = False
    #: ``-labels``: run labels; empty = ``"<url without scheme> , <short hostname>"``
    labels: str = ""
    #: ``-loglevel``: Debug, Verbose, Info, Warning, Error, Critical
    loglevel: str = "Info"
    #: ``-jitter``, ``-uniform``, ``-nocatchup``: paced-mode variations
    jitter: bool = False
    uniform: bool = False
    no_catch_up: bool = False
    #: ``-runid``
    run_id: int = 0
    #: ``-log-errors``: log a warning for each non-OK response
    log_errors: bool = True
    #: ``-abort-on``: stop the run at the first response with this code (0 = off)
    abort_on: int = 0
    #: dial this (host, port) instead of the URL's, keeping the URL's Host (Istio's iptables redirect)
    connect_to: tuple[str, int] | None = None
    #: worker processes for the threads; 0 = automatic (more than one only for big max-speed runs)
    procs: int = 0
    #: ``-h2``: HTTP/2 with prior knowledge (h2c), fortio's std client: a connection per thread (h2_client.py)
    h2: bool = False
    #: ``-grpc``: gRPC load (health check, or ``-ping``); the URL is the gRPC destination (grpc_client.py)
    grpc: bool = False
    #: ``-ping``: with ``-grpc``, call fortio's ``fgrpc.PingServer/Ping`` instead of the health check
    ping: bool = False
    #: ``-s``: gRPC streams (threads) per connection; the run has ``num_threads * streams`` threads
    streams: int = 1
    #: ``-grpc-ping-delay``: the delay the ping server is asked to add to each reply, seconds
    grpc_ping_delay_s: float = 0.0
    #: ``-healthservice``: the service name sent in gRPC health checks
    health_service: str = ""

    def normalized(self) -> LoadOptions:
        """Fill the unset fields like fortio (labels from the URL and host name) and check the values."""
        if self.num_threads < 1:
            raise FortioUsageError(Msg("fortio.options.threads", c=self.num_threads))
        if self.exactly < 0:
            raise FortioUsageError(Msg("fortio.options.exactly", n=self.exactly))
        if self.resolution_s <= 0:
            raise FortioUsageError(Msg("fortio.options.resolution", r=self.resolution_s))
        if self.timeout_s <= 0:
            raise FortioUsageError(Msg("fortio.options.timeout", timeout=self.timeout_s))
        if self.loglevel.lower() not in LOG_LEVELS:
            raise FortioUsageError(Msg("fortio.options.loglevel", level=repr(self.loglevel)))
        for p in self.percentiles:
            if not 0 < p < 100:
                raise FortioUsageError(Msg("fortio.options.percentile", p=p))
        streams = max(self.streams, 1)  # fortio: -s below 1 is 1
        labels = self.labels
        if not labels:
            url = self.url if "://" in self.url else "http://" + self.url
            short = url.split("://", 1)[1]
            labels = short + " , " + socket.gethostname().split(".", 1)[0]
        return dataclasses.replace(self, labels=labels, streams=streams)

    def level_at_most(self, name: str) -> bool:
        """True when ``-loglevel`` is ``name`` or more verbose (fortio's ``log.Log(level)``)."""
        return LOG_LEVELS[self.loglevel.lower()] <= LOG_LEVELS[name]


#: fortio's CLI defaults (``-c 4 -qps 8 -t 5s``); ``url`` must be replaced.
DEFAULT_LOAD_OPTIONS = LoadOptions(url="http://localhost:8080/")
