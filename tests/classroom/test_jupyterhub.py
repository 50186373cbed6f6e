"""A class on one server: a real JupyterHub (configurable-http-proxy on node), three real local users, and
each user's own server executing lab 01 (CI's small parameters) at the same time, in kernels the Hub's
servers run, driven through the Hub's REST API and each server's contents and kernels APIs.

Asserted: all three notebooks pass every check; no port, state or CPU-pin collision (each lab listens on its
own ports, its Envoys run on files in its user's home, the CPU claims of three kernels held at once are
distinct as far as the CPUs go and the rest are told they share); no student reaches another's Envoy admin
socket or state directory (while their own works: the probe can fail); and nothing is left. The memory per
student is measured (every process of the user: server, kernel, Envoys, service-go) and printed, with each
run's 503 share and how busy the machine was.

Needs root (it creates the users), setpriv, useradd/userdel and configurable-http-proxy (``make test`` gets
them: tools/system-deps.sh). ``LABLIB_CLASSROOM_PARAMETERS`` (JSON) overrides CI's parameters and
``LABLIB_CLASSROOM_ALONE=1`` runs the first student once alone before the three together: the measurements
in docs/classroom.md were made so.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from lablib.labs import lab_info
from tests.support import notebook_checks

from .hub import Classroom, Kernel, Student, as_user, sampling

pytestmark = [pytest.mark.classroom, pytest.mark.envoy]

LAB = lab_info("01")
STUDENTS = 3
#: A student's peak memory above this is a leak or a sizing error in docs/classroom.md (measured: ~0.5 GB)
MAX_MB_PER_STUDENT = 1500


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "creates local users: needs root (CI and `make test` as root)"
    for tool in ("useradd", "userdel", "setpriv", "configurable-http-proxy"):
        if shutil.which(tool) is None:
            return f"needs {tool} (tools/system-deps.sh installs it)"
    return None


#: Claim one CPU for this kernel's lab as client pinning does; hold it (``_claims``) while the others claim.
_PIN = """
import json, os, warnings
from lablib.labs.reproducing_published_runs.client_cpu import choose_cpus
with warnings.catch_warnings(record=True) as _caught:
    warnings.simplefilter("always")
    _cpus, _claims = choose_cpus(1, key=os.path.expanduser("~/.cache/lablib/default"),
                                 allowed=sorted(os.sched_getaffinity(0)))
print(json.dumps({"cpus": sorted(_cpus), "claimed": bool(_claims),
                  "warned": [str(w.message) for w in _caught]}))
"""
#: Each run of the notebook: rule, -c, 503 share, and the CPU other programs took meanwhile.
_RUNS = """
import json
print(json.dumps([{"label": p.label, "c": p.concurrency, "share": p.share_503,
                   "others": p.contention.others if p.contention else None,
                   "disturbed": p.contention.disturbed if p.contention else None} for p in seed + pending]))
