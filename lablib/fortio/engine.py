"""The engine of a run: fortio's threads on one asyncio event loop, and the warmup rule.

Like fortio's ``periodic`` under ``fhttp``: :class:`LoopRun` drives some of a run's threads (all of them
in one process, or a share in each worker process of ``multiproc.py``), each with its own
:class:`~lablib.fortio.http_client.FastClient` paced by a :class:`~lablib.fortio.periodic.ThreadPacer`,
and records into a mergeable :class:`ThreadData`. :class:`Shared` is what the caller's thread reads while
the loop runs (progress, log lines, stop). :func:`check_warmup` is the one warmup-abort rule, used by
the single- and the multi-process run (``runner.py``, ``multiproc.py``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lablib._exceptions import FortioError
from lablib.fortio.http_client import FastClient, Target, code_is_ok
from lablib.fortio.options import LoadOptions
from lablib.fortio.periodic import RunPlan, ThreadPacer
from lablib.fortio.stats import Histogram
from lablib.i18n import Msg

__all__ = [
    "MAX_ERROR_LOGS",
    "LoopRun",
    "Shared",
    "ThreadData",
    "WarmupCall",
    "check_warmup",
    "log_line",
    "new_loop",
]

#: at most this many "Non ok http code" warnings per process, then one "further ... not shown"
MAX_ERROR_LOGS = 100
#: One thread's warmup call: (HTTP code or -1 for a socket error, response bytes with headers: fortio's size).
WarmupCall = tuple[int, int]


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



class Shared:
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


def new_loop() -> asyncio.AbstractEventLoop:
    """A fresh event loop for a run's threads (uvloop when installed), never the caller's (Jupyter's)."""
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

    def __init__(self, idx: int, run: LoopRun, pacer: ThreadPacer) -> None:
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
        if not code_is_ok(code):
            d.errors.record(latency)
            run.on_error(self.idx, code)
        delay = self.pacer.after_call(self.loop.time() - run.start_loop_time)
        if delay is None or run.stopping:
            self._finish_thread()
        elif delay <= 0:
            self._call()
        else:
            self.loop.call_later(delay, self._call)



class LoopRun:
    """The threads of one process, on one loop."""

    def __init__(
        self,
        options: LoadOptions,
        plan: RunPlan,
        target: Target,
        thread_ids: list[int],
        shared: Shared,
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
            if self.logged_errors <= MAX_ERROR_LOGS:
                status = f"HTTP/1.1 {code}" if code > 0 else "socket error"
                self.shared.log.append(
                    log_line(
                        "warn", "Non ok http code", code=code, status=status, thread=thread, run=o.run_id
                    )
                )
            elif self.logged_errors == MAX_ERROR_LOGS + 1:
                self.shared.log.append(
                    log_line(
                        "warn",
                        "further Non ok http code warnings not shown",
                        limit=MAX_ERROR_LOGS,
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

    def warmup_calls(self) -> dict[int, WarmupCall]:
        """Each thread's warmup (code, size), by thread index."""
        return {t.idx: (t.warmup_code, t.warmup_size) for t in self.threads}

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



def check_warmup(calls: Mapping[int, WarmupCall], url: str, *, allow_initial_errors: bool) -> dict[int, int]:
    """fortio's warmup rule: count the warmup codes; abort on the first non-OK one unless allowed.

    ``calls`` maps thread index to its warmup call; the error names the lowest thread that failed, so one
    process and many give the same message.
    """
    ordered = [calls[i] for i in sorted(calls)]
    codes: dict[int, int] = {}
    for code, _size in ordered:
        codes[code] = codes.get(code, 0) + 1
    if not allow_initial_errors:
        for code, size in ordered:
            if not code_is_ok(code):
                raise FortioError(Msg("fortio.engine.warmup_error", code=code, url=url, size=size))
    return codes
