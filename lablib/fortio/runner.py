"""Run a fortio ``load``: plan, resolve, run the threads in one process or several, return the raw run.

:func:`run_load` plans the split (``periodic.py``), runs the threads on an event loop in a worker thread
(never the caller's loop: Jupyter already runs one) through ``engine.py``, or spreads them over worker
processes (``multiproc.py``) when ``procs > 1``, and returns the raw run as :class:`RunData`;
``results.py`` turns that into fortio's JSON and ``report.py`` into fortio's text. The options
(``LoadOptions``) live in ``options.py`` and are re-exported here.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lablib._exceptions import FortioError
from lablib.fortio.engine import LoopRun, Shared, ThreadData, check_warmup, new_loop
from lablib.fortio.grpc_client import grpc_target
from lablib.fortio.http_client import Target, build_target
from lablib.fortio.multiproc import run_multi
from lablib.fortio.options import (
    DEFAULT_LOAD_OPTIONS,
    FORTIO_VERSION,
    USER_AGENT,
    VERSION,
    LoadOptions,
)
from lablib.fortio.periodic import RunPlan, plan_run
from lablib.fortio.stats import Histogram
from lablib.i18n import Msg

__all__ = [
    "DEFAULT_LOAD_OPTIONS",
    "FORTIO_VERSION",
    "VERSION",
    "LoadOptions",
    "RunData",
    "make_target",
    "resolve",
    "run_load",
]


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
    warmup_codes: dict[int | str, int] = field(default_factory=dict)

    def merged(self, attr: str) -> Histogram:
        first = getattr(self.threads[0], attr)
        h = Histogram(first.offset, first.divider)
        for t in self.threads:
            h.transfer(getattr(t, attr))
        return h


def resolve(host: str, port: int) -> str:
    """The IPv4 (else IPv6) address fortio would dial; FortioError with a clear message if unknown."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise FortioError(Msg("fortio.runner.unresolved", host=repr(host), err=e.strerror)) from None
    infos.sort(key=lambda i: i[0] != socket.AF_INET)
    return str(infos[0][4][0])


def make_target(options: LoadOptions) -> Target:
    """What every thread sends, and where: an HTTP GET (``-h2`` or not) or the gRPC call."""
    if options.grpc:
        return grpc_target(options.url, ping=options.ping, headers=list(options.headers),
                           user_agent=USER_AGENT, connect_to=options.connect_to)
    return build_target(
        options.url,
        headers=list(options.headers),
        user_agent=USER_AGENT,
        keepalive=options.keepalive,
        connect_to=options.connect_to,
    )


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
    on_tick: Callable[[Shared, RunPlan], None] | None = None,
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
        # fortio's gRPC runner: NumThreads *= Streams, before the split
        num_threads=options.num_threads * (options.streams if options.grpc else 1),
        exactly=options.exactly,
        duration_s=options.duration_s,
    )
    target = make_target(options)
    ip = resolve(target.connect_host, target.connect_port)
    target = dataclasses.replace(target, connect_host=ip)
    gen_time = datetime.now().astimezone()
    if on_start is not None:
        on_start(plan)
    shared = Shared()
    procs = _auto_procs(options, plan)
    result: dict[str, Any] = {}
    finished = threading.Event()

    def work() -> None:
        try:
            if procs > 1:
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


def _run_single(options: LoadOptions, plan: RunPlan, target: Target, shared: Shared):
    loop = new_loop()
    try:
        run = LoopRun(options, plan, target, list(range(plan.num_threads)), shared, loop)
        warm: dict[int | str, int] = {}

        async def check() -> None:
            nonlocal warm
            if plan.exactly == 0:
                warm = check_warmup(run.warmup_calls(), target.url,
                                    allow_initial_errors=options.allow_initial_errors)

        elapsed = loop.run_until_complete(run.main(do_warmup=plan.exactly == 0, go=check))
        return [t.data for t in run.threads], run.start_wall_ns, elapsed, warm
    finally:
        shared.phase = "done"
        loop.close()
