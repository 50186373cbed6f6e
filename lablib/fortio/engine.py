"""The engine of a run: fortio's threads on one asyncio event loop, and the warmup rule.

Like fortio's ``periodic`` under ``fhttp``/``fgrpc``: :class:`LoopRun` drives some of a run's threads (all
of them in one process, or a share in each worker process of ``multiproc.py``), each with its own client
paced by a :class:`~lablib.fortio.periodic.ThreadPacer`, and records into a mergeable :class:`ThreadData`.
The client is the fast HTTP/1.1 one (``http_client.FastClient``), the ``-h2`` one (``h2_client.H2Client``),
or with ``-grpc`` a ``grpc_client.GrpcClient`` on the connection its group of ``-s`` threads shares.
:class:`Shared` is what the caller's thread reads while the loop runs (progress, log lines, stop).
:func:`check_warmup` is the one warmup-abort rule, used by the single- and the multi-process run
(``runner.py``, ``multiproc.py``).
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
from lablib.fortio.grpc_client import ERROR, GrpcClient, new_slots
from lablib.fortio.h2_client import H2Client
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

#: at most this many "Non ok http code" / "Error making grpc call" warnings per process, then one
#: "further ... not shown" (fortio logs them all; a notebook cell would drown)
MAX_ERROR_LOGS = 100
#: One thread's warmup call: (HTTP code or -1 for a socket error, or a gRPC RetCodes key; response bytes with
#: headers: fortio's size[; the gRPC error text, "" if none]).
WarmupCall = tuple[int | str, int] | tuple[int | str, int, str]


@dataclass
class ThreadData:
    """What one thread recorded (mergeable across processes)."""

    durations: Histogram
    errors: Histogram
    sizes: Histogram
    header_sizes: Histogram
    connect: Histogram
    sleeps: Histogram
    #: RetCodes: HTTP code (-1 socket error), or for gRPC fortio's key (SERVING, ERROR, ...)
    codes: dict[int | str, int]
    sockets: int
    ip_counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    #: code of the thread's last recorded call (a non-OK last call closes a socket no call reopens)
    last_code: int = 0
    #: fortio's iteration count ``i`` when the thread ended, and when (ns after the run start)
    calls: int = 0
    ended_ns: int = 0
    #: gRPC runs: status number -> calls that failed with it (all counted ERROR in ``codes``)
    grpc_errors: dict[int, int] = field(default_factory=dict)

    def to_state(self) -> dict[str, Any]:
        return {
            "durations": self.durations.to_state(), "errors": self.errors.to_state(),
            "sizes": self.sizes.to_state(),
            "header_sizes": self.header_sizes.to_state(), "connect": self.connect.to_state(),
            "sleeps": self.sleeps.to_state(), "codes": {str(k): v for k, v in self.codes.items()},
            "sockets": self.sockets, "ip_counts": self.ip_counts, "warnings": self.warnings,
            "last_code": self.last_code, "calls": self.calls, "ended_ns": self.ended_ns,
            "grpc_errors": {str(k): v for k, v in self.grpc_errors.items()},
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
            {_code(k): v for k, v in s["codes"].items()},
            s["sockets"],
            s["ip_counts"],
            s["warnings"],
            s.get("last_code", 0),
            s.get("calls", 0),
            s.get("ended_ns", 0),
            {int(k): v for k, v in s.get("grpc_errors", {}).items()},
        )


def _code(key: str) -> int | str:
    """A RetCodes key back from JSON: HTTP codes are numbers, gRPC's are names."""
    return int(key) if key.lstrip("-").isdigit() else key



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
        self.client: FastClient | H2Client | GrpcClient
        if o.grpc:
            self.client = GrpcClient(run.slots[idx // o.streams], thread=idx, start_ns=run.created_ns,
                                     health_service=None if o.ping else o.health_service,
                                     delay_s=o.grpc_ping_delay_s)
        elif o.h2:
            self.client = H2Client(run.loop, run.target, timeout_s=o.timeout_s,
                                   connect_times=self.data.connect, ip_counts=self.data.ip_counts)
        else:
            self.client = FastClient(run.loop, run.target, timeout_s=o.timeout_s, keepalive=o.keepalive,
                                     connect_times=self.data.connect, ip_counts=self.data.ip_counts)
        self.t0 = 0
        self.size_counts: dict[tuple[int, int], int] = {}
        self.done_fut: asyncio.Future | None = None
        self.warmup_call: WarmupCall | None = None

    # warmup: one unrecorded call
    def warmup(self) -> asyncio.Future:
        fut = self.loop.create_future()

        def done(code: int | str, size: int, _hsize: int) -> None:
            if isinstance(self.client, GrpcClient):
                self.warmup_call = (code, size, self.client.last_error if code == ERROR else "")
                self.client.errors.clear()  # warmup calls are not counted
            else:
                self.warmup_call = (code, size)
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
        if isinstance(self.client, GrpcClient):
            self.data.grpc_errors = dict(self.client.errors)
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

    def _on_result(self, code: int | str, size: int, header_size: int) -> None:
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
            run.on_error(self.idx, code, self.client)
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
        self.created_ns = time.time_ns()  # fortio's gRPC PingMessage.Ts: one time for every thread
        #: gRPC: the connection of each group of -s threads present here (thread i uses i // streams)
        connections = sorted({i // options.streams for i in thread_ids})
        self.slots = new_slots(loop, target, connections) if options.grpc else {}
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

    def on_error(self, thread: int, code: int | str, client: object = None) -> None:
        o = self.options
        grpc = isinstance(client, GrpcClient)
        if (o.log_errors or grpc) and o.level_at_most("warning"):
            self.logged_errors += 1
            if self.logged_errors <= MAX_ERROR_LOGS:
                if isinstance(client, GrpcClient):  # fortio logs every gRPC error, whatever -log-errors
                    line = log_line("warn", f"Error making grpc call: {client.last_error}")
                elif isinstance(client, H2Client):  # fortio's std client
                    line = (log_line("warn", "Non ok http code", code=code, thread=thread, run=o.run_id)
                            if code != -1 else
                            log_line("err", "Unable to send request", method="GET", url=self.target.url,
                                     thread=thread, run=o.run_id))
                else:
                    status = f"HTTP/1.1 {code}" if code > 0 else "socket error"
                    line = log_line("warn", "Non ok http code", code=code, status=status, thread=thread,
                                    run=o.run_id)
                self.shared.log.append(line)
            elif self.logged_errors == MAX_ERROR_LOGS + 1:
                self.shared.log.append(
                    log_line(
                        "warn",
                        "further Non ok http code warnings not shown",
                        limit=MAX_ERROR_LOGS,
                        run=o.run_id,
                    )
                )
        if o.abort_on and code == o.abort_on and not grpc:  # fortio's gRPC runner has no -abort-on
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
        """Each warmed-up thread's warmup (code, size, error), by thread index."""
        return {t.idx: t.warmup_call for t in self.threads if t.warmup_call is not None}

    async def warmup(self) -> None:
        o = self.options
        if o.grpc:  # fortio: the first thread of each connection, one after the other, while dialing them;
            for t in self.threads:  # the first error ends the set-up (and the run, unless allowed)
                if t.idx % o.streams == 0 and await t.warmup() == ERROR and not o.allow_initial_errors:
                    break
        elif o.sequential_warmup:
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
            for slot in self.slots.values():
                slot.close()
            await asyncio.sleep(0)  # let the transports close



def check_warmup(calls: Mapping[int, WarmupCall], url: str, *, allow_initial_errors: bool
                 ) -> dict[int | str, int]:
    """fortio's warmup rule: count the warmup codes; abort on the first non-OK one unless allowed.

    ``calls`` maps thread index to its warmup call; the error names the lowest thread that failed, so one
    process and many give the same message.
    """
    ordered = [calls[i] for i in sorted(calls)]
    codes: dict[int | str, int] = {}
    for code, *_ in ordered:
        codes[code] = codes.get(code, 0) + 1
    if not allow_initial_errors:
        for code, size, *error in ordered:
            if isinstance(code, str):  # gRPC: only a failed call aborts (a NOT_SERVING answer does not)
                if code == ERROR:
                    why = error[0] if error else code
                    raise FortioError(Msg("fortio.engine.grpc_warmup_error", err=why, dest=url))
            elif not code_is_ok(code):
                raise FortioError(Msg("fortio.engine.warmup_error", code=code, url=url, size=size))
    return codes
