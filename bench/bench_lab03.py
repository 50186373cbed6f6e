"""Lab 03's costs, printed as ratios against peers measured in the same run (embedded backend, 2 cores).

* explorer Run overhead ÷ load time: one ``LimitsExplorer.run()`` at c = 40, n = 400 with one client pod and
  with two at once; overhead = the Run's wall time minus the time fortio itself ran (its runs overlap, so the
  union of their intervals);
* notebook wall time ÷ time inside fortio: every code cell of labs/01 and labs/03 executed in this process
  (default parameters; kernel start is not counted, see bench_notebook for that), fortio's own run time
  being the union of the intervals spent in ``lablib.fortio.load``;
* the generator's own CPU per call (this process's user + system time ÷ calls), two clients at once ÷ one.

Runs in a private ``$LABLIB_HOME``; fails if a process of the lab is left behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parents[1]
LABS = {"lab01": REPO / "labs" / "01-circuit-breaking.ipynb",
        "lab03": REPO / "labs" / "03-where-the-limit-lives.ipynb"}


class FortioClock:
    """The union of the intervals spent inside ``lablib.fortio.load`` (overlapping runs counted once)."""

    def __init__(self) -> None:
        self.intervals: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def installed(self) -> Iterator[FortioClock]:
        import lablib.fortio as fortio

        real = fortio.load

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                with self._lock:
                    self.intervals.append((start, time.perf_counter()))

        fortio.load = timed
        try:
            yield self
        finally:
            fortio.load = real

    def total(self) -> float:
        out, end = 0.0, float("-inf")
        for a, b in sorted(self.intervals):
            if b > end:
                out += b - max(a, end)
                end = b
        return out


def _notebook(name: str, path: Path) -> dict[str, float]:
    """Execute every code cell of ``path`` here; the wall time of the cells and of fortio within them."""
    clock = FortioClock()
    cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    namespace: dict[str, Any] = {"display": lambda *a, **k: None, "__name__": f"bench_{name}"}
    quiet = contextlib.ExitStack()
    quiet.enter_context(contextlib.redirect_stdout(io.StringIO()))
    quiet.enter_context(contextlib.redirect_stderr(io.StringIO()))
    overheads = []  # (seconds outside fortio, the cell's first line)
    with clock.installed(), quiet:
        start = time.perf_counter()
        for source in cells:
            cell_start, inside = time.perf_counter(), clock.total()
            exec(compile(source, f"<{name}>", "exec"), namespace)  # our own notebook's cells
            outside = time.perf_counter() - cell_start - (clock.total() - inside)
            overheads.append((round(outside, 2), source.splitlines()[0][:60] if source else ""))
        wall = time.perf_counter() - start
    return {"wall_s": round(wall, 2), "fortio_s": round(clock.total(), 2),
            "wall_per_fortio": round(wall / clock.total(), 3) if clock.total() else None,
            "most_time_outside_fortio": sorted(overheads, reverse=True)[:4]}


def _explorer(lab: Any, directory: Path, clients: int) -> dict[str, float]:
    from lablib.labs.where_the_limit_lives.widgets import LimitsExplorer

    explorer = LimitsExplorer(lab, directory=directory, clients=clients, concurrency=40, calls_per_thread=10)
    explorer.run()  # the route and client pods are applied once; the timed Runs only run load
    clock = FortioClock()
    walls = []
    with clock.installed():
        for _ in range(3):
            start = time.perf_counter()
            explorer.run()
            walls.append(time.perf_counter() - start)
    load = clock.total() / 3
    run = sum(walls) / 3
    return {"run_s": round(run, 3), "load_s": round(load, 3), "overhead_s": round(run - load, 3),
            "overhead_per_load": round((run - load) / load, 3)}


def _cpu_per_call(lab: Any, pods: list[str]) -> float:
    """This process's CPU time (every thread; ``process_time`` is not tick-granular) per call."""
    args = "load -c 40 -qps 0 -n 2000 -loglevel Error http://service-go/env"
    before = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        results = lab.fortio_many(dict.fromkeys(pods, args))
    return (time.process_time() - before) / sum(r.count for r in results.values())


def main() -> int:
    from lablib.lab import Lab
    from lablib.labs import where_the_limit_lives as limits
    from lablib.notebook.checks import lab_processes

    tmp = Path(tempfile.mkdtemp(prefix="lablib-bench-lab03-"))
    os.environ["LABLIB_HOME"] = str(tmp / "home")
    report: dict[str, Any] = {}
    try:
        with Lab(backend="embedded", name="bench-lab03") as lab:
            for path in (limits.mesh.SERVICE, REPO / "manifests/kubernetes/fortio.yaml", limits.RULE):
                lab.apply(path)
            limits.use_route(lab, "none")
            report["explorer_one_client"] = _explorer(lab, tmp / "m", 1)
            report["explorer_two_clients"] = _explorer(lab, tmp / "m", 2)
            names = limits.start_clients(lab, 2, directory=tmp / "m")
            one = min(_cpu_per_call(lab, names[:1]) for _ in range(3))
            two = min(_cpu_per_call(lab, names) for _ in range(3))
            report["generator_cpu_per_call_us"] = {"one_client": round(one * 1e6, 1),
                                                   "two_clients": round(two * 1e6, 1),
                                                   "two_per_one": round(two / one, 3)}
        for name, path in LABS.items():
            report[name] = _notebook(name, path)
        left = lab_processes(children_of=os.getpid())
        report["processes_left"] = len(left)
        print(json.dumps(report, indent=1))
        for key in ("explorer_one_client", "explorer_two_clients"):
            r = report[key]
            print(f"{key}: Run {r['run_s']:.2f} s, of which {r['overhead_s']:.3f} s not fortio's "
                  f"= {r['overhead_per_load']:.3f} × the load time")
        for name in LABS:
            r = report[name]
            print(f"{name}: cells {r['wall_s']:.1f} s = {r['wall_per_fortio']:.2f} × the "
                  f"{r['fortio_s']:.1f} s inside fortio")
        cpu = report["generator_cpu_per_call_us"]
        print(f"generator CPU per call: one client {cpu['one_client']} µs, two at once "
              f"{cpu['two_clients']} µs = {cpu['two_per_one']:.2f} × one")
        return 0 if not left else 1
    finally:
        for pid in lab_processes(children_of=os.getpid()):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
