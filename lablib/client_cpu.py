"""Give the load generator and the client sidecar only some CPUs, like a client pod on a small node.

The book's fortio printed ``1->1 procs``: its pod's node had one CPU, shared by fortio and the client sidecar
(docs/reference/published-experiments.md §1.2, B1). :func:`pinned` plays that environment on the lab's
machine with CPU affinity (``sched_setaffinity``): the calling thread (fortio's threads start from it) and
every thread of the given processes (the client Envoy's workers) run only on the chosen CPUs until the block
ends, when each gets its previous set back.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

import psutil

from lablib._exceptions import LabError
from lablib.backends.mesh._plan import CLIENT as CLIENT_ROLE
from lablib.i18n import Msg

__all__ = ["client_sidecar_pids", "fortio_in", "pinned"]


def _threads(pids: Iterable[int]) -> list[int]:
    tids = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            tids.extend(t.id for t in psutil.Process(pid).threads())
    return tids


@contextlib.contextmanager
def pinned(pids: Iterable[int], cpus: int) -> Iterator[set[int]]:
    """Run this thread and every thread of ``pids`` on ``cpus`` CPUs (the last ones this process may use,
    away from CPU 0 where interrupts land) inside the block; yields the CPU set."""
    if not hasattr(os, "sched_setaffinity"):
        raise LabError(Msg("cpu.needs_linux"))
    allowed = sorted(os.sched_getaffinity(0))
    if not 1 <= cpus <= len(allowed):
        raise LabError(Msg("cpu.too_many", cpus=cpus, allowed=len(allowed)))
    chosen = set(allowed[-cpus:])
    targets = [0, *_threads(pids)]  # 0: the calling thread
    before: dict[int, set[int]] = {}
    try:
        for tid in targets:
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                before[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, chosen)
        yield chosen
    finally:
        for tid, cpuset in before.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, cpuset)


def client_sidecar_pids(lab: Any) -> list[int]:
    """The fortio pod's sidecar process(es) of an embedded lab (a ``Lab`` or a ``MeshBackend``)."""
    backend = getattr(lab, "backend", lab)
    processes = getattr(backend, "processes", None)
    if processes is None:
        raise LabError(Msg("cpu.needs_embedded"))
    return [p.pid for p in processes() if p.role == CLIENT_ROLE]


def fortio_in(lab: Any, env: Any, c: int, url: str = "http://service-go/env") -> Any:
    """``lab.fortio`` with ``env``'s fortio flags (``lablib.presets.Environment``), the client pinned to
    ``env.client_cpus`` CPUs when the environment says so."""
    args = env.fortio_args(c, url)
    if not env.client_cpus:
        return lab.fortio(args)
    with pinned(client_sidecar_pids(lab), env.client_cpus):
        return lab.fortio(args)
