"""Lab 03's three sweeps, each a loop over ``experiment`` runs with a progress callback:
routes × concurrencies, the number of client pods, and the client sidecar's Envoy workers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lablib.i18n import t
from lablib.labs.where_the_limit_lives.experiment import ClientsRun, LimitPoint, run_clients, run_route
from lablib.labs.where_the_limit_lives.mesh import client_names, start_clients, use_route, worker_clients
from lablib.notebook.runs import Progress, check_runs

__all__ = ["clients_sweep", "routes_sweep", "workers_sweep"]


def _say(progress: Progress | None, done: int, total: int, message: str) -> None:
    if progress is not None:
        progress(done, total, message)


def routes_sweep(lab: Any, routes: Sequence[str], concurrencies: Iterable[int], *, repeats: int = 1,
                 calls_per_thread: int = 10, progress: Progress | None = None, lang: str = "en"
                 ) -> dict[str, list[LimitPoint]]:
    """Apply each route's VirtualService, then run the fortio pod at each concurrency ``repeats`` times."""
    concurrencies = list(concurrencies)
    check_runs(concurrencies, repeats)
    plan = [(r, c, i) for r in routes for c in concurrencies for i in range(repeats)]
    out: dict[str, list[LimitPoint]] = {r: [] for r in routes}
    current = None
    for done, (route, c, i) in enumerate(plan):
        if route != current:
            use_route(lab, route)
            current = route
        _say(progress, done, len(plan), t("limits.sweep.route", lang, route=route, c=c, run=i + 1,
                                          repeats=repeats))
        point = run_route(lab, route, c, calls_per_thread=calls_per_thread)
        out[route].append(dataclasses.replace(point, repeat=i))
    _say(progress, len(plan), len(plan), t("limits.sweep.done", lang))
    return out


def clients_sweep(lab: Any, counts: Iterable[int], concurrency: int, *, directory: Path,
                  calls_per_thread: int = 10, progress: Progress | None = None, lang: str = "en"
                  ) -> dict[int, ClientsRun]:
    """For each number of client pods, every one of them at ``concurrency`` at the same time."""
    counts = list(counts)
    check_runs([concurrency])
    start_clients(lab, max(counts), directory=directory)
    out = {}
    for done, n in enumerate(counts):
        _say(progress, done, len(counts), t("limits.sweep.clients", lang, n=n, c=concurrency))
        out[n] = run_clients(lab, client_names(n), concurrency, calls_per_thread=calls_per_thread,
                             label=t("limits.label.clients", lang, n=n))
    _say(progress, len(counts), len(counts), t("limits.sweep.done", lang))
    return out


def workers_sweep(lab: Any, workers: Iterable[int], concurrency: int, *, directory: Path, repeats: int = 2,
                  calls_per_thread: int = 10, progress: Progress | None = None, lang: str = "en"
                  ) -> dict[int, list[LimitPoint]]:
    """Start a client pod ``fortio-w<N>`` for each worker count N (all at once), then run each ``repeats``
    times."""
    workers = list(workers)
    check_runs([concurrency], repeats)
    out: dict[int, list[LimitPoint]] = {}
    pods: dict[int, str] = {}
    for done, n in enumerate(workers):
        _say(progress, done, len(workers), t("limits.sweep.workers", lang, workers=n, c=concurrency))
        if done == 0:  # every pod at once, under the first count's progress line
            pods = worker_clients(lab, workers, directory=directory)
        pod = pods[n]
        label = t("limits.label.workers", lang, workers=n)
        out[n] = [run_route(lab, label, concurrency, calls_per_thread=calls_per_thread, pod=pod, workers=n)
                  for _ in range(repeats)]
    _say(progress, len(workers), len(workers), t("limits.sweep.done", lang))
    return out
