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

from lablib._exceptions import BackendError
from lablib.i18n import Msg

__all__ = ["ProcRecord", "die_with_parent", "record_of", "require_posix", "spawn", "stop_all", "strays"]


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

#: Runs as ``python -S -c _TETHER_EXEC OWNER_PID PROGRAM ARGS…`` for a lab started from a thread other than
#: the main one, where PDEATHSIG would fire when that *thread* ends. It opens a pidfd of the owner (its
#: parent, checked after opening: a pidfd names that one process, never a later one with the same pid, so no
#: start time is compared) and forks a watcher that stays in PROGRAM's process group and waits until the
#: pidfd is readable (the owner ended); then it SIGKILLs the group, itself included. The watcher has
#: PDEATHSIG on PROGRAM, so it ends with PROGRAM. Then the launcher becomes PROGRAM (the Popen's pid stays the
#: group id). Without ``pidfd_open`` (Linux < 5.3) there is no watcher: the next ``MeshBackend()`` reaps the
#: orphans.
_TETHER_EXEC = (
    "import ctypes, os, select, signal, sys\n"
    "owner = int(sys.argv[1])\n"
    "try: fd = os.pidfd_open(owner)\n"
    "except (AttributeError, OSError): fd = None\n"
    "if os.getppid() != owner: sys.exit(1)\n"
    "program = os.getpid()\n"
    "if fd is not None and os.fork() == 0:\n"
    "    ctypes.CDLL(None).prctl(1, 9)\n"
    "    if os.getppid() != program: os._exit(0)\n"
    "    select.select([fd], [], [])\n"
    "    os.killpg(0, signal.SIGKILL)\n"
    "    os._exit(0)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


#: Runs as ``python -S -c _WATCHDOG_EXEC OWNER_PID PROGRAM ARGS…`` where Linux's PDEATHSIG and pidfd are
#: missing (macOS, the BSDs). It forks a watcher that stays in PROGRAM's process group and SIGKILLs the group
#: when the owner ends, or leaves when PROGRAM ends. It waits with kqueue (``NOTE_EXIT`` fires when a process
#: exits, like a pidfd; a kqueue is not inherited across fork, so the watcher makes its own, and a process
#: already gone fails to register) and, without kqueue, polls every 0.2 s: ``kill(owner, 0)`` (an EPERM means
#: another user's process took the pid: the owner is gone) and its own parent (PROGRAM) still there.
_WATCHDOG_EXEC = (
    "import os, select, signal, sys, time\n"
    "owner = int(sys.argv[1])\n"
    "if os.getppid() != owner: sys.exit(1)\n"
    "program = os.getpid()\n"
    "if os.fork() == 0:\n"
    "    try:\n"
    "        kq = select.kqueue()\n"
    "    except AttributeError:\n"
    "        kq = None\n"
    "    if kq is not None:\n"
    "        def watch(pid):\n"
    "            return select.kevent(pid, select.KQ_FILTER_PROC, select.KQ_EV_ADD, select.KQ_NOTE_EXIT)\n"
    "        try: kq.control([watch(program)], 0, 0)\n"
    "        except OSError: os._exit(0)\n"
    "        try: kq.control([watch(owner)], 0, 0)\n"
    "        except OSError: os.killpg(0, signal.SIGKILL)\n"
    "        if kq.control(None, 1)[0].ident == program: os._exit(0)\n"
    "    else:\n"
    "        while os.getppid() == program:\n"
    "            try: os.kill(owner, 0)\n"
    "            except OSError: break\n"
    "            time.sleep(0.2)\n"
    "        else: os._exit(0)\n"
    "    os.killpg(0, signal.SIGKILL)\n"
    "    os._exit(0)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)

#: Linux: ``PR_SET_PDEATHSIG`` and pidfds tie a lab's processes to its kernel; elsewhere the watchdog does.
_LINUX = sys.platform.startswith("linux")
#: Process groups, Unix sockets and fork: what the embedded mesh is made of (not on Windows).
_POSIX = os.name == "posix"


def die_with_parent() -> list[str]:
    """A command prefix that makes the child die with this process (the lab's owner, e.g. a notebook kernel).

    Used for labs owned by a notebook kernel: if the kernel is killed, its Envoys go too. On Linux, from the
    main thread it is ``PR_SET_PDEATHSIG`` (fires when the *thread* that forked exits, and the main thread
    lives as long as the process); from any other thread a watcher waits on the owner's pidfd instead
    (``_TETHER_EXEC``). On other POSIX systems (macOS) a watchdog process does the same from any thread
    (``_WATCHDOG_EXEC``). Whatever escapes (Linux < 5.3 from a thread) the next ``Lab()`` reaps from the
    state dir.
    """
    require_posix()
    if not _LINUX:
        return [sys.executable, "-S", "-c", _WATCHDOG_EXEC, str(os.getpid())]
    if threading.current_thread() is threading.main_thread():
        return [sys.executable, "-S", "-c", _PDEATHSIG_EXEC, str(os.getpid())]
    return [sys.executable, "-S", "-c", _TETHER_EXEC, str(os.getpid())]


def require_posix() -> None:
    """The embedded mesh needs process groups, Unix sockets and fork (Linux, macOS): elsewhere (Windows) a
    ``BackendError`` says what to use instead, before anything starts."""
    if not _POSIX:
        raise BackendError(Msg("platform.embedded_needs_posix", system=sys.platform))


def spawn(args: Sequence[str], *, log_path: Path, cwd: Path, launcher: Sequence[str] = (),
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``launcher + args`` in a new session (its own process group), output appended to ``log_path``."""
    require_posix()
    argv = [*launcher, *args]
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=str(cwd), start_new_session=True, env=env)


#: ``stop_all`` looks again after 1 ms, then twice as long each time up to 5 ms: an Envoy or an app ends 20-40
#: ms after its SIGTERM (Envoy flushes its access log), and a pod restart waits for its old processes first.
_STOP_POLL_S = (0.001, 0.005)


def stop_all(records: Sequence[ProcRecord], *, grace: float = 2.0) -> None:
    """SIGTERM each live record's process group (all at once), wait up to ``grace`` seconds, then SIGKILL
    what is left."""
    live = [r for r in records if r.alive()]
    for r in live:
        _signal_group(r.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    pause, longest = _STOP_POLL_S
    while live and time.monotonic() < deadline:
        live = [r for r in live if r.alive()]
        if live:
            time.sleep(pause)
            pause = min(pause * 2, longest)
    for r in live:
        _signal_group(r.pid, signal.SIGKILL)
    # Reap our own children so no zombie is left behind: a zombie is not alive(), so wait on the pid itself
    # until the kernel hands it back (or says it is not our child).
    unreaped = list(records)
    deadline = time.monotonic() + grace
    pause = _STOP_POLL_S[0]
    while unreaped:
        unreaped = [r for r in unreaped if not _reaped(r.pid)]
        if not unreaped or time.monotonic() > deadline:
            break
        time.sleep(pause)
        pause = min(pause * 2, longest)


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
