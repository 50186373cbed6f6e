"""Run a fortio ``load``: the options, and the threads on an event loop.

``LoadOptions`` is the one options value (fortio's ``HTTPRunnerOptions``: periodic + HTTP options),
with units in its field names. :func:`run_load` plans the split (``periodic.py``), runs one
:class:`~lablib.fortio.http_client.FastClient` per thread on an asyncio loop in a worker thread
(never the caller's loop: Jupyter already runs one), and returns the raw run as :class:`RunData`;
``results.py`` turns that into fortio's JSON and ``report.py`` into fortio's text. With
``procs > 1`` the threads are spread over worker processes (``multiproc.py``).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lablib._exceptions import FortioError, FortioUsageError
from lablib.fortio.http_client import FastClient, Target, build_target, code_is_ok
from lablib.fortio.periodic import RunPlan, ThreadPacer, plan_run
from lablib.fortio.stats import DEFAULT_PERCENTILES, Histogram

__all__ = [
    "DEFAULT_LOAD_OPTIONS",
    "FORTIO_VERSION",
    "VERSION",
    "LoadOptions",
    "RunData",
    "run_load",
]

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
    #: ``-c``: threads, each with its own client and at most one socket
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

    def normalized(self) -> LoadOptions:
        """Fill the unset fields like fortio (labels from the URL and host name) and check the values."""
        if self.num_threads < 1:
            raise FortioUsageError(
                f"-c {self.num_threads}: the number of threads must be at least 1 (example: -c 3)"
            )
        if self.exactly < 0:
            raise FortioUsageError(f"-n {self.exactly}: must be >= 0 (0 means use -t)")
        if self.resolution_s <= 0:
            raise FortioUsageError(f"-r {self.resolution_s}: the resolution must be > 0 (default 0.001)")
        if self.timeout_s <= 0:
            raise FortioUsageError(f"-timeout: must be > 0 (default 3s), got {self.timeout_s}s")
        if self.loglevel.lower() not in LOG_LEVELS:
            raise FortioUsageError(
                f"-loglevel {self.loglevel!r}: unknown level "
                "(use Debug, Verbose, Info, Warning, Error or Critical)"
            )
        for p in self.percentiles:
            if not 0 < p < 100:
                raise FortioUsageError(f"-p: percentile {p} must be > 0 and < 100")
        labels = self.labels
        if not labels:
            url = self.url if "://" in self.url else "http://" + self.url
            short = url.split("://", 1)[1]
            labels = short + " , " + socket.gethostname().split(".", 1)[0]
        return dataclasses.replace(self, labels=labels)

    def level_at_most(self, name: str) -> bool:
        """True when ``-loglevel`` is ``name`` or more verbose (fortio's ``log.Log(level)``)."""
        return LOG_LEVELS[self.loglevel.lower()] <= LOG_LEVELS[name]


#: fortio's CLI defaults (``-c 4 -qps 8 -t 5s``); ``url`` must be replaced.
DEFAULT_LOAD_OPTIONS = LoadOptions(url="http://localhost:8080/")


@dataclass
class ThreadData:
    """What one thread recorded (mergeable across processes)."""

    durations: Histogram
    errors: Histogram
    sizes: Histogram
    header_sizes: Histogram
    connect: Histogram
    sleeps: Histogram
    codes: dict[int, int]
    sockets: int
    ip_counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    #: code of the thread's last recorded call (a non-OK last call closes a socket no call reopens)
    last_code: int = 0
    #: fortio's iteration count ``i`` when the thread ended, and when (ns after the run start)
    calls: int = 0
    ended_ns: int = 0

    def to_state(self) -> dict[str, Any]:
        return {
            "durations": self.durations.to_state(), "errors": self.errors.to_state(),
            "sizes": self.sizes.to_state(),
            "header_sizes": self.header_sizes.to_state(), "connect": self.connect.to_state(),
            "sleeps": self.sleeps.to_state(), "codes": {str(k): v for k, v in self.codes.items()},
            "sockets": self.sockets, "ip_counts": self.ip_counts, "warnings": self.warnings,
            "last_code": self.last_code, "calls": self.calls, "ended_ns": self.ended_ns,
        }  # fmt: skip

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> ThreadData:
        h = Histogram.from_state
        return cls(
            h(s["durations"]),
            h(s["errors"]),
            h(s["sizes"]),
            h(s["header_sizes"]),
            h(s["connect"]),
            h(s["sleeps"]),
            {int(k): v for k, v in s["codes"].items()},
            s["sockets"],
            s["ip_counts"],
            s["warnings"],
            s.get("last_code", 0),
            s.get("calls", 0),
            s.get("ended_ns", 0),
        )


@dataclass
class RunData:
    """A finished run before it becomes JSON: plan, per-thread data, times."""

    options: LoadOptions
    plan: RunPlan
    target: Target
    threads: list[ThreadData]
    start_time_ns: int  # wall clock (time.time_ns) at run start, after warmup
    elapsed_ns: int
    gen_time: datetime  # for the ID, like fortio's genTime
    interrupted: bool = False
    warmup_codes: dict[int, int] = field(default_factory=dict)

    def merged(self, attr: str) -> Histogram:
        first = getattr(self.threads[0], attr)
        h = Histogram(first.offset, first.divider)
        for t in self.threads:
            h.transfer(getattr(t, attr))
        return h


# ---------------------------------------------------------------------------------------------
# The run on an event loop


class _Shared:
    """State shared between the loop thread (writer) and the caller thread (reader)."""

    def __init__(self) -> None:
        self.done = 0  # recorded calls so far
        self.phase = "init"  # init -> warmup -> run -> done
        self.run_start = 0.0  # time.monotonic() at run start
        # fortio log lines (formatted JSON) to print; a deque so both threads can use it without a lock
        self.log: collections.deque[str] = collections.deque()
        self.stop = threading.Event()

    def drain_log(self) -> list[str]:
        """Take the log lines written so far (called by the reading thread)."""
        out = []
        while self.log:
            out.append(self.log.popleft())
        return out


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # optional, faster

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop()


def log_line(level: str, msg: str, **attrs: Any) -> str:
    """A fortio.org/log JSON line (the format fortio uses when stderr is not a terminal)."""
    rec: dict[str, Any] = {"ts": round(time.time(), 6), "level": level, "msg": msg}
    rec.update(attrs)
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=False)


