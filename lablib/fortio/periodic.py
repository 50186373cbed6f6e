"""How fortio splits work among threads and paces each one; knows nothing about HTTP.

A restatement of fortio's ``periodic/periodic.go`` (``runQPSSetup``, ``runMaxQPSSetup``, ``runOne``):
calls are split statically (no work stealing), thread 0 gets the leftover of ``-n``, paced mode
lowers the thread count when there are fewer than 2 calls per thread, and each paced thread aims
call ``i`` at ``(i + i/(n-1)) / (qps/threads)`` seconds from the start.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

from lablib.fortio.stats import Histogram, go_duration, go_g

__all__ = ["RunPlan", "ThreadPacer", "gomaxprocs", "plan_run"]


def gomaxprocs() -> int:
    """What Go's GOMAXPROCS would be here (the CPU count), for fortio's ``[gomax N]``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


@dataclass
class RunPlan:
    """The split of a run: what ``periodicRunner.Run`` computes before starting the threads."""

    #: qps > 0 is paced mode; <= 0 is max speed (closed loop)
    qps: float
    #: threads after any lowering (JSON ``NumThreads``)
    num_threads: int
    #: ``-n`` (0 when not used)
    exactly: int
    #: ``-t`` in seconds; <= 0 means until interrupted (only without ``-n``)
    duration_s: float
    #: calls for each thread (thread 0 includes the leftover); 0 = not counted (max speed for a duration)
    calls_per_thread: list[int]
    requested_qps: str
    requested_duration: str
    #: fortio's ``Starting at …`` line (printed at -loglevel Warning or more verbose)
    start_line: str
    #: fortio log warnings emitted while planning
    warnings: list[str] = field(default_factory=list)
    #: ``numCalls`` as fortio's threads see it (per thread, without leftover)
    per_thread: int = 0
    leftover: int = 0

    @property
    def use_qps(self) -> bool:
        return self.qps > 0

    @property
    def total_calls(self) -> int | None:
        """Calls the run will make, or ``None`` when it is time-bounded at max speed or endless."""
        if self.exactly > 0 or (self.use_qps and self.duration_s > 0):
            return sum(self.calls_per_thread)
        return None


def plan_run(
    *, qps: float, num_threads: int, exactly: int, duration_s: float, gomax: int | None = None
) -> RunPlan:
    """Split the work like fortio (``runQPSSetup`` / ``runMaxQPSSetup`` and the leftover rule of ``Run``)."""
    gomax = gomaxprocs() if gomax is None else gomax
    c = num_threads
    warnings: list[str] = []
    use_exactly = exactly > 0
    has_duration = duration_s > 0
    if qps > 0:
        requested_qps = f"{qps:.9g}"
        if not has_duration and not use_exactly:
            line = f"Starting at {go_g(qps)} qps with {c} thread(s) [gomax {gomax}] until interrupted"
            return RunPlan(qps, c, 0, duration_s, [0] * c, requested_qps, "until stop", line, warnings)
        requested_duration = go_duration(round(duration_s * 1e9))
        num_calls = int(qps * duration_s)
        if use_exactly:
            num_calls = exactly
            requested_duration = f"exactly {num_calls} calls"
        if num_calls < 2:
            warnings.append(
                "Increasing the number of calls to the minimum of 2 with 1 thread. "
                "total duration will increase"
            )
            num_calls = 2
            c = 1
        if 2 * c > num_calls:
            new_n = num_calls // 2
            warnings.append(
                f"Lowering number of threads - total call {num_calls} -> lowering from {c} to {new_n} threads"
            )
            c = new_n
        per = num_calls // c
        total = per * c
        leftover = 0
        if use_exactly:
            leftover = exactly - total
            line = (
                f"Starting at {go_g(qps)} qps with {c} thread(s) [gomax {gomax}] : exactly {exactly}, "
                f"{per} calls each (total {total} + {leftover})"
            )
        else:
            line = (
                f"Starting at {go_g(qps)} qps with {c} thread(s) [gomax {gomax}] for "
                f"{go_duration(round(duration_s * 1e9))} : {per} calls each (total {total})"
            )
        calls = [per + (leftover if t == 0 else 0) for t in range(c)]
        return RunPlan(
            qps,
            c,
            exactly,
            duration_s,
            calls,
            requested_qps,
            requested_duration,
            line,
            warnings,
            per,
            leftover,
        )
    # max speed
    if not use_exactly and not has_duration:
        line = f"Starting at max qps with {c} thread(s) [gomax {gomax}] until interrupted"
        return RunPlan(qps, c, 0, duration_s, [0] * c, "max", "", line, warnings)
    if use_exactly:
        per, leftover = divmod(exactly, c)
        requested_duration = f"exactly {exactly} calls"
        line = (
            f"Starting at max qps with {c} thread(s) [gomax {gomax}] for {requested_duration} "
            f"({per} per thread + {leftover})"
        )
        if per == 0:
            # fortio's loop calls first and checks after, so each thread makes at least one call.
            warnings.append(
                f"-n {exactly} is less than -c {c}: like fortio, each of the {c} threads "
                "still makes one call "
                f"({exactly + c - 1} calls in total, N+C-1); use -n >= -c"
            )
        calls = [per + (leftover if t == 0 else 0) for t in range(c)]
        return RunPlan(
            qps, c, exactly, duration_s, calls, "max", requested_duration, line, warnings, per, leftover
        )
    requested_duration = go_duration(round(duration_s * 1e9))
    line = f"Starting at max qps with {c} thread(s) [gomax {gomax}] for {requested_duration}"
    return RunPlan(qps, c, 0, duration_s, [0] * c, "max", requested_duration, line, warnings)