"""
#: As one user, reach another's lab: its admin socket, its state file and directory.
_PROBE = """
import json, os, socket, sys
def attempt(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return type(e).__name__
out = {}
for sock in sys.argv[1:]:
    root = os.path.dirname(os.path.dirname(sock))
    def connect():
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(sock)
    state = os.path.join(root, "state.json")
    out[sock] = {"admin": attempt(connect), "state": attempt(lambda: open(state).read()),
                 "dir": attempt(lambda: os.listdir(root))}
print(json.dumps(out))
"""


async def _probe_when_up(room: Classroom, target: Student, results: dict[str, Any]) -> None:
    """As soon as ``target``'s lab has an admin socket, try it (and its state) as every student."""
    logs = target.home / ".cache" / "lablib" / "default" / "logs"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        socks = sorted(str(p) for p in logs.glob("*.admin.sock")) if logs.exists() else []
        if socks:
            for who in room.students:
                results[(who.name, target.name)] = await asyncio.to_thread(
                    as_user, who.name, _PROBE, socks[0], base=room.base)
            return
        await asyncio.sleep(0.2)


class Barrier:
    """Every student's kernel waits here until all have arrived (asyncio.Barrier is Python 3.11+)."""

    def __init__(self, parties: int) -> None:
        self.parties, self.arrived, self.event = parties, 0, asyncio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived >= self.parties:
            self.event.set()
        await self.event.wait()


async def _class(room: Classroom, students: list[Student], parameters: dict[str, Any],
                 probes: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start ``students``' servers, run the lab in each at once; each kernel then reports its runs and claims
    a CPU, all claims held together."""
    await asyncio.gather(*(room.start_server(s) for s in students))
    claimed, ran = Barrier(len(students)), Barrier(len(students))
    pins: dict[str, Any] = {}
    runs: dict[str, Any] = {}

    async def then(s: Student, kernel: Kernel) -> None:
        runs[s.name] = await kernel.printed(_RUNS)
        await ran.wait()  # every lab has finished: the claims below meet only each other
        pins[s.name] = await kernel.printed(_PIN)
        await claimed.wait()

    async def one(s: Student) -> None:
        await room.run_notebook(s, LAB.notebook, parameters, then=lambda k: then(s, k))
        if s.failure:  # the others must not wait forever for this kernel
            for b in (ran, claimed):
                b.arrived += 1
                if b.arrived >= b.parties:
                    b.event.set()

    jobs = [one(s) for s in students]
    if probes is not None:
        jobs += [_probe_when_up(room, s, probes) for s in students]
    await asyncio.gather(*jobs)
    return runs, pins


def test_three_students_run_lab_01_at_once_on_a_real_jupyterhub(capsys):
    if (reason := _missing()) is not None:
        pytest.skip(reason)
    parameters = {**LAB.ci_parameters, **json.loads(os.environ.get("LABLIB_CLASSROOM_PARAMETERS") or "{}")}
    started = time.monotonic()
    with Classroom(STUDENTS, marker=uuid.uuid4().hex) as room:
        alone: dict[str, Any] = {}
        if os.environ.get("LABLIB_CLASSROOM_ALONE") == "1":
            with sampling(room) as seen_alone:
                alone, _ = asyncio.run(_class(room, room.students[:1], parameters, None))
            first = room.students[0]
            alone_mb, alone_pss = seen_alone["peak_mb"][first.name], seen_alone["peak_pss_mb"][first.name]
            first.seconds_alone = first.seconds
        probes: dict[str, Any] = {}
        with sampling(room) as seen:
            runs, pins = asyncio.run(_class(room, room.students, parameters, probes))
        setup_and_run = time.monotonic() - started

        for s in room.students:
            assert s.failure is None, f"{s.name}: {s.failure}"
            verdicts = notebook_checks(s.notebook)
            assert len(verdicts) == LAB.checks and all(ok for ok, _ in verdicts), (s.name, verdicts)

        # no port or state collision: each lab on its own ports, its Envoys on files in its own home
        ports = list(seen["ports"].values())
        assert all(len(p) >= 5 for p in ports), seen["ports"]  # the sampler saw every lab listening
        assert all(not a & b for i, a in enumerate(ports) for b in ports[i + 1:])
        assert all(n > 0 for n in seen["envoys"].values()) and seen["foreign"] == []

        # CPU pins: distinct while CPUs last; the others are told they share
        cpus = len(os.sched_getaffinity(0))
        held = [p["cpus"][0] for p in pins.values() if p["claimed"]]
        assert len(held) == min(STUDENTS, cpus) and len(set(held)) == len(held), pins
        assert all(p["warned"] for p in pins.values() if not p["claimed"]), pins

        # isolation: everyone reaches their own lab, nobody another's
        assert len(probes) == STUDENTS * STUDENTS, sorted(probes)
        for (who, target), result in probes.items():
            (seen_by,) = result.values()
            expected = {"admin": "ok", "state": "ok", "dir": "ok"} if who == target else \
                {"admin": "PermissionError", "state": "PermissionError", "dir": "PermissionError"}
            assert seen_by == expected, (who, target, seen_by)

        for mb in seen["peak_mb"].values():
            assert 100 < mb < MAX_MB_PER_STUDENT, seen["peak_mb"]
        students = list(room.students)
    assert not [p for s in students for p in room.processes_of(s)], "a student's process outlived the class"
    assert not Path(room.base).exists()

    with capsys.disabled():
        rss, pss = seen["peak_mb"], seen["peak_pss_mb"]
        shown = {k: parameters[k] for k in ("concurrency", "calls_per_thread", "repeats") if k in parameters}
        print(f"\nclassroom: {STUDENTS} students on {os.cpu_count()} CPUs, lab 01 with {shown}")
        print(f"  lab run per student (s): {', '.join(f'{s.seconds:.1f}' for s in students)}; "
              f"set-up + runs {setup_and_run:.1f} s")
        print(f"  peak memory per student (MB, every process of the user), PSS: "
              f"{', '.join(f'{pss[s.name]:.0f}' for s in students)}; RSS: "
              f"{', '.join(f'{rss[s.name]:.0f}' for s in students)}; together PSS {sum(pss.values()):.0f}")
        if alone:
            print(f"  alone: peak PSS {alone_pss:.0f} MB, RSS {alone_mb:.0f} MB, lab run "
                  f"{room.students[0].seconds_alone:.1f} s")
        for label, c, share, others in _table(runs):
            print(f"  three at once  {label} c={c}: 503 {share}; others' CPU {others}")
        for label, c, share, others in _table(alone):
            print(f"  alone          {label} c={c}: 503 {share}; others' CPU {others}")
        print(f"  CPU claims: {pins}")


def _table(runs: dict[str, Any]) -> list[tuple[str, int, str, str]]:
    """Per rule and -c: every run's 503 share and the CPU other programs took meanwhile (all students)."""
    rows: dict[tuple[str, int], list[Any]] = {}
    for user in runs.values():
        for r in user:
            rows.setdefault((r["label"], r["c"]), []).append(r)
    return [(label, c, " ".join(f"{100 * r['share']:.0f}%" for r in rs),
             " ".join(f"{100 * (r['others'] or 0):.0f}%{'!' if r['disturbed'] else ''}" for r in rs))
            for (label, c), rs in rows.items()]
