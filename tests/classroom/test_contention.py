"""Results on a busy machine: each run records how much CPU other programs took meanwhile, and the check cell
says so, in the notebook's language, when it was enough to move the 503 share.

The "other programs" are real CPU hogs, each detached from this test (double fork, its own session), so
they are not descendants of the process that measures: exactly how another student's kernel looks. Each hog
ends by itself after a bounded time and is killed at the end of the test anyway.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from lablib.lab_defaults import MANIFESTS
from lablib.notebook import contention
from lablib.notebook.checks import breaker_trips
from lablib.notebook.runs import SERVICE_CLUSTER, run_point
from tests.outlier.conftest import lab_home  # noqa: F401  (a private $LABLIB_HOME, no process left behind)
from tests.support import CJK

#: A CPU hog that leaves its parent at once (so it belongs to no one here), writes its pid and spins until
#: its deadline.
_HOG = (
    "import os, sys, time\n"
    "if os.fork(): os._exit(0)\n"
    "os.setsid()\n"
    "with open(sys.argv[1], 'a') as f: f.write(f'{os.getpid()}\\n')\n"
    "end = time.time() + float(sys.argv[2])\n"
    "while time.time() < end: pass\n"
)
#: An idle machine: what "idle" means for the quiet run (the shared CI machine may be busy with other work)
IDLE = 0.25


@contextlib.contextmanager
def hogs(count: int, pidfile: Path, seconds: float = 30.0) -> Iterator[list[int]]:
    """``count`` detached busy processes for at most ``seconds``; killed when the block ends."""
    for _ in range(count):
        subprocess.run([sys.executable, "-c", _HOG, str(pidfile), str(seconds)], check=True, timeout=10)
    deadline = time.monotonic() + 5
    pids: list[int] = []
    while len(pids) < count and time.monotonic() < deadline:
        pids = [int(x) for x in pidfile.read_text().split()] if pidfile.exists() else []
        time.sleep(0.05)
    try:
        assert len(pids) == count, "the hogs did not start"
        assert not {p.pid for p in psutil.Process().children(recursive=True)} & set(pids), "hogs are not ours"
        time.sleep(0.3)  # let them reach the CPUs
        yield pids
    finally:
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()


def _machine_busy() -> float:
    return psutil.cpu_percent(interval=1.0) / 100


def test_the_labs_own_cpu_is_not_counted_as_contention():
    """A descendant's CPU is the lab's own: busy − others is what this process tree used, at any load."""
    probe = contention.Probe([os.getpid()])
    spin = "import time\ne = time.time() + 1.0\nwhile time.time() < e: pass"
    child = subprocess.Popen([sys.executable, "-c", spin])
    mine = psutil.Process(child.pid)
    cpu = 0.0
    while child.poll() is None:
        with contextlib.suppress(psutil.Error):
            cpu = sum(mine.cpu_times()[:2])
        time.sleep(0.02)
    seen = probe.stop()
    ours = (seen.busy - seen.others) * seen.cpus * seen.seconds
    assert ours >= 0.8 * cpu > 0, (seen, cpu)


@pytest.fixture(scope="module")
def lab(lab_home: Path) -> Iterator[object]:  # noqa: F811
    from lablib.lab import Lab

    the_lab = Lab(backend="embedded", name="contention-tests", workers=2)
    try:
        for f in ("service/go/service-go.yaml", "kubernetes/fortio.yaml",
                  "istio/route/virtual-service-go.yaml",
                  "istio/resilience/destination-rule-go-cb-pending.yaml"):
            the_lab.apply(MANIFESTS / f)
        yield the_lab
    finally:
        the_lab.cleanup()


@pytest.mark.envoy
@pytest.mark.alone
def test_a_cpu_hog_raises_the_flag_and_an_idle_run_does_not(lab, tmp_path):
    busy_before = _machine_busy()
    if busy_before > IDLE:
        pytest.skip(f"the machine is busy with other work ({100 * busy_before:.0f}% CPU): no idle run to "
                    "compare with")
    quiet = run_point(lab, SERVICE_CLUSTER, "quiet", 40)
    assert quiet.contention is not None and not quiet.contention.disturbed, quiet.contention
    with hogs(2 * (psutil.cpu_count() or 1), tmp_path / "hogs.pid"):
        loaded = run_point(lab, SERVICE_CLUSTER, "loaded", 40)
    assert loaded.contention is not None and loaded.contention.disturbed, loaded.contention
    assert contention.disturbed([quiet, loaded]) == [loaded]

    for lang in ("en", "zh"):
        check = breaker_trips([quiet, loaded], 20, lang=lang)
        said = contention.note([quiet, loaded], lang=lang)
        assert said and said in check.detail and "c=40" in said
        assert f"{round(100 * loaded.contention.others)}%" in said
        assert bool(CJK.search(said)) == (lang == "zh")
    assert contention.note([quiet], lang="zh") == ""
    assert "CPU" not in breaker_trips([quiet], 20).detail, "a quiet run's check cell says nothing of it"
    assert not [p for p in (quiet.contention, loaded.contention) if not 0 <= p.others <= p.busy <= 1]