class _Thread:
    """One fortio thread: drives its client through the pacer, records each call."""

    def __init__(self, idx: int, run: _Run, pacer: ThreadPacer) -> None:
        o = run.options
        self.idx = idx
        self.run = run
        self.pacer = pacer
        self.loop = run.loop
        self.data = ThreadData(
            durations=Histogram(o.offset_s, o.resolution_s),
            errors=Histogram(o.offset_s, o.resolution_s),
            sizes=Histogram(0.0, 100.0),
            header_sizes=Histogram(0.0, 5.0),
            connect=Histogram(o.offset_s, o.resolution_s),
            sleeps=pacer.sleep_times,
            codes={},
            sockets=0,
            ip_counts={},
            warnings=pacer.warnings,
        )
        self.client = FastClient(
            run.loop,
            run.target,
            timeout_s=o.timeout_s,
            keepalive=o.keepalive,
            connect_times=self.data.connect,
            ip_counts=self.data.ip_counts,
        )
        self.t0 = 0
        self.size_counts: dict[tuple[int, int], int] = {}
        self.done_fut: asyncio.Future | None = None
        self.warmup_code = 0
        self.warmup_size = 0

    # warmup: one unrecorded call
    def warmup(self) -> asyncio.Future:
        fut = self.loop.create_future()

        def done(code: int, size: int, _hsize: int) -> None:
            self.warmup_code, self.warmup_size = code, size
            fut.set_result(code)

        self.client.fetch(done)
        return fut

    def start(self) -> asyncio.Future:
        self.done_fut = self.loop.create_future()
        if self.pacer.start_s > 0:
            self.loop.call_at(self.run.start_loop_time + self.pacer.start_s, self._call)
        else:
            self._call()
        return self.done_fut

    def _finish_thread(self) -> None:
        self.data.sockets = self.client.sockets
        self.data.calls = self.pacer.i
        self.data.ended_ns = time.perf_counter_ns() - self.run.start_perf_ns
        for (size, header_size), n in self.size_counts.items():
            self.data.sizes.record(size, n)
            self.data.header_sizes.record(header_size, n)
        self.size_counts.clear()
        if self.done_fut is not None and not self.done_fut.done():
            self.done_fut.set_result(None)

    def _call(self) -> None:
        run = self.run
        if (
            run.stopping
            or run.shared.stop.is_set()
            or not self.pacer.before_call(self.loop.time() - run.start_loop_time)
        ):
            self._finish_thread()
            return
        self.t0 = time.perf_counter_ns()
        self.client.fetch(self._on_result)

    def _on_result(self, code: int, size: int, header_size: int) -> None:
        latency = (time.perf_counter_ns() - self.t0) / 1e9
        d = self.data
        d.durations.record(latency)
        d.codes[code] = d.codes.get(code, 0) + 1
        d.last_code = code
        key = (size, header_size)  # sizes repeat: count them, record into the histograms at the end
        self.size_counts[key] = self.size_counts.get(key, 0) + 1
        run = self.run
        run.shared.done += 1
        if code not in _OK_CODES:
            d.errors.record(latency)
            run.on_error(self.idx, code)
        delay = self.pacer.after_call(self.loop.time() - run.start_loop_time)
        if delay is None or run.stopping:
            self._finish_thread()
        elif delay <= 0:
            self._call()
        else:
            self.loop.call_later(delay, self._call)