class ThreadPacer:
    """The per-thread loop decisions of fortio's ``runOne``, with times in seconds from the run start.

    The runner calls :meth:`before_call` before each call and :meth:`after_call` after it; ``i`` is
    fortio's iteration counter, owned here.
    """

    __slots__ = (
        "end_s",
        "has_duration",
        "i",
        "jitter",
        "no_catch_up",
        "num_calls",
        "per_thread_qps",
        "sleep_times",
        "start_s",
        "thread",
        "use_exactly",
        "use_qps",
        "warnings",
    )

    def __init__(
        self,
        plan: RunPlan,
        thread: int,
        *,
        jitter: bool = False,
        uniform: bool = False,
        no_catch_up: bool = False,
    ) -> None:
        self.thread = thread
        self.i = 0
        self.num_calls = plan.calls_per_thread[thread]
        self.per_thread_qps = plan.qps / plan.num_threads if plan.qps > 0 else 0.0
        self.use_qps = self.per_thread_qps > 0
        self.use_exactly = plan.exactly > 0
        self.has_duration = plan.duration_s > 0
        self.end_s = plan.duration_s
        self.jitter = jitter
        self.no_catch_up = no_catch_up
        self.warnings: list[str] = []
        # fortio keeps sleep times with a negative offset so that "behind schedule" lands in bucket 0
        self.sleep_times = Histogram(-0.001, 0.001)
        self.start_s = 0.0
        if self.use_qps and uniform:
            between = 1.0 / self.per_thread_qps
            n = plan.num_threads
            self.start_s = between - (between / n * (n - thread))

    def before_call(self, elapsed_s: float) -> bool:
        """False when the thread must stop before making call ``i`` (duration reached)."""
        if not self.use_exactly and self.has_duration and elapsed_s > self.end_s:
            if not self.use_qps:
                return False
            if self.i >= 2 and self.i != self.num_calls - 1:
                self.warnings.append(
                    f"T{self.thread:03d} warning only did {self.i} out of {self.num_calls} calls "
                    "before reaching "
                    f"{go_duration(round(self.end_s * 1e9))}"
                )
                return False
        return True

    def after_call(self, elapsed_s: float) -> float | None:
        """After a call: ``None`` when the thread is done, else the delay (s, maybe 0) before the next one."""
        if not self.use_qps:
            self.i += 1
            if self.use_exactly and self.i >= self.num_calls:
                return None
            return 0.0
        while True:
            self.i += 1
            if (self.use_exactly or self.has_duration) and self.i >= self.num_calls:
                return None
            if self.has_duration:
                # fortio: for 2s at 1 qps one sleep of 2s between the 2 calls
                target = (self.i + self.i / (self.num_calls - 1)) / self.per_thread_qps
            else:
                target = self.i / self.per_thread_qps
            target = int(target * 1e9) / 1e9 + self.start_s
            sleep = target - elapsed_s
            if self.no_catch_up and sleep < 0:
                continue
            if self.jitter:
                sleep += _jitter(sleep)
            self.sleep_times.record(sleep)
            return max(sleep, 0.0)


def _jitter(t: float) -> float:
    """+/-10% of ``t`` when positive (fortio ``getJitter``)."""
    i = int(t * 1e9 / 10.0 + 0.5)
    if i <= 0:
        return 0.0
    return (random.randint(0, 2 * i) - i) / 1e9
