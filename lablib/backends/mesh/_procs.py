"""The embedded mesh's processes: start each in its own process group, know it again by pid + start time, and
stop it by group. A pid alone is not an identity (pids are reused), so every record keeps the start time
too."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

__all__ = ["ProcRecord", "die_with_parent", "record_of", "spawn", "stop_all", "strays"]


@dataclass(frozen=True)
class ProcRecord:
    """A process the lab started: pid (= its process group id) and its start time (``psutil`` create_time)."""

    pid: int
    started: float
    role: str = ""

    def alive(self) -> bool:
        """True while this very process (not a later one with the same pid) runs and is not a zombie."""
        try:
            p = psutil.Process(self.pid)
            return abs(p.create_time() - self.started) < 0.05 and p.status() != psutil.STATUS_ZOMBIE
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> ProcRecord:
        return cls(pid=int(d["pid"]), started=float(d["started"]), role=str(d.get("role", "")))  # type: ignore[arg-type]


def record_of(popen: subprocess.Popen[bytes], role: str) -> ProcRecord:
    try:
        started = psutil.Process(popen.pid).create_time()
    except psutil.NoSuchProcess:
        started = 0.0
    return ProcRecord(pid=popen.pid, started=started, role=role)


#: Runs as ``python -S -c _PDEATHSIG_EXEC PARENT_PID PROGRAM ARGS…``: ask Linux to SIGKILL this process when
#: its parent dies (``PR_SET_PDEATHSIG``, kept across exec), then become PROGRAM. A launcher instead of a
#: ``preexec_fn`` because forking code must not run Python between fork and exec in a threaded kernel.
_PDEATHSIG_EXEC = (
    "import ctypes, os, sys\n"
    "ctypes.CDLL(None).prctl(1, 9)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)

#: Runs as ``python -S -c _TETHER_EXEC OWNER_PID OWNER_START PROGRAM ARGS…`` for a lab started from a thread
#: other than the main one, where PDEATHSIG would fire when that *thread* ends. It forks a watcher that stays
#: in PROGRAM's process group and polls the owner (pid + kernel start time, so a reused pid is not mistaken
#: for it); when the owner is gone it SIGKILLs the group, itself included. The watcher has PDEATHSIG on
#: PROGRAM, so it ends with PROGRAM. Then the launcher becomes PROGRAM (the Popen's pid stays the group id).
_TETHER_EXEC = (
    "import ctypes, os, signal, sys, time\n"
    "def start(pid):\n"
    "    try:\n"
    "        with open(f'/proc/{pid}/stat', 'rb') as f: return f.read().rsplit(b')', 1)[1].split()[19]\n"
    "    except (OSError, IndexError): return None\n"
    "owner, mark = int(sys.argv[1]), sys.argv[2].encode()\n"
    "if start(owner) != mark: sys.exit(1)\n"
    "program = os.getpid()\n"
    "if os.fork() == 0:\n"
    "    ctypes.CDLL(None).prctl(1, 9)\n"
    "    if os.getppid() != program: os._exit(0)\n"
    "    while start(owner) == mark: time.sleep(0.2)\n"
    "    os.killpg(0, signal.SIGKILL)\n"
    "    os._exit(0)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


def _start_ticks(pid: int) -> str:
    """The kernel's start time of ``pid`` (``/proc/PID/stat`` field 22, clock ticks since boot)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()[19].decode()


def die_with_parent() -> list[str]:
    """A command prefix that makes the child die with this process on Linux, or ``[]`` elsewhere.

    Used for labs owned by a notebook kernel: if the kernel is killed, its Envoys go too. From the main
    thread it is ``PR_SET_PDEATHSIG`` (fires when the *thread* that forked exits, and the main thread lives as
    long as the process). From any other thread a watcher polls the owner instead (``_TETHER_EXEC``).
    Elsewhere the next ``Lab()`` reaps the orphans from the state dir.
    """
    if not sys.platform.startswith("linux"):
        return []
    if threading.current_thread() is threading.main_thread():
        return [sys.executable, "-S", "-c", _PDEATHSIG_EXEC, str(os.getpid())]
    return [sys.executable, "-S", "-c", _TETHER_EXEC, str(os.getpid()), _start_ticks(os.getpid())]


def spawn(args: Sequence[str], *, log_path: Path, cwd: Path, launcher: Sequence[str] = (),
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``launcher + args`` in a new session (its own process group), output appended to ``log_path``."""
    argv = [*launcher, *args]
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=str(cwd), start_new_session=True, env=env)


def stop_all(records: Sequence[ProcRecord], *, grace: float = 2.0) -> None:
    """SIGTERM each live record's process group, wait up to ``grace`` seconds, then SIGKILL what is left."""
    live = [r for r in records if r.alive()]
    for r in live:
        _signal_group(r.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while live and time.monotonic() < deadline:
        live = [r for r in live if r.alive()]
        if live:
            time.sleep(0.02)
    for r in live:
        _signal_group(r.pid, signal.SIGKILL)
    # Reap our own children so no zombie is left behind: a zombie is not alive(), so wait on the pid itself
    # until the kernel hands it back (or says it is not our child).
    unreaped = list(records)
    deadline = time.monotonic() + grace
    while unreaped:
        unreaped = [r for r in unreaped if not _reaped(r.pid)]
        if not unreaped or time.monotonic() > deadline:
            break
        time.sleep(0.02)


def _reaped(pid: int) -> bool:
    """True once ``pid`` is no child of ours to wait for (reaped now, earlier, or never ours)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    except OSError:
        return True
    return done == pid


def strays(root: Path) -> list[ProcRecord]:
    """Processes that belong to the lab in ``root`` whatever its state file says: an Envoy whose command line
    names a file under ``root``, or a service-go running in ``root``. Catches what a crash left unrecorded."""
    found = []
    mark = str(root) + os.sep
    for p in psutil.process_iter(["cmdline", "cwd", "create_time"]):
        try:
            if p.pid == os.getpid():
                continue
            if mark in " ".join(p.info["cmdline"] or []) or (p.info["cwd"] or "") + os.sep == mark \
                    or (p.info["cwd"] or "").startswith(mark):
                found.append(ProcRecord(pid=p.pid, started=p.info["create_time"], role="stray"))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