_OK_CODES = frozenset([*range(200, 300), 418])


class _Run:
    """The threads of one process, on one loop."""

    def __init__(
        self,
        options: LoadOptions,
        plan: RunPlan,
        target: Target,
        thread_ids: list[int],
        shared: _Shared,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.options = options
        self.plan = plan
        self.target = target
        self.shared = shared
        self.loop = loop
        self.stopping = False
        self.start_loop_time = 0.0
        self.start_perf_ns = 0
        self.start_wall_ns = 0
        self.logged_errors = 0
        self.threads = [
            _Thread(
                i,
                self,
                ThreadPacer(
                    plan, i, jitter=options.jitter, uniform=options.uniform, no_catch_up=options.no_catch_up
                ),
            )
            for i in thread_ids
        ]

    def on_error(self, thread: int, code: int) -> None:
        o = self.options
        if o.log_errors and o.level_at_most("warning"):
            self.logged_errors += 1
            if self.logged_errors <= _MAX_ERROR_LOGS:
                status = f"HTTP/1.1 {code}" if code > 0 else "socket error"
                self.shared.log.append(
                    log_line(
                        "warn", "Non ok http code", code=code, status=status, thread=thread, run=o.run_id
                    )
                )
            elif self.logged_errors == _MAX_ERROR_LOGS + 1:
                self.shared.log.append(
                    log_line(
                        "warn",
                        "further Non ok http code warnings not shown",
                        limit=_MAX_ERROR_LOGS,
                        run=o.run_id,
                    )
                )
        if o.abort_on and code == o.abort_on:
            self.stopping = True

    async def watchdog(self) -> None:
        period = min(max(self.options.timeout_s / 10, 0.01), 0.25)
        while True:
            await asyncio.sleep(period)
            if self.shared.stop.is_set():
                self.stopping = True
            now = time.perf_counter_ns()
            for t in self.threads:
                t.client.expire(now)

    async def warmup(self) -> None:
        if self.options.sequential_warmup:
            for t in self.threads:
                await t.warmup()
        else:
            await asyncio.gather(*(t.warmup() for t in self.threads))

    async def main(self, *, do_warmup: bool, go: Callable[[], Any] | None = None) -> int:
        """Warm up (maybe), wait for ``go`` (multi-process barrier), run; returns the elapsed ns."""
        dog = self.loop.create_task(self.watchdog())
        try:
            if do_warmup:
                self.shared.phase = "warmup"
                await self.warmup()
            if go is not None:
                await go()
            self.shared.phase = "run"
            self.start_loop_time = self.loop.time()
            self.shared.run_start = time.monotonic()
            self.start_wall_ns = time.time_ns()  # fortio's StartTime: after warmup
            t0 = time.perf_counter_ns()
            self.start_perf_ns = t0
            await asyncio.gather(*(t.start() for t in self.threads))
            elapsed = time.perf_counter_ns() - t0
            return elapsed
        finally:
            dog.cancel()
            for t in self.threads:
                t.client.close()
            await asyncio.sleep(0)  # let the transports close


_MAX_ERROR_LOGS = 100


def resolve(host: str, port: int) -> str:
    """The IPv4 (else IPv6) address fortio would dial; FortioError with a clear message if unknown."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise FortioError(
            f"unable to resolve host {host!r}: {e.strerror} (check the URL or use connect_to)"
        ) from None
    infos.sort(key=lambda i: i[0] != socket.AF_INET)
    return str(infos[0][4][0])


def _auto_procs(options: LoadOptions, plan: RunPlan) -> int:
    if options.procs > 0:
        return min(options.procs, plan.num_threads)
    env = os.environ.get("LABLIB_FORTIO_PROCS")
    if env and env.isdigit() and int(env) > 0:
        return min(int(env), plan.num_threads)
    return 1


def run_load(
    options: LoadOptions,
    *,
    on_tick: Callable[[_Shared, RunPlan], None] | None = None,
    on_start: Callable[[RunPlan], None] | None = None,
) -> RunData:
    """Run the load in a worker thread (its own event loop); block the caller until done.

    ``on_start(plan)`` is called in the caller's thread before the threads start, ``on_tick`` about
    every 0.1 s while running (for progress and log lines). Ctrl-C (KeyboardInterrupt) in the caller
    stops the threads after their current call, like fortio's ^C.
    """
    options = options.normalized()
    plan = plan_run(
        qps=options.qps,
        num_threads=options.num_threads,
        exactly=options.exactly,
        duration_s=options.duration_s,
    )
    target = build_target(
        options.url,
        headers=list(options.headers),
        user_agent=USER_AGENT,
        keepalive=options.keepalive,
        connect_to=options.connect_to,
    )
    ip = resolve(target.connect_host, target.connect_port)
    target = dataclasses.replace(target, connect_host=ip)
    gen_time = datetime.now().astimezone()
    if on_start is not None:
        on_start(plan)
    shared = _Shared()
    procs = _auto_procs(options, plan)
    result: dict[str, Any] = {}
    finished = threading.Event()

    def work() -> None:
        try:
            if procs > 1:
                from lablib.fortio.multiproc import run_multi

                result["value"] = run_multi(options, plan, target, shared, procs)
            else:
                result["value"] = _run_single(options, plan, target, shared)
        except BaseException as e:  # handed to the caller's thread
            result["error"] = e
        finally:
            finished.set()

    worker = threading.Thread(target=work, name="lablib-fortio", daemon=True)
    worker.start()
    interrupted = False
    # an Event, not Thread.join: a KeyboardInterrupt inside join() can leave is_alive() False while the
    # thread still runs (seen on CPython 3.11), and the result would be read before it exists
    while not finished.is_set():
        try:
            finished.wait(0.1)
            if on_tick is not None:
                on_tick(shared, plan)
        except KeyboardInterrupt:
            interrupted = True
            shared.stop.set()
    if on_tick is not None:
        on_tick(shared, plan)
    if "error" in result:
        raise result["error"]
    threads, start_ns, elapsed_ns, warm = result["value"]
    return RunData(
        options,
        plan,
        target,
        threads,
        start_ns,
        elapsed_ns,
        gen_time,
        interrupted=interrupted or shared.stop.is_set(),
        warmup_codes=warm,
    )


def _check_warmup(options: LoadOptions, threads: list[_Thread]) -> dict[int, int]:
    codes: dict[int, int] = {}
    for t in threads:
        codes[t.warmup_code] = codes.get(t.warmup_code, 0) + 1
    if not options.allow_initial_errors:
        for t in threads:
            if not code_is_ok(t.warmup_code):
                url = t.client.target.url
                raise FortioError(
                    f"Aborting because of error {t.warmup_code} for {url} ({t.warmup_size} bytes) "
                    "during warmup "
                    "(use -n for an exact number of calls without warmup, or -allow-initial-errors)"
                )
    return codes


def _run_single(options: LoadOptions, plan: RunPlan, target: Target, shared: _Shared):
    loop = _new_loop()
    try:
        run = _Run(options, plan, target, list(range(plan.num_threads)), shared, loop)
        warm: dict[int, int] = {}

        async def check_warmup() -> None:
            nonlocal warm
            if plan.exactly == 0:
                warm = _check_warmup(options, run.threads)

        elapsed = loop.run_until_complete(run.main(do_warmup=plan.exactly == 0, go=check_warmup))
        return [t.data for t in run.threads], run.start_wall_ns, elapsed, warm
    finally:
        shared.phase = "done"
        loop.close()
