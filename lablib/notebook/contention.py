"""How busy the machine was while a run lasted: the CPU that programs outside this lab took meanwhile.

A 503 share measured on a shared server is not a quiet laptop's: when other programs hold the CPUs, fortio's
threads, the client sidecar and service-go wait to be scheduled, requests stay in flight longer and more of
them meet the breaker (three students at once on 2 cores moved lab 01's share at c=40 by 5-8 points). So
every run records a ``Contention`` (``run_point`` does), and the check cells say when it was high enough to
move the 503 share (``note``).

The measure is the share of the machine's CPU capacity (CPUs × the run's wall time) that processes *other
than this lab's* used during the run: the machine's busy time (``psutil.cpu_times``, hypervisor steal
included) minus the CPU time of this kernel, its descendants and the lab's own processes (Envoys,
service-go). It reads the OS's counters twice per run (a few milliseconds, portable: Linux and macOS), and
unlike load averages it reacts within one run and does not count the lab's own work against it.
Only the embedded backend runs its processes here; a run on another backend records ``None``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from lablib.i18n import t

__all__ = ["DISTURBED", "Contention", "Probe", "disturbed", "note", "start"]

#: From this share of the machine's CPU taken by other programs, a run's 503 share moves (measured on 2
#: cores, lab 01 at c=40 under the repository rule: below 40% it stays within its run-to-run spread, from
#: 60% it reads 4-6 points higher; docs/classroom.md): flag from half, to err towards saying it.
DISTURBED = 0.5

#: ``psutil.cpu_times`` fields that are work, on every OS that has them (``guest`` is already in ``user``).
_BUSY = ("user", "nice", "system", "irq", "softirq", "steal")


@dataclass(frozen=True)
class Contention:
    """What the rest of the machine did while one run lasted.

    Attributes:
        others: share (0..1) of the machine's CPU capacity used by processes outside this lab.
        busy: share (0..1) of the capacity used by everything, this lab included.
        cpus: the machine's logical CPUs.
        seconds: the run's wall time.
    """

    others: float
    busy: float
    cpus: int
    seconds: float

    @property
    def disturbed(self) -> bool:
        """True when other programs took enough CPU to move the run's 503 share."""
        return self.others >= DISTURBED


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return sum(float(getattr(times, name, 0.0)) for name in _BUSY)


def _cpu_seconds(proc: psutil.Process) -> float:
    """The process's CPU time, with its children that ended and were waited for (they vanish otherwise)."""
    times = proc.cpu_times()
    children = getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0)
    return times.user + times.system + children


def _lab_pids(lab: Any) -> set[int]:
    backend = getattr(lab, "backend", lab)
    processes = getattr(backend, "processes", None)
    if processes is None:
        return set()
    with contextlib.suppress(Exception):  # a lab that is stopping: its processes count from the tree anyway
        return {int(p.pid) for p in processes()}
    return set()


def _ours(roots: Iterable[int]) -> dict[int, float]:
    """CPU seconds of ``roots`` and all their descendants, by pid (a process gone meanwhile is skipped)."""
    seen: dict[int, float] = {}
    for pid in roots:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            for proc in (root, *root.children(recursive=True)):
                if proc.pid not in seen:
                    with contextlib.suppress(psutil.Error):
                        seen[proc.pid] = _cpu_seconds(proc)
    return seen


class Probe:
    """Counters read when a run starts; ``stop()`` reads them again and returns the run's ``Contention``."""

    def __init__(self, roots: Sequence[int]) -> None:
        self.roots = list(roots)
        self.cpus = psutil.cpu_count() or 1
        self.started = time.monotonic()
        self.busy0 = _busy_seconds()
        self.ours0 = _ours(self.roots)

    def stop(self) -> Contention:
        seconds = max(time.monotonic() - self.started, 1e-6)
        busy = max(_busy_seconds() - self.busy0, 0.0)
        ours1 = _ours(self.roots)
        # a process that ended during the run is in its parent's children_* times (Linux) or lost (its CPU
        # then counts as the others': the measure errs towards warning, never towards silence)
        ours = sum(max(cpu - self.ours0.get(pid, 0.0), 0.0) for pid, cpu in ours1.items())
        capacity = self.cpus * seconds
        return Contention(others=min(max(busy - ours, 0.0) / capacity, 1.0), busy=min(busy / capacity, 1.0),
                          cpus=self.cpus, seconds=seconds)


def start(lab: Any) -> Probe | None:
    """A probe for one run of ``lab``, or None when its processes do not run on this machine (kind)."""
    backend = getattr(lab, "backend", lab)
    if getattr(backend, "processes", None) is None:
        return None
    return Probe([psutil.Process().pid, *sorted(_lab_pids(lab))])


def disturbed(points: Iterable[Any]) -> list[Any]:
    """The runs among ``points`` (``RunPoint``s) during which the machine was busy enough to move the 503
    share."""
    return [p for p in points if getattr(p, "contention", None) is not None and p.contention.disturbed]


def note(points: Iterable[Any], *, lang: str = "en") -> str:
    """What a check cell adds when some runs were disturbed, in ``lang``; ``""`` when none was."""
    pts = list(points)
    busy = disturbed(pts)
    if not busy:
        return ""
    worst = max(busy, key=lambda p: p.contention.others)
    measured = [p for p in pts if getattr(p, "contention", None) is not None]
    return t("contention.note", lang, runs=len(busy), total=len(measured),
             others=round(100 * worst.contention.others), cpus=worst.contention.cpus,
             runs_at=", ".join(f"c={p.concurrency}" for p in busy))
